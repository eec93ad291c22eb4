"""Classical baselines, LPIPS plumbing and `monai-denoise compare` on tiny data."""

from __future__ import annotations

from dataclasses import replace

import lpips
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY
from torch import nn

from monai_denoise.baselines import BASELINES, apply, rician_forms
from monai_denoise.compare import CompareConfig, run_compare
from monai_denoise.errors import DataError
from monai_denoise.evaluation import EvaluationSet, tune_baseline
from monai_denoise.metrics import image_metrics
from monai_denoise.perceptual import LPIPSMetric, LPIPSUnavailable, load_lpips_model
from monai_denoise.transforms import SyntheticNoise
from monai_denoise.workflows import denoise, load_network, noisy_set, parse

SIGMA = 0.1


def synthetic_images(n: int = 2, size: int = 48) -> torch.Tensor:
    """Piecewise-constant discs and a ramp in [0, 1], ``(n, 1, size, size)``."""
    yy, xx = np.mgrid[:size, :size] / size
    images = []
    for i in range(n):
        disc = ((yy - 0.5) ** 2 + (xx - 0.4 - 0.1 * i) ** 2 < 0.08).astype(float)
        images.append(0.2 + 0.6 * disc * (0.5 + 0.5 * xx))
    return torch.tensor(np.stack(images)[:, None], dtype=torch.float32)


def noisy_version(clean: torch.Tensor, kind: str) -> torch.Tensor:
    noise = SyntheticNoise(kind, SIGMA)
    noise.set_random_state(0)
    return torch.stack([torch.as_tensor(noise(img)) for img in clean])


def names(images: torch.Tensor) -> list[str]:
    return [f"image_{i}" for i in range(len(images))]


def psnr(pred: torch.Tensor, clean: torch.Tensor) -> float:
    return float(image_metrics(pred, clean)["psnr"].mean())


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda b: b.name)
def test_tuned_baselines_improve_psnr_on_gaussian_noise(baseline):
    clean = synthetic_images()
    noisy = noisy_version(clean, "gaussian")
    params = tune_baseline(baseline, EvaluationSet(noisy, clean, names(clean)), SIGMA)
    assert psnr(apply(baseline, noisy, SIGMA, params), clean) > psnr(noisy, clean) + 2.0


def test_bias_correction_improves_bm3d_under_rician_noise():
    clean = synthetic_images()
    clean[:, :, :, :8] = 0.0  # a background strip, where the Rician bias shows
    noisy = noisy_version(clean, "rician")
    bm3d, corrected = BASELINES[-1], rician_forms()[-1]
    plain = psnr(apply(bm3d, noisy, SIGMA, {}), clean)
    params = tune_baseline(corrected, EvaluationSet(noisy, clean, names(clean)), SIGMA)
    assert psnr(apply(corrected, noisy, SIGMA, params), clean) > plain + 0.5
    assert psnr(apply(bm3d, noisy, SIGMA, {}), clean) > psnr(noisy, clean)


class RecordingLPIPS(nn.Module):
    """Stands in for the LPIPS network and records what it is given."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        self.seen = (a.clone(), b.clone())
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)


def test_lpips_feeds_three_channels_in_minus_one_to_one():
    model = RecordingLPIPS()
    pred, target = torch.rand(3, 1, 16, 16) * 1.4 - 0.2, torch.rand(3, 1, 16, 16)
    distances = LPIPSMetric(model)(pred, target)
    a, b = model.seen
    assert a.shape == (3, 3, 16, 16) and torch.equal(a[:, 0], a[:, 2])
    assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1
    torch.testing.assert_close(b[:, :1], target * 2 - 1)
    assert distances.shape == (3,)


def test_lpips_with_injected_backbone_is_zero_for_identical_images():
    metric = LPIPSMetric(lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False))
    clean = synthetic_images(2, 64)
    same, different = metric(clean, clean), metric(noisy_version(clean, "gaussian"), clean)
    assert torch.allclose(same, torch.zeros(2), atol=1e-6) and (different > 0).all()


def test_lpips_without_cached_weights_says_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(LPIPSUnavailable, match="TORCH_HOME") as err:
        load_lpips_model("alex")
    assert str(tmp_path) in str(err.value) and "alexnet" in str(err.value)
    assert not any(tmp_path.rglob("*.pth")), "nothing may be downloaded"


def test_lpips_reads_a_backbone_from_the_hub_cache_and_the_fetch_command_keeps_it(tmp_path, monkeypatch, capsys):
    """A small stand-in backbone (SqueezeNet 1.1, randomly initialised) in ``$TORCH_HOME/hub/checkpoints``: LPIPS
    loads it offline, scores, and ``monai-denoise lpips-weights`` finds it there without downloading."""
    from torchvision.models import squeezenet1_1

    from monai_denoise.cli import main
    from monai_denoise.perceptual import backbone_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = backbone_weights_path("squeeze")
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(squeezenet1_1().state_dict(), path)

    metric = LPIPSMetric(load_lpips_model("squeeze"))
    clean = synthetic_images(2, 64)
    same, different = metric(clean, clean), metric(noisy_version(clean, "gaussian"), clean)
    assert torch.allclose(same, torch.zeros(2), atol=1e-6) and (different > 0).all()
    assert main(["lpips-weights", "--net", "squeeze"]) == 0
    assert capsys.readouterr().out.strip() == f"LPIPS squeeze backbone: already at {path}"


def test_the_lpips_fetch_command_offline_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from urllib.error import URLError

    from monai_denoise.cli import main

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    assert main(["lpips-weights"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("monai-denoise lpips-weights: error: could not download")
    assert "alexnet" in err and not any(tmp_path.rglob("*.pth"))


def test_compare_writes_tables_and_figures(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    output = tmp_path / "compare"
    config = CompareConfig(bundles=("mri_denoising_unet",), epochs=1, noise_levels=(0.02, 0.1), overrides=TINY)
    summary = run_compare(tiny_dataset, output, config)

    table = pd.read_csv(output / "comparison.csv")
    assert {"noise_sigma", "method", "settings", "image", "psnr", "ssim", "mae", "mse", "lpips",
            "seconds_per_slice", "parameters"} <= set(table.columns)
    methods = {"noisy input", "mri_denoising_unet", "Gaussian filter", "median filter", "non-local means", "BM3D"}
    assert set(table.method) == methods
    assert sorted(table.noise_sigma.unique()) == [0.02, 0.05, 0.1]
    assert table.lpips.isna().all(), "no LPIPS value may be made up without its weights"
    assert set(summary.method) == methods and (summary.lpips_mean == "unavailable").all()
    noisy = table[(table.method == "noisy input")].groupby("noise_sigma").psnr.mean()
    assert noisy.is_monotonic_decreasing
    text = (output / "summary.md").read_text()
    assert "LPIPS: unavailable" in text and "BM3D" in text and "PSNR at sigma 0.1" in text
    for figure in ("panels_all_methods.png", "panels_3x2.png", "panels_5x2.png", "panels_detail.png",
                   "validation_curves.png", "psnr_vs_noise.png"):
        assert (output / figure).stat().st_size > 1000

    weights = output / "models" / "mri_denoising_unet" / "models" / "model.pt"
    trained_at = weights.stat().st_mtime_ns
    run_compare(tiny_dataset, output, config)
    assert weights.stat().st_mtime_ns == trained_at, "a second run reuses the trained checkpoint"


def test_compare_scores_given_weights_without_training_them(tiny_dataset, tmp_path, monkeypatch):
    """``weights``: shipped or shared weights are compared as they are; no training run is made for them."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    bundle, output = "mri_denoising_cae", tmp_path / "compare"
    parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(tiny_dataset), **TINY)
    torch.manual_seed(3)
    weights = tmp_path / "shared" / "model.pt"
    weights.parent.mkdir()
    torch.save(parser.get_parsed_content("network_def").state_dict(), weights)

    config = CompareConfig(bundles=(bundle,), epochs=1, noise_levels=(0.05,), baselines=False, overrides=TINY,
                           weights={bundle: weights})
    summary = run_compare(tiny_dataset, output, config)

    assert not (output / "models").exists() and not (output / "validation_curves.png").exists()
    noisy, clean, _ = noisy_set(parser)
    expected = image_metrics(denoise(parser, load_network(parser, weights), noisy).clamp(0, 1), clean)["psnr"]
    assert summary.set_index("method").loc[bundle, "psnr_mean"] == pytest.approx(float(expected.mean()), abs=1e-4)

    with pytest.raises(DataError, match=r"weights given for \['mri_denoising_unet'\], which are not compared"):
        run_compare(tiny_dataset, output, replace(config, weights={"mri_denoising_unet": weights}))
