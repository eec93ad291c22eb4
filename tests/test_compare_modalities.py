"""`monai-denoise compare` on CT and radiograph data: the modality's bundles, noise parameter and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY
from test_modality_bundles import tiny_slices

from monai_denoise.anscombe import gat_bm3d
from monai_denoise.baselines import apply, ct_baselines, xray_baselines
from monai_denoise.bundle import BUNDLES
from monai_denoise.compare import CompareConfig, compared_bundles, dataset_modality, run_compare
from monai_denoise.errors import DataError
from monai_denoise.evaluation import EvaluationSet, tune_baseline
from monai_denoise.metrics import image_metrics
from monai_denoise.modalities import CT, MODALITIES, XRAY
from monai_denoise.transforms import PoissonGaussianNoise

CASES = {
    "ct": {"bundle": "ct_denoising_cae", "title": "low-dose CT", "key": "i0", "main": 400000, "other": 100000.0,
           "overrides": {"noise#views": 60}, "baselines": {"BM3D", "Gaussian filter", "median filter"}},
    "xray": {"bundle": "xray_denoising_cae", "title": "Poisson-Gaussian", "key": "photons", "main": 1000, "other": 250.0, "overrides": {},
             "baselines": {"GAT-BM3D", "BM3D", "Gaussian filter", "median filter"}},
}
"""Per modality: its CAE bundle, noise title, noise level key, main and second level, cheap noise (CT: 60 views) and baselines."""


def tiny_data(root: Path, modality: str) -> Path:
    """Tiny 32x32 slices (3 training, 1 validation, 1 test) recorded as ``modality`` in provenance.json."""
    data = tiny_slices(root / "data")
    (data / "provenance.json").write_text(json.dumps({"modality": modality}))
    return data


@pytest.mark.parametrize("modality", ["ct", "xray"])
def test_compare_uses_the_modalitys_noise_level_and_baselines(modality, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    case = CASES[modality]
    data, output, column = tiny_data(tmp_path, modality), tmp_path / "compare", f"noise_{case['key']}"
    config = CompareConfig(bundles=(case["bundle"],), epochs=1, noise_levels=(case["other"],),
                           overrides={**TINY, "num_workers": 0, **case["overrides"]})
    summary = run_compare(data, output, config)

    methods = {"noisy input", case["bundle"], *case["baselines"]}
    assert set(summary.method) == methods
    assert set(pd.read_csv(output / "summary.csv").method) == methods
    table = pd.read_csv(output / "comparison.csv")
    assert column in table.columns and "noise_sigma" not in table.columns
    assert sorted(table[column].unique()) == [case["other"], case["main"]]
    assert np.isfinite(table.psnr).all()
    noisy = table[table.method == "noisy input"].groupby(column).psnr.mean()
    assert noisy.is_monotonic_increasing, "a larger i0 / photon count is less noise"
    bm3d = summary.set_index("method").loc["BM3D"]
    assert bm3d.settings.startswith("factor "), "BM3D's sigma factor is tuned on validation"
    text = (output / "summary.md").read_text()
    assert f"PSNR at {case['key']} {case['main']}" in text and f"PSNR at {case['key']} {case['other']:g}" in text
    assert text.startswith(f"# Comparison: {case['title']} noise, {case['key']} {case['main']}")
    assert "nan" not in text, "one test image: values without a spread, not '± nan'"
    assert (output / "psnr_vs_noise.png").stat().st_size > 1000


def test_baselines_are_tuned_at_each_compared_dose_alone_though_the_bundle_validates_at_several(tmp_path,
                                                                                                monkeypatch):
    """The CT bundles validate at each of their ``val_levels``; BM3D's factor is tuned at the dose it is scored at."""
    import monai_denoise.evaluation as evaluation

    tuned = []

    def recording_tune(baseline, validation, noise):
        tuned.append((noise["i0"], len(validation.noisy), float((validation.noisy - validation.clean).std())))
        return tune_baseline(baseline, validation, noise)

    monkeypatch.setattr(evaluation, "tune_baseline", recording_tune)
    config = CompareConfig(bundles=("ct_denoising_cae",), epochs=1, noise_levels=(60000.0,),
                           overrides={**TINY, "num_workers": 0, "noise#views": 60, "train_noise#views": 60})
    run_compare(tiny_data(tmp_path, "ct"), tmp_path / "compare", config)

    by_dose = {i0: (count, std) for i0, count, std in tuned}
    assert sorted(by_dose) == [60000.0, 400000.0]
    assert by_dose[60000.0][0] == by_dose[400000.0][0] == 1, "the one validation slice, at the compared dose only"
    assert by_dose[60000.0][1] > by_dose[400000.0][1], "fewer photons, noisier tuning images"


def test_the_origin_profile_compares_ct_bundles_at_clipped_gaussian_noise(tmp_path, monkeypatch):
    """configs/noise/origin_cae.json swaps CT's projection-domain noise for the origin report's clipped Gaussian: the
    level is sigma and the baselines are those of additive noise, given the true sigma."""
    from conftest import REPO

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    config = CompareConfig(bundles=("ct_denoising_cae",), epochs=1, noise_profile=REPO / "configs/noise/origin_cae.json",
                           noise_levels=(0.45,), overrides={**TINY, "num_workers": 0})
    summary = run_compare(tiny_data(tmp_path, "ct"), tmp_path / "compare", config)

    table = pd.read_csv(tmp_path / "compare" / "comparison.csv")
    assert table.noise_sigma.unique().tolist() == [0.45] and "noise_i0" not in table.columns
    rows = summary.set_index("method")
    assert "BM3D" in rows.index and rows.loc["BM3D"].settings == "", "BM3D is given the true sigma, not tuned"
    assert rows.loc["noisy input"].psnr_mean < 12, "sigma 0.45 clipped on the [0, 1] HU window"
    assert (tmp_path / "compare" / "summary.md").read_text().startswith("# Comparison: gaussian noise, sigma 0.45")


def test_a_bundle_of_another_modality_is_refused_in_one_line(tmp_path):
    data = tiny_data(tmp_path, "ct")
    for bundle, title in (("xray_denoising_cae", "radiograph"), ("mri_denoising_unet", "MRI")):
        with pytest.raises(DataError, match=f"{bundle} is a {title} bundle but .* holds CT images") as err:
            run_compare(data, tmp_path / "out", CompareConfig(bundles=("ct_denoising_cae", bundle), epochs=1))
        assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists(), "refused before anything is trained or written"


def test_default_bundles_are_the_datas_modalitys(tmp_path):
    for name in ("ct", "xray"):
        data = tiny_data(tmp_path / name, name)
        modality = dataset_modality(data)
        assert modality is MODALITIES[name]
        assert compared_bundles((), modality, data) == tuple(b for b in BUNDLES if b.startswith(f"{name}_"))
    (tmp_path / "old").mkdir()
    with pytest.raises(DataError, match="no provenance.json, so its modality is unknown"):
        dataset_modality(tmp_path / "old")
    (tmp_path / "old" / "provenance.json").write_text("{}")
    with pytest.raises(DataError, match='names no modality.*"modality": "mri"'):
        dataset_modality(tmp_path / "old")


def test_gat_bm3d_baseline_is_given_the_levels_true_parameters():
    clean = torch.from_numpy(np.tile(np.linspace(0.1, 0.9, 32), (32, 1))[None, None].astype(np.float32))
    noise = {"photons": 200.0, "electronic_std": 0.01, "seed": 0}
    transform = PoissonGaussianNoise(noise["photons"], noise["electronic_std"])
    transform.set_random_state(0)
    noisy = torch.as_tensor(transform(clean[0]))[None].float()
    gat = next(b for b in xray_baselines(noise) if b.name == "GAT-BM3D")
    assert tune_baseline(gat, EvaluationSet(noisy, clean, ["ramp"]), noise) == {}
    expected = gat_bm3d(noisy[0, 0].numpy(), 200.0, 0.01)
    torch.testing.assert_close(apply(gat, noisy, noise, {})[0, 0], torch.from_numpy(expected))
    psnr = {name: float(image_metrics(pred, clean)["psnr"].mean()) for name, pred in
            (("noisy", noisy), ("gat", apply(gat, noisy, noise, {})))}
    assert psnr["gat"] > psnr["noisy"] + 3.0
    assert {b.name for b in ct_baselines(CT.noise)} == {"BM3D", "Gaussian filter", "median filter"}
    assert all(b.noise_args == {} for b in ct_baselines(CT.noise)), "CT baselines see the image alone"
    assert XRAY.noise_model.classical_baselines(XRAY.noise)[0].name == "GAT-BM3D"
