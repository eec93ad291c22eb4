"""Read a user's scans (NIfTI files, DICOM series, single DICOM image files, 2D pictures) and write the denoised
images with the source's geometry."""

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
from PIL import Image

from .files import NIFTI_SUFFIXES, is_dicom_file, is_nifti, is_picture, volume_id
from .volumes import isolated_gdcm, load_picture

from .atomic import atomic_path
from .derived_dicom import Derivation, write_derived_series
from .dicom import as_volume, read_dicom_image
from .errors import DataError, describe
from .transforms.intensity import FULL_SCALE, check_finite

logger = logging.getLogger(__name__)

SOURCE_DTYPE, SOURCE_MIN, SOURCE_MAX = "source_dtype", "source_min", "source_max"
"""Meta keys :class:`ScanReader` adds: the scan's data type (a NIfTI file's on-disk type, the pixel type ITK read a
DICOM series as) and its smallest and largest value in scanner units (after any NIfTI or DICOM intensity scaling).
For a single DICOM image file or a picture, the type its denoised output is written in (see :func:`image_file_dtype`).
"""

INT16_RANGE = (-32768.0, 32767.0)
OUTPUT_FORMATS = ("source", "nifti")
""":class:`SaveLikeSourced`'s ``output_format`` values: each output in its source's format, or NIfTI for DICOM."""
PICTURE_DTYPES = {"F": "float32", "I": "uint16"}
"""Data types of PIL picture modes other than 8 bits (``I;16*`` modes are ``uint16``); ``I`` is read with a full
scale of 65535 (a 16-bit PNG opens as ``I`` in some Pillow versions)."""


def is_single_dicom(path: Path) -> bool:
    """Whether ``path`` is a single DICOM image file (not a NIfTI file or a picture, by suffix)."""
    return path.is_file() and not is_nifti(path) and not is_picture(path) and is_dicom_file(path)


def picture_dtype(mode: str) -> np.dtype:
    """The numpy type a picture of PIL ``mode`` stores: 8 bits unless 16-bit or float."""
    if mode.startswith("I;16"):
        return np.dtype(np.uint16)
    return np.dtype(PICTURE_DTYPES.get(mode, "uint8"))


def image_file_dtype(meta: Mapping) -> np.dtype:
    """The data type a denoised single DICOM image is written in, from :func:`monai_denoise.dicom.read_dicom_image`'s
    meta data: CT in HU as int16 where the HU are integral and fit (every rescale slope 1, integral intercepts,
    integer stored values, range within int16), float32 otherwise; radiographs in the stored integer type where it
    holds ``[0, full scale]``, else the smallest unsigned type that does."""
    stored = np.dtype(meta[SOURCE_DTYPE])
    if stored.kind == "f":
        return np.dtype(np.float32)
    if "rescale_slope" in meta:
        integral = all(float(s) == 1.0 for s in meta["rescale_slope"]) and \
            all(float(i).is_integer() for i in meta["rescale_intercept"])
        fits = INT16_RANGE[0] <= meta[SOURCE_MIN] and meta[SOURCE_MAX] <= INT16_RANGE[1]
        return np.dtype(np.int16 if integral and fits else np.float32)
    full_scale = float(meta.get(FULL_SCALE, np.iinfo(stored).max))
    if np.iinfo(stored).min <= 0 and np.iinfo(stored).max >= full_scale:
        return stored
    return next(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32) if np.iinfo(t).max >= full_scale)


def read_image_file(path: Path, dicom_modalities: Sequence[str] | None = None) -> tuple[np.ndarray, dict]:
    """A single DICOM image file or a 2D picture as ``(X, Y, Z)`` float32 and MONAI reader meta data (no channel).

    A DICOM file (a CT slice or enhanced multi-frame CT in HU, a radiograph as its linear signal, MONOCHROME2) is
    read by :func:`monai_denoise.dicom.read_dicom_image` with ``dicom_modalities`` as the accepted ``Modality`` values
    and becomes ``(W, H, F)`` with its RAS affine (:func:`monai_denoise.dicom.as_volume`); a picture is read as
    :func:`monai_denoise.volumes.load_picture` reads it, ``(H, W, 1)`` with unit spacing and its full scale. The meta data
    holds :data:`SOURCE_DTYPE` (the type the output is written in), :data:`SOURCE_MIN` / :data:`SOURCE_MAX`, and
    :data:`~monai_denoise.transforms.FULL_SCALE` where the image has one.

    Raises:
        DataError: see :func:`~monai_denoise.dicom.read_dicom_image` and :func:`~monai_denoise.volumes.load_picture`.
    """
    if is_picture(path):
        volume = load_picture(path)
        with Image.open(path) as image:
            dtype = picture_dtype(image.mode)
        extra = {FULL_SCALE: volume.meta[FULL_SCALE]} if FULL_SCALE in volume.meta else {}
    else:
        values, dicom_meta = read_dicom_image(path, dicom_modalities)
        volume = as_volume(values, dicom_meta)
        dtype = image_file_dtype(dicom_meta)
        extra = {k: dicom_meta[k] for k in ("modality", FULL_SCALE) if dicom_meta.get(k) is not None}
    array = volume[0].numpy()
    affine = np.asarray(volume.affine, dtype=np.float64)
    low, high = (float(array.min()), float(array.max())) if array.size else (-np.inf, np.inf)
    return array, {"filename_or_obj": str(path), "affine": affine, "original_affine": affine.copy(),
                   "spatial_shape": np.asarray(array.shape), "original_channel_dim": float("nan"), "space": "RAS",
                   SOURCE_DTYPE: dtype.name, SOURCE_MIN: low, SOURCE_MAX: high, **extra}


class ImageFileReader(ImageReader):
    """MONAI image reader of single DICOM image files and 2D pictures, see :func:`read_image_file`.

    Args:
        dicom_modalities: DICOM ``Modality`` values accepted (e.g. ``["CT"]``); None: CT and radiographs.
    """

    def __init__(self, dicom_modalities: Sequence[str] | None = None) -> None:
        super().__init__()
        self.dicom_modalities = None if dicom_modalities is None else tuple(dicom_modalities)

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        path = Path(ensure_tuple(filename)[0])
        return is_picture(path) or is_single_dicom(path)

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs: Any) -> tuple[np.ndarray, dict]:
        return read_image_file(Path(ensure_tuple(data)[0]), self.dicom_modalities)

    def get_data(self, img: tuple[np.ndarray, dict]) -> tuple[np.ndarray, dict]:
        return img


def _source_stats(reader: ImageReader, image: Any, array: np.ndarray) -> dict:
    """:data:`SOURCE_DTYPE`, :data:`SOURCE_MIN` and :data:`SOURCE_MAX` of a scan read by ``reader``."""
    if isinstance(reader, NibabelReader):
        dtype = ensure_tuple(image)[0].get_data_dtype()
    else:  # GDCM gives the stored integer type, or a float type where the rescale slope / intercept need one
        dtype = array.dtype
    low, high = (float(np.min(array)), float(np.max(array))) if array.size else (-np.inf, np.inf)
    return {SOURCE_DTYPE: np.dtype(dtype).newbyteorder("=").name, SOURCE_MIN: low, SOURCE_MAX: high}


class ScanReader(ImageReader):
    """MONAI image reader of a user's scans: a folder is a DICOM series, read by ``ITKReader`` (GDCM); a single DICOM
    image file (CT slice or frames, radiograph) or a 2D picture (PNG, JPEG, TIFF) is read by :class:`ImageFileReader`;
    anything else is a NIfTI file, read by ``NibabelReader``. All give MONAI's RAS affine, so the same scan reads the
    same either way.

    Args:
        dicom_modalities: DICOM ``Modality`` values a single DICOM file may have (the bundle's modality's); None
            accepts CT and radiographs. A file of another modality is refused with one line naming it.
        kwargs: passed to the NIfTI and DICOM series readers.
    """

    def __init__(self, dicom_modalities: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.nifti = NibabelReader(**kwargs)
        self.dicom = ITKReader(**kwargs)
        self.image = ImageFileReader(dicom_modalities)

    def _reader(self, data: Sequence[PathLike] | PathLike) -> ImageReader:
        path = Path(ensure_tuple(data)[0])
        if path.is_dir():
            return self.dicom
        return self.image if self.image.verify_suffix(path) else self.nifti

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        return self._reader(filename) is not self.nifti or self.nifti.verify_suffix(filename)

    def read(self, data: Sequence[PathLike] | PathLike,
             **kwargs: Any) -> tuple[ImageReader, Any, str, Exception | None]:
        """The reader chosen for ``data``, what it read, the path, and the error reading raised, if any.

        The error is raised by :meth:`get_data`: MONAI's ``LoadImage`` tries its other readers after a failed
        ``read`` and reports only that none fits, losing the cause; an error from ``get_data`` reaches the user.
        """
        reader, path = self._reader(data), str(ensure_tuple(data)[0])
        try:
            if reader is not self.dicom:
                return reader, reader.read(data, **kwargs), path, None
            with isolated_gdcm():
                return reader, reader.read(data, **kwargs), path, None
        except Exception as err:  # nibabel and ITK raise many types for damaged or vanished files
            return reader, None, path, err

    def get_data(self, img: tuple[ImageReader, Any, str, Exception | None]) -> tuple[np.ndarray, dict]:
        """The array and meta data of ``reader``, plus the source's data type and value range in the meta data
        (:data:`SOURCE_DTYPE`, :data:`SOURCE_MIN`, :data:`SOURCE_MAX`), for :class:`SaveLikeSourced`.

        Raises:
            DataError: the scan could not be read (damaged, truncated, or gone since the run started), or holds
                NaN or Inf values.
        """
        reader, image, path, error = img
        if isinstance(error, DataError):  # the single image reader's own line
            raise error
        if error is not None:
            raise read_error(path, error) from error
        if reader is self.image:
            array, meta = reader.get_data(image)
            check_finite(array, path)
            return array, meta
        try:
            array, meta = reader.get_data(image)
        except Exception as err:
            raise read_error(path, err) from err
        array = array.astype(array.dtype.newbyteorder("="), copy=False)  # a big-endian file's values, native
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


class SaveLikeSourced(MapTransform):
    """Save ``(T, X, Y, Z)`` predictions in their sources' format, shaped and oriented like them, in their data type.

    The output of a NIfTI source keeps its shape, affine and header; a 3D source gives a 3D file, a 4D source a 4D
    one. A DICOM series (a folder) or a single DICOM image file gives a derived DICOM series, the folder ``STEM``
    (:func:`monai_denoise.derived_dicom.write_derived_series`: one instance per source instance, in the source's
    study, stored as the source stores its pixels; ``output_dtype`` does not apply); with ``output_format="nifti"``
    it gives a 3D NIfTI file (``STEM.nii.gz``) with the image's geometry (the prediction's affine) and a fresh
    header: no DICOM field is copied. A 2D picture (PNG, TIFF, JPEG) gives a picture of the same name, format and
    bit depth (8-bit, 16-bit or float; a colour source, read as its luminance, comes out grey). Each file or series
    is written under a temporary name and renamed when complete, and logged (INFO) once written.

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
            series' rescale slope / intercept need floats), and for a single DICOM file the type
            :func:`image_file_dtype` chose (CT: int16 HU where integral, else float32; radiographs: the stored
            integer type, MONOCHROME2). Pictures always keep their own type. Any numpy integer or float type
            name (``"float32"``, ``"int16"``, ...) writes that type.
        output_format: ``"source"`` (default): DICOM in, DICOM out; ``"nifti"``: a DICOM source gives NIfTI.
        derivation: what the derived DICOM series record as having made them: a
            :class:`~monai_denoise.derived_dicom.Derivation` or its keyword arguments (``bundle``, ``version``,
            ``settings``); needed where a DICOM source is written as DICOM.

    The source's type and range come from the prediction's meta data (:data:`SOURCE_DTYPE`, :data:`SOURCE_MIN`,
    :data:`SOURCE_MAX`, as :class:`ScanReader` records them); where they are missing the source is read again.
    """

    def __init__(self, keys: KeysCollection, output_dir: str | Path, name_key: str = "name",
                 output_dtype: str | np.dtype | type | None = None, output_format: str = "source",
                 derivation: Derivation | Mapping[str, Any] | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format: {output_format!r}, expected one of {', '.join(OUTPUT_FORMATS)}")
        self.output_dir = Path(output_dir)
        self.name_key = name_key
        self.output_dtype = None if output_dtype is None or str(output_dtype) == "input" else _dtype(output_dtype)
        self.output_format = output_format
        self.derivation = derivation if derivation is None or isinstance(derivation, Derivation) else \
            Derivation(**derivation)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            source = Path(str(pred.meta["filename_or_obj"])) if isinstance(pred, MetaTensor) else None
            if source is None:
                raise DataError(f"prediction {key!r} carries no source file name")
            array = pred.detach().cpu().numpy().astype(np.float32)
            single_dicom = is_single_dicom(source)
            default = f"{volume_id(source)}.nii.gz" if source.is_dir() or single_dicom else source.name
            name = str(d.get(self.name_key, default))
            source_dtype, low, high = _source_info(pred.meta, source)
            if is_picture(source):
                self._save_picture(array, source, self.output_dir / name, source_dtype, low, high)
                continue
            if source.is_dir() or single_dicom:
                if array.shape[0] != 1:
                    raise DataError(f"{source}: expected one frame for a DICOM image or series, got {array.shape[0]}")
                if self.output_format == "source":
                    self._save_dicom(np.clip(array[0], low, high), pred.affine.cpu().numpy(), source, name)
                    continue
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

    def _save_dicom(self, volume: np.ndarray, affine: np.ndarray, source: Path, name: str) -> None:
        """Write ``volume`` ``(X, Y, Z)`` (RAS ``affine``) as the derived DICOM series of ``source``, the folder
        ``name`` without its NIfTI suffix."""
        if self.derivation is None:
            raise ValueError("SaveLikeSourced: a DICOM source is written as DICOM only with a derivation (the bundle, "
                             "its version and settings)")
        stem = next((name[: -len(s)] for s in NIFTI_SUFFIXES if name.endswith(s)), name)
        write_derived_series(source, volume, affine, self.output_dir / stem, self.derivation)

    @staticmethod
    def _save_picture(array: np.ndarray, source: Path, path: Path, dtype: np.dtype, low: float, high: float) -> None:
        """Write ``array`` ``(1, H, W, 1)`` as a picture of ``source``'s format and bit depth (``dtype``: ``uint8``,
        ``uint16`` or ``float32``), clipped to ``[low, high]`` and rounded for integer types; ``output_dtype`` does not
        apply (a picture format stores its own types)."""
        if array.shape[0] != 1 or array.shape[-1] != 1:
            raise DataError(f"{source}: expected one 2D picture, got a prediction of shape {array.shape}")
        stored, _, _ = _stored(array[0, :, :, 0], dtype, low, high, None, None)
        with atomic_path(path, suffix="".join(Path(path.name).suffixes[-1:])) as tmp:
            with Image.open(source) as original:
                kind = original.format
            Image.fromarray(stored).save(tmp, format=kind)
        logger.info("wrote %s (%s) denoised from %s", path, dtype.name, source)


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
