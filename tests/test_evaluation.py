"""The one scoring path: ``monai_denoise.evaluation`` scores what a bundle's own ``evaluate.json`` scores."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY
from test_bundle import workflow
from test_modality_bundles import tiny_slices

from monai_denoise import BUNDLES_ROOT
from monai_denoise.evaluation import EvaluationSet, score, score_network, score_noisy, evaluation_set, volume_scores
from monai_denoise.metrics import METRICS
from monai_denoise.studies import training_length_study
from monai_denoise.workflows import parse

CT_NOISE = {"noise#views": 60, "train_noise#views": 60, "num_workers": 0}


def evaluate_json(bundle: str, data: Path, output: Path, weights: Path, **overrides) -> pd.DataFrame:
    """``evaluate.json``'s per-image table (``metrics/test_metrics.csv``, summary row dropped) for ``weights``."""
    wf = workflow(BUNDLES_ROOT / bundle, ["train", "evaluate"], "train", dataset_dir=str(data), output_dir=str(output),
                  ckpt_path=str(weights), **overrides)
    wf.run()
    table = pd.read_csv(output / "metrics" / "test_metrics.csv")
    return table[table.image != "mean"].reset_index(drop=True)


def assert_same_scores(expected: pd.DataFrame, scored: pd.DataFrame) -> None:
    assert list(scored.image) == list(expected.image)
    for name in METRICS:
        np.testing.assert_allclose(scored[name], expected[name], atol=1e-4, rtol=0, err_msg=name)


def ct_data(root: Path) -> Path:
    """Tiny CT-like slices whose clean test image leaves [0, 1] (HU outside the window), which CT scores clipped."""
    data = tiny_slices(root)
    test = data / json.loads((data / "datalist.json").read_text())["test"][0]["image"]
    image = nib.load(test)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj) * 1.4 - 0.2, image.affine), str(test))
    (data / "provenance.json").write_text(json.dumps({"modality": "ct"}))
    return data


def random_weights(bundle: str, path: Path, **overrides) -> Path:
    torch.manual_seed(7)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(parse(bundle, ["train"], **overrides).get_parsed_content("network_def").state_dict(), path)
    return path


def test_mri_evaluate_json_scores_equal_the_evaluation_module(trained_bundle, tiny_dataset, tmp_path):
    bundle = trained_bundle[0].name
    weights = trained_bundle[1] / "models" / "model.pt"
    expected = evaluate_json(bundle, tiny_dataset, tmp_path / "eval", weights, **TINY)
    parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(tiny_dataset), **TINY)
    assert_same_scores(expected, score_network(parser, weights, evaluation_set(parser)).scores)


def test_ct_evaluate_json_and_a_ct_study_score_alike_with_the_labels_clipped(tmp_path):
    bundle, data = "ct_denoising_cae", ct_data(tmp_path / "data")
    weights = random_weights(bundle, tmp_path / "weights" / "model.pt", **TINY)
    expected = evaluate_json(bundle, data, tmp_path / "eval", weights, **TINY, **CT_NOISE)
    parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(data), **TINY, **CT_NOISE)
    test = evaluation_set(parser)
    assert float(test.clean.min()) == 0.0 and float(test.clean.max()) == 1.0, "CT labels scored within the window"
    assert_same_scores(expected, score_network(parser, weights, test).scores)

    study = training_length_study(bundle, data, tmp_path / "study", [1], overrides={**TINY, **CT_NOISE})
    snapshot = tmp_path / "study" / "model" / "models" / "model_epoch1.pt"
    trained = evaluate_json(bundle, data, tmp_path / "eval_study", snapshot, **TINY, **CT_NOISE)
    for name in METRICS:
        assert study[name].iloc[0] == pytest.approx(trained[name].mean(), abs=1e-4), name


def test_predictions_are_scored_after_the_bundles_postprocessing():
    clean = torch.full((2, 1, 16, 16), 0.5)
    test = EvaluationSet(clean + 0.1, clean, ["a", "b"])
    over = score(torch.full_like(clean, 3.0), test)
    assert float(over.pred.max()) == 1.0, "clamped to [0, 1] before scoring"
    assert over.scores.psnr.to_numpy() == pytest.approx([10 * np.log10(1 / 0.25)] * 2, abs=1e-4)
    noisy = score_noisy(test).mean()
    assert noisy["psnr"] == pytest.approx(20.0, abs=1e-4) and noisy["mae"] == pytest.approx(0.1, abs=1e-6)
    assert score(clean, test).mean()["ssim"] == pytest.approx(1.0)


def test_volume_scores_take_psnr_over_the_volume_and_ssim_per_axial_slice():
    clean = 0.5 * np.random.default_rng(0).random((12, 12, 3)).astype(np.float32)
    pred = clean.copy()
    pred[..., 0] += 0.1
    scores = volume_scores(pred, clean)
    assert scores["psnr"] == pytest.approx(10 * np.log10(3 / 0.01), abs=1e-3)
    assert scores["mae"] == pytest.approx(0.1 / 3, abs=1e-6)
    assert 0 < scores["ssim"] < 1


def test_no_scoring_outside_the_evaluation_module():
    """``image_metrics`` is called by the evaluation module alone, and nothing computes a PSNR by hand."""
    root = Path(__file__).resolve().parent.parent
    sources = [p for folder in ("monai_denoise", "benchmarks", "data_prep") for p in (root / folder).rglob("*.py")]
    callers = {p.relative_to(root).as_posix() for p in sources if "image_metrics(" in p.read_text()}
    assert callers == {"monai_denoise/evaluation.py", "monai_denoise/metrics.py"}
    by_hand = {p.relative_to(root).as_posix() for p in sources if "log10(1" in p.read_text().replace(" ", "")}
    assert not by_hand, f"PSNR computed by hand in {by_hand}"


def test_scoring_leaves_the_noisy_images_as_they_were(tmp_path):
    """The bundle's thresholds work in place; scoring the noisy input must not clip what the networks then see."""
    bundle, data = "ct_denoising_cae", ct_data(tmp_path / "data")
    test = evaluation_set(parse(bundle, ["train", "evaluate"], dataset_dir=str(data), **TINY, **CT_NOISE))
    before = test.noisy.clone()
    score_noisy(test)
    assert torch.equal(test.noisy, before) and (before < 0).any()
