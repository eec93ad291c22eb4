"""Single DICOM files of CT and radiographs read in physical units (HU; the detector signal as stored), and bad files
refused with one line naming the file. Real files from pydicom-data and pydicom's own test files; bad ones built with
pydicom."""

from __future__ import annotations

import locale
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.pixels import get_decoder, pixel_array

from monai_denoise.dicom import (
    AIR_HU,
    as_volume,
    read_dicom_image,
)
from monai_denoise.errors import DataError

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # bad_sequence.dcm's UIDs, read anyway

CT_FILES = {  # name: (frames, decoder that reads it, pixel spacing in mm)
    "693_UNCR.dcm": (1, "pydicom", 0.478516),  # head, explicit VR, int16, padding -2000 outside the field of view
    "eCT_Supplemental.dcm": (2, "pydicom", 0.388672),  # enhanced multi-frame, rescale in the functional groups
    "explicit_VR-UN.dcm": (1, "pylibjpeg", 0.859375),  # abdomen, JPEG 2000 lossless
    "bad_sequence.dcm": (1, "gdcm", 0.287109375),  # neck, JPEG lossless process 14
    "J2K_pixelrep_mismatch.dcm": (1, "pylibjpeg", 0.431),  # head, J2K signedness differs from the dataset's
}


def real(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, f"{name} missing: install pydicom-data (requirements.txt)"
    return str(path)


@pytest.fixture(scope="module")
def read():
    """Each real file read once: ``read(name)`` -> (array, meta, stored values as pydicom decodes them)."""
    cache: dict[str, tuple[np.ndarray, dict, np.ndarray]] = {}

    def reader(name: str) -> tuple[np.ndarray, dict, np.ndarray]:
        if name not in cache:
            array, meta = read_dicom_image(real(name))
            raw = pixel_array(real(name))
            cache[name] = array, meta, raw.reshape(-1, *raw.shape[-2:])
        return cache[name]

    return reader


@pytest.mark.parametrize("name", list(CT_FILES))
def test_ct_files_read_in_hounsfield_units(read, name):
    """Air at -1024 HU (padding and anything below it too), soft tissue / brain at 0-100 HU, nothing wrapped."""
    array, meta, _ = read(name)
    frames, decoder, spacing = CT_FILES[name]
    assert array.shape == (frames, 512, 512) and array.dtype == np.float32
    assert meta["modality"] == "CT" and meta["units"] == "HU" and meta["decoder"] == decoder
    assert meta["pixel_spacing"] == pytest.approx((spacing, spacing))
    assert AIR_HU <= meta["source_min"] == array.min() < -950, "air; padding and anything below air made air"
    assert array.max() < 3100 and meta["source_max"] == array.max(), "no wrap-around (bone, metal below 3100 HU)"
    for frame in array:
        assert np.mean(frame < -900) > 0.05, "air around the patient"
        assert 0 <= np.median(frame[frame > -500]) <= 100, "soft tissue / brain"
    assert meta["affine"] is not None
    np.testing.assert_allclose(np.linalg.norm(meta["affine"][:3, :2], axis=0), spacing, rtol=1e-4)


def test_padding_outside_the_field_of_view_becomes_air(read):
    """693_UNCR stores -2000 (its PixelPaddingValue) outside the reconstruction circle: -1024 HU, counted; every other
    pixel is stored - 1024 exactly."""
    array, meta, raw = read("693_UNCR.dcm")
    padding = raw == -2000
    assert meta["pixel_padding_value"] == -2000 and meta["padded_pixels"] == padding.sum() > 50000
    assert np.all(array[padding] == AIR_HU)
    np.testing.assert_array_equal(array[~padding], np.maximum(raw[~padding] - 1024.0, AIR_HU))
    assert meta["source_dtype"] == "int16" and meta["stored_min"] == -2000 and meta["rescale_intercept"] == (-1024,)


def test_enhanced_ct_takes_rescale_and_geometry_from_its_functional_groups(read):
    """No top-level rescale: the shared Pixel Value Transformation (intercept -1024) applies to each frame; frames in
    order along the slice normal (file frame 1 at z = -149 first, with the normal pointing to -z), 10 mm apart."""
    array, meta, raw = read("eCT_Supplemental.dcm")
    assert "RescaleIntercept" not in pydicom.dcmread(real("eCT_Supplemental.dcm"), stop_before_pixels=True)
    assert meta["rescale_intercept"] == (-1024.0, -1024.0) and meta["rescale_type"] == "US"
    assert meta["frame_order"] == [1, 0] and meta["spacing_source"] == "PixelMeasuresSequence"
    np.testing.assert_array_equal(array, raw[meta["frame_order"]].astype(np.float32) - 1024)
    assert meta["body_part"] == "Brain"
    np.testing.assert_allclose(meta["affine"][:3, 2:], [[0, -99.5], [0, 301.5], [-10, -149]], atol=1e-4)


def test_j2k_with_a_pixel_representation_mismatch_decodes_alike_in_every_plugin(read):
    """The codestream's signedness differs from the dataset's: every JPEG 2000 plugin gives the same, unwrapped
    values (air about -1000 HU, brain 20-40 HU)."""
    array, _, raw = read("J2K_pixelrep_mismatch.dcm")
    for plugin in get_decoder(uid.JPEG2000Lossless).available_plugins:
        np.testing.assert_array_equal(pixel_array(real("J2K_pixelrep_mismatch.dcm"), decoding_plugin=plugin), raw[0])
    brain = array[0, 192:320, 192:320]
    assert 20 <= np.median(brain) <= 40 and raw.min() == -2000 and raw.max() < 2048
    outside = array[0][(raw[0] > -1500) & (raw[0] < -500)]
    assert -1024 <= np.median(outside) <= -950, "air inside the field of view"


def test_decoding_leaves_the_process_locale_alone(tmp_path):
    before = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        utf8 = locale.setlocale(locale.LC_ALL)
        assert read_dicom_image(real("bad_sequence.dcm"))[1]["decoder"] == "gdcm"
        assert locale.setlocale(locale.LC_ALL) == utf8
    finally:
        locale.setlocale(locale.LC_ALL, before)


@pytest.mark.parametrize("name, bits", [("RG1_UNCR.dcm", 15), ("RG3_UNCR.dcm", 10)])
def test_monochrome1_radiographs_read_inverted_as_linear_signal(read, name, bits):
    """MONOCHROME1 stored values inverted to MONOCHROME2 (full scale - stored), in [0, 2 ** bits - 1], no LUT or
    window applied."""
    array, meta, raw = read(name)
    full = 2**bits - 1
    assert array.shape == (1, *raw.shape[1:]) and meta["modality"] == "CR" and meta["units"] == "signal"
    assert meta["bits_stored"] == bits and meta["full_scale"] == full and meta["inverted"]
    assert meta["photometric_interpretation"] == "MONOCHROME1"
    np.testing.assert_array_equal(array, full - raw.astype(np.float32))
    assert 0 <= array.min() and array.max() <= full
    assert meta["pixel_spacing"] is None, "RG1 stores a zero spacing, RG3 none"


def test_radiographs_show_bone_bright(read):
    ankle = read("RG3_UNCR.dcm")[0][0]
    tibia, beside_the_leg, collimated = ankle[400:800, 820:940], ankle[200:800, 480:560], ankle[:, :300]
    assert np.median(tibia) > 10 * np.median(beside_the_leg) and np.median(collimated) == 1023
    chest = read("RG1_UNCR.dcm")[0][0]
    spine, lung = chest[600:1000, 880:960], chest[600:1000, 400:560]
    assert np.median(spine) > np.median(lung) + 5000


# Synthetic files --------------------------------------------------------------------------------------------------

SOP = {"CT": uid.CTImageStorage, "MR": uid.MRImageStorage, "CR": uid.ComputedRadiographyImageStorage,
       "DX": uid.DigitalXRayImageStorageForPresentation}


def dataset(modality: str = "CT", pixels: np.ndarray | None = None, photometric: str = "MONOCHROME2",
            rescale: tuple[float, float] | None = (1.0, -1024.0), syntax: str = uid.ExplicitVRLittleEndian,
            **tags) -> Dataset:
    """A tiny single-frame image dataset, 16-bit unsigned greyscale unless ``pixels`` or ``tags`` say otherwise."""
    pixels = np.arange(64, dtype=np.uint16).reshape(8, 8) * 20 if pixels is None else pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP[modality]
    meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = SOP[modality], meta.MediaStorageSOPInstanceUID, modality
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 3 else 1
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8 * pixels.dtype.itemsize
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(pixels.dtype.kind == "i")
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    return ds


def write(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def write_raw(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as explicit VR little endian under whatever transfer syntax its file meta names (pydicom's writer
    refuses one it does not know)."""
    stream = DicomBytesIO()
    stream.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(stream, ds.file_meta)
    stream.is_little_endian, stream.is_implicit_VR = True, False
    write_dataset(stream, ds)
    path.write_bytes(stream.getvalue())
    return path


def compressed(ds: Dataset, syntax: str, payload: bytes = b"\xff\x4f\xff\x51" + bytes(60)) -> Dataset:
    """``ds`` claiming ``syntax``, with ``payload`` as its encapsulated (junk) pixel data."""
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([payload])
    ds["PixelData"].VR = "OB"
    return ds


def refused(path: Path, match: str, **kwargs) -> str:
    with pytest.raises(DataError, match=match) as error:
        read_dicom_image(path, **kwargs)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message


def test_dx_for_presentation_keeps_the_linear_signal_and_honours_an_inverse_presentation_lut(tmp_path):
    """No rescale, Modality LUT or window applied; ImagerPixelSpacing as spacing; MONOCHROME2 with an INVERSE
    presentation LUT is inverted, MONOCHROME1 with INVERSE (the DX IOD's pairing) is inverted once."""
    pixels = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 60)
    common = {"BitsStored": 12, "HighBit": 11, "WindowCenter": 2000, "WindowWidth": 4000,
              "ImagerPixelSpacing": [0.15, 0.14], "PixelIntensityRelationship": "LIN"}
    plain = write(dataset("DX", pixels, rescale=(2.0, 5.0), **common), tmp_path / "plain.dcm")
    array, meta = read_dicom_image(plain, expected_modality=("CR", "DX"))
    np.testing.assert_array_equal(array[0], pixels)
    assert not meta["inverted"] and meta["pixel_spacing"] == (0.15, 0.14) and meta["full_scale"] == 4095
    assert meta["spacing_source"] == "ImagerPixelSpacing" and meta["pixel_intensity_relationship"] == "LIN"
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        path = write(dataset("DX", pixels, photometric, PresentationLUTShape="INVERSE", **common),
                     tmp_path / f"{photometric}.dcm")
        array, meta = read_dicom_image(path)
        np.testing.assert_array_equal(array[0], 4095 - pixels)
        assert meta["inverted"] and meta["presentation_lut_shape"] == "INVERSE"


@pytest.mark.parametrize("case", ["no rescale", "rescale type", "rgb", "ybr", "palette", "mr for ct", "mr",
                                  "no pixel data", "nan", "truncated", "not dicom", "empty", "missing"])
def test_bad_files_are_refused_with_one_line_naming_the_file(tmp_path, case):
    path = tmp_path / f"{case.replace(' ', '_')}.dcm"
    if case == "no rescale":
        refused(write(dataset(rescale=None), path),
                "CT without RescaleSlope/RescaleIntercept, cannot convert to Hounsfield units")
    elif case == "rescale type":
        refused(write(dataset(RescaleType="OD"), path), "CT with RescaleType OD, not Hounsfield units")
    elif case in ("rgb", "ybr"):
        rgb = np.zeros((8, 8, 3), np.uint8)
        refused(write(dataset("CR", rgb, "RGB" if case == "rgb" else "YBR_FULL", rescale=None), path),
                "colour/palette radiographs are not supported; export as greyscale")
    elif case == "palette":
        refused(write(dataset("CR", np.zeros((8, 8), np.uint8), "PALETTE COLOR", rescale=None), path),
                "PALETTE COLOR: colour/palette radiographs are not supported")
    elif case == "mr for ct":
        refused(write(dataset("MR", rescale=None), path), "Modality MR, not CT as this bundle or dataset takes; use the MRI bundles",
                expected_modality=("CT",))
    elif case == "mr":
        refused(write(dataset("MR", rescale=None), path), "Modality MR: single DICOM files are read as CT or radio")
    elif case == "no pixel data":
        ds = dataset()
        del ds.PixelData
        refused(write(ds, path), "holds no image")
    elif case == "nan":
        ds = dataset(pixels=np.zeros((8, 8), np.uint32))
        del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
        ds.BitsAllocated = 32
        ds.FloatPixelData = np.full((8, 8), np.nan, np.float32).tobytes()
        refused(write(ds, path), "contains 64 NaN or Inf")
    elif case == "truncated":
        data = write(dataset(pixels=np.zeros((64, 64), np.uint16)), path).read_bytes()
        path.write_bytes(data[:-1000])
        refused(path, "damaged or truncated")
        path.write_bytes(data[:200])
        refused(path, "damaged or truncated")
    elif case == "not dicom":
        path.write_bytes(b"Some text, not an image at all.\n" * 20)
        refused(path, "not a DICOM file")
    elif case == "empty":
        path.write_bytes(b"")
        refused(path, "empty")
    else:
        refused(path, "no such file")


def test_a_compressed_file_without_a_decoder_names_the_syntax_and_the_packages(tmp_path, monkeypatch):
    """JPEG XL is newer than pydicom 3.0.2; JPEG-LS has GDCM here, so hide it to see which packages would decode it;
    junk JPEG-LS data with GDCM is a damaged file."""
    xl = write_raw(compressed(dataset(), "1.2.840.10008.1.2.4.110"), tmp_path / "xl.dcm")
    refused(xl, r"transfer syntax JPEG XL Lossless \(1.2.840.10008.1.2.4.110\), which pydicom [\d.]+ has no decoder "
                r"for; convert the file to an uncompressed syntax")
    junk = write(compressed(dataset(), uid.JPEGLSLossless), tmp_path / "jls.dcm")
    assert get_decoder(uid.JPEGLSLossless).is_available, "GDCM decodes JPEG-LS"
    refused(junk, r"cannot decode the pixel data \(JPEG-LS Lossless Image Compression .*\), the file may be damaged"
                  r" or truncated \(gdcm: ")
    monkeypatch.setattr(get_decoder(uid.JPEGLSLossless), "_available", {})
    message = refused(junk, r"compressed as JPEG-LS Lossless Image Compression \(1.2.840.10008.1.2.4.80\), which no "
                            "installed decoder reads; install a pydicom plugin for it")
    assert "pylibjpeg-libjpeg" in message and "pyjpegls" in message and "gdcmconv --raw" in message


# CT series -------------------------------------------------------------------------------------------------------

def write_ct_series(folder: Path, volume: np.ndarray, positions: list[float], series_uid: str = "1.2.3.4") -> Path:
    """``volume`` (Z, H, W) stored values as one CT file per slice at z = ``positions`` (LPS mm), oblique in-plane
    (rows along -x), named against the slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    for z, (image, position) in enumerate(zip(volume, positions)):
        ds = dataset(pixels=image, PixelSpacing=[0.7, 0.9], ImageOrientationPatient=[-1, 0, 0, 0, 1, 0],
                     ImagePositionPatient=[12.0, -30.0, position], InstanceNumber=z + 1, SliceThickness=2.5,
                     SeriesInstanceUID=series_uid, StudyInstanceUID="1.2.3", FrameOfReferenceUID="1.2.3.9",
                     SeriesDate="20240101", SeriesNumber=1)
        write(ds, folder / f"slice{len(positions) - z:02d}.dcm")
    return folder


def test_a_ct_slice_file_reads_as_itk_reads_its_series(tmp_path):
    """A single CT file gives the same HU values and RAS geometry as the project's ITK series reader (load_volume)."""
    from monai.transforms import Orientation

    from monai_denoise.volumes import load_volume

    volume = (np.random.default_rng(0).integers(0, 2000, (1, 6, 7))).astype(np.uint16)
    series = write_ct_series(tmp_path / "ct", volume, [-20.0])
    (single,) = series.iterdir()
    array, meta = read_dicom_image(single)
    np.testing.assert_array_equal(array, volume.astype(np.float32) - 1024)
    mine, itk = Orientation("RAS")(as_volume(array, meta)), load_volume(series)
    assert mine.shape == itk.shape == (1, 7, 6, 1)
    np.testing.assert_array_equal(mine.numpy(), itk.numpy())
    in_plane_and_origin = [0, 1, 3]  # one slice: ITK gives it 1 mm thickness, the file's header 2.5 mm
    np.testing.assert_allclose(mine.affine.numpy()[:, in_plane_and_origin], itk.affine.numpy()[:, in_plane_and_origin],
                               atol=1e-4)


def test_prepare_reads_a_ct_file_given_by_name_alone_not_its_folder(tmp_path):
    """A CT slice picked from a folder of other files is prepared alone, named after the file (as inference reads
    it); an MRI file given by name still stands for its folder's series."""
    import json

    from monai_denoise.cli import main

    rng = np.random.default_rng(1)
    folder = write_ct_series(tmp_path / "exam", rng.integers(0, 2000, (3, 24, 24)).astype(np.uint16),
                             [0.0, 2.5, 5.0])
    write(dataset("MR", SeriesInstanceUID="1.2.826.0.1.3680043.8.498.7"), folder / "localizer.dcm")
    assert main(["prepare", str(folder / "slice02.dcm"), "--modality", "ct", "--output", str(tmp_path / "ct"),
                 "--size", "16", "--split", "1", "0", "0"]) == 0
    datalist = json.loads((tmp_path / "ct" / "datalist.json").read_text())
    assert [item["image"] for item in datalist["training"]] == ["images/slice02_axial000_t000.nii.gz"]


def test_a_folder_gdcm_cannot_group_is_one_line_naming_it(tmp_path, capfd):
    """GDCM raises on some headers while grouping a folder into series (pydicom's own test files hold such), and
    OpenJPEG inside it prints to the process's stderr: the user sees the one error line alone."""
    from monai_denoise.cli import main

    folder = Path(get_testdata_file("CT_small.dcm")).parent
    assert main(["prepare", str(folder / "CT_small.dcm"), "--modality", "mri", "--output", str(tmp_path / "out")]) == 2
    (error,) = capfd.readouterr().err.strip().splitlines()
    assert error.startswith(f"monai-denoise prepare: error: {folder}: GDCM cannot group its DICOM files into series")
    assert "folder of its own" in error and not (tmp_path / "out").exists()
