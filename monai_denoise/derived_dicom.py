"""Write a denoised scan back as DICOM: a derived series in the source's study, one instance per source instance,
which a PACS stores and a viewer shows beside the original.

Each derived instance is the source instance with its pixel data replaced and these changes (DICOM PS3.3 C.7.6.1,
C.7.3.1): new ``SeriesInstanceUID`` and ``SOPInstanceUID`` (:func:`derived_uid`); ``ImageType`` ``DERIVED\\SECONDARY``
with the source's other values (in an enhanced multi-frame image ``DERIVED\\PRIMARY``, as the standard allows
there only, and the functional groups' ``FrameType`` alike);
``DerivationDescription`` naming the bundle, its version and settings; ``SourceImageSequence`` referencing the source
instance (purpose: source image for image processing operation); ``SeriesNumber`` the source's plus
:data:`SERIES_NUMBER_OFFSET`; ``SeriesDescription`` saying denoised; content and instance creation date and time now;
an uncompressed transfer syntax (Explicit VR Little Endian), marked lossy where the source was lossy-compressed; the
private tags, the icon and the source's smallest / largest pixel value dropped. The study, patient, frame of
reference, geometry, rescale, windows, bit depth, pixel representation and photometric interpretation (MONOCHROME1
stays MONOCHROME1) are the source's. Stored values are rounded and clipped to the bit depth
(:func:`monai_denoise.dicom.stored_values`).
"""

from __future__ import annotations

import copy
import datetime
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom import uid as dicom_uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from .atomic import atomic_directory
from .dicom import frame_affines, stored_values
from .errors import DataError, describe
from .volumes import dicom_series_files

logger = logging.getLogger(__name__)

UID_NAMESPACE = uuid.UUID("6f1e2a8c-3f0b-5d7e-9a41-2c5b8e0d7f13")
"""monai-denoise's name space of UUID-derived UIDs (``2.25.<UUID>``, ISO/IEC 9834-8, PS3.5 B.2): a UID of a derived
series or instance is the UUID 5 of its source UID and the derivation in this name space, so no registered root is
needed and the same source denoised by the same bundle version and settings gets the same UIDs (a PACS that receives
a series twice stores it once)."""
SERIES_NUMBER_OFFSET = 1000
"""A derived series' number is its source's plus this (sources without one: this)."""
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
"""``PurposeOfReferenceCodeSequence`` of each ``SourceImageSequence`` item (CID 7202)."""
LOSSY_SYNTAXES = frozenset({
    dicom_uid.JPEGBaseline8Bit, dicom_uid.JPEGExtended12Bit, dicom_uid.JPEGLSNearLossless, dicom_uid.JPEG2000,
    dicom_uid.HTJ2K, dicom_uid.JPEG2000MC,
})
"""Transfer syntaxes whose pixel data may have lost information: a derived image of them is marked lossy."""
DESCRIPTION_LENGTH = 1024
"""``DerivationDescription`` (ST) holds at most this many characters."""


def derived_uid(*parts: str) -> str:
    """The UID in :data:`UID_NAMESPACE` of ``parts`` (a source UID and the derivation's description, which tells one
    derivation from another), at most 64 characters."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, chr(92).join(parts)).int}"


@dataclass(frozen=True)
class Derivation:
    """What denoised a scan, as its derived DICOM series records it.

    Args:
        bundle: the bundle's name (``ct_denoising_drunet``).
        version: the bundle's version.
        settings: the inference settings a reader needs to know (``self_ensemble``, ``noise_level``, ...).
    """

    bundle: str
    version: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def description(self) -> str:
        """``DerivationDescription``: ``denoised by BUNDLE VERSION (monai-denoise; key value, ...)``."""
        settings = "; ".join(f"{k} {v}" for k, v in sorted(self.settings.items()))
        text = f"denoised by {self.bundle} {self.version} (monai-denoise{'; ' + settings if settings else ''})"
        return text[:DESCRIPTION_LENGTH]


def source_instances(source: Path) -> list[Path]:
    """The DICOM files of ``source``: a series folder's files in slice order, or the single file itself."""
    return dicom_series_files(source) if source.is_dir() else [source]


def frame_from_volume(volume: np.ndarray, affine: np.ndarray, frame_affine: np.ndarray, shape: tuple[int, int],
                      source: Path) -> np.ndarray:
    """The ``(rows, columns)`` pixels of one source frame, taken from ``volume`` ``(X, Y, Z)`` whose RAS ``affine``
    places its voxels; ``frame_affine`` places the frame's ``(column, row, 0)`` pixels (:func:`frame_affines`).

    Raises:
        DataError: the frame's pixels do not fall on the volume's voxels (the volume is not this source's).
    """
    rows, columns = shape
    mapping = np.linalg.inv(np.asarray(affine, dtype=np.float64)) @ np.asarray(frame_affine, dtype=np.float64)
    column, row = np.meshgrid(np.arange(columns), np.arange(rows))
    pixels = np.stack([column.ravel(), row.ravel(), np.zeros(column.size), np.ones(column.size)])
    index = (mapping @ pixels)[:3]
    voxels = np.rint(index).astype(np.int64)
    inside = all((voxels[axis] >= 0).all() and (voxels[axis] < volume.shape[axis]).all() for axis in range(3))
    if not inside or np.abs(index - voxels).max() > 0.01:
        raise DataError(f"{source}: the denoised volume does not lie on this file's pixels (shape {volume.shape}); "
                        "was it resampled? write it with output_format 'nifti'")
    return volume[voxels[0], voxels[1], voxels[2]].reshape(rows, columns)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _derived_type(value: Any, enhanced: bool) -> list[str]:
    """``ImageType`` / ``FrameType`` values with value 1 ``DERIVED`` and value 2 ``SECONDARY``, the others kept; in an
    enhanced multi-frame image value 2 is kept (it can only be ``PRIMARY`` there, PS3.3 C.8.16.1.1)."""
    values = [str(v) for v in (value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else
                               [value] if value else [])]
    second = values[1] if enhanced and len(values) > 1 else "SECONDARY"
    return ["DERIVED", second, *values[2:]]


def derived_instance(ds: Dataset, stored: np.ndarray, derivation: Derivation, series_uid: str,
                     now: datetime.datetime) -> Dataset:
    """The derived instance of source instance ``ds`` with stored pixel values ``stored`` ``(F, rows, columns)``,
    see the module's docstring."""
    source_syntax = ds.file_meta.TransferSyntaxUID
    derived = copy.deepcopy(ds)
    derived.remove_private_tags()
    for keyword in ("IconImageSequence", "SmallestImagePixelValue", "LargestImagePixelValue",
                    "SmallestPixelValueInSeries", "LargestPixelValueInSeries"):
        if keyword in derived:
            del derived[keyword]
    instance_uid = derived_uid(str(ds.SOPInstanceUID), derivation.description())
    derived.SeriesInstanceUID = series_uid
    derived.SOPInstanceUID = instance_uid
    enhanced = "SharedFunctionalGroupsSequence" in ds
    derived.ImageType = _derived_type(ds.get("ImageType"), enhanced)
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in derived.get(group, []):
            for frame_type in item.get("CTImageFrameTypeSequence", []) or item.get("MRImageFrameTypeSequence", []):
                frame_type.FrameType = _derived_type(frame_type.get("FrameType"), enhanced)
    derived.DerivationDescription = derivation.description()
    reference = Dataset()
    reference.ReferencedSOPClassUID = ds.SOPClassUID
    reference.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    reference.PurposeOfReferenceCodeSequence = Sequence([_code(*SOURCE_PURPOSE)])
    derived.SourceImageSequence = Sequence([reference])
    number = ds.get("SeriesNumber")
    derived.SeriesNumber = (int(number) if number not in (None, "") else 0) + SERIES_NUMBER_OFFSET
    description = str(ds.get("SeriesDescription", "") or "").strip()
    derived.SeriesDescription = (f"{description} denoised" if description else "denoised")[:64]
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    derived.SeriesDate, derived.SeriesTime = date, time
    derived.ContentDate, derived.ContentTime = date, time
    derived.InstanceCreationDate, derived.InstanceCreationTime = date, time
    if source_syntax in LOSSY_SYNTAXES or str(ds.get("LossyImageCompression", "")) == "01":
        derived.LossyImageCompression = "01"
    derived.PixelData = np.ascontiguousarray(stored).tobytes()
    derived["PixelData"].VR = "OW" if stored.dtype.itemsize > 1 else "OB"
    derived["PixelData"].is_undefined_length = False
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = dicom_uid.ExplicitVRLittleEndian
    derived.file_meta = meta
    return derived


def write_derived_series(source: Path, volume: np.ndarray, affine: np.ndarray, folder: Path,
                         derivation: Derivation) -> str:
    """Write ``volume`` ``(X, Y, Z)``, the denoised ``source`` (a DICOM series folder or a single DICOM file) in its
    units and RAS ``affine``, as the derived series ``folder`` (``IM0001.dcm``, ... in the source's slice order),
    completely or not at all (staged, then renamed; an earlier output of that name is replaced).

    Returns:
        The derived series' ``SeriesInstanceUID``.

    Raises:
        DataError: a source file that cannot be read again, or a volume that does not lie on its pixels.
    """
    files = source_instances(source)
    now = datetime.datetime.now()
    series_uid = None
    with atomic_directory(folder, overwrite=True) as staging:
        for index, path in enumerate(files, start=1):
            try:
                ds = pydicom.dcmread(path)
            except Exception as err:  # pydicom raises many types for a damaged file
                raise DataError(f"{path}: cannot read the source DICOM file again ({describe(err)}); was it changed "
                                "during the run?") from err
            if series_uid is None:
                series_uid = derived_uid(str(ds.SeriesInstanceUID), derivation.description())
            shape = (int(ds.Rows), int(ds.Columns))
            values = np.stack([frame_from_volume(volume, affine, frame, shape, path) for frame in frame_affines(ds)])
            stored = stored_values(ds, values, path)
            derived = derived_instance(ds, stored, derivation, series_uid, now)
            derived.save_as(staging / f"IM{index:04d}.dcm", enforce_file_format=True)
    logger.info("wrote %s: derived DICOM series %s (%d instance(s)) denoised from %s", folder, series_uid, len(files),
                source)
    return str(series_uid)
