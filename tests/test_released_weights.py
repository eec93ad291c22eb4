"""Bundles with a release record ship trained weights: their inference.json denoises a user's volume out of the box."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import REPO

from data_prep.sources import sample_volumes
from monai_denoise.bundle import BUNDLES
from monai_denoise.demo import score_shipped_bundles
from monai_denoise.modalities import CT, MRI, XRAY
from monai_denoise.workflows import parse, shipped_weights

RELEASED = sorted(record.parent for record in (REPO / "bundles").glob("*/releases.json"))
RELEASED_MRI = [bundle for bundle in RELEASED if BUNDLES[bundle.name].modality is MRI]


def psnr(image: np.ndarray, clean: np.ndarray, data_range: float) -> float:
    return float(10 * np.log10(data_range**2 / np.mean((image - clean) ** 2)))


NOISE_MAP = REPO / "bundles" / "mri_denoising_unet_noise_map"
CASES = [(bundle, "gaussian", None) for bundle in RELEASED_MRI if bundle != NOISE_MAP] + [
    (NOISE_MAP, "gaussian", 0.05), (NOISE_MAP, "rician", None)]
"""(bundle, noise, the ``--noise_level`` given or None): the noise-map bundle is told the Gaussian level and
estimates the Rician one, as its docs describe."""


def test_the_mri_unet_drunet_and_noise_map_and_the_ct_and_radiograph_drunets_ship_weights():
    assert [bundle.name for bundle in RELEASED] == ["ct_denoising_drunet", "mri_denoising_drunet", "mri_denoising_unet",
                                                    "mri_denoising_unet_noise_map", "xray_denoising_drunet"]
    for modality in (CT, XRAY):
        assert list(shipped_weights(modality)) == [f"{modality.name}_denoising_drunet"]


@pytest.mark.parametrize("released", RELEASED, ids=lambda p: p.name)
def test_released_weights_are_small_and_fit_the_bundle_network(released):
    weights = released / "models" / "model.pt"
    assert weights.stat().st_size <= 5 * 2**20, "weights above 5 MB go to large_files.yml, not to git"
    network = parse(released.name, ["inference"]).get_parsed_content("network_def")
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)


@pytest.mark.parametrize(("released", "kind", "noise_level"), CASES, ids=lambda p: getattr(p, "name", str(p)))
def test_inference_json_denoises_an_unseen_scan_with_the_shipped_weights(tmp_path, released, kind, noise_level):
    """Real EPI slices the release never trained on, noisy in scanner units, through the documented command.

    Gaussian noise of sigma 0.05 on the 0.5 / 99.5 percentile scale for every release; Rician noise, whose
    level the noise-map bundle estimates from the scan, for that bundle too.
    """
    test_scan = next(s.path for s in sample_volumes() if s.split == "test")
    source = nib.load(str(test_scan))
    clean = np.asarray(source.dataobj[:, :, 8:16, 0], dtype=np.float32)
    low, high = np.percentile(clean, [0.5, 99.5])
    noise = np.random.default_rng(0).normal(0.0, 0.05 * (high - low), (2, *clean.shape)).astype(np.float32)
    noisy = clean + noise[0] if kind == "gaussian" else np.hypot(clean + noise[0], noise[1])
    inputs, outputs = tmp_path / "scans", tmp_path / "denoised"
    inputs.mkdir()
    nib.save(nib.Nifti1Image(noisy, source.affine), str(inputs / "scan.nii.gz"))

    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(released / "configs" / "inference.json"),
               "--bundle_root", str(released), "--dataset_dir", str(inputs), "--output_dir", str(outputs)]
    command += ["--noise_level", str(noise_level)] if noise_level is not None else []
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    denoised = nib.load(str(outputs / "scan.nii.gz"))
    assert denoised.shape == clean.shape
    np.testing.assert_allclose(denoised.affine, source.affine)
    gain = psnr(denoised.get_fdata(), clean, high - low) - psnr(noisy, clean, high - low)
    assert gain > 3.0, f"the shipped weights improve PSNR by only {gain:.2f} dB"


@pytest.mark.parametrize("modality", [CT, XRAY], ids=lambda m: m.name)
def test_shipped_ct_and_radiograph_weights_denoise_their_held_out_real_images(modality, tmp_path, monkeypatch):
    """The demo's step for the other modalities: the embedded sample's held-out real image (the neck CT slice, the
    ankle radiograph's tiles) with seeded noise at the modality's default dose, scored by the bundle's evaluation."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    report = tmp_path / "report"
    summary = score_shipped_bundles(modality, tmp_path / "data", report).set_index("method")

    bundle = f"{modality.name}_denoising_drunet"
    assert set(summary.index) == {"noisy input", bundle}
    gain = summary.loc[bundle, "psnr_mean"] - summary.loc["noisy input", "psnr_mean"]
    assert gain > 10.0, f"the shipped {modality.title} weights improve PSNR by only {gain:.2f} dB (10.9 / 14.7 measured)"
    assert summary.loc[bundle, "ssim_mean"] > summary.loc["noisy input", "ssim_mean"]
    assert (report / "panels_3x2.png").stat().st_size > 1000 and (report / "summary.md").is_file()
