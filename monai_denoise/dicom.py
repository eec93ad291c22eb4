"""Read single DICOM image files (CT slices, enhanced multi-frame CT, radiographs) and CT series folders with pydicom,
in physical units, and refuse what cannot be read with one line naming the file, the problem and what to do.

Values:

- CT: Hounsfield units. The modality rescale (``RescaleSlope`` / ``RescaleIntercept``) is applied, from the top level
  or, in an enhanced multi-frame CT, per frame from the per-frame or shared functional groups' *Pixel Value
  Transformation Sequence*. A CT without them is refused (stored values are not HU), as is a ``RescaleType`` other than
  ``HU`` or ``US`` (unspecified, which derived enhanced CT images use). Padding outside the reconstruction circle
  (stored ``PixelPaddingValue``, up to ``PixelPaddingRangeLimit``) and anything below -1024 HU is set to -1024 HU
  (air): the denoisers should see air there, not a -2000 or -3024 HU step. ``meta["padded_pixels"]`` counts them.
- Radiographs (``CR``, ``DX`` for presentation or processing, and the other projection X-ray modalities of
  :data:`RADIOGRAPH_MODALITIES`): the stored values, in ``[0, 2 ** BitsStored - 1]``, in the MONOCHROME2 convention
  (bright = more attenuation: bone bright): a ``MONOCHROME1`` image, or a ``MONOCHROME2`` one whose
  ``PresentationLUTShape`` is ``INVERSE``, is inverted (``full_scale - stored``; in an image IOD ``INVERSE`` is how
  ``MONOCHROME1`` is displayed, so ``MONOCHROME1`` with ``INVERSE`` is inverted once). Nothing else is applied: no
  modality rescale or Modality LUT, no VOI LUT or window, no ``PixelIntensityRelationship`` LUT. The denoisers want
  the detector's signal as stored (linear in the exposure, or its logarithm where ``PixelIntensityRelationship`` is
  ``LOG``, recorded in the meta data), not a display rendering, and a linear map of it is what the noise models
  assume. ``meta[FULL_SCALE]`` (``2 ** BitsStored - 1``) is the bit-depth normalisation that
  :class:`~monai_denoise.transforms.WindowNormalize` (``low=0``, ``high=None``) applies.

Shapes: :func:`read_dicom_image` returns float32 arrays ``(F, H, W)``: frames (slices)
by rows by columns, as DICOM stores them. ``meta["affine"]`` (where the file has the patient geometry: CT) is the 4x4
RAS affine, in mm, of the array's ``(X, Y, Z) = (column, row, frame)`` indices, i.e. of ``array.transpose(2, 1, 0)``,
the convention of MONAI's ``ITKReader`` and of :func:`monai_denoise.volumes.load_volume`; :func:`as_volume` builds that
``(1, X, Y, Z)`` MetaTensor. A DICOM series (a folder) is read by ITK, see ``monai_denoise.volumes``.
"""

from __future__ import annotations

import locale
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pydicom
import torch
from monai.data import MetaTensor
from pydicom import uid as dicom_uid
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_rescale, get_decoder, pixel_array

from .errors import DataError, describe
from .modalities import MODALITIES
from .transforms.intensity import FULL_SCALE, check_finite

CT_MODALITIES = ("CT",)
RADIOGRAPH_MODALITIES = ("CR", "DX", "MG", "IO", "PX", "RG")
"""Projection X-ray modalities read as a linear detector signal: computed and digital radiography, mammography,
intra-oral, panoramic, radiographic imaging (conventional film / screen)."""
AIR_HU = -1024.0
"""Hounsfield units that padding and anything below it become: air (the lowest a 12-bit CT with intercept -1024
stores)."""
HU_RESCALE_TYPES = ("HU", "US")
"""``RescaleType`` values read as Hounsfield units; absent is HU too (the CT Image IOD implies it)."""

SOURCE_DTYPE, SOURCE_MIN, SOURCE_MAX = "source_dtype", "source_min", "source_max"
"""The meta keys of :mod:`monai_denoise.io` (``ScanReader``): stored data type, and value range in the units read."""

PREFERRED_PLUGINS = ("pylibjpeg", "gdcm", "pydicom", "pillow", "pyjpegls")
"""Order in which pydicom's decoding plugins are tried: pylibjpeg-openjpeg first for JPEG 2000 (and HTJ2K, which only
it decodes), GDCM for JPEG lossless and JPEG-LS (pylibjpeg-libjpeg, which would also decode them, is GPL and not
used), pydicom's own RLE decoder, Pillow last (8-bit JPEG 2000 only in some builds)."""

UNKNOWN_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
"""Names of transfer syntaxes newer than the installed pydicom (which shows them as bare UIDs)."""

_SOP_MODALITY = {
    dicom_uid.CTImageStorage: "CT", dicom_uid.EnhancedCTImageStorage: "CT",
    dicom_uid.LegacyConvertedEnhancedCTImageStorage: "CT", dicom_uid.ComputedRadiographyImageStorage: "CR",
    dicom_uid.DigitalXRayImageStorageForPresentation: "DX", dicom_uid.DigitalXRayImageStorageForProcessing: "DX",
    dicom_uid.DigitalMammographyXRayImageStorageForPresentation: "MG",
    dicom_uid.DigitalMammographyXRayImageStorageForProcessing: "MG",
    dicom_uid.DigitalIntraOralXRayImageStorageForPresentation: "IO",
    dicom_uid.DigitalIntraOralXRayImageStorageForProcessing: "IO",
    dicom_uid.MRImageStorage: "MR", dicom_uid.EnhancedMRImageStorage: "MR",
}
"""Modality implied by the SOP class, for files without a ``Modality`` tag."""

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@contextmanager
def _kept_locale() -> Iterator[None]:
    """Restore the process locale after decoding: GDCM may set it to ``C`` (it does through ITK, see
    :func:`monai_denoise.volumes.isolated_gdcm`), after which Python decodes subprocess output as ASCII."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        if locale.setlocale(locale.LC_ALL) != saved:
            locale.setlocale(locale.LC_ALL, saved)


def read_dicom_image(path: str | Path, expected_modality: Sequence[str] | None = None) -> tuple[np.ndarray, dict]:
    """Read one DICOM image file into float32 ``(F, H, W)`` (F = 1 for a single frame, the frames of a multi-frame
    file) in physical units (CT: HU; radiographs: linear signal, MONOCHROME2), see the module's docstring.

    The frames of an enhanced multi-frame CT are put in order along the slice normal where they are evenly spaced
    parallel slices (then ``affine`` is set); otherwise (several frames at one position, as a perfusion series over
    time holds) they keep the file's order and ``affine`` is None.

    Args:
        path: a DICOM file (Part 10, or a bare dataset).
        expected_modality: DICOM ``Modality`` values the caller accepts (e.g. ``("CT",)``); None accepts CT and
            :data:`RADIOGRAPH_MODALITIES`.

    Returns:
        The array and its meta data: ``filename_or_obj``, ``modality``, ``body_part`` (``BodyPartExamined`` or the
        enhanced CT's anatomic region; None where absent), ``units`` (``"HU"`` or ``"signal"``), ``pixel_spacing``
        (row, column spacing in mm, or None where unknown; from ``PixelSpacing``, else ``ImagerPixelSpacing``, else
        the functional groups' *Pixel Measures*), ``spacing_source`` (the attribute it came from), ``affine`` (see
        the module's docstring; None without patient geometry), ``frames``, ``frame_order`` (the file's frame
        index of each returned frame), ``transfer_syntax`` (name),
        ``transfer_syntax_uid``, ``decoder`` (the pydicom plugin that decoded the pixel data: ``pydicom`` for
        uncompressed data, ``pylibjpeg``, ``gdcm``, ...), ``bits_stored``, ``pixel_representation``,
        ``photometric_interpretation``, ``stored_min`` / ``stored_max`` (of the stored values), ``source_dtype``
        (stored type), ``source_min`` / ``source_max`` (of the returned values, the keys of
        :class:`monai_denoise.io.ScanReader`). CT adds ``rescale_slope`` / ``rescale_intercept`` (one per frame),
        ``rescale_type`` (None where absent), ``pixel_padding_value`` and ``padded_pixels``. Radiographs add
        ``inverted``, ``presentation_lut_shape``, ``pixel_intensity_relationship`` (``LIN``, ``LOG``, or None:
        recorded, no LUT applied), ``stored_offset`` (subtracted from signed stored values, else 0) and
        ``full_scale`` (:data:`~monai_denoise.transforms.FULL_SCALE`, ``2 ** BitsStored - 1``). No patient or
        study identifier is kept.

    Raises:
        DataError: one line naming the file: missing, empty, not DICOM, damaged or truncated; no pixel data; a
            modality other than ``expected_modality`` (or one this reader does not read); colour or palette
            photometric interpretation; a transfer syntax no installed decoder reads (naming the packages that
            would); a CT without rescale tags or not in HU; NaN or Inf in float pixel data.
    """
    values, meta, geometry = _read_image(Path(path), expected_modality)
    if geometry.orientation is not None and geometry.positions is not None and meta["pixel_spacing"] is not None:
        order, affine, problem = _stack_geometry(geometry.orientation, geometry.positions, meta["pixel_spacing"],
                                                 geometry.thickness)
        if problem is None:
            values, meta["affine"], meta["frame_order"] = values[order], affine, order
            for key in ("rescale_slope", "rescale_intercept"):
                meta[key] = tuple(meta[key][i] for i in order)
    return values, meta


class _Geometry(NamedTuple):
    """Where a file's frames lie: row / column directions (2, 3) and frame positions (F, 3) in LPS mm (None where
    absent), slice thickness or spacing (mm), and the series and instance it belongs to."""

    orientation: np.ndarray | None
    positions: np.ndarray | None
    thickness: float | None
    series_uid: str
    instance_number: int | None


def _read_image(path: Path, expected_modality: Sequence[str] | None) -> tuple[np.ndarray, dict, _Geometry]:
    """:func:`read_dicom_image` with the frames in the file's order, and their :class:`_Geometry`."""
    ds = _read_dataset(path)
    modality = _modality(ds, path)
    _check_modality(modality, expected_modality, path)
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise DataError(f"{path}: holds no image (no Pixel Data element); a report, presentation state or index "
                        "file? give the DICOM image file")
    _check_photometric(ds, path)
    stored, decoder = _decode(ds, path)
    if stored.ndim == 2:
        stored = stored[None]
    if stored.ndim != 3:
        raise DataError(f"{path}: pixel data of shape {stored.shape}, expected one or more greyscale frames; "
                        "export the image as greyscale")
    if stored.dtype.kind == "f":
        check_finite(stored, str(path))
    spacing, source = _pixel_spacing(ds)
    meta: dict[str, Any] = {
        "filename_or_obj": str(path), "modality": modality, "body_part": _body_part(ds),
        "pixel_spacing": spacing, "spacing_source": source, "affine": None, "frames": int(stored.shape[0]),
        "frame_order": list(range(stored.shape[0])),
        "transfer_syntax": _syntax_name(ds.file_meta.TransferSyntaxUID),
        "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID), "decoder": decoder,
        "bits_stored": int(ds.get("BitsStored", 8 * stored.dtype.itemsize)),
        "pixel_representation": int(ds.get("PixelRepresentation", 0)),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")).strip().upper(),
        SOURCE_DTYPE: stored.dtype.newbyteorder("=").name,
        "stored_min": float(stored.min()), "stored_max": float(stored.max()),
    }
    if modality in CT_MODALITIES:
        values = _ct_values(ds, stored, path, meta)
    else:
        values = _radiograph_values(ds, stored, path, meta)
    values = np.ascontiguousarray(values, dtype=np.float32)
    meta[SOURCE_MIN], meta[SOURCE_MAX] = float(values.min()), float(values.max())
    return values, meta, _geometry(ds, stored.shape[0])


def as_volume(array: np.ndarray, meta: dict) -> MetaTensor:
    """``array`` ``(F, H, W)`` (as read) as the project's channel-first ``(1, X, Y, Z)`` = ``(1, W, H, F)`` float32
    MetaTensor with ``meta["affine"]`` (RAS), or, without patient geometry, a diagonal affine of the pixel spacing
    (1 mm where unknown). The meta data keys whose value is None are left out (they do not collate). Not reoriented:
    apply ``monai.transforms.Orientation("RAS")`` as ``load_volume`` does."""
    affine = meta.get("affine")
    if affine is None:
        row, column = meta.get("pixel_spacing") or (1.0, 1.0)
        affine = np.diag([column, row, 1.0, 1.0])
    public = {k: v for k, v in meta.items() if v is not None and k != "affine"}  # None does not collate
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(array.transpose(2, 1, 0)[None], dtype=np.float32)),
                      affine=torch.as_tensor(np.asarray(affine, dtype=np.float64)), meta=public)


def _read_dataset(path: Path) -> Dataset:
    """The dataset of ``path`` with its pixel data, and a transfer syntax in its file meta."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes)")
    not_dicom = (f"{path}: not a DICOM file (no DICM marker and no readable DICOM header); give a DICOM image file "
                 "or a DICOM series folder")
    truncated = f"{path}: cannot read the DICOM file, it may be damaged or truncated ({{}}); replace it"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(path)
            except InvalidDicomError:  # no preamble and DICM marker: maybe a bare dataset
                try:
                    ds = pydicom.dcmread(path, force=True)
                except Exception as err:  # a foreign file read as DICOM fails in many ways
                    raise DataError(not_dicom) from err
                if "SOPClassUID" not in ds and not any(k in ds for k in _PIXEL_KEYWORDS):
                    raise DataError(not_dicom) from None
    except DataError:
        raise
    except Exception as err:  # pydicom raises many types for a damaged or truncated file
        raise DataError(truncated.format(describe(err))) from err
    for warning in caught:
        if str(warning.message).startswith("End of file reached"):  # pydicom warns and returns what it read
            raise DataError(truncated.format(f"{warning.category.__name__}: {warning.message}"))
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if len(ds) == 0:
        raise DataError(truncated.format("no data elements after the file meta information"))
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (dicom_uid.ImplicitVRLittleEndian if implicit else
                                          dicom_uid.ExplicitVRLittleEndian if little else
                                          dicom_uid.ExplicitVRBigEndian)
    return ds


def _modality(ds: Dataset, path: Path) -> str:
    """``Modality``, else the one the SOP class implies."""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if not modality:
        modality = _SOP_MODALITY.get(str(ds.get("SOPClassUID", "")), "")
    if not modality:
        raise DataError(f"{path}: no Modality (0008,0060) and an SOP class that does not tell CT from a radiograph; "
                        "add the Modality tag")
    return modality


def _kind(modality: str) -> str:
    """Which bundles take images of DICOM ``modality``: those of the project modality that lists it in its
    ``dicom_modalities`` (:data:`monai_denoise.modalities.MODALITIES`)."""
    served = next((m for m in MODALITIES.values() if modality in m.dicom_modalities), None)
    if served is None:
        return f"a bundle for {modality} images, if there is one"
    return f"the {served.title} bundles (prepare: --modality {served.name})"


def check_series_modality(folder: Path, first_file: str | Path, expected: Sequence[str]) -> None:
    """Refuse a DICOM series (``folder``) whose ``Modality``, read from the header of its ``first_file``, is not one
    of ``expected`` (the bundle's or dataset's modality), with one line naming the folder and the bundles to use.

    Raises:
        DataError: another modality (an MR series given to a CT bundle), or a header pydicom cannot read.
    """
    _check_expected(file_modality(first_file), expected, folder)


def file_modality(path: str | Path) -> str:
    """The DICOM ``Modality`` of the file at ``path`` (its header alone), else the one its SOP class implies.

    Raises:
        DataError: a header pydicom cannot read, or neither tag.
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality", "SOPClassUID"])
    except Exception as err:  # pydicom raises many types for damaged headers
        raise DataError(f"{path}: not a readable DICOM header ({describe(err)}); replace or remove it") from err
    return _modality(ds, Path(path))


def _check_expected(modality: str, expected: Sequence[str] | None, path: Path) -> None:
    if expected is not None and modality not in expected:
        raise DataError(f"{path}: Modality {modality}, not {'/'.join(expected)} as this bundle or dataset takes; use "
                        f"{_kind(modality)}")


def _check_modality(modality: str, expected: Sequence[str] | None, path: Path) -> None:
    _check_expected(modality, expected, path)
    if modality not in CT_MODALITIES + RADIOGRAPH_MODALITIES:
        advice = ("give an MRI scan as its DICOM series folder or as NIfTI" if modality == "MR" else
                  f"{modality} images are not read from single DICOM files")
        raise DataError(f"{path}: Modality {modality}: single DICOM files are read as CT or radiographs "
                        f"({'/'.join(RADIOGRAPH_MODALITIES)}) only; {advice}")


def _check_photometric(ds: Dataset, path: Path) -> None:
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if photometric == "PALETTE COLOR":
        raise DataError(f"{path}: photometric interpretation PALETTE COLOR: colour/palette radiographs are not "
                        "supported; export as greyscale (MONOCHROME2)")
    if photometric.startswith(("RGB", "YBR", "ARGB", "CMYK", "HSV")) or samples != 1:
        raise DataError(f"{path}: photometric interpretation {photometric or 'absent'} with {samples} samples per "
                        "pixel: colour/palette radiographs are not supported; export as greyscale (MONOCHROME2)")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DataError(f"{path}: photometric interpretation {photometric or 'absent'} is not supported "
                        "(MONOCHROME1 or MONOCHROME2 expected); export as greyscale (MONOCHROME2)")


def _syntax_name(syntax: dicom_uid.UID) -> str:
    return UNKNOWN_TRANSFER_SYNTAXES.get(str(syntax), syntax.name)


def _decode(ds: Dataset, path: Path) -> tuple[np.ndarray, str]:
    """The stored values of every frame and the label of the plugin that decoded them."""
    syntax = ds.file_meta.TransferSyntaxUID
    name = f"{_syntax_name(syntax)} ({syntax})"
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DataError(f"{path}: pixel data in transfer syntax {name}, which pydicom {pydicom.__version__} has no "
                        "decoder for; convert the file to an uncompressed syntax (Explicit VR Little Endian) with a "
                        "DICOM tool that reads it") from None
    damaged = (f"{path}: cannot decode the pixel data ({name}), the file may be damaged or truncated "
               "({}); replace it")
    if decoder.is_native:
        try:
            with _kept_locale():
                return pixel_array(ds), "pydicom"
        except Exception as err:  # pydicom raises ValueError, AttributeError, ... for missing or short data
            raise DataError(damaged.format(describe(err))) from err
    if not decoder.is_available:
        raise DataError(f"{path}: pixel data compressed as {name}, which no installed decoder reads; install a "
                        f"pydicom plugin for it ({'; '.join(decoder.missing_dependencies) or 'none known'}) or "
                        "decompress the file to Explicit VR Little Endian (e.g. gdcmconv --raw)")
    available = decoder.available_plugins
    plugins = [p for p in PREFERRED_PLUGINS if p in available] + [p for p in available if p not in PREFERRED_PLUGINS]
    errors = []
    for plugin in plugins:
        try:
            with _kept_locale():
                return pixel_array(ds, decoding_plugin=plugin), plugin
        except Exception as err:  # noqa: BLE001 (each plugin raises its own types; the next may decode it)
            errors.append(f"{plugin}: {describe(err)}")
    raise DataError(damaged.format("; ".join(errors)))


def _stored_range(bits: int, signed: int) -> tuple[int, int]:
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def _body_part(ds: Dataset) -> str | None:
    part = str(ds.get("BodyPartExamined", "") or "").strip()
    if part:
        return part
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        try:
            return str(ds[group][0].FrameAnatomySequence[0].AnatomicRegionSequence[0].CodeMeaning)
        except (KeyError, AttributeError, IndexError):
            continue
    return None


def _group_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """The first item of functional group ``sequence`` for ``frame``: per-frame, else shared, else None."""
    for group, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = ds.get(group)
        value = items[index].get(sequence) if items is not None and len(items) > index else None
        if value:
            return value[0]
    return None


def _positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(pair) != 2 or not all(math.isfinite(v) and v > 0 for v in pair):
        return None
    return pair[0], pair[1]


def _pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """(row, column) spacing in mm and the attribute it came from: ``PixelSpacing`` (in the patient), else
    ``ImagerPixelSpacing`` (at the detector, a radiograph's), else the functional groups' ``PixelMeasuresSequence``;
    zero or missing spacings (some CR files store 0) are unknown: (None, None)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        spacing = _positive_pair(ds.get(keyword))
        if spacing:
            return spacing, keyword
    measures = _group_item(ds, 0, "PixelMeasuresSequence")
    spacing = None if measures is None else _positive_pair(measures.get("PixelSpacing"))
    return (spacing, "PixelMeasuresSequence") if spacing else (None, None)


def _geometry(ds: Dataset, frames: int) -> _Geometry:
    """The :class:`_Geometry` of ``ds``'s ``frames``: top-level (a single-frame image) or from the functional groups'
    ``PlaneOrientationSequence`` / ``PlanePositionSequence`` / ``PixelMeasuresSequence`` (enhanced multi-frame)."""
    orientation = ds.get("ImageOrientationPatient")
    if orientation is None:
        item = _group_item(ds, 0, "PlaneOrientationSequence")
        orientation = None if item is None else item.get("ImageOrientationPatient")
    positions = []
    for i in range(frames):
        position = ds.get("ImagePositionPatient") if frames == 1 else None
        if position is None:
            item = _group_item(ds, i, "PlanePositionSequence")
            position = None if item is None else item.get("ImagePositionPatient")
        positions.append(position)
    thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    measures = _group_item(ds, 0, "PixelMeasuresSequence")
    if measures is not None:
        thickness = thickness or measures.get("SpacingBetweenSlices") or measures.get("SliceThickness")
    try:
        thickness = float(thickness) if thickness and float(thickness) > 0 else None
    except (TypeError, ValueError):
        thickness = None
    try:
        directions = None if orientation is None or len(orientation) != 6 else \
            np.array([float(v) for v in orientation]).reshape(2, 3)
        where = None if any(p is None or len(p) != 3 for p in positions) else \
            np.array([[float(v) for v in p] for p in positions])
    except (TypeError, ValueError):
        directions, where = None, None
    number = ds.get("InstanceNumber")
    return _Geometry(directions, where, thickness, str(ds.get("SeriesInstanceUID", "")),
                     None if number is None or number == "" else int(number))


def _ct_values(ds: Dataset, stored: np.ndarray, path: Path, meta: dict) -> np.ndarray:
    """HU of ``stored`` with padding set to :data:`AIR_HU`; fills the CT keys of ``meta``."""
    frames = stored.shape[0]
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        transforms: list[Dataset | None] = [ds] * frames
    else:
        transforms = [_group_item(ds, i, "PixelValueTransformationSequence") for i in range(frames)]
        if any(t is None or "RescaleSlope" not in t or "RescaleIntercept" not in t for t in transforms):
            raise DataError(f"{path}: CT without RescaleSlope/RescaleIntercept, cannot convert to Hounsfield units; "
                            "export the CT again with its rescale tags (e.g. from the scanner or PACS)")
    types = {str(t.get("RescaleType", "") or ds.get("RescaleType", "") or "").strip().upper()  # type: ignore
             for t in transforms}
    bad = sorted(t for t in types if t and t not in HU_RESCALE_TYPES)
    if bad:
        raise DataError(f"{path}: CT with RescaleType {bad[0]}, not Hounsfield units (HU or US expected); give a CT "
                        "image in HU")
    if stored.dtype.kind == "f":
        values = stored.astype(np.float64)
        for i, item in enumerate(transforms):
            values[i] = values[i] * float(item.RescaleSlope) + float(item.RescaleIntercept)  # type: ignore[union-attr]
    elif transforms[0] is ds:
        values = apply_rescale(stored, ds)
    else:
        values = np.stack([apply_rescale(stored[i], item) for i, item in enumerate(transforms)])
    padding = ds.get("PixelPaddingValue")
    pad = np.zeros(stored.shape, dtype=bool)
    if padding is not None and stored.dtype.kind != "f":
        limit = ds.get("PixelPaddingRangeLimit", padding)
        low, high = sorted((int(padding), int(limit)))
        pad = (stored >= low) & (stored <= high)
    pad |= values < AIR_HU
    values = np.where(pad, AIR_HU, values)
    meta.update({"units": "HU", "rescale_slope": tuple(float(t.RescaleSlope) for t in transforms),  # type: ignore
                 "rescale_intercept": tuple(float(t.RescaleIntercept) for t in transforms),  # type: ignore
                 "rescale_type": "/".join(sorted(t for t in types if t)) or None,
                 "pixel_padding_value": None if padding is None else int(padding), "padded_pixels": int(pad.sum())})
    return values


def _radiograph_values(ds: Dataset, stored: np.ndarray, path: Path, meta: dict) -> np.ndarray:
    """The linear signal of ``stored`` in ``[0, 2 ** BitsStored - 1]``, MONOCHROME2; fills the radiograph keys."""
    if stored.dtype.kind == "f":
        raise DataError(f"{path}: a radiograph with float pixel data, which has no stored bit depth to scale by; "
                        "export it with integer pixel data")
    bits = meta["bits_stored"]
    low, high = _stored_range(bits, meta["pixel_representation"])
    full_scale = float(2**bits - 1)
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper() or None
    inverted = meta["photometric_interpretation"] == "MONOCHROME1" or shape == "INVERSE"
    values = np.clip(stored.astype(np.float64), low, high) - low
    if inverted:
        values = full_scale - values
    meta.update({"units": "signal", "inverted": inverted, "presentation_lut_shape": shape, "stored_offset": low,
                 "pixel_intensity_relationship": str(ds.get("PixelIntensityRelationship", "") or "").strip() or None,
                 FULL_SCALE: full_scale})
    return values


def _stack_geometry(directions: np.ndarray, positions: np.ndarray, spacing: tuple[float, float],
                    thickness: float | None) -> tuple[list[int], np.ndarray | None, str | None]:
    """Order of slices at ``positions`` (N, 3, LPS mm) with row / column ``directions`` (2, 3) along the normal, their
    RAS affine (see the module's docstring), and what is wrong with them (or None)."""
    directions = np.asarray(directions, dtype=np.float64).reshape(2, 3)
    normal = np.cross(directions[0], directions[1])
    along = positions @ normal
    order = [int(i) for i in np.argsort(along, kind="stable")]
    ordered = positions[order]
    if len(order) == 1:
        step = normal * (thickness or 1.0)
    else:
        gaps = np.diff(along[order])
        if gaps.min() < 1e-3:
            return order, None, (f"{len(order)} slices at {len(np.unique(np.round(along, 3)))} positions: several "
                                 "frames per position (a time series?); give one volume")
        off_axis = np.linalg.norm(ordered - ordered[0] - np.outer(along[order] - along[order][0], normal), axis=1)
        if off_axis.max() > 0.01 * (along[order][-1] - along[order][0]):
            return order, None, (f"slice positions leave the slice normal by up to {off_axis.max():.3g} mm (a tilted "
                                 "gantry?); resample the series to a volume (e.g. dcm2niix)")
        if gaps.max() > 1.1 * gaps.min():
            return order, None, f"slice spacing varies from {gaps.min():.3g} to {gaps.max():.3g} mm: missing slices?"
        step = (ordered[-1] - ordered[0]) / (len(order) - 1)
    row, column = spacing
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = directions[0] * column, directions[1] * row, step, ordered[0]
    return order, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps, None


def frame_affines(ds: Dataset) -> list[np.ndarray]:
    """The RAS affine (mm) of each frame's ``(column, row, 0)`` pixel indices, frames in the file's order: the frame's
    plane from ``ImagePositionPatient`` / ``ImageOrientationPatient`` (top level or the functional groups) and its
    pixel spacing, as :func:`read_dicom_image` builds a volume's affine. Without patient geometry (a radiograph),
    the diagonal affine of the pixel spacing (1 mm where unknown) with frame ``f`` at ``z = f``, as
    :func:`as_volume` places it."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    geometry = _geometry(ds, frames)
    spacing, _ = _pixel_spacing(ds)
    if geometry.orientation is None or geometry.positions is None or spacing is None:
        row, column = spacing or (1.0, 1.0)
        affines = [np.diag([column, row, 1.0, 1.0]) for _ in range(frames)]
        for f, affine in enumerate(affines):
            affine[2, 3] = f
        return affines
    affines = []
    for position in geometry.positions:
        _, affine, _ = _stack_geometry(geometry.orientation, position[None], spacing, geometry.thickness)
        affines.append(affine)
    return affines


def stored_values(ds: Dataset, values: np.ndarray, path: str | Path) -> np.ndarray:
    """The inverse of :func:`read_dicom_image`'s units: ``values`` ``(F, H, W)`` in the units the file is read in
    (CT: HU; radiographs: linear signal, MONOCHROME2; an MR series: its rescaled values) as the file's stored
    integers, rounded and clipped to its ``BitsStored`` and ``PixelRepresentation``, in the type its
    ``BitsAllocated`` holds (little-endian). CT and MR: the modality rescale undone per frame (where there is one);
    radiographs: inverted back where the file is displayed inverted (``MONOCHROME1``, an ``INVERSE`` presentation
    LUT), then offset to the signed range where signed. Pixels that the file stores as padding
    (``PixelPaddingValue`` up to ``PixelPaddingRangeLimit``) keep their stored value.

    Raises:
        DataError: float pixel data, or a bit depth of no integer type.
    """
    path = Path(path)
    if "PixelData" not in ds:
        raise DataError(f"{path}: float pixel data cannot be written back as stored integers; "
                        "use output_format 'nifti'")
    bits, signed = int(ds.BitsStored), int(ds.get("PixelRepresentation", 0))
    allocated = int(ds.BitsAllocated)
    if allocated not in (8, 16, 32):
        raise DataError(f"{path}: {allocated} bits allocated per pixel, which no integer type holds; "
                        "use output_format 'nifti'")
    low, high = _stored_range(bits, signed)
    work = np.asarray(values, dtype=np.float64).reshape(-1, int(ds.Rows), int(ds.Columns))
    if _modality(ds, path) in RADIOGRAPH_MODALITIES:
        full_scale = float(2**bits - 1)
        shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
        if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1" or shape == "INVERSE":
            work = full_scale - work
        work = work + low
    else:
        frames = work.shape[0]
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            rescales = [(float(ds.RescaleSlope), float(ds.RescaleIntercept))] * frames
        else:
            items = [_group_item(ds, i, "PixelValueTransformationSequence") for i in range(frames)]
            rescales = [(1.0, 0.0) if item is None or "RescaleSlope" not in item else
                        (float(item.RescaleSlope), float(item.RescaleIntercept)) for item in items]
        work = np.stack([(frame - intercept) / slope for frame, (slope, intercept) in zip(work, rescales)])
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    stored = np.clip(np.rint(work), low, high).astype(dtype)
    padding = ds.get("PixelPaddingValue")
    if padding is not None:
        source = _decode(ds, path)[0].reshape(stored.shape)
        first, last = sorted((int(padding), int(ds.get("PixelPaddingRangeLimit", padding))))
        padded = (source >= first) & (source <= last)
        stored[padded] = source[padded]
    return stored
