"""DICOM in, DICOM out: the bundles write a DICOM input back as a derived series in its study, valid by the
standard's own checker (dicom3tools' dciodvfy), with the values of the NIfTI output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from conftest import UNET_BUNDLE, phantom
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array
from test_bundle import rendered_bundle, workflow
from test_dicom import write_dicom_series
from test_dicom_modalities import dataset, write

from monai_denoise import derived_dicom
from monai_denoise.derived_dicom import Derivation, write_derived_series
from monai_denoise.dicom import as_volume, read_dicom_image
from monai_denoise.errors import DataError

DERIVATION = Derivation("ct_denoising_drunet", "9.9.9", {"self_ensemble": 8})
REAL = {  # file: what it is
    "CT_small.dcm": "CT slice, 128x128, explicit VR",
    "693_UNCR.dcm": "head CT with padding outside the field of view",
    "eCT_Supplemental.dcm": "enhanced multi-frame CT, rescale in the functional groups",
    "J2K_pixelrep_mismatch.dcm": "JPEG 2000 CT",
    "RG3_UNCR.dcm": "CR ankle, MONOCHROME1, 10 bits",
}


def real(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"{name} missing: install pydicom-data (requirements.txt)"
    return Path(path)


def errors(path: Path) -> set[str]:
    """dciodvfy's error lines for ``path`` (dicom3tools must be installed: make install)."""
    assert shutil.which("dciodvfy"), "dciodvfy missing: make install installs dicom3tools"
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return {line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")}


def derived_of(source: Path, output: Path, change=lambda v: v) -> tuple[list[Path], np.ndarray]:
    """``source`` read as the bundles read it, changed by ``change`` and written as a derived series in ``output``;
    the written files and the values written."""
    values, meta = read_dicom_image(source)
    volume = as_volume(values, meta)
    written = change(volume[0].numpy())
    write_derived_series(source, written, volume.affine.numpy(), output, DERIVATION)
    return sorted(output.iterdir()), written


@pytest.mark.parametrize("name", list(REAL))
def test_the_values_read_come_back_as_the_stored_values(name, tmp_path):
    """Writing back what was read gives the file's own stored pixels (where the reader did not set air), in the
    source's type, and reads back as the same values."""
    source = real(name)
    files, _ = derived_of(source, tmp_path / "out")
    derived, original = pydicom.dcmread(files[0]), pydicom.dcmread(source)
    assert len(files) == 1 and derived.file_meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian
    np.testing.assert_array_equal(read_dicom_image(files[0])[0], read_dicom_image(source)[0])
    stored, source_stored = pixel_array(derived), pixel_array(original)
    assert stored.dtype == source_stored.dtype and stored.shape == source_stored.shape
    if read_dicom_image(source)[1].get("padded_pixels", 0) == 0:  # else the reader set some pixels to air
        np.testing.assert_array_equal(stored, source_stored)


@pytest.mark.parametrize("name", list(REAL))
def test_a_derived_series_adds_no_error_to_the_source_by_dciodvfy(name, tmp_path):
    source = real(name)
    files, _ = derived_of(source, tmp_path / "out", lambda v: v + np.random.default_rng(0).normal(0, 3, v.shape))
    assert errors(files[0]) <= errors(source)


def test_the_derived_instance_sits_in_the_source_study_as_a_new_series(tmp_path):
    """Same study, patient and frame of reference and geometry; new series and instance UIDs that do not change
    between runs; DERIVED\\SECONDARY with the other values kept; the source referenced; no private tag; the
    derivation named; MONOCHROME1 stays MONOCHROME1."""
    ct = real("CT_small.dcm")
    source = pydicom.dcmread(ct)
    source.add_new(0x00091001, "LO", "vendor secret")
    source.add_new(0x00090010, "LO", "ACME")
    with_private = write(source, tmp_path / "ct.dcm")
    files, _ = derived_of(with_private, tmp_path / "a")
    again, _ = derived_of(with_private, tmp_path / "b")
    derived = pydicom.dcmread(files[0])
    for keyword in ("StudyInstanceUID", "PatientName", "PatientID", "FrameOfReferenceUID", "ImagePositionPatient",
                    "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "RescaleSlope", "RescaleIntercept",
                    "BitsStored", "PixelRepresentation", "PhotometricInterpretation", "SOPClassUID"):
        assert derived.get(keyword) == source.get(keyword), keyword
    assert derived.SeriesInstanceUID != source.SeriesInstanceUID and derived.SOPInstanceUID != source.SOPInstanceUID
    assert derived.SeriesInstanceUID.startswith("2.25.") and len(derived.SOPInstanceUID) <= 64
    assert pydicom.dcmread(again[0]).SOPInstanceUID == derived.SOPInstanceUID, "the same derivation, the same UIDs"
    assert list(derived.ImageType) == ["DERIVED", "SECONDARY", *list(source.ImageType)[2:]]
    assert "ct_denoising_drunet 9.9.9" in derived.DerivationDescription and "self_ensemble 8" in \
        derived.DerivationDescription
    reference = derived.SourceImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert reference.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert derived.SeriesNumber == int(source.SeriesNumber) + derived_dicom.SERIES_NUMBER_OFFSET
    assert "denoised" in derived.SeriesDescription
    assert not any(element.tag.is_private for element in derived)
    other = Derivation("ct_denoising_drunet", "9.9.9", {"self_ensemble": 1})
    write_derived_series(with_private, *_volume(with_private), tmp_path / "c", other)
    assert pydicom.dcmread(next((tmp_path / "c").iterdir())).SeriesInstanceUID != derived.SeriesInstanceUID
    radiograph = pydicom.dcmread(derived_of(real("RG3_UNCR.dcm"), tmp_path / "cr")[0][0])
    assert radiograph.PhotometricInterpretation == "MONOCHROME1"


def _volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    volume = as_volume(*read_dicom_image(path))
    return volume[0].numpy(), volume.affine.numpy()


def test_values_are_rounded_and_clipped_to_the_bit_depth(tmp_path):
    """A 10-bit radiograph's denoised values beyond its range are stored at 0 and 1023, the others rounded."""
    pixels = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 16)
    source = write(dataset("DX", pixels, rescale=None, BitsStored=10, HighBit=9), tmp_path / "dx.dcm")
    files, written = derived_of(source, tmp_path / "out", lambda v: v * 1.5 - 100.4)
    stored = pixel_array(pydicom.dcmread(files[0]))
    expected = np.clip(np.rint(written[:, :, 0].T), 0, 1023)
    np.testing.assert_array_equal(stored, expected)


def test_a_series_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    series = write_dicom_series(tmp_path / "MR", np.rint(phantom((16, 12, 4), seed=1)).astype(np.int16))
    volume = _series_volume(series)
    calls = []

    def failing(ds, values, path):
        calls.append(path)
        if len(calls) == 3:
            raise DataError(f"{path}: damaged")
        return original(ds, values, path)

    original = derived_dicom.stored_values
    monkeypatch.setattr(derived_dicom, "stored_values", failing)
    with pytest.raises(DataError, match="damaged"):
        write_derived_series(series, *volume, tmp_path / "out" / "MR", DERIVATION)
    assert not (tmp_path / "out" / "MR").exists() and not list((tmp_path / "out").iterdir())


def test_a_volume_that_does_not_lie_on_the_source_pixels_is_refused(tmp_path):
    source = real("CT_small.dcm")
    volume, affine = _volume(source)
    with pytest.raises(DataError, match="does not lie on this file's pixels"):
        write_derived_series(source, volume[::2, ::2], affine @ np.diag([2.0, 2.0, 1.0, 1.0]), tmp_path / "o",
                             DERIVATION)
    assert not (tmp_path / "o").exists()


def _series_volume(series: Path) -> tuple[np.ndarray, np.ndarray]:
    from monai_denoise.volumes import load_dicom_series

    volume = load_dicom_series(series)
    return volume[0].numpy(), volume.affine.numpy()


def test_an_mr_series_through_inference_comes_back_as_a_series_with_the_nifti_values(tmp_path):
    """inference.json on an MR series: a derived series of as many instances, valid by dciodvfy, whose values equal
    the NIfTI output's (``output_format nifti``) to rounding."""
    volume = np.rint(phantom((24, 20, 6), seed=5)).astype(np.int16)
    noisy = np.rint(volume + np.random.default_rng(0).normal(0, 40, volume.shape)).astype(np.int16)
    scans = tmp_path / "scans"
    write_dicom_series(scans / "T1", noisy)
    bundle = rendered_bundle(UNET_BUNDLE.name, tmp_path / "bundle")
    for output_format in ("source", "nifti"):
        workflow(bundle, ["inference"], "infer", dataset_dir=str(scans), output_dir=str(tmp_path / output_format),
                 output_format=output_format).run()
    files = sorted((tmp_path / "source" / "T1").iterdir())
    assert len(files) == noisy.shape[2]
    nifti = nib.load(str(tmp_path / "nifti" / "T1.nii.gz")).get_fdata()
    from_dicom, _ = _series_volume(tmp_path / "source" / "T1")
    np.testing.assert_allclose(from_dicom, nifti, atol=0.5 + 1e-3)
    assert not np.allclose(from_dicom, noisy)
    derived = pydicom.dcmread(files[0])
    assert "mri_denoising_unet" in derived.DerivationDescription
    source_errors = set().union(*(errors(p) for p in (scans / "T1").iterdir()))
    assert all(errors(path) <= source_errors for path in files)


@pytest.mark.parametrize("bundle_name, source_name", [("ct_denoising_drunet", "CT_small.dcm"),
                                                      ("xray_denoising_drunet", "DX")])
def test_ct_and_radiograph_bundles_write_dicom_with_the_nifti_values(bundle_name, source_name, tmp_path):
    """A CT slice and a DX radiograph through their bundle's inference.json: one derived instance each, valid by
    dciodvfy, in HU / signal equal to the NIfTI output's to rounding."""
    scans = tmp_path / "scans"
    scans.mkdir()
    if source_name == "DX":
        rng = np.random.default_rng(2)
        pixels = np.clip(rng.poisson(phantom((96, 80, 1), seed=3)[..., 0] * 4 + 400), 0, 4095).astype(np.uint16)
        source = write(dataset("DX", pixels, rescale=None, BitsStored=12, HighBit=11,
                               PresentationIntentType="FOR PRESENTATION", StudyInstanceUID=uid.generate_uid()),
                       scans / "dx.dcm")
    else:
        source = Path(shutil.copy(real(source_name), scans / source_name))
    bundle = rendered_bundle(bundle_name, tmp_path / "bundle")
    for output_format in ("source", "nifti"):
        workflow(bundle, ["inference"], "infer", dataset_dir=str(scans), output_dir=str(tmp_path / output_format),
                 output_format=output_format, self_ensemble=1).run()
    (folder,) = (tmp_path / "source").iterdir()
    (derived,) = folder.iterdir()
    values = read_dicom_image(derived)[0]
    nifti = nib.load(str(next((tmp_path / "nifti").iterdir()))).get_fdata()
    np.testing.assert_allclose(values[0].T, nifti[:, :, 0], atol=0.5 + 1e-3)
    assert not np.allclose(values, read_dicom_image(source)[0])
    assert errors(derived) <= errors(source)
    assert pydicom.dcmread(derived).StudyInstanceUID == pydicom.dcmread(source).StudyInstanceUID


def test_a_lossy_compressed_source_gives_a_derived_image_marked_lossy(tmp_path):
    """693_J2KI.dcm is JPEG 2000 (lossy allowed): the derived image, stored uncompressed, says its pixels were
    lossy-compressed once; an uncompressed source's derived image does not claim it."""
    files, _ = derived_of(real("693_J2KI.dcm"), tmp_path / "lossy")
    assert pydicom.dcmread(files[0]).LossyImageCompression == "01"
    files, _ = derived_of(real("693_UNCR.dcm"), tmp_path / "plain")
    assert pydicom.dcmread(files[0]).get("LossyImageCompression", "00") == "00"
