"""Load and validate one NIfTI volume or series as a channel-first ``(T, X, Y, Z)`` tensor."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import EnsureChannelFirst, LoadImage, Orientation

from monai_denoise.errors import DataError
from monai_denoise.transforms import check_finite

_load = LoadImage(reader="NibabelReader", image_only=True, dtype=np.float32)
_channel_first = EnsureChannelFirst()
_to_ras = Orientation(axcodes="RAS", labels=None)


def check_nifti_header(path: Path) -> tuple[int, ...]:
    """Check that ``path`` is a readable 3D or 4D NIfTI file; return its shape.

    Raises:
        DataError: missing, empty, not NIfTI, or with a number of dimensions other than 3 or 4.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes)")
    try:
        image = nib.load(str(path))
    except Exception as err:  # nibabel raises several types for foreign or damaged files
        raise DataError(f"{path}: not a readable NIfTI file ({type(err).__name__}: {err})") from err
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DataError(f"{path}: not a NIfTI image (nibabel reads it as {type(image).__name__})")
    shape = tuple(int(s) for s in image.shape)
    if len(shape) not in (3, 4):
        raise DataError(f"{path}: expected a 3D volume or a 4D series, got {len(shape)}D data of shape {shape}")
    return shape


def load_volume(path: Path, reorient: bool = True) -> MetaTensor:
    """Read ``path`` into a float32 ``(T, X, Y, Z)`` MetaTensor (T = 1 for a 3D volume), RAS-oriented.

    Raises:
        DataError: see :func:`check_nifti_header`; also truncated data, and NaN or Inf voxels.
    """
    check_nifti_header(path)
    try:
        volume = _channel_first(_load(str(path)))
    except Exception as err:
        raise DataError(f"{path}: cannot read the image data, the file may be truncated "
                        f"({type(err).__name__}: {err})") from err
    try:
        check_finite(volume, str(path))
    except ValueError as err:
        raise DataError(str(err)) from err
    if reorient:
        volume = _to_ras(volume)
    return volume if isinstance(volume, MetaTensor) else MetaTensor(torch.as_tensor(volume))
