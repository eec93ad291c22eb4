"""What kind of scan a path holds (NIfTI, DICOM file or series, picture), finding them in folders, and their ids:
what every reader, the bundles' datalists and dataset preparation share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DICOM_SUFFIX = ".dcm"
DICOM_MAGIC_OFFSET = 128
"""DICOM Part 10 files hold ``b"DICM"`` after a 128-byte preamble, whatever their name."""


def has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether the file name ends (case-insensitively) with one of ``suffixes``."""
    return path.name.lower().endswith(suffixes)


def is_nifti(path: Path) -> bool:
    return has_suffix(path, NIFTI_SUFFIXES)


def is_picture(path: Path) -> bool:
    return has_suffix(path, PICTURE_SUFFIXES)


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM image file: named ``*.dcm``, or a Part 10 file (``DICM`` after the preamble);
    not a ``DICOMDIR`` (the index of a DICOM disc, which holds no image)."""
    if path.name.upper() == "DICOMDIR":
        return False
    if has_suffix(path, (DICOM_SUFFIX,)):
        return True
    try:
        with path.open("rb") as stream:
            stream.seek(DICOM_MAGIC_OFFSET)
            return stream.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom_series(path: Path) -> bool:
    """Whether ``path`` is a folder that directly holds DICOM files: one series, read as one volume.

    Raises:
        DataError: the folder also holds NIfTI files (a converter's output beside its series), which would make
            one scan two inputs that could land in different splits.
    """
    if not path.is_dir():
        return False
    files = [p for p in path.iterdir() if p.is_file()]
    if not any(is_dicom_file(p) for p in files if not has_suffix(p, NIFTI_SUFFIXES + PICTURE_SUFFIXES)):
        return False
    beside = sorted(p.name for p in files if is_nifti(p))
    if beside:
        raise DataError(f"{path}: holds a DICOM series and NIfTI file(s) ({', '.join(beside)}), maybe the same scan "
                        "twice; move one of them out")
    return True


def find_files(inputs: list[str | Path], suffixes: tuple[str, ...] = NIFTI_SUFFIXES,
               dicom: bool = False, dicom_series: bool = True, dicom_files_alone: bool = False) -> list[Path]:
    """Expand files and folders (searched recursively) into a sorted list of files ending with ``suffixes``.

    With ``dicom``, every folder that holds DICOM files (see :func:`is_dicom_series`) is one more input: the
    folder of a DICOM series, given itself, found inside a given folder, or the folder of a given DICOM file.
    With ``dicom_series=False`` (radiographs, one image per file) every DICOM file is an input of its own instead.
    With ``dicom_files_alone`` a DICOM file given by name is an input of its own (a CT slice or multi-frame file),
    while folders still hold series.

    A file or series reached twice (by two inputs, or through a symbolic link) is listed once.

    Raises:
        DataError: a path is missing, a file has another suffix, or a folder holds none.
    """
    wanted = " or ".join(suffixes)
    if not inputs:
        raise DataError(f"no input given: name {wanted} files{' or DICOM series' if dicom else ''} or folders of "
                        "them, or use --sample")
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            tree = sorted(item.rglob("*"))
            files = [p for p in tree if p.is_file() and has_suffix(p, suffixes)]
            if dicom and dicom_series:
                files += [p for p in (item, *tree) if is_dicom_series(p)]
            elif dicom:
                files += [p for p in tree if p.is_file() and not has_suffix(p, suffixes) and is_dicom_file(p)]
            if not files:
                raise DataError(f"{item}: folder holds no {wanted} file{' and no DICOM series' if dicom else ''}")
            found.extend(files)
        elif item.is_file():
            if dicom and not has_suffix(item, suffixes) and is_dicom_file(item):
                found.append(item.parent if dicom_series and not dicom_files_alone else item)
                continue
            if not has_suffix(item, suffixes):
                raise DataError(f"{item}: not a supported file (expected {wanted}"
                                f"{', or a DICOM series folder' if dicom else ''})")
            found.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    unique = {p.resolve(): p for p in sorted(found, reverse=True)}
    return sorted(unique.values())


def volume_id(path: Path) -> str:
    """File name without its image suffix, e.g. ``sub-01_T1w`` for ``sub-01_T1w.nii.gz``; a DICOM series
    folder's name."""
    if path.is_dir():
        return path.resolve().name
    name = path.name
    for suffix in sorted(NIFTI_SUFFIXES + PICTURE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def unique_ids(paths: list[Path], name: Callable[[Path], str] = volume_id) -> dict[Path, str]:
    """``name`` of every path (default :func:`volume_id`); where two are the same, those get their folder's name
    in front.

    Raises:
        DataError: names that clash even with their folder names, listing those paths.
    """
    ids = {p: name(p) for p in paths}
    counts = Counter(ids.values())
    ids = {p: f"{p.resolve().parent.name}_{i}" if counts[i] > 1 else i for p, i in ids.items()}
    counts = Counter(ids.values())
    clashing = [str(p) for p, i in ids.items() if counts[i] > 1]
    if clashing:
        raise DataError(f"inputs with clashing names even with their folder names, rename them: {', '.join(clashing)}")
    return ids
