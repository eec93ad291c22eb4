"""DICOM series as data_prep input: read with their geometry like NIfTI, patient data left behind, bad series named."""

from __future__ import annotations

import json
import locale
from pathlib import Path

import itk
import nibabel as nib
import numpy as np
import pytest
from conftest import UNET_BUNDLE, phantom, write_nifti
from test_bundle import rendered_bundle, workflow

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import SourceVolume
from monai_denoise.files import NIFTI_SUFFIXES, find_files
from monai_denoise.volumes import check_input, isolated_gdcm, load_volume
from monai_denoise.data import list_volumes
from monai_denoise.errors import DataError

SPACING = (0.9, 0.8, 3.0)
ORIGIN = (10.0, -5.0, 2.0)
"""Of the written series, in DICOM's patient coordinates (LPS, mm)."""
PATIENT = "Doe^Jane"


def write_dicom_series(folder: Path, volume: np.ndarray, series_uid: str = "1.2.826.0.1.3680043.2.1125.7.1",
                       suffix: str = ".dcm", slice_numbers: list[int] | None = None,
                       orientation: str = "1\\0\\0\\0\\1\\0", shift: float = 0.0) -> Path:
    """Write ``volume`` ``(X, Y, Z)`` as one MR slice file per z (axial by default: ``orientation``, DICOM's row and
    column directions), with positions, spacing and a patient name; slice z lies at slice number
    ``slice_numbers[z]`` (default z) along the slice axis, moved ``shift`` mm per slice along x (a tilted gantry)."""
    folder.mkdir(parents=True, exist_ok=True)
    slice_numbers = list(range(volume.shape[2])) if slice_numbers is None else slice_numbers
    for z, position in enumerate(slice_numbers):
        image = itk.image_from_array(np.ascontiguousarray(volume[:, :, z].T.astype(np.int16)))
        image.SetSpacing(SPACING[:2])
        tags = itk.MetaDataDictionary()
        for tag, value in {"0008|0060": "MR", "0010|0010": PATIENT, "0010|0020": "ID-1234",
                           "0020|000d": series_uid + ".0", "0020|000e": series_uid, "0008|0018": f"{series_uid}.{z + 1}",
                           "0020|0013": str(z + 1), "0020|0037": orientation,
                           "0020|0032": f"{ORIGIN[0] + position * shift}\\{ORIGIN[1]}\\"
                                        f"{ORIGIN[2] + position * SPACING[2]}",
                           "0018|0050": str(SPACING[2])}.items():
            tags[tag] = value
        with isolated_gdcm():
            io = itk.GDCMImageIO.New()
            io.KeepOriginalUIDOn()
            io.SetMetaDataDictionary(tags)
            image.SetMetaDataDictionary(tags)
            itk.imwrite(image, str(folder / f"IM{z:04d}{suffix}"), imageio=io)
    return folder


@pytest.fixture()
def volume() -> np.ndarray:
    return np.rint(phantom((24, 20, 6), seed=5)).astype(np.int16)


RAS_AFFINE = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.array([[SPACING[0], 0, 0, ORIGIN[0]], [0, SPACING[1], 0, ORIGIN[1]],
                                                         [0, 0, SPACING[2], ORIGIN[2]], [0, 0, 0, 1]])
"""The written series' geometry as a NIfTI (RAS) affine."""


def test_a_dicom_series_reads_as_the_same_volume_in_nifti(volume, tmp_path):
    """Same voxels, same RAS geometry as the NIfTI file of that volume (DICOM's LPS turned to RAS)."""
    series = write_dicom_series(tmp_path / "series", volume)
    nifti = write_nifti(tmp_path / "same.nii.gz", volume.astype(np.float32), RAS_AFFINE)
    from_dicom, from_nifti = load_volume(series), load_volume(nifti)
    assert check_input(series) == volume.shape
    assert from_dicom.shape == from_nifti.shape == (1, *volume.shape)
    np.testing.assert_array_equal(from_dicom.numpy(), from_nifti.numpy())
    np.testing.assert_allclose(from_dicom.affine.numpy(), from_nifti.affine.numpy(), atol=1e-4)


def test_a_series_of_one_slice_is_a_volume_of_one_slice(volume, tmp_path):
    series = write_dicom_series(tmp_path / "one", volume[:, :, 2:3])
    loaded = load_volume(series)
    assert loaded.shape == (1, *volume.shape[:2], 1) and check_input(series) == (*volume.shape[:2], 1)
    np.testing.assert_array_equal(loaded[0, :, :, 0].numpy(), volume[::-1, ::-1, 2])
    np.testing.assert_allclose(loaded.affine.numpy()[:2, :2], np.diag(SPACING[:2]), atol=1e-4)


def test_the_bundles_refuse_a_series_of_one_slice(volume, tmp_path):
    series = write_dicom_series(tmp_path / "one", volume[:, :, :1])
    with pytest.raises(DataError, match=f"{series}: a DICOM series of one slice"):
        list_volumes(series)


def test_reading_a_series_leaves_the_process_locale_alone(volume, tmp_path):
    """GDCM sets the C locale, after which Python would decode subprocess output as ASCII."""
    series = write_dicom_series(tmp_path / "series", volume)
    before = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        utf8 = locale.setlocale(locale.LC_ALL)
        list_volumes(series)
        load_volume(series)
        assert locale.setlocale(locale.LC_ALL) == utf8
    finally:
        locale.setlocale(locale.LC_ALL, before)


def test_uid_named_folders_keep_their_whole_name_and_dicomdir_is_skipped(volume, tmp_path):
    disc = tmp_path / "disc"
    first = write_dicom_series(disc / "1.2.840.113619.2.55.3", volume)
    second = write_dicom_series(disc / "1.2.840.113619.2.55.4", volume, series_uid="1.2.826.0.1.3680043.2.1125.7.5")
    (disc / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + bytes(64))
    (first / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + bytes(64))
    items = list_volumes(disc)
    assert [item["image"] for item in items] == [str(first), str(second)]
    assert [item["name"] for item in items] == ["1.2.840.113619.2.55.3.nii.gz", "1.2.840.113619.2.55.4.nii.gz"]
    assert load_volume(first).shape == (1, *volume.shape)


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


def test_a_dicom_file_given_alone_stands_for_its_series(volume, tmp_path, monkeypatch):
    series = write_dicom_series(tmp_path / "series", volume, suffix="")
    assert find_files([series / "IM0003"], NIFTI_SUFFIXES, dicom=True) == [series], "found by the DICM marker"
    assert find_files([tmp_path], NIFTI_SUFFIXES, dicom=True) == [series]
    monkeypatch.chdir(series)
    assert [item["name"] for item in list_volumes(".")] == ["series.nii.gz"], "a relative folder keeps its name"


def test_output_names_differ_by_suffix_or_get_their_folder_in_front(tmp_path):
    volume = phantom((24, 20, 6), seed=3)
    files = [write_nifti(tmp_path / folder / name, volume) for folder, name in
             (("a", "x.nii"), ("a", "x.nii.gz"), ("b", "x.nii.gz"))]
    assert [(item["image"], item["name"]) for item in list_volumes(tmp_path)] == [
        (str(files[0]), "x.nii"), (str(files[1]), "a_x.nii.gz"), (str(files[2]), "b_x.nii.gz")]


def test_bad_dicom_series_get_an_error_that_names_the_folder(volume, tmp_path):
    mixed = write_dicom_series(tmp_path / "mixed", volume)
    write_dicom_series(tmp_path / "other", volume, series_uid="1.2.826.0.1.3680043.2.1125.7.9")
    for path in (tmp_path / "other").iterdir():
        path.rename(mixed / f"other_{path.name}")
    with pytest.raises(DataError, match=rf"{mixed}: holds 2 DICOM series \(told apart by series UID and number"):
        check_input(mixed)

    sizes = write_dicom_series(tmp_path / "sizes", volume)
    smaller = write_dicom_series(tmp_path / "smaller", volume[:16])
    (smaller / "IM0005.dcm").replace(sizes / "IM0005.dcm")
    with pytest.raises(DataError, match=f"{sizes}: holds 2 DICOM series"):
        check_input(sizes)

    empty = write_dicom_series(tmp_path / "empty", volume)
    (empty / "IM0002.dcm").write_bytes(b"")
    with pytest.raises(DataError, match=rf"{empty}: DICOM file\(s\) empty \(0 bytes\): IM0002.dcm"):
        check_input(empty)

    cut = write_dicom_series(tmp_path / "cut", volume)
    data = (cut / "IM0004.dcm").read_bytes()
    (cut / "IM0004.dcm").write_bytes(data[: len(data) - 300])
    with pytest.raises(DataError, match=f"{cut}: DICOM file\\(s\\) outside the series, unreadable or without the DICM marker: IM0004.dcm"):
        load_volume(cut)

    frames = write_dicom_series(tmp_path / "frames", np.concatenate([volume, volume], axis=2),
                                slice_numbers=[*range(volume.shape[2])] * 2)
    with pytest.raises(DataError, match=f"{frames}: 12 slice files at 6 positions: a series of several frames"):
        check_input(frames)

    gap = write_dicom_series(tmp_path / "gap", volume, slice_numbers=[0, 1, 2, 4, 5, 6])
    with pytest.raises(DataError, match=f"{gap}: slice spacing varies from 3 to 6 mm: missing slices"):
        check_input(gap)

    turned = write_dicom_series(tmp_path / "turned", volume)
    write_dicom_series(tmp_path / "sagittal", volume, orientation="0\\1\\0\\0\\0\\-1")
    (tmp_path / "sagittal" / "IM0003.dcm").replace(turned / "IM0003.dcm")
    with pytest.raises(DataError, match=f"{turned}: slices of different orientations"):
        check_input(turned)

    tilted = write_dicom_series(tmp_path / "tilted", volume, shift=2.0)
    with pytest.raises(DataError, match=f"{tilted}: slice positions leave the slice normal"):
        check_input(tilted)

    beside = write_dicom_series(tmp_path / "beside" / "T1", volume)
    write_nifti(beside / "T1.nii.gz", volume.astype(np.float32))
    with pytest.raises(DataError, match=rf"{beside}: holds a DICOM series and NIfTI file\(s\) \(T1.nii.gz\)"):
        find_files([tmp_path / "beside"], NIFTI_SUFFIXES, dicom=True)

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.dcm").write_bytes(b"not dicom at all" * 20)
    with pytest.raises(DataError, match=f"{junk}: no readable DICOM series among its 1 DICOM file"):
        check_input(junk)


def test_inference_denoises_a_dicom_series_as_it_does_the_same_volume_in_nifti(volume, tmp_path):
    """inference.json on a DICOM series with ``output_format nifti``: a NIfTI file named after its folder, equal to the output for the NIfTI
    twin of the series (both int16, as stored), with the series' geometry and no DICOM field in its header."""
    scans = tmp_path / "scans"
    noisy = np.rint(volume + np.random.default_rng(0).normal(0, 40, volume.shape)).astype(np.int16)
    write_dicom_series(scans / "a" / "T1", noisy)
    write_dicom_series(scans / "b" / "T1", noisy[::-1], series_uid="1.2.826.0.1.3680043.2.1125.7.6")
    write_nifti(scans / "twin.nii.gz", noisy, RAS_AFFINE)
    assert [item["name"] for item in list_volumes(scans)] == ["a_T1.nii.gz", "b_T1.nii.gz", "twin.nii.gz"]
    output = tmp_path / "denoised"
    workflow(UNET_BUNDLE, ["inference"], "infer", dataset_dir=str(scans), output_dir=str(output),
             output_format="nifti").run()
    assert sorted(p.name for p in output.iterdir()) == ["a_T1.nii.gz", "b_T1.nii.gz", "twin.nii.gz"]
    from_dicom, from_nifti = nib.load(str(output / "a_T1.nii.gz")), nib.load(str(output / "twin.nii.gz"))
    flipped = nib.load(str(output / "b_T1.nii.gz")).get_fdata()
    assert not np.allclose(flipped, from_dicom.get_fdata()), "two series of one name, two outputs"
    assert from_dicom.shape == from_nifti.shape == volume.shape
    assert from_dicom.get_data_dtype() == from_nifti.get_data_dtype() == np.int16, "the series' stored type"
    np.testing.assert_allclose(from_dicom.get_fdata(), from_nifti.get_fdata(), atol=1)  # rounding apart
    assert np.mean(from_dicom.get_fdata() == from_nifti.get_fdata()) > 0.99
    np.testing.assert_allclose(from_dicom.affine, RAS_AFFINE, atol=1e-4)
    assert not np.allclose(from_dicom.get_fdata(), noisy), "denoised"
    assert PATIENT.encode() not in from_dicom.header.binaryblock and not from_dicom.header.extensions


def test_inference_writes_a_dicom_series_in_its_stored_type_within_its_range(volume, tmp_path):
    """A magnitude series (int16, minimum 0) gives an int16 NIfTI file, non-negative, within the series' range;
    ``output_dtype="float32"`` gives floats in that range."""
    noisy = np.rint(np.abs(volume + np.random.default_rng(1).normal(0, 40, volume.shape))).astype(np.int16)
    noisy[:2] = 0
    write_dicom_series(tmp_path / "scans" / "EPI", noisy)
    bundle = rendered_bundle(UNET_BUNDLE.name, tmp_path / "bundle")
    for output_dtype, expected in (("input", np.int16), ("float32", np.float32)):
        output = tmp_path / output_dtype
        workflow(bundle, ["inference"], "infer", dataset_dir=str(tmp_path / "scans"), output_dir=str(output),
                 output_dtype=output_dtype, output_format="nifti").run()
        denoised = nib.load(str(output / "EPI.nii.gz"))
        out = denoised.get_fdata()
        assert denoised.get_data_dtype() == expected and (denoised.dataobj.slope, denoised.dataobj.inter) == (1, 0)
        assert 0 <= out.min() and out.max() <= noisy.max(), "within the series' range: non-negative"
        assert np.corrcoef(out.ravel(), noisy.ravel())[0, 1] > 0.9 and not np.allclose(out, noisy)


def test_a_series_of_another_modality_is_refused_by_a_ct_bundle_and_a_ct_dataset(volume, tmp_path, capsys):
    """An MR series handed to the CT bundles' inference or to ``prepare --modality ct`` would be read as if its stored
    values were Hounsfield units: one line naming the folder instead, nothing written."""
    from monai_denoise.cli import main

    series = write_dicom_series(tmp_path / "mr_series", volume)
    with pytest.raises(DataError, match=f"^{series}: Modality MR, not CT as this bundle or dataset takes; use the "
                                        "MRI bundles \\(prepare: --modality mri\\)"):
        list_volumes(series, dicom_files_alone=True, dicom_modalities=["CT"])
    assert main(["prepare", str(series), "--modality", "ct", "--output", str(tmp_path / "ct"), "--size", "16"]) == 2
    assert f"{series}: Modality MR, not CT" in capsys.readouterr().err and not (tmp_path / "ct").exists()
    assert [item["image"] for item in list_volumes(series)] == [str(series)], "MRI bundles take it"
