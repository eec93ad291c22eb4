"""Load and validate one NIfTI volume or series, one DICOM series, or one 2D picture, as a channel-first
``(T, X, Y, Z)`` tensor."""

from __future__ import annotations

import locale
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import itk
import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import EnsureChannelFirst, LoadImage, Orientation
from PIL import Image

from .dicom import as_volume, check_series_modality, read_dicom_image
from .errors import DataError
from .files import is_dicom_file, is_nifti, is_picture
from .transforms import FULL_SCALE, check_finite

_load = LoadImage(reader="NibabelReader", image_only=True, dtype=np.float32)
_load_dicom = LoadImage(reader="ITKReader", image_only=True, dtype=np.float32)
_channel_first = EnsureChannelFirst()
_to_ras = Orientation(axcodes="RAS", labels=None)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes)")


def check_input(path: Path, dicom_modalities: tuple[str, ...] | None = None) -> tuple[int, ...]:
    """Check a 3D / 4D NIfTI file, a DICOM series folder, a single DICOM image file (a CT slice or frames, a
    radiograph) or a 2D picture (by its suffix); return its shape (a DICOM file: ``(F, H, W)``, read whole).
    ``dicom_modalities``: the DICOM ``Modality`` values a series or file may have (the modality's); None: any
    series, and single files of CT or radiographs.

    Raises:
        DataError: see :func:`check_nifti_header`, :func:`check_dicom_series`, :func:`check_picture` and
            :func:`monai_denoise.dicom.read_dicom_image`.
    """
    if path.is_dir():
        return check_dicom_series(path, dicom_modalities)
    if is_picture(path):
        return check_picture(path)
    if not is_nifti(path) and path.is_file() and is_dicom_file(path):
        return read_dicom_image(path, dicom_modalities)[0].shape
    return check_nifti_header(path)


@contextmanager
def isolated_gdcm() -> Iterator[None]:
    """Run ITK's DICOM (GDCM) calls without their side effects: they set the process's locale to ``C`` (after which
    Python decodes subprocess output as ASCII), and they and the decoders inside them (OpenJPEG) print warnings to
    the process's stderr, which is silenced meanwhile: what fails reaches the user as one DataError line."""
    saved, warnings = locale.setlocale(locale.LC_ALL), itk.ProcessObject.GetGlobalWarningDisplay()
    itk.ProcessObject.SetGlobalWarningDisplay(False)
    sys.stderr.flush()
    stderr = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        locale.setlocale(locale.LC_ALL, saved)
        itk.ProcessObject.SetGlobalWarningDisplay(warnings)


class SliceHeader(NamedTuple):
    """What one DICOM slice file's header says of its place: position and row / column directions in patient
    coordinates (mm), and its size."""

    origin: np.ndarray
    directions: np.ndarray
    size: tuple[int, ...]


def _slice_header(path: str) -> SliceHeader:
    """The :class:`SliceHeader` of one DICOM file (inside :func:`isolated_gdcm`).

    Raises:
        DataError: the header cannot be read.
    """
    io = itk.GDCMImageIO.New()
    io.SetFileName(path)
    try:
        io.ReadImageInformation()
    except RuntimeError as err:
        raise DataError(f"{path}: not a readable DICOM header ({str(err).strip().splitlines()[-1]})") from err
    return SliceHeader(np.array([io.GetOrigin(axis) for axis in range(3)]),
                       np.array([[io.GetDirection(axis)[k] for k in range(3)] for axis in range(2)]),
                       tuple(io.GetDimensions(axis) for axis in range(io.GetNumberOfDimensions())))


def dicom_series_files(folder: Path) -> list[str]:
    """The files of the one DICOM series in ``folder``, in slice order, checked from their headers only.

    GDCM groups the files into series as MONAI's ``ITKReader`` does (series UID and details, series date) and
    sorts them by position.

    Raises:
        DataError: no DICOM file; empty files; no readable series; several series (slices of another size
            make another series); files outside the series; repeated slice positions (several frames, as fMRI
            or diffusion series hold); uneven slice spacing (missing slices).
    """
    files = [p for p in folder.iterdir() if p.is_file() and is_dicom_file(p)]
    if not files:
        raise DataError(f"{folder}: holds no DICOM file")
    empty = [p.name for p in files if p.stat().st_size == 0]
    if empty:
        raise DataError(f"{folder}: DICOM file(s) empty (0 bytes): {', '.join(sorted(empty))}")
    with isolated_gdcm():
        names = itk.GDCMSeriesFileNames.New()
        names.SetUseSeriesDetails(True)
        names.AddSeriesRestriction("0008|0021")
        try:
            names.SetDirectory(str(folder))
            series = list(names.GetSeriesUIDs())
        except RuntimeError as err:  # GDCM stops on a header it cannot parse
            raise DataError(f"{folder}: GDCM cannot group its DICOM files into series, one of them has a damaged or "
                            f"foreign header ({str(err).strip().splitlines()[-1]}); put the series in a folder of "
                            "its own") from err
        if not series:
            raise DataError(f"{folder}: no readable DICOM series among its {len(files)} DICOM file(s)")
        if len(series) > 1:
            raise DataError(f"{folder}: holds {len(series)} DICOM series (told apart by series UID and number, "
                            "sequence name, slice thickness, image size and date); put each series in a folder of "
                            "its own")
        ordered = list(names.GetFileNames(series[0]))
        unread = sorted({p.name for p in files} ^ {Path(f).name for f in ordered})
        if unread:
            raise DataError(f"{folder}: DICOM file(s) outside the series, unreadable or without the DICM marker: "
                            f"{', '.join(unread)}")
        headers = [_slice_header(f) for f in ordered]
    if any(not np.allclose(h.directions, headers[0].directions, atol=1e-4) for h in headers):
        raise DataError(f"{folder}: slices of different orientations (a localizer?); give one series of parallel "
                        "slices")
    origins = np.array([h.origin for h in headers])
    positions = len(np.unique(np.round(origins, 3), axis=0))
    if positions < len(ordered):
        raise DataError(f"{folder}: {len(ordered)} slice files at {positions} positions: a series of several "
                        "frames (fMRI, diffusion); convert it to a 4D NIfTI file (e.g. dcm2niix) and give that")
    if len(ordered) > 1:
        normal = np.cross(*headers[0].directions)
        along = (origins - origins[0]) @ normal  # slice positions along the slice normal
        off_axis = np.linalg.norm(origins - origins[0] - np.outer(along, normal), axis=1).max()
        steps = np.diff(np.sort(along))
        if off_axis > 0.01 * np.abs(along).max():
            raise DataError(f"{folder}: slice positions leave the slice normal by up to {off_axis:.3g} mm (a tilted "
                            "gantry?); resample the series to a volume (e.g. dcm2niix) and give that")
        if steps.max() > 1.1 * steps.min():
            raise DataError(f"{folder}: slice spacing varies from {steps.min():.3g} to {steps.max():.3g} mm: "
                            "missing slices?")
    return ordered


def check_dicom_series(folder: Path, dicom_modalities: tuple[str, ...] | None = None) -> tuple[int, int, int]:
    """Check that ``folder`` holds one DICOM series of 2D slices (headers only, see :func:`dicom_series_files`), of
    one of ``dicom_modalities`` where given; return its ``(X, Y, Z)`` shape.

    Raises:
        DataError: see :func:`dicom_series_files` and :func:`monai_denoise.dicom.check_series_modality`.
    """
    files = dicom_series_files(folder)
    if dicom_modalities is not None:
        check_series_modality(folder, files[0], dicom_modalities)
    with isolated_gdcm():
        size = _slice_header(files[0]).size
    return int(size[0]), int(size[1]), len(files)


def load_dicom_series(folder: Path) -> MetaTensor:
    """Read the DICOM series in ``folder`` (one file per slice) with ITK, through MONAI's ``ITKReader``, into a
    float32 ``(1, X, Y, Z)`` MetaTensor with the series' geometry. DICOM header fields (patient data) are not kept.

    Raises:
        DataError: see :func:`dicom_series_files`; also slices whose pixel data cannot be read.
    """
    files = dicom_series_files(folder)
    try:
        with isolated_gdcm():
            volume = _channel_first(_load_dicom(str(folder)))
    except Exception as err:  # ITK raises RuntimeError with GDCM's message for damaged files
        raise DataError(f"{folder}: cannot read the DICOM series, a file may be damaged or truncated "
                        f"({type(err).__name__}: {err})") from err
    if volume.ndim == 3:  # a single 2D slice
        volume = volume[..., None]
    if volume.ndim != 4 or volume.shape[0] != 1 or volume.shape[-1] != len(files):
        raise DataError(f"{folder}: expected one volume of {len(files)} slices, read shape {tuple(volume.shape)}")
    return MetaTensor(volume.as_tensor(), affine=volume.affine, meta={"filename_or_obj": str(folder)})


def check_picture(path: Path) -> tuple[int, int]:
    """Check that ``path`` is a readable single-frame 2D picture (PNG, JPEG, TIFF); return ``(height, width)``.

    Raises:
        DataError: missing, empty, not a picture, or with several frames (a multi-page TIFF).
    """
    _check_file(path)
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            image.verify()
            width, height = image.size
    except Exception as err:  # PIL raises several types for foreign or damaged files
        raise DataError(f"{path}: not a readable picture ({type(err).__name__}: {err})") from err
    if frames != 1:
        raise DataError(f"{path}: expected a single 2D picture, got {frames} frames")
    return height, width


def check_nifti_header(path: Path) -> tuple[int, ...]:
    """Check that ``path`` is a readable 3D or 4D NIfTI file; return its shape.

    Raises:
        DataError: missing, empty, not NIfTI, with a number of dimensions other than 3 or 4, or with more voxels
            than the available memory holds (checked from the header, before any data is read).
    """
    _check_file(path)
    try:
        image = nib.load(str(path))
    except Exception as err:  # nibabel raises several types for foreign or damaged files
        raise DataError(f"{path}: not a readable NIfTI file ({type(err).__name__}: {err})") from err
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DataError(f"{path}: not a NIfTI image (nibabel reads it as {type(image).__name__})")
    shape = tuple(int(s) for s in image.shape)
    if len(shape) not in (3, 4):
        raise DataError(f"{path}: expected a 3D volume or a 4D series, got {len(shape)}D data of shape {shape}")
    needed, available = math.prod(shape) * FLOAT32_BYTES, available_memory()
    if needed > available:
        raise DataError(f"{path}: the header claims {math.prod(shape)} voxels {shape}, {needed / 2**30:.1f} GiB as "
                        f"float32, more than the {available / 2**30:.1f} GiB of memory available; the header may be "
                        "damaged, or crop or split the scan")
    return shape


FLOAT32_BYTES = 4


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``, else physical memory)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def load_picture(path: Path) -> MetaTensor:
    """Read a 2D picture into a float32 ``(1, H, W, 1)`` MetaTensor with unit spacing.

    Colour pictures become their luminance (PIL's ``L`` mode); 16-bit and float pictures keep their values. The meta
    data's :data:`~monai_denoise.transforms.FULL_SCALE` is the largest value the picture's type stores (255 for 8
    bits, 65535 for 16), the white of a picture read as a linear signal; none for float pictures.

    Raises:
        DataError: see :func:`check_picture`; also truncated data.
    """
    check_picture(path)
    try:
        with Image.open(path) as image:
            keeps_values = image.mode in ("I", "F") or image.mode.startswith("I;16")
            full_scale = {"F": None, "I": 65535.0}.get(image.mode, 65535.0 if keeps_values else 255.0)
            array = np.asarray(image if keeps_values else image.convert("L"), dtype=np.float32)
    except Exception as err:
        raise DataError(f"{path}: cannot read the image data, the file may be truncated "
                        f"({type(err).__name__}: {err})") from err
    meta = {"filename_or_obj": str(path), **({FULL_SCALE: full_scale} if full_scale else {})}
    return MetaTensor(torch.from_numpy(array.copy())[None, :, :, None], affine=torch.eye(4), meta=meta)


def load_volume(path: Path, reorient: bool = True) -> MetaTensor:
    """Read ``path`` into a float32 ``(T, X, Y, Z)`` MetaTensor (T = 1 for a 3D volume), RAS-oriented.

    A folder is a DICOM series, see :func:`load_dicom_series`. A single DICOM image file (a CT slice or enhanced
    multi-frame CT in HU, a radiograph as its linear detector signal, see :func:`monai_denoise.dicom.read_dicom_image`)
    becomes ``(1, W, H, F)``. A 2D picture (PNG, JPEG, TIFF) becomes ``(1, H, W, 1)`` as it is stored, see
    :func:`load_picture`.

    Raises:
        DataError: see :func:`check_input`; also truncated data, and NaN or Inf voxels.
    """
    if path.is_dir():
        volume = load_dicom_series(path)
    elif not is_nifti(path) and not is_picture(path) and path.is_file() and is_dicom_file(path):
        volume = as_volume(*read_dicom_image(path))
        volume.meta["filename_or_obj"] = str(path)
    elif is_picture(path):
        volume = load_picture(path)
    else:
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
    if reorient and not is_picture(path):
        volume = _to_ras(volume)
    return volume if isinstance(volume, MetaTensor) else MetaTensor(torch.as_tensor(volume))
