"""Read a user's scans (NIfTI files, DICOM series) and write the denoised volumes with the source's geometry."""

from __future__ import annotations

import logging
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
from .errors import DataError, describe
from .transforms.intensity import check_finite

logger = logging.getLogger(__name__)

SOURCE_DTYPE, SOURCE_MIN, SOURCE_MAX = "source_dtype", "source_min", "source_max"
"""Meta keys :class:`ScanReader` adds: the scan's data type (a NIfTI file's on-disk type, the pixel type ITK read a
DICOM series as) and its smallest and largest value in scanner units (after any NIfTI or DICOM intensity scaling)."""


def _source_stats(reader: ImageReader, image: Any, array: np.ndarray) -> dict:
    """:data:`SOURCE_DTYPE`, :data:`SOURCE_MIN` and :data:`SOURCE_MAX` of a scan read by ``reader``."""
    if isinstance(reader, NibabelReader):
        dtype = ensure_tuple(image)[0].get_data_dtype()
    else:  # GDCM gives the stored integer type, or a float type where the rescale slope / intercept need one
        dtype = array.dtype
    low, high = (float(np.min(array)), float(np.max(array))) if array.size else (-np.inf, np.inf)
    return {SOURCE_DTYPE: np.dtype(dtype).newbyteorder("=").name, SOURCE_MIN: low, SOURCE_MAX: high}


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

    def read(self, data: Sequence[PathLike] | PathLike,
             **kwargs: Any) -> tuple[ImageReader, Any, str, Exception | None]:
        """The reader chosen for ``data``, what it read, the path, and the error reading raised, if any.

        The error is raised by :meth:`get_data`: MONAI's ``LoadImage`` tries its other readers after a failed
        ``read`` and reports only that none fits, losing the cause; an error from ``get_data`` reaches the user.
        """
        reader, path = self._reader(data), str(ensure_tuple(data)[0])
        try:
            if reader is self.nifti:
                return reader, reader.read(data, **kwargs), path, None
            with isolated_gdcm():
                return reader, reader.read(data, **kwargs), path, None
        except Exception as err:  # nibabel and ITK raise many types for damaged or vanished files
            return reader, None, path, err

    def get_data(self, img: tuple[ImageReader, Any, str, Exception | None]) -> tuple[np.ndarray, dict]:
        """The array and meta data of ``reader``, plus the source's data type and value range in the meta data
        (:data:`SOURCE_DTYPE`, :data:`SOURCE_MIN`, :data:`SOURCE_MAX`), for :class:`SaveNiftiLiked`.

        Raises:
            DataError: the scan could not be read (damaged, truncated, or gone since the run started), or holds
                NaN or Inf values.
        """
        reader, image, path, error = img
        if error is not None:
            raise read_error(path, error) from error
        try:
            array, meta = reader.get_data(image)
        except Exception as err:
            raise read_error(path, err) from err
        check_finite(array, path)
        meta.update(_source_stats(reader, image, array))
        return array, meta


def read_error(path: str, error: Exception) -> DataError:
    """The DataError for a scan that cannot be read: gone since the run started, or damaged."""
    if isinstance(error, FileNotFoundError) or not Path(path).exists():
        return DataError(f"{path}: the file is gone (it was listed when the run started; was it moved or deleted?); "
                         "put it back or run again without it")
    return DataError(f"{path}: cannot read the image data, the file may be damaged or truncated "
                     f"({describe(error)}); replace or remove it")


class SaveNiftiLiked(MapTransform):
    """Save ``(T, X, Y, Z)`` predictions as NIfTI files shaped and oriented like their sources, in their data type.

    The output of a NIfTI source keeps its shape, affine and header; a 3D source gives a 3D file, a 4D source a 4D
    one. A DICOM series (a folder) gives a 3D NIfTI file with the series' geometry (the prediction's affine) and a
    fresh header: no DICOM field is copied. Each file is written to a temporary name and renamed when complete, and
    logged (INFO) once written.

    Values: the prediction is clipped to the source's value range (a denoiser removes noise, so it has no reason to
    leave the range of the noisy scan; a magnitude image stays non-negative), then written in ``output_dtype``,
    integer types rounded and clipped to the type's range. Float outputs and integer outputs of an unscaled source
    carry no intensity scaling (``scl_slope`` 1, ``scl_inter`` 0). An integer output of a NIfTI source with
    intensity scaling keeps the source's ``scl_slope`` / ``scl_inter``: the stored integers are the denoised values
    in the source's own steps (rounding the scaled values would lose them, or overflow the type).

    Args:
        keys: prediction key(s); each must carry its source path in ``meta["filename_or_obj"]``,
            already mapped back to the source orientation and intensity scale (e.g. by ``Invertd``).
        output_dir: folder for the outputs, created if needed.
        name_key: the item's key holding the output file name (as ``monai_denoise.data.list_volumes``
            writes it); without it, the source file's name. Default ``"name"``.
        output_dtype: ``None`` or ``"input"`` (default): the source's data type, i.e. a NIfTI file's on-disk type
            and, for a DICOM series, the pixel type ITK read it as (the stored integer type; float32 where the
            series' rescale slope / intercept need floats). Any numpy integer or float type name (``"float32"``,
            ``"int16"``, ...) writes that type.

    The source's type and range come from the prediction's meta data (:data:`SOURCE_DTYPE`, :data:`SOURCE_MIN`,
    :data:`SOURCE_MAX`, as :class:`ScanReader` records them); where they are missing the source is read again.
    """

    def __init__(self, keys: KeysCollection, output_dir: str | Path, name_key: str = "name",
                 output_dtype: str | np.dtype | type | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.name_key = name_key
        self.output_dtype = None if output_dtype is None or str(output_dtype) == "input" else _dtype(output_dtype)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            source = Path(str(pred.meta["filename_or_obj"])) if isinstance(pred, MetaTensor) else None
            if source is None:
                raise DataError(f"prediction {key!r} carries no source file name")
            array = pred.detach().cpu().numpy().astype(np.float32)
            name = str(d.get(self.name_key, source.name if source.is_file() else f"{source.name}.nii.gz"))
            source_dtype, low, high = _source_info(pred.meta, source)
            if source.is_dir():
                if array.shape[0] != 1:
                    raise DataError(f"{source}: expected one frame for a DICOM series, got {array.shape[0]}")
                dtype = self.output_dtype
                if dtype is None:  # GDCM reads a series as floats only to apply a rescale slope: float32 is enough
                    dtype = np.dtype(np.float32) if source_dtype.kind == "f" else source_dtype
                stored, slope, inter = _stored(array[0], dtype, low, high, None, None)
                image = nib.Nifti1Image(stored, None)
                image.set_sform(pred.affine.cpu().numpy(), code="scanner")
                image.set_qform(pred.affine.cpu().numpy(), code="scanner")
                image.header.set_xyzt_units("mm")
            else:
                reference = nib.load(str(source))
                array = array[0] if len(reference.shape) == 3 else np.moveaxis(array, 0, -1)
                if array.shape != reference.shape:
                    raise DataError(f"{source}: prediction shape {array.shape} differs from the source "
                                    f"{reference.shape}")
                dtype = self.output_dtype
                if dtype is None:
                    dtype = reference.get_data_dtype().newbyteorder("=")
                # nibabel moves a loaded file's scl_slope / scl_inter from its header to its data proxy
                scaling = (getattr(reference.dataobj, "slope", 1.0), getattr(reference.dataobj, "inter", 0.0))
                stored, slope, inter = _stored(array, dtype, low, high, *scaling)
                header = reference.header.copy()
                header.set_data_dtype(dtype)
                image = type(reference)(stored, reference.affine, header)
            image.header.set_slope_inter(slope, inter)  # after the constructor, which resets them
            path = self.output_dir / name
            with atomic_path(path, suffix="".join(Path(name).suffixes)) as tmp:
                nib.save(image, str(tmp))
            logger.info("wrote %s (%s) denoised from %s", path, np.dtype(dtype).name, source)
        return d


def _dtype(value: str | np.dtype | type) -> np.dtype:
    """``value`` as a numpy integer or float type, or ``ValueError`` naming it."""
    try:
        dtype = np.dtype(value)
    except TypeError as error:
        raise ValueError(f"output_dtype: {value!r} is not a numpy data type (e.g. 'input', 'float32', 'int16')") \
            from error
    try:
        if dtype.kind not in "iuf":
            raise nib.spatialimages.HeaderDataError(dtype.name)
        nib.Nifti1Header().set_data_dtype(dtype)
    except nib.spatialimages.HeaderDataError as error:
        raise ValueError(f"output_dtype: {value!r} is not an integer or float type a NIfTI file stores") from error
    return dtype


def _source_info(meta: Mapping, source: Path) -> tuple[np.dtype, float, float]:
    """The source's data type and value range, from ``meta`` (as :class:`ScanReader` fills it, possibly collated
    into one-element lists or tensors) or, where missing, read from ``source``."""
    if not all(k in meta for k in (SOURCE_DTYPE, SOURCE_MIN, SOURCE_MAX)):
        reader = ScanReader()
        meta = reader.get_data(reader.read(str(source)))[1]

    def scalar(value: Any) -> Any:
        while isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        return value.item() if isinstance(value, (torch.Tensor, np.ndarray)) else value

    return np.dtype(str(scalar(meta[SOURCE_DTYPE]))), float(scalar(meta[SOURCE_MIN])), float(scalar(meta[SOURCE_MAX]))


def _stored(values: np.ndarray, dtype: np.dtype, low: float, high: float, slope: float | None,
            inter: float | None) -> tuple[np.ndarray, float, float]:
    """``values`` clipped to ``[low, high]`` as ``dtype`` and the scaling to write with them: the source's
    ``slope`` / ``inter`` for an integer type where the source has scaling, else none (1, 0)."""
    dtype = np.dtype(dtype)
    values = np.clip(values, low, high)
    if dtype.kind == "f":
        return values.astype(dtype), 1.0, 0.0
    slope, inter = float(1.0 if slope is None else slope), float(inter or 0.0)
    work = np.float64 if dtype.itemsize >= 4 else np.float32  # exact integers up to the type's range
    values = values.astype(work)
    if (slope, inter) != (1.0, 0.0):
        values = (values - inter) / slope
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype), slope, inter
