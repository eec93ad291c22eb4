"""Hyperparameter sweeps: search-space files, seeded sampling, trial records, failed trials."""

from __future__ import annotations

import json
import re
import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import REPO, TINY

from monai_denoise import sweep
from monai_denoise.errors import DataError
from monai_denoise.sweep import load_search_space, run_sweep

UNET = "mri_denoising_unet"
LR = {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
FIXED = {**{k: v for k, v in TINY.items() if k != "batch_size"}, "epochs": 1}


def small_space() -> dict:
    return {"bundle": UNET, "params": {"learning_rate": LR, "batch_size": {"type": "categorical", "choices": [2, 4]}}}


@pytest.mark.parametrize("content, problem", [
    (None, "not found"),
    ('{"bundle": "mri_denoising_unet", ', "not valid JSON"),
    ({"params": {"learning_rate": LR}}, "missing 'bundle'"),
    ({"bundle": UNET}, "missing 'params'"),
    ({"bundle": UNET, "params": {"learning_rate": {"type": "uniform", "low": 0, "high": 1}}}, "unknown type 'uniform'"),
    ({"bundle": UNET, "params": {"epochs": {"type": "int", "low": 40, "high": 5}}}, "must be less than high"),
    ({"bundle": UNET, "params": {"epochs": {"type": "int", "low": 5, "high": 5}}}, "must be less than high"),
    ({"bundle": UNET, "params": {"batch_size": {"type": "categorical", "choices": []}}}, "non-empty list"),
    ({"bundle": UNET, "params": {"learning_rat": LR}}, "not config ids"),
    ({"bundle": UNET, "metric": "val_mse", "params": {"learning_rate": LR}}, "not the key metric"),
    ({"bundle": "no_such_bundle", "params": {"learning_rate": LR}}, "unknown bundle"),
], ids=["missing", "invalid-json", "no-bundle", "no-params", "unknown-type", "low-above-high", "low-equals-high",
        "no-choices", "unknown-config-id", "not-key-metric", "unknown-bundle"])
def test_bad_search_space_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "space.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=problem) as err:
        load_search_space(path)
    assert str(path) in str(err.value)


def test_shipped_search_spaces_load():
    unet = load_search_space(REPO / "configs" / "sweeps" / "unet.json")
    vae = load_search_space(REPO / "configs" / "sweeps" / "vae.json")
    assert unet["bundle"] == UNET and (unet["metric"], unet["direction"]) == ("val_psnr", "maximize")
    assert {"learning_rate", "epochs", "batch_size"} <= set(unet["params"])
    assert vae["bundle"] == "mri_denoising_vae" and {"latent_channels", "beta"} <= set(vae["params"])
    assert sweep.distributions(vae)["beta"].log


def test_nested_config_ids_are_valid_parameters(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"bundle": UNET, "params": {
        "network_def#backbone#num_res_units": {"type": "int", "low": 0, "high": 2}}}))
    assert "network_def#backbone#num_res_units" in load_search_space(path)["params"]


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the sweep catches it."""


class FakeTraining:
    """Stands in for ``train_bundle``: records every call and scores the learning rate, trials.csv as it goes
    (``done`` trials before the first call); the call numbered ``kill_at`` is killed."""

    def __init__(self, output: Path, kill_at: int | None = None, done: int = 0):
        self.output, self.calls, self.kill_at, self.done = output, [], kill_at, done

    def __call__(self, bundle, output_dir, **overrides):
        table = self.output / "trials.csv"
        finished = len(pd.read_csv(table)) if table.exists() else 0
        assert finished == self.done + len(self.calls), "trials.csv must hold every finished trial"
        if len(self.calls) == self.kill_at:
            raise Killed
        self.calls.append({"output_dir": str(output_dir), **overrides})
        score = -abs(math.log10(overrides["learning_rate"]) + 2.5)
        state = SimpleNamespace(best_metric=score, best_metric_epoch=1, key_metric_name="val_psnr")
        return SimpleNamespace(evaluator=SimpleNamespace(state=state))


def stubbed_sweep(monkeypatch, tmp_path: Path, name: str, seed: int,
                  fake: FakeTraining | None = None) -> tuple[pd.DataFrame, FakeTraining]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    (data_dir / "datalist.json").write_text("{}")
    space = {"bundle": UNET, "params": {"learning_rate": LR,
                                        "epochs": {"type": "int", "low": 5, "high": 40, "step": 5},
                                        "batch_size": {"type": "categorical", "choices": [8, 16, 32]}}}
    fake = fake or FakeTraining(tmp_path / name)
    monkeypatch.setattr(sweep, "train_bundle", fake)
    return run_sweep(space, data_dir, tmp_path / name, trials=12, seed=seed, overrides={"seed": 3}), fake


def test_same_seed_samples_the_same_params(monkeypatch, tmp_path):
    first, fake = stubbed_sweep(monkeypatch, tmp_path, "a", seed=0)
    again, _ = stubbed_sweep(monkeypatch, tmp_path, "b", seed=0)
    other, _ = stubbed_sweep(monkeypatch, tmp_path, "c", seed=1)
    params = ["learning_rate", "epochs", "batch_size"]
    pd.testing.assert_frame_equal(first[params], again[params])
    assert not first[params].equals(other[params])
    assert first.learning_rate.between(1e-4, 1e-2).all() and first.batch_size.isin([8, 16, 32]).all()
    assert first.epochs.between(5, 40).all() and (first.epochs % 5 == 0).all()
    assert fake.calls[0]["seed"] == 3 and fake.calls[0]["output_dir"].endswith("trials/trial_000")
    assert [c["learning_rate"] for c in fake.calls] == first.learning_rate.tolist()
    best = json.loads((tmp_path / "a" / "best.json").read_text())
    assert best["value"] == first.val_psnr.max() and best["trial"] == first.val_psnr.idxmax()


def test_a_killed_sweep_continues_with_the_interrupted_trial(monkeypatch, tmp_path):
    with pytest.raises(Killed):
        stubbed_sweep(monkeypatch, tmp_path, "a", seed=0, fake=FakeTraining(tmp_path / "a", kill_at=4))
    assert len(pd.read_csv(tmp_path / "a" / "trials.csv")) == 4
    interrupted = json.loads((tmp_path / "a" / "trials" / "trial_004" / "trial.json").read_text())["params"]

    resumed, fake = stubbed_sweep(monkeypatch, tmp_path, "a", seed=0, fake=FakeTraining(tmp_path / "a", done=4))

    assert len(fake.calls) == 8, "only the interrupted trial and the seven not yet run train"
    assert fake.calls[0]["output_dir"].endswith("trials/trial_004")
    assert {k: fake.calls[0][k] for k in interrupted} == interrupted
    assert resumed.number.tolist() == list(range(12)) and (resumed.state == "complete").all()
    uninterrupted, _ = stubbed_sweep(monkeypatch, tmp_path, "b", seed=0)
    params = ["learning_rate", "epochs", "batch_size"]
    pd.testing.assert_frame_equal(resumed[params].iloc[:5], uninterrupted[params].iloc[:5])


def test_a_sweep_refuses_an_output_of_another_search_space(monkeypatch, tmp_path):
    stubbed_sweep(monkeypatch, tmp_path, "a", seed=0)
    record = tmp_path / "a" / "trials" / "trial_000" / "trial.json"
    record.write_text(json.dumps({"params": {"learning_rate": 0.001, "dropout": 0.1}}))

    with pytest.raises(DataError, match=re.escape(str(record)) + ": not a trial of this sweep"):
        stubbed_sweep(monkeypatch, tmp_path, "a", seed=0)


def test_overrides_may_not_fix_a_swept_parameter(tiny_dataset, tmp_path):
    with pytest.raises(DataError, match="batch_size"):
        run_sweep(small_space(), tiny_dataset, tmp_path, trials=1, overrides=TINY)


def test_two_trial_sweep_writes_trials_best_and_plot(tiny_dataset, tmp_path):
    output = tmp_path / "sweep"
    returned = run_sweep(small_space(), tiny_dataset, output, trials=2, seed=0, overrides=FIXED)

    table = pd.read_csv(output / "trials.csv")
    assert list(table.columns) == ["number", "learning_rate", "batch_size", "val_psnr", "seconds", "state", "error"]
    assert table.number.tolist() == [0, 1] and (table.state == "complete").all()
    assert table.learning_rate.between(1e-4, 1e-2).all() and table.batch_size.isin([2, 4]).all()
    assert table.val_psnr.map(math.isfinite).all() and (table.val_psnr > 0).all() and (table.seconds > 0).all()
    pd.testing.assert_series_equal(table.val_psnr, returned.val_psnr)
    best = json.loads((output / "best.json").read_text())
    row = table.loc[table.val_psnr.idxmax()]
    assert best["value"] == pytest.approx(row.val_psnr, rel=1e-12) and best["trial"] == row.number
    assert best["params"] == {"learning_rate": pytest.approx(row.learning_rate, rel=1e-12),
                              "batch_size": row.batch_size}
    assert (output / "sweep.png").stat().st_size > 1000
    for n in (0, 1):
        assert (output / "trials" / f"trial_{n:03d}" / "models" / "model.pt").is_file()


def test_failed_trial_is_recorded_and_the_sweep_goes_on(tiny_dataset, tmp_path, monkeypatch):
    real_train_bundle, calls = sweep.train_bundle, []

    def break_first_trial(bundle, output_dir, **overrides):
        calls.append(output_dir)
        if len(calls) == 1:
            overrides["network_def#_target_"] = "NoSuchNetwork"
        return real_train_bundle(bundle, output_dir, **overrides)

    monkeypatch.setattr(sweep, "train_bundle", break_first_trial)
    output = tmp_path / "sweep"
    run_sweep(small_space(), tiny_dataset, output, trials=2, seed=0, overrides=FIXED)

    table = pd.read_csv(output / "trials.csv", keep_default_na=False)
    assert table.state.tolist() == ["failed", "complete"] and len(calls) == 2
    assert "NoSuchNetwork" in table.error[0] and table.error[1] == ""
    assert table.val_psnr[0] == "" and math.isfinite(float(table.val_psnr[1]))
    assert json.loads((output / "best.json").read_text())["trial"] == 1


def test_sweep_fails_when_every_trial_fails(tiny_dataset, tmp_path):
    output = tmp_path / "sweep"
    with pytest.raises(DataError, match="all 2 trials failed.*NoSuchNetwork"):
        run_sweep(small_space(), tiny_dataset, output, trials=2,
                  overrides={**FIXED, "network_def#_target_": "NoSuchNetwork"})
    assert (pd.read_csv(output / "trials.csv").state == "failed").all()
    assert not (output / "best.json").exists()
