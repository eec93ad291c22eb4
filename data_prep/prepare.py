"""`monai-denoise prepare`: volumes and pictures -> normalised 2D slices, ``datalist.json``, ``manifest.csv``, provenance."""

from __future__ import annotations

import json
import platform
import re
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from monai.bundle import ConfigParser
from monai.transforms import ResizeWithPadOrCrop
from tqdm import tqdm

from monai_denoise.atomic import atomic_directory
from monai_denoise.errors import DataError
from monai_denoise.modalities import get_modality
from monai_denoise.files import is_dicom_file, is_picture, unique_ids
from monai_denoise.transforms import DigitallyReconstructedRadiograph
from monai_denoise.volumes import check_input, load_volume

from .sources import SourceVolume
from .splits import SPLITS, assign_splits, check_fractions

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}
VERSIONED_PACKAGES = ("monai-denoise", "monai", "torch", "nibabel", "numpy", "itk", "nilearn", "dipy")


@dataclass
class PrepareConfig:
    """Parameters of a prepared dataset (recorded in its provenance).

    Attributes:
        modality: the imaging modality (``mri``, ``ct``, ``xray``): its intensity mapping to [0, 1] (MRI: the
            ``percentiles`` of each volume; CT: the fixed HU window; radiographs: the detector's full scale), and
            whether its slices stay whole (CT, whose noise is simulated over the whole slice) or 2D images are cut
            into tiles.
        axis: slicing direction after reorientation to RAS: ``axial``, ``coronal`` or ``sagittal``
            (a 2D picture has one plane and ignores it).
        size: side of the square output slices, padded or cropped; a multiple of 16. A 2D picture
            larger than this is cut into non-overlapping ``size`` x ``size`` tiles.
        percentiles: (lower, upper) percentiles mapped to 0 and 1, per source volume, then clipped (MRI).
        fractions: training / validation / test fractions of volumes or subjects.
        split_by: ``volume`` (each file, all frames of a 4D series together) or ``subject``.
        subject_pattern: regular expression on the file path whose first group (or match) is the subject id.
        seed: seed of the split shuffle.
        min_foreground: slices with a smaller fraction of pixels above ``foreground_threshold`` are skipped, as
            are constant slices and tiles (a saturated or unexposed detector area, such as the collimated band of a
            radiograph: no structure to denoise, and a clipped value as the clean reference).
        foreground_threshold: normalised intensity above which a pixel counts as foreground.
    """

    modality: str = "mri"
    axis: str = "axial"
    size: int = 192
    percentiles: tuple[float, float] = (0.5, 99.5)
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_by: str = "volume"
    subject_pattern: str | None = None
    seed: int = 0
    min_foreground: float = 0.05
    foreground_threshold: float = 0.05
    command: list[str] = field(default_factory=lambda: list(sys.argv))

    def validate(self) -> None:
        get_modality(self.modality)
        if self.axis not in AXES:
            raise DataError(f"axis must be one of {sorted(AXES)}, got {self.axis!r}")
        if self.size <= 0 or self.size % 16:
            raise DataError(f"size must be a positive multiple of 16, got {self.size}")
        if self.split_by not in ("volume", "subject"):
            raise DataError(f"split_by must be 'volume' or 'subject', got {self.split_by!r}")
        if self.split_by == "subject" and not self.subject_pattern:
            raise DataError("split_by 'subject' needs a subject_pattern (a regular expression on the file path)")
        check_fractions(self.fractions)
        if not 0 <= self.min_foreground < 1:
            raise DataError(f"min_foreground must be in [0, 1), got {self.min_foreground}")
        lower, upper = self.percentiles
        if not 0 <= lower < upper <= 100:
            raise DataError(f"percentiles must satisfy 0 <= low < high <= 100, got {lower} {upper}")
        if self.subject_pattern is not None:
            try:
                re.compile(self.subject_pattern)
            except re.error as err:
                raise DataError(f"subject pattern {self.subject_pattern!r} is not a valid regular expression: {err}")


def _subject_of(path: Path, config: PrepareConfig, vol_id: str) -> str:
    if config.split_by == "volume":
        return vol_id
    match = re.search(config.subject_pattern, path.as_posix())
    if match is None:
        raise DataError(f"{path}: subject pattern {config.subject_pattern!r} does not match this path")
    return match.group(1) if match.groups() else match.group(0)


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _tiles(picture: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    """Non-overlapping ``size`` x ``size`` tiles of a 2D ``(H, W)`` picture, row by row (the picture itself
    where a side is shorter than ``size``; the remainder at the right and bottom edges is dropped)."""
    rows, cols = (range(0, max(n - size, 0) + 1, size) for n in picture.shape)
    for top in rows:
        for left in cols:
            yield picture[top:top + size, left:left + size]


def _planes(frame: torch.Tensor, axis: int, picture: bool, size: int) -> Iterator[tuple[str, int, torch.Tensor]]:
    """(axis name, index, plane) of one ``(X, Y, Z)`` frame: its slices along ``axis``, or a picture's tiles."""
    if picture:
        for index, tile in enumerate(_tiles(frame[:, :, 0], size)):
            yield "tile", index, tile
        return
    name = next(n for n, a in AXES.items() if a == axis)
    for index, plane in enumerate(frame.movedim(axis, 0)):
        yield name, index, plane


def _foreground(plane: torch.Tensor, config: PrepareConfig) -> float:
    return float((plane > config.foreground_threshold).float().mean())


def _has_structure(plane: torch.Tensor, config: PrepareConfig) -> bool:
    """Enough foreground, and not constant (a saturated or unexposed area: nothing to denoise)."""
    return _foreground(plane, config) >= config.min_foreground and bool(plane.amax() > plane.amin())


def _write_slice(path: Path, image: np.ndarray, spacing: tuple[float, float]) -> None:
    affine = np.diag([spacing[0], spacing[1], 1.0, 1.0])
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), str(path))


def prepare_dataset(sources: list[SourceVolume], output: str | Path, config: PrepareConfig,
                    overwrite: bool = False) -> pd.DataFrame:
    """Slice (or tile, for 2D pictures), normalise and split ``sources`` into ``output``; return the manifest.

    ``output`` receives ``images/*.nii.gz`` (float32 slices in [0, 1], shape ``(size, size)``),
    ``datalist.json`` (decathlon form, paths relative to ``output``), ``manifest.csv`` (one row per
    slice) and ``provenance.json``. Everything is written to a staging folder first: on any error
    ``output`` is left as it was.

    Checks come in this order: parameters; every input's header; every input's data (readable, finite,
    not constant), while its slices are written; only then the whole dataset (enough volumes or subjects
    for the split, some slice kept), so a problem with one file is reported as such.

    Raises:
        DataError: unusable input (named in the message) or parameters.
    """
    config.validate()
    if not sources:
        raise DataError("no input volumes")
    for source in sources:
        check_input(source.path, None if source.projection else
                    get_modality(source.intensity or config.modality).dicom_modalities)
    axis = AXES[config.axis]
    ids = unique_ids([s.path for s in sources])
    subjects = {s.path: _subject_of(s.path, config, ids[s.path]) for s in sources}
    modality = get_modality(config.modality)
    normalizers = {name: ConfigParser({"percentiles": list(config.percentiles),
                                       "normalize": get_modality(name).prepare_intensity}).get_parsed_content("normalize")
                   for name in {s.intensity or modality.name for s in sources}}
    resize = ResizeWithPadOrCrop(spatial_size=(config.size, config.size))

    rows = []
    with atomic_directory(output, overwrite=overwrite) as staging:
        (staging / "images").mkdir()
        for source in tqdm(sources, desc="prepare", unit="volume"):
            volume = load_volume(source.path)
            if source.projection:
                volume = DigitallyReconstructedRadiograph(source.projection)(volume)
            try:
                volume = normalizers[source.intensity or modality.name](volume)
            except ValueError as err:
                raise DataError(str(err)) from err
            stats = volume.meta["normalization"]
            picture = (is_picture(source.path) or is_dicom_file(source.path) or bool(source.projection)) \
                and not modality.whole_slices
            plane_axis = 2 if picture else axis
            spacing = tuple(float(s) for i, s in enumerate(volume.pixdim[:3]) if i != plane_axis)
            vol_id = f"{ids[source.path]}_{source.projection}" if source.projection else ids[source.path]
            kept = [(t, *found) for t in range(volume.shape[0])
                    for found in _planes(volume[t].as_tensor(), axis, picture, config.size)
                    if _has_structure(found[2], config)]
            if source.slices is not None and len(kept) > source.slices:
                kept = [kept[i] for i in np.linspace(0, len(kept) - 1, source.slices).round().astype(int)]
            for t, axis_name, index, plane in kept:
                image = resize(plane[None]).squeeze(0).numpy()
                name = f"images/{vol_id}_{axis_name}{index:03d}_t{t:03d}.nii.gz"
                _write_slice(staging / name, image, spacing)
                rows.append({"image": name, "source_file": str(source.path), "volume_id": vol_id,
                             "subject_id": subjects[source.path], "axis": axis_name, "index": index,
                             "timepoint": t, "split": None,
                             "foreground_fraction": round(_foreground(plane, config), 4), "height": config.size,
                             "width": config.size, **stats})
        # whole-dataset checks, after every input has been read and checked on its own
        pinned = {subjects[s.path]: s.split for s in sources if s.split}
        free = [subjects[s.path] for s in sources if not s.split and subjects[s.path] not in pinned]
        split_of = {**assign_splits(free, config.fractions, config.seed, config.split_by), **pinned}
        if not rows:
            raise DataError(f"no slice passed the foreground threshold ({config.min_foreground:.0%} of pixels "
                            f"above {config.foreground_threshold:g}) in any input volume")
        for row in rows:
            row["split"] = split_of[row["subject_id"]]
        kept = {row["split"] for row in rows}
        for split in SPLITS:
            lost = sorted(group for group, assigned in split_of.items() if assigned == split)
            if lost and split not in kept:
                raise DataError(f"the {split} split would be empty: no slice of {', '.join(lost)} has "
                                f"{config.min_foreground:.0%} of pixels above {config.foreground_threshold:g} and any "
                                f"structure (not constant); lower --min-foreground or give that split other volumes")
        manifest = pd.DataFrame(rows)
        datalist = {split: [{"image": name} for name in manifest.loc[manifest.split == split, "image"]]
                    for split in SPLITS}
        (staging / "datalist.json").write_text(json.dumps(datalist, indent=2))
        manifest.to_csv(staging / "manifest.csv", index=False)
        provenance = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "command": config.command,
                      "parameters": {k: v for k, v in asdict(config).items() if k != "command"},
                      "modality": modality.name,
                      "sources": [str(s.path) for s in sources],
                      "source_terms": {str(s.path): s.terms for s in sources if s.terms},
                      "slices_per_split": {split: len(items) for split, items in datalist.items()},
                      "package_versions": _package_versions()}
        (staging / "provenance.json").write_text(json.dumps(provenance, indent=2))
    return manifest
