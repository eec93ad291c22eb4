"""Write denoised volumes with the source file's geometry and header."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from .atomic import atomic_path
from .errors import DataError


class SaveNiftiLiked(MapTransform):
    """Save ``(T, X, Y, Z)`` predictions as NIfTI files shaped and oriented like their source files.

    The output keeps the source's file name, shape, affine and header (data type set to float32, no
    intensity scaling); a 3D source gives a 3D file, a 4D source a 4D one. Each file is written to a
    temporary name and renamed when complete.

    Args:
        keys: prediction key(s); each must carry its source path in ``meta["filename_or_obj"]``,
            already mapped back to the source orientation and intensity scale (e.g. by ``Invertd``).
        output_dir: folder for the outputs, created if needed.
    """

    def __init__(self, keys: KeysCollection, output_dir: str | Path, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            source = Path(str(pred.meta["filename_or_obj"])) if isinstance(pred, MetaTensor) else None
            if source is None:
                raise DataError(f"prediction {key!r} carries no source file name")
            reference = nib.load(str(source))
            array = pred.detach().cpu().numpy().astype(np.float32)
            array = array[0] if len(reference.shape) == 3 else np.moveaxis(array, 0, -1)
            if array.shape != reference.shape:
                raise DataError(f"{source}: prediction shape {array.shape} differs from the source {reference.shape}")
            header = reference.header.copy()
            header.set_data_dtype(np.float32)
            header.set_slope_inter(1.0, 0.0)
            image = type(reference)(array, reference.affine, header)
            with atomic_path(self.output_dir / source.name, suffix="".join(source.suffixes)) as tmp:
                nib.save(image, str(tmp))
        return d
