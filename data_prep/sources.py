"""Where input volumes come from: user paths, or the real MRI shipped inside installed packages."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from monai_denoise.errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class SourceVolume:
    """One input file: a 3D volume or a 4D series.

    ``split`` pins the file to a split (used by the embedded sample); None lets the splitter choose.
    """

    path: Path
    split: str | None = None


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"sample data: package {package!r} is not installed (run the README's set-up)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DataError(f"sample data: {path} is missing from the installed {package!r} package")
    return path


def sample_volumes() -> list[SourceVolume]:
    """The embedded sample: four real MRI scans, each used in one role only.

    - training: nilearn's MNI152 2009a T1 template (197x233x189, 1 mm), smooth, the average of 152
      brains; and dipy's ``test_piesno`` diffusion-weighted volume (96x96x14), a single acquisition whose
      real texture and noise floor the template lacks,
    - validation: dipy's b0 diffusion image ``S0_10slices`` (128x128x10x1),
    - test: nibabel's 4D EPI BOLD run ``example4d`` (128x96x24x2), a different subject and contrast.
    """
    return [
        SourceVolume(_package_file("nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
                     "training"),
        SourceVolume(_package_file("dipy", "data/files/test_piesno.nii.gz"), "training"),
        SourceVolume(_package_file("dipy", "data/files/S0_10slices.nii.gz"), "validation"),
        SourceVolume(_package_file("nibabel", "tests/data/example4d.nii.gz"), "test"),
    ]


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def find_nifti_files(inputs: list[str | Path]) -> list[Path]:
    """Expand files and folders (searched recursively) into a sorted list of NIfTI files.

    Raises:
        DataError: a path is missing, a file is not ``.nii`` / ``.nii.gz``, or a folder holds none.
    """
    if not inputs:
        raise DataError("no input given: name NIfTI files or folders, or use --sample")
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and is_nifti(p))
            if not files:
                raise DataError(f"{item}: folder holds no .nii or .nii.gz file")
            found.extend(files)
        elif item.is_file():
            if not is_nifti(item):
                raise DataError(f"{item}: not a NIfTI file (expected .nii or .nii.gz)")
            found.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    return sorted(set(found))


def volume_id(path: Path) -> str:
    """File name without the NIfTI suffix, e.g. ``sub-01_T1w`` for ``sub-01_T1w.nii.gz``."""
    name = path.name
    for suffix in sorted(NIFTI_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
