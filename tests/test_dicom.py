"""DICOM series as data_prep input: read with their geometry like NIfTI, patient data left behind, bad series named."""

from __future__ import annotations

import json
from pathlib import Path

import itk
import nibabel as nib
import numpy as np
import pytest
from conftest import phantom, write_nifti

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import NIFTI_SUFFIXES, SourceVolume, find_files
from data_prep.volumes import check_input, load_volume
from monai_denoise.errors import DataError

SPACING = (0.9, 0.8, 3.0)
ORIGIN = (10.0, -5.0, 2.0)
"""Of the written series, in DICOM's patient coordinates (LPS, mm)."""
PATIENT = "Doe^Jane"


def write_dicom_series(folder: Path, volume: np.ndarray, series_uid: str = "1.2.826.0.1.3680043.2.1125.7.1",
                       suffix: str = ".dcm") -> Path:
    """Write ``volume`` ``(X, Y, Z)`` as one axial MR slice file per z, with positions, spacing and a patient name."""
    folder.mkdir(parents=True, exist_ok=True)
    for z in range(volume.shape[2]):
        image = itk.image_from_array(np.ascontiguousarray(volume[:, :, z].T.astype(np.int16)))
        image.SetSpacing(SPACING[:2])
        tags = itk.MetaDataDictionary()
        for tag, value in {"0008|0060": "MR", "0010|0010": PATIENT, "0010|0020": "ID-1234",
                           "0020|000d": series_uid + ".0", "0020|000e": series_uid, "0008|0018": f"{series_uid}.{z + 1}",
                           "0020|0013": str(z + 1), "0020|0037": "1\\0\\0\\0\\1\\0",
                           "0020|0032": f"{ORIGIN[0]}\\{ORIGIN[1]}\\{ORIGIN[2] + z * SPACING[2]}",
                           "0018|0050": str(SPACING[2])}.items():
            tags[tag] = value
        io = itk.GDCMImageIO.New()
        io.KeepOriginalUIDOn()
        io.SetMetaDataDictionary(tags)
        image.SetMetaDataDictionary(tags)
        itk.imwrite(image, str(folder / f"IM{z:04d}{suffix}"), imageio=io)
    return folder


@pytest.fixture()
def volume() -> np.ndarray:
    return np.rint(phantom((24, 20, 6), seed=5)).astype(np.int16)


def test_a_dicom_series_reads_as_the_same_volume_in_nifti(volume, tmp_path):
    """Same voxels, same RAS geometry as the NIfTI file of that volume (DICOM's LPS turned to RAS)."""
    series = write_dicom_series(tmp_path / "series", volume)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    affine = lps_to_ras @ np.array([[SPACING[0], 0, 0, ORIGIN[0]], [0, SPACING[1], 0, ORIGIN[1]],
                                    [0, 0, SPACING[2], ORIGIN[2]], [0, 0, 0, 1]])
    nifti = write_nifti(tmp_path / "same.nii.gz", volume.astype(np.float32), affine)
    from_dicom, from_nifti = load_volume(series), load_volume(nifti)
    assert check_input(series) == volume.shape
    assert from_dicom.shape == from_nifti.shape == (1, *volume.shape)
    np.testing.assert_array_equal(from_dicom.numpy(), from_nifti.numpy())
    np.testing.assert_allclose(from_dicom.affine.numpy(), from_nifti.affine.numpy(), atol=1e-4)


def test_a_series_of_one_slice_is_a_volume_of_one_slice(volume, tmp_path):
    series = write_dicom_series(tmp_path / "one", volume[:, :, 2:3])
    loaded = load_volume(series)
    assert loaded.shape == (1, *volume.shape[:2], 1)
    np.testing.assert_array_equal(loaded[0, :, :, 0].numpy(), volume[::-1, ::-1, 2])


def test_prepare_takes_dicom_series_folders_and_leaves_patient_data_behind(volume, tmp_path):
    scans = tmp_path / "scans"
    for number in range(3):
        write_dicom_series(scans / f"patient{number}" / "t1", volume + 50 * number,
                           series_uid=f"1.2.826.0.1.3680043.2.1125.7.{number + 1}")
    write_nifti(scans / "extra.nii.gz", phantom((24, 20, 6), seed=9))
    sources = [SourceVolume(p) for p in find_files([scans], NIFTI_SUFFIXES, dicom=True)]
    assert [s.path.relative_to(scans).as_posix() for s in sources] == [
        "extra.nii.gz", "patient0/t1", "patient1/t1", "patient2/t1"]
    output = tmp_path / "data"
    manifest = prepare_dataset(sources, output, PrepareConfig(size=32, fractions=(0.5, 0.25, 0.25), min_foreground=0.0,
                                                              subject_pattern=r"(patient\d|extra)",
                                                              split_by="subject", command=["test"]))
    assert manifest.groupby("source_file").size().to_dict() == {str(s.path): volume.shape[2] for s in sources}
    assert set(manifest.subject_id) == {"patient0", "patient1", "patient2", "extra"}
    assert (manifest.groupby("subject_id").split.nunique() == 1).all(), "a series stays in one split"
    texts = [(output / name).read_text() for name in ("manifest.csv", "datalist.json", "provenance.json")]
    headers = [nib.load(str(output / image)).header for image in manifest.image]
    assert not any(PATIENT in text or "ID-1234" in text for text in texts)
    assert not any(PATIENT.encode() in bytes(h["descrip"]) or h.extensions for h in headers)
    assert json.loads((output / "datalist.json").read_text())["training"]


def test_a_dicom_file_given_alone_stands_for_its_series(volume, tmp_path):
    series = write_dicom_series(tmp_path / "series", volume, suffix="")
    assert find_files([series / "IM0003"], NIFTI_SUFFIXES, dicom=True) == [series], "found by the DICM marker"
    assert find_files([tmp_path], NIFTI_SUFFIXES, dicom=True) == [series]


def test_bad_dicom_series_get_an_error_that_names_the_folder(volume, tmp_path):
    mixed = write_dicom_series(tmp_path / "mixed", volume)
    write_dicom_series(tmp_path / "other", volume, series_uid="1.2.826.0.1.3680043.2.1125.7.9")
    for path in (tmp_path / "other").iterdir():
        path.rename(mixed / f"other_{path.name}")
    with pytest.raises(DataError, match=f"{mixed}: holds 2 DICOM series; put each series in a folder of its own"):
        check_input(mixed)

    empty = write_dicom_series(tmp_path / "empty", volume)
    (empty / "IM0002.dcm").write_bytes(b"")
    with pytest.raises(DataError, match=rf"{empty}: DICOM file\(s\) empty \(0 bytes\): IM0002.dcm"):
        check_input(empty)

    cut = write_dicom_series(tmp_path / "cut", volume)
    data = (cut / "IM0004.dcm").read_bytes()
    (cut / "IM0004.dcm").write_bytes(data[: len(data) - 300])
    with pytest.raises(DataError, match=f"{cut}: DICOM file\\(s\\) outside the series or unreadable: IM0004.dcm"):
        load_volume(cut)

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.dcm").write_bytes(b"not dicom at all" * 20)
    with pytest.raises(DataError, match=f"{junk}: no readable DICOM series among its 1 DICOM file"):
        check_input(junk)
