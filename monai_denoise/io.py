"""Read a user's scans (NIfTI files, DICOM series) and write the denoised volumes with the source's geometry."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection, PathLike
from monai.data import ImageReader, ITKReader, MetaTensor, NibabelReader
from monai.transforms import MapTransform
from monai.utils import ensure_tuple

from data_prep.volumes import isolated_gdcm

from .atomic import atomic_path
from .errors import DataError


class ScanReader(ImageReader):
    """MONAI image reader of a user's scans: a folder is a DICOM series, read by ``ITKReader`` (GDCM), anything else
    a NIfTI file, read by ``NibabelReader``. Both give MONAI's RAS affine, so the same scan reads the same either way.

    Args:
        kwargs: passed to both readers.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.nifti = NibabelReader(**kwargs)
        self.dicom = ITKReader(**kwargs)

    def _reader(self, data: Sequence[PathLike] | PathLike) -> ImageReader:
        return self.dicom if Path(ensure_tuple(data)[0]).is_dir() else self.nifti

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        return self._reader(filename) is self.dicom or self.nifti.verify_suffix(filename)

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs: Any) -> tuple[ImageReader, Any]:
        """The reader chosen for ``data`` and what it read."""
        reader = self._reader(data)
        if reader is self.nifti:
            return reader, reader.read(data, **kwargs)
        with isolated_gdcm():
            return reader, reader.read(data, **kwargs)

    def get_data(self, img: tuple[ImageReader, Any]) -> tuple[np.ndarray, dict]:
        reader, image = img
        return reader.get_data(image)


class SaveNiftiLiked(MapTransform):
    """Save ``(T, X, Y, Z)`` predictions as NIfTI files shaped and oriented like their sources.

    The output of a NIfTI source keeps its shape, affine and header (data type set to float32, no
    intensity scaling); a 3D source gives a 3D file, a 4D source a 4D one. A DICOM series (a folder)
    gives a 3D NIfTI file with the series' geometry (the prediction's affine) and a fresh header: no
    DICOM field is copied. Each file is written to a temporary name and renamed when complete.

    Args:
        keys: prediction key(s); each must carry its source path in ``meta["filename_or_obj"]``,
            already mapped back to the source orientation and intensity scale (e.g. by ``Invertd``).
        output_dir: folder for the outputs, created if needed.
        name_key: the item's key holding the output file name (as ``monai_denoise.data.list_volumes``
            writes it); without it, the source file's name. Default ``"name"``.
    """

    def __init__(self, keys: KeysCollection, output_dir: str | Path, name_key: str = "name",
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.name_key = name_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            source = Path(str(pred.meta["filename_or_obj"])) if isinstance(pred, MetaTensor) else None
            if source is None:
                raise DataError(f"prediction {key!r} carries no source file name")
            array = pred.detach().cpu().numpy().astype(np.float32)
            name = str(d.get(self.name_key, source.name if source.is_file() else f"{source.name}.nii.gz"))
            if source.is_dir():
                if array.shape[0] != 1:
                    raise DataError(f"{source}: expected one frame for a DICOM series, got {array.shape[0]}")
                image = nib.Nifti1Image(array[0], None)
                image.set_sform(pred.affine.cpu().numpy(), code="scanner")
                image.set_qform(pred.affine.cpu().numpy(), code="scanner")
                image.header.set_xyzt_units("mm")
            else:
                reference = nib.load(str(source))
                array = array[0] if len(reference.shape) == 3 else np.moveaxis(array, 0, -1)
                if array.shape != reference.shape:
                    raise DataError(f"{source}: prediction shape {array.shape} differs from the source "
                                    f"{reference.shape}")
                header = reference.header.copy()
                header.set_data_dtype(np.float32)
                header.set_slope_inter(1.0, 0.0)
                image = type(reference)(array, reference.affine, header)
            with atomic_path(self.output_dir / name, suffix="".join(Path(name).suffixes)) as tmp:
                nib.save(image, str(tmp))
        return d
