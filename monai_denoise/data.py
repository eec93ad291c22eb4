"""Datalists and volume lists for bundle configs, checked so that a bad entry names its file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .files import (NIFTI_SUFFIXES, PICTURE_SUFFIXES, find_files, is_dicom_file, is_nifti, is_picture,
                                unique_ids, volume_id)
from .volumes import check_input

from .dicom import read_dicom_image
from .errors import DataError


def load_datalist(path: str | Path, key: str, base_dir: str | Path | None = None, max_items: int | None = None,
                  seed: int = 0) -> list[dict]:
    """Read the ``key`` list of a decathlon-style datalist; image paths become absolute.

    Args:
        path: the ``datalist.json`` file.
        key: ``training``, ``validation`` or ``test``.
        base_dir: folder that relative paths start from; default the datalist's own folder.
        max_items: keep a random subset of this many entries (in datalist order), chosen by ``seed``;
            None keeps all. For studies of training-set size.
        seed: seed of the subset. Default 0.

    Raises:
        DataError: missing or invalid file, missing or empty ``key``, an entry without ``image``,
            or an image file that does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: datalist file not found")
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(content, dict) or key not in content:
        found = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise DataError(f"{path}: missing key {key!r} (found {found})")
    items = content[key]
    if not isinstance(items, list) or not items:
        raise DataError(f"{path}: {key!r} must be a non-empty list of {{'image': path}} entries")
    base = Path(base_dir) if base_dir is not None else path.parent
    out = []
    for number, item in enumerate(items):
        if not isinstance(item, dict) or "image" not in item:
            raise DataError(f"{path}: entry {number} of {key!r} has no 'image' key: {item!r}")
        image = Path(item["image"]) if Path(item["image"]).is_absolute() else base / item["image"]
        if not image.is_file():
            raise DataError(f"{path}: entry {number} of {key!r} points to a missing file {image}")
        out.append({**item, "image": str(image)})
    if max_items is not None:
        if not 0 < max_items <= len(out):
            raise DataError(f"{path}: cannot take {max_items} of the {len(out)} {key!r} entries")
        keep = np.sort(np.random.default_rng(seed).choice(len(out), size=max_items, replace=False))
        out = [out[i] for i in keep]
    return out


NOISE_LEVEL_KEY = "noise_level"
"""The key of an item's own noise level (:func:`at_levels`), which ``SimulatedNoised(level_key=...)`` reads."""


def at_levels(items: list[dict], levels: list[float] | None, key: str = NOISE_LEVEL_KEY) -> list[dict]:
    """Each item once per noise level in ``levels``, with the level under ``key``: validation at several doses, so a
    blind network's best checkpoint is chosen on every dose it serves (the mean PSNR over items and levels), not on
    one. ``levels`` None or empty: the items as they are (the noise section's one level).

    Raises:
        DataError: a level that is not a positive number.
    """
    if not levels:
        return list(items)
    if any(isinstance(level, bool) or not isinstance(level, (int, float)) or not level > 0 for level in levels):
        raise DataError(f"val_levels (the validation noise levels) must be positive numbers, got {list(levels)}; "
                        f"set them in the config or leave them out for the noise section's one level")
    return [{**item, key: float(level)} for level in levels for item in items]


def list_volumes(inputs: str | Path | list[str | Path], dicom_series: bool = True, dicom_files_alone: bool = False,
                 pictures: bool = False, dicom_modalities: list[str] | None = None) -> list[dict]:
    """``[{"image": path, "name": output file name}, ...]`` for NIfTI files, DICOM series (a folder each), folders
    of them, or a list of any of these; the other arguments come from the bundle's modality
    (:class:`monai_denoise.modalities.Modality`).

    Every input is checked first from its headers (a 3D or 4D NIfTI file; a DICOM series of at least two slices,
    see ``monai_denoise.volumes.dicom_series_files``; a picture's header; a single DICOM file read whole), so a bad one
    stops the run before any output is written. ``name`` is the file's own name, a series' folder name or a single
    DICOM file's stem + ``.nii.gz``, prefixed with the folder's name where two would be the same.

    Args:
        inputs: files and folders (searched recursively).
        dicom_series: a folder of DICOM files is one series (MRI, CT); False: every DICOM file is an image of its
            own (radiographs).
        dicom_files_alone: a DICOM file given by name is read alone (a CT slice, an enhanced multi-frame CT), not as
            its folder's series; so is a series folder of a single file (a one-slice CT). False (MRI): a given DICOM
            file stands for its folder's series.
        pictures: PNG, JPEG and TIFF pictures are inputs too, each an image of its own (radiographs).
        dicom_modalities: DICOM ``Modality`` values a single DICOM file or a series may have; another stops the
            listing with one line naming the file or folder, its modality and the bundles that take it. None: single
            files of CT and radiographs, series of any modality.

    Raises:
        DataError: see ``monai_denoise.files.find_files``, ``monai_denoise.volumes.check_input`` and
            ``monai_denoise.dicom.read_dicom_image``; also a DICOM series of one slice where single files are not
            read alone (a 2D image, which ``data_prep`` takes but the MRI bundles' volume inference does not).
    """
    suffixes = NIFTI_SUFFIXES + (PICTURE_SUFFIXES if pictures else ())
    found = find_files(list(inputs) if isinstance(inputs, (list, tuple)) else [inputs], suffixes, dicom=True,
                       dicom_series=dicom_series, dicom_files_alone=dicom_files_alone)
    expected = None if dicom_modalities is None else tuple(dicom_modalities)
    paths = []
    for p in found:
        if p.is_dir() and dicom_files_alone:
            files = [f for f in p.iterdir() if f.is_file() and is_dicom_file(f)]
            p = files[0] if len(files) == 1 else p
        if p.is_file() and not is_nifti(p) and not is_picture(p) and is_dicom_file(p):
            read_dicom_image(p, expected)
        else:
            shape = check_input(p, expected)
            if p.is_dir() and shape[-1] < 2:
                raise DataError(f"{p}: a DICOM series of one slice; the bundles denoise volumes of at least two "
                                "slices")
        paths.append(p)
    names = unique_ids(paths, name=lambda p: p.name if is_nifti(p) or is_picture(p) else f"{volume_id(p)}.nii.gz")
    return [{"image": str(p), "name": names[p]} for p in paths]
