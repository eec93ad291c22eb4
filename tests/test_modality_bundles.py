"""The CT and radiograph bundles end to end on tiny data: train and evaluate one epoch, infer on what their users
have (a DICOM CT slice, a MONOCHROME1 CR file, a 16-bit PNG), refuse an MR file and refuse adaptation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from conftest import TINY, UNET_BUNDLE, phantom, write_nifti
from PIL import Image
from test_bundle import workflow
from test_dicom_modalities import dataset, write

from monai_denoise.dicom import read_dicom_image
from monai_denoise.errors import DataError

BUNDLES_DIR = UNET_BUNDLE.parent
EPOCHS = 30
"""Enough for the CAE to pass its input through (3 iterations of one epoch give a near-constant output); a few seconds."""
NOISE = {"ct": {"noise#views": 90, "train_noise#views": 90}, "xray": {}}
"""Cheap noise for tiny slices: CT projections over 90 views instead of 720."""


def plane(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A 2D phantom slice (the middle of a 3-slice phantom), scanner-like units (0 to about 2000)."""
    return phantom((*shape, 3), seed=seed)[..., 1]


def tiny_slices(root: Path, seed: int = 0) -> Path:
    """A datalist of tiny 2D NIfTI slices in [0, 1] (3 training, 1 validation, 1 test), as ``prepare`` writes."""
    splits = {"training": 3, "validation": 1, "test": 1}
    datalist, number = {}, seed
    for split, count in splits.items():
        datalist[split] = []
        for _ in range(count):
            image = plane((32, 32), number)
            write_nifti(root / "images" / f"s{number}.nii.gz", image / image.max(), np.diag([0.7, 0.7, 1, 1]))
            datalist[split].append({"image": f"images/s{number}.nii.gz"})
            number += 1
    (root / "datalist.json").write_text(json.dumps(datalist))
    return root


@pytest.fixture(scope="module", params=["ct", "xray"])
def trained(request, tmp_path_factory) -> tuple[str, Path, Path]:
    """(modality, bundle copy, model.pt) of the modality's CAE bundle after 1 epoch on tiny slices, evaluated."""
    modality = request.param
    root = tmp_path_factory.mktemp(modality)
    bundle = root / f"{modality}_denoising_cae"
    shutil.copytree(BUNDLES_DIR / bundle.name, bundle, ignore=shutil.ignore_patterns("models", "logs", "eval"))
    data, output = tiny_slices(root / "data"), root / "out"
    wf = workflow(bundle, ["train"], "train", dataset_dir=str(data), output_dir=str(output), epochs=EPOCHS,
                  num_workers=0, **TINY, **NOISE[modality])
    wf.run()
    wf = workflow(bundle, ["train", "evaluate"], "train", dataset_dir=str(data), output_dir=str(output),
                  **TINY, **NOISE[modality])
    wf.run()
    table = pd.read_csv(output / "metrics" / "test_metrics.csv")
    assert table["image"].iloc[-1] == "mean" and np.isfinite(table["psnr"]).all()
    return modality, bundle, output / "models" / "model.pt"


def infer(bundle: Path, model: Path, inputs: Path, results: Path, **overrides) -> None:
    wf = workflow(bundle, ["inference"], "infer", dataset_dir=str(inputs), output_dir=str(results),
                  ckpt_path=str(model), roi_size=TINY["roi_size"], **overrides)
    wf.run()


def ct_file(path: Path, modality: str = "CT") -> tuple[Path, np.ndarray]:
    """A 48x40 CT slice in HU (stored int16, intercept -1024) with patient geometry; returns it and its HU."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hu = np.round(plane((48, 40), 3) - 1000).astype(np.int16)
    ds = dataset(modality, pixels=(hu + 1024).astype(np.int16), PixelSpacing=[0.7, 0.7],
                 ImagePositionPatient=[0, 0, 0], ImageOrientationPatient=[1, 0, 0, 0, 1, 0], SliceThickness=1)
    return write(ds, path), hu.astype(np.float32)


def test_ct_bundle_denoises_a_dicom_slice_into_hounsfield_units(trained, tmp_path):
    modality, bundle, model = trained
    if modality != "ct":
        pytest.skip("CT only")
    path, hu = ct_file(tmp_path / "in" / "slice.dcm")
    infer(bundle, model, path, tmp_path / "dicom")
    (derived,) = (tmp_path / "dicom" / "slice").iterdir()
    in_hu = read_dicom_image(derived)[0][0]
    assert hu.min() <= in_hu.min() and in_hu.max() <= hu.max()
    assert np.corrcoef(hu.ravel(), in_hu.ravel())[0, 1] > 0.5, "a derived DICOM slice in HU"
    infer(bundle, model, path, tmp_path / "out", output_format="nifti")
    out = nib.load(str(tmp_path / "out" / "slice.nii.gz"))
    assert out.get_data_dtype() == np.int16 and out.shape == (40, 48, 1)
    values = np.asarray(out.dataobj)
    assert hu.min() <= values.min() and values.max() <= hu.max()
    source = hu.T[..., None]  # (W, H, 1), the output's axes
    assert np.corrcoef(source.ravel(), values.ravel())[0, 1] > 0.5
    np.testing.assert_allclose(np.diag(out.affine)[:2], [-0.7, -0.7])
    assert not list((tmp_path / "out").glob(".*partial*"))


def test_ct_bundle_refuses_an_mr_file_naming_it(trained, tmp_path):
    modality, bundle, model = trained
    if modality != "ct":
        pytest.skip("CT only")
    path, _ = ct_file(tmp_path / "in" / "brain.dcm", modality="MR")
    with pytest.raises(Exception) as error:
        infer(bundle, model, path, tmp_path / "out")
    cause = error.value
    while not isinstance(cause, DataError) and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    assert isinstance(cause, DataError), error.value
    assert str(path) in str(cause) and "MR" in str(cause) and "\n" not in str(cause)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_radiograph_bundle_denoises_a_monochrome1_cr_and_a_16_bit_png(trained, tmp_path):
    modality, bundle, model = trained
    if modality != "xray":
        pytest.skip("radiographs only")
    inputs = tmp_path / "in"
    inputs.mkdir()
    signal = np.round(plane((40, 36), 5) * 2).astype(np.uint16)  # 12-bit linear signal
    stored = (4095 - signal).astype(np.uint16)  # MONOCHROME1
    write(dataset("CR", pixels=stored, photometric="MONOCHROME1", rescale=None, BitsStored=12, HighBit=11),
          inputs / "chest.dcm")
    picture = (plane((24, 32), 6) * 30).astype(np.uint16)
    Image.fromarray(picture).save(inputs / "hand.png")
    infer(bundle, model, inputs, tmp_path / "dicom")
    (derived,) = (tmp_path / "dicom" / "chest").iterdir()
    assert pydicom.dcmread(derived).PhotometricInterpretation == "MONOCHROME1", "stored as the source stores it"
    in_signal = read_dicom_image(derived)[0][0]
    assert signal.min() <= in_signal.min() and in_signal.max() <= signal.max()
    assert np.corrcoef(signal.ravel(), in_signal.ravel())[0, 1] > 0.5
    infer(bundle, model, inputs, tmp_path / "out", output_format="nifti")
    cr = nib.load(str(tmp_path / "out" / "chest.nii.gz"))
    assert cr.get_data_dtype() == np.uint16 and cr.shape == (36, 40, 1)
    values = np.asarray(cr.dataobj)[..., 0].T  # back to (rows, columns)
    assert signal.min() <= values.min() and values.max() <= signal.max()
    assert np.corrcoef(signal.ravel(), values.ravel())[0, 1] > 0.5, "written as MONOCHROME2 signal"
    with Image.open(tmp_path / "out" / "hand.png") as out:
        assert out.format == "PNG" and out.mode in ("I;16", "I") and out.size == (32, 24)
        denoised = np.asarray(out)
    assert picture.min() <= denoised.min() and denoised.max() <= picture.max()
    assert np.corrcoef(picture.ravel(), denoised.ravel().astype(float))[0, 1] > 0.5


def test_adaptation_is_refused_with_the_reason_and_writes_nothing(trained, tmp_path):
    """``python -m monai.bundle run`` of adapt.json: one line ``error: ...`` (why, and what to do instead), exit 1,
    nothing written."""
    modality, bundle, model = trained
    output = tmp_path / "adapted"
    run = subprocess.run([sys.executable, "-m", "monai.bundle", "run", "--config_file",
                          str(bundle / "configs" / "adapt.json"), "--bundle_root", str(bundle), "--dataset_dir",
                          str(tmp_path), "--output_dir", str(output), "--ckpt_path", str(model)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Recorrupted-to-Recorrupted" in lines[0] and "--finetune_from" in lines[0]
    assert ("CT" in lines[0]) == (modality == "ct") and "Traceback" not in run.stderr
    assert not output.exists()


def test_adaptation_runs_when_the_user_overrides_the_refusal(trained, tmp_path):
    """``--adaptation_refused ''`` adapts a CT bundle on a scan in HU and a radiograph bundle on a 16-bit picture,
    with pairs that follow the modality's noise."""
    modality, bundle, model = trained
    scans = tmp_path / "scans"
    scans.mkdir()
    rng = np.random.default_rng(0)
    signal = phantom((48, 48, 1), seed=3)[..., 0] / phantom((48, 48, 1), seed=3).max()
    if modality == "ct":
        write_nifti(scans / "slice.nii.gz", (-1000 + 1400 * signal + rng.normal(0, 30, signal.shape))[..., None])
    else:
        counts = rng.poisson(signal * 300 + 20) / 320 * 60000
        Image.fromarray(np.clip(counts, 0, 65535).astype(np.uint16)).save(scans / "radiograph.png")
    wf = workflow(bundle, ["adapt"], "train", dataset_dir=str(scans), output_dir=str(tmp_path / "adapted"),
                  ckpt_path=str(model), adaptation_refused="",
                  **{"adaptation#iterations": 2, "adaptation#patch_size": 16, "adaptation#patches_per_volume": 2})
    assert wf.parser.get_parsed_content("recorruption") == {"ct": "local", "xray": "signal_dependent"}[modality]
    wf.run()
    assert (tmp_path / "adapted" / "models" / "model.pt").is_file()


def test_ct_bundle_validates_every_slice_at_each_dose_it_serves(tmp_path):
    """A blind CT network is chosen on the mean validation PSNR over its doses, not on one."""
    bundle = BUNDLES_DIR / "ct_denoising_drunet"
    wf = workflow(bundle, ["train"], "train", dataset_dir=str(tiny_slices(tmp_path / "data")),
                  output_dir=str(tmp_path / "out"), **TINY, **NOISE["ct"])
    levels = wf.parser.get_parsed_content("val_levels")
    dataset = wf.parser.get_parsed_content("validate#dataset")

    assert sorted(levels) == [60000.0, 150000.0, 400000.0] and len(dataset) == len(levels)
    errors = {float(item["noise_level"]): float(((item["image"] - item["label"]) ** 2).mean()) for item in dataset}
    assert errors[60000.0] > errors[150000.0] > errors[400000.0] > 0, "fewer photons, more noise"
