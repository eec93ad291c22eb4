"""The benchmarks run end to end on tiny data and write finite figures (no targets asserted)."""

from __future__ import annotations

import importlib
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import HAS_CXX, REPO, TINY

BUNDLE = "mri_denoising_dncnn"
ADAPT_TINY = {"adaptation#iterations": 2, "adaptation#patch_size": 32, "adaptation#patches_per_volume": 2}
NOISE_MAP_BUNDLE = "mri_denoising_unet_noise_map"


@pytest.mark.parametrize("bundle, compiled", [
    pytest.param(BUNDLE, True, marks=pytest.mark.skipif(not HAS_CXX, reason="torch.compile needs a C++ compiler")),
    (NOISE_MAP_BUNDLE, False)])
def test_speed_benchmark_writes_one_row_per_bundle(bundle, compiled, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.speed import main

    main(["--data", str(tiny_dataset), "--output", str(tmp_path), "--bundles", bundle, "--steps", "2",
          "--warmup", "1", "--repeats", "1", "--overrides", json.dumps(TINY)] + (["--compile"] if compiled else []))

    table = pd.read_csv(tmp_path / "speed.csv")
    assert table["bundle"].tolist() == [bundle]
    figures = table.select_dtypes("number").iloc[0]
    assert {"train_gflops", "infer_gflops", "train_of_conv", "ignite_over_bare", "data_wait_share",
            "seconds_per_slice", "speedup_over_bm3d"} <= set(figures.index)
    compile_figures = ["compiled_train_speedup", "compile_seconds"]
    assert all(math.isfinite(v) and v > 0 for v in figures.drop(compile_figures)), figures.to_dict()
    assert all(math.isfinite(figures[k]) == compiled and (not compiled or figures[k] > 0) for k in compile_figures)
    report = (tmp_path / "speed.md").read_text()
    assert report.count(bundle) == 1
    assert ("not run" in report) != compiled


def test_quality_benchmark_scores_every_method_on_whole_volumes(trained_bundle, volumes_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import benchmarks.quality as quality
    from benchmarks.quality import main

    levels = []
    run_workflow = quality.run_workflow
    monkeypatch.setattr(quality, "run_workflow", lambda *a, **k: levels.append(k["noise_level"]) or run_workflow(*a, **k))

    _, train_out = trained_bundle
    volume = volumes_dir / "sub-00_T1w.nii.gz"
    table = main(["--output", str(tmp_path), "--volumes", str(volume), "--conditions", "gaussian:0.05",
                  "rician:0.1", "--weights", f"mri_denoising_unet={train_out / 'models' / 'model.pt'}",
                  "--adapt", "mri_denoising_unet", "--adapt-overrides", json.dumps(ADAPT_TINY)])

    assert set(table.condition) == {"gaussian 0.05", "rician 0.1"}
    gaussian = table[table.condition == "gaussian 0.05"].set_index("method")
    rician = table[table.condition == "rician 0.1"].set_index("method")
    assert {"noisy input", "mri_denoising_unet", "BM3D (true sigma, slices)", "BM4D (true sigma, volume)"} <= set(
        gaussian.index)
    assert not any("bias-corrected" in m for m in gaussian.index)
    adapted = [f"mri_denoising_unet adapted to the scan (2 it., {s} sigma)" for s in ("true", "estimated")]
    assert set(adapted) <= set(gaussian.index) and not set(adapted) & set(rician.index), (
        "adaptation runs under Gaussian noise only: its pairs need zero-mean noise")
    assert all(gaussian.loc[name, "psnr"] != gaussian.loc["mri_denoising_unet", "psnr"] for name in adapted)
    assert levels[0] == pytest.approx(0.05) and levels[1] == "estimate", (
        "adapt.json gets the true sigma in the scan's own units (it maps it onto its normalisation), then 'estimate'")
    assert {"BM3D bias-corrected, post", "BM3D bias-corrected, squared", "BM4D bias-corrected, post",
            "BM4D bias-corrected, squared"} <= set(rician.index)
    for rows in (gaussian, rician):
        assert rows.loc["BM4D (true sigma, volume)", "psnr"] > rows.loc["noisy input", "psnr"]
        assert (rows.seconds_per_volume >= 0).all() and rows.psnr.notna().all()
    assert rician.loc["BM4D bias-corrected, post", "psnr"] > rician.loc["BM4D (true sigma, volume)", "psnr"]
    report = (tmp_path / "quality.md").read_text()
    assert "rician 0.1: mri_denoising_unet" in report and "vs BM4D" in report
    assert len(pd.read_csv(tmp_path / "quality.csv")) == len(table)


def test_quality_benchmark_gives_a_noise_map_bundle_the_true_and_the_estimated_sigma(volumes_dir, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.quality import Condition, held_out_volumes, main, noisy_volume
    from monai_denoise.inferers import NoiseLevelInferer
    from monai_denoise.transforms import PercentileNormalize, estimate_noise_sigma
    from monai_denoise.workflows import parse

    maps = []
    append_map = NoiseLevelInferer.append_map
    monkeypatch.setattr(NoiseLevelInferer, "append_map", staticmethod(
        lambda x, sigma: maps.append(sigma) or append_map(x, sigma)))
    weights = tmp_path / "untrained.pt"
    torch.save(parse(NOISE_MAP_BUNDLE, ["train"]).get_parsed_content("network_def").state_dict(), weights)
    volume = volumes_dir / "sub-00_T1w.nii.gz"
    table = main(["--output", str(tmp_path), "--volumes", str(volume), "--conditions", "rician:0.05",
                  "--weights", f"{NOISE_MAP_BUNDLE}={weights}"]).set_index("method")

    noisy = noisy_volume(held_out_volumes([volume])[0], Condition("rician", 0.05))
    normalised = PercentileNormalize(clip=False)(noisy[None])
    bounds = normalised.meta["normalization"]
    true = 0.05 / (bounds["upper_value"] - bounds["lower_value"])
    estimated = estimate_noise_sigma(normalised[0])
    assert abs(estimated - true) > 1e-3 and any(m == pytest.approx(true) for m in maps), (
        "the true-sigma row gets 0.05 on the scale inference.json's normalisation gives the noisy volume")
    assert any(m == pytest.approx(estimated, rel=1e-4) for m in maps), "the other row gets the estimate"

    for sigma in ("true sigma", "estimated sigma"):
        row = table.loc[f"{NOISE_MAP_BUNDLE} ({sigma})"]
        assert row.psnr == pytest.approx(table.loc["noisy input", "psnr"], rel=1e-4), (
            "the untrained network is the identity, and normalising then mapping back changes nothing")
    assert f"rician 0.05: {NOISE_MAP_BUNDLE} (" in (tmp_path / "quality.md").read_text()


@pytest.mark.parametrize("options, message", [
    (["--adapt", "mri_denoising_unet"], "give their weights with --weights"),
    (["--adapt-overrides", "[1]"], "expected a JSON object"),
    (["--adapt-overrides", "{iterations: 2"], "not valid JSON")])
def test_quality_benchmark_refuses_bad_adaptation_options(options, message, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.quality import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--output", str(tmp_path), *options])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("module", ["speed", "time_to_quality"])
@pytest.mark.parametrize("overrides, message", [("[1]", "expected a JSON object"), ("{batch_size: 2", "not valid JSON")])
def test_training_benchmarks_refuse_overrides_that_are_not_a_json_object(module, overrides, message, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    parse_args = importlib.import_module(f"benchmarks.{module}").parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--data", str(tmp_path), "--output", str(tmp_path), "--overrides", overrides])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_quality_benchmark_noise_is_seeded_per_volume_and_condition(volumes_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.quality import Condition, held_out_volumes, noisy_volume

    volume = held_out_volumes([volumes_dir / "sub-04_bold.nii.gz"])
    assert [v.name for v in volume] == ["sub-04_bold_t000", "sub-04_bold_t001"]
    first = noisy_volume(volume[0], Condition("gaussian", 0.05))
    assert torch.equal(first, noisy_volume(volume[0], Condition("gaussian", 0.05)))
    assert not torch.equal(first, noisy_volume(volume[1], Condition("gaussian", 0.05)))
    assert float((first - volume[0].clean).std()) == pytest.approx(0.05, rel=0.1)


def test_time_to_quality_reads_wall_clock_validation_curve(trained_bundle, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.time_to_quality import first_pass, main

    _, train_out = trained_bundle
    shutil.copytree(train_out, tmp_path / "mri_denoising_unet")
    rows = main(["--data", str(tiny_dataset), "--output", str(tmp_path), "--bundles", "mri_denoising_unet",
                 "--overrides", json.dumps(TINY)])

    curve = pd.read_csv(tmp_path / "time_to_quality.csv")
    assert curve.epoch.tolist() == [1, 2]
    assert (curve.minutes > 0).all() and curve.minutes.is_monotonic_increasing
    assert float(rows.loc[0, "BM3D validation PSNR (dB)"]) > 0
    assert (tmp_path / "time_to_quality.png").stat().st_size > 0
    assert first_pass(curve, float(curve.psnr.min()) - 1).epoch == 1
    assert first_pass(curve, float(curve.psnr.max()) + 1) is None

    noisier = main(["--data", str(tiny_dataset), "--output", str(tmp_path), "--bundles", "mri_denoising_unet",
                    "--configs", str(REPO / "configs" / "noise" / "gaussian_0.10.json"), "--overrides", json.dumps(TINY)])
    assert float(noisier.loc[0, "BM3D validation PSNR (dB)"]) < float(rows.loc[0, "BM3D validation PSNR (dB)"]) - 2, \
        "the configs' noise profile reaches the BM3D reference"
    with pytest.raises(SystemExit):
        main(["--data", str(tiny_dataset), "--output", str(tmp_path), "--configs", str(tmp_path / "nope.json")])



def test_time_to_quality_trains_with_its_configs_and_refuses_a_run_with_other_settings(tiny_dataset, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import benchmarks.time_to_quality as ttq
    from monai_denoise.errors import DataError

    trainings = []
    run_workflow = ttq.run_workflow

    def recording(bundle, names, workflow_type, extra=(), **overrides):
        trainings.append(list(extra))
        return run_workflow(bundle, names, workflow_type, extra, **overrides)

    monkeypatch.setattr(ttq, "run_workflow", recording)
    profile = REPO / "configs" / "noise" / "gaussian_0.10.json"
    args = ["--data", str(tiny_dataset), "--output", str(tmp_path), "--bundles", "mri_denoising_unet",
            "--epochs", "1", "--overrides", json.dumps(TINY)]
    ttq.main(args + ["--configs", str(profile)])
    assert trainings == [[profile]], "the configs reach the training run"
    record = json.loads((tmp_path / "mri_denoising_unet" / "run_settings.json").read_text())
    assert record == {"configs": [str(profile)], "overrides": TINY, "epochs": 1}
    ttq.main(args + ["--configs", str(profile)])
    assert len(trainings) == 1, "a run with the same settings is reused"
    with pytest.raises(DataError, match="trained with .*gaussian_0.10.json.*--retrain"):
        ttq.main(args)
    (tmp_path / "mri_denoising_unet" / "run_settings.json").write_text('{"configs": [')
    with pytest.raises(DataError, match="run_settings.json: not a readable settings record"):
        ttq.main(args)

def test_quality_benchmark_refuses_bad_weights_and_conditions(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import argparse

    from benchmarks.quality import Condition, parse_weights
    from monai_denoise.errors import DataError

    with pytest.raises(DataError, match="unknown bundle 'mri_denoising_nope'"):
        parse_weights([f"mri_denoising_nope={tmp_path}"])
    with pytest.raises(DataError, match="no weights file at .*missing.pt"):
        parse_weights([f"mri_denoising_unet={tmp_path / 'missing.pt'}"])
    with pytest.raises(argparse.ArgumentTypeError, match="gaussian:SIGMA or rician:SIGMA"):
        Condition.parse("speckle:0.1")


def test_time_to_quality_names_a_run_without_validation_logs(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.time_to_quality import training_curve
    from monai_denoise.errors import DataError

    with pytest.raises(DataError, match=f"{tmp_path}: no val_psnr in the TensorBoard logs"):
        training_curve(tmp_path)


def test_gpu_check_without_a_gpu_exits_2_with_one_line_and_writes_nothing(tmp_path):
    import os
    import subprocess
    import sys

    output = tmp_path / "gpu_check"
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--output", str(output), "--steps", "5"],
                            cwd=REPO, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True,
                            timeout=300)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the GPU check needs a CUDA GPU: "), result.stderr
    assert "nothing was run or written" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_gpu_check_table_sets_gpu_and_cpu_side_by_side(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.gpu_check import Row, on_gpu_with_amp, table

    on_gpu = "cuda:0 float16, AMP on"
    row = Row(bundle="b", train_batch="64x1x64x64", train_steps_per_s=50.0, cpu_train_steps_per_s=2.0,
              train_peak_gib=1.234, seconds_per_slice=0.0005, cpu_seconds_per_slice=0.01, psnr=32.20, cpu_psnr=32.19,
              infer_peak_gib=0.5, train_ran_on=on_gpu, infer_ran_on=on_gpu)
    shown = table([row]).iloc[0]
    assert shown["train GPU / CPU"] == "25.0x" and shown["infer GPU / CPU"] == "20.0x"
    assert shown["PSNR GPU - CPU (dB)"] == "+0.010" and shown["peak GPU GiB train"] == "1.23"
    assert on_gpu_with_amp(on_gpu)
    assert not any(on_gpu_with_amp(r) for r in ("cpu float32, AMP off", "cuda:0 float32, AMP off",
                                                 "cuda:0 float32, AMP on", "no convolution, AMP on"))


def test_federated_benchmark_gives_each_site_whole_volumes_of_its_own(tiny_dataset, tmp_path):
    from benchmarks.federated import split_sites

    sites = split_sites(tiny_dataset, 2, tmp_path)

    manifest = pd.read_csv(tiny_dataset / "manifest.csv").set_index("image")
    shares = [json.loads((site / "datalist.json").read_text()) for site in sites]
    volumes = [{manifest.volume_id[str(Path(item["image"]).relative_to(tiny_dataset))] for item in share["training"]}
               for share in shares]
    assert volumes[0] and volumes[1] and not volumes[0] & volumes[1], "no training volume at two sites"
    original = json.loads((tiny_dataset / "datalist.json").read_text())
    assert sum(len(share["training"]) for share in shares) == len(original["training"])
    assert sum(len(share["validation"]) for share in shares) == len(original["validation"])
    assert all(share["validation"] for share in shares) and all("test" not in share for share in shares)


def test_modality_quality_scores_shipped_and_trained_bundles_against_the_best_classical_method(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_weights"))
    from test_compare_modalities import tiny_data

    from benchmarks.modality_quality import main

    data = tiny_data(tmp_path, "xray")
    overrides = json.dumps({**TINY, "num_workers": 0})
    table = main(["--modality", "xray", "--data", str(data), "--output", str(tmp_path / "out"), "--epochs", "1",
                  "--noise-levels", "250", "--overrides", overrides, "--adapt", "--adapt-iterations", "2"])

    assert (tmp_path / "out" / "compare" / "models" / "xray_denoising_cae" / "models" / "model.pt").is_file()
    assert not (tmp_path / "out" / "compare" / "models" / "xray_denoising_drunet").exists(), "shipped: not trained"
    assert sorted(table.level.unique()) == [250.0, 1000.0], "the given level and the noise section's own"
    networks = ["xray_denoising_cae", "xray_denoising_drunet", "xray_denoising_drunet plain",
                "xray_denoising_drunet adapted"]
    assert (tmp_path / "out" / "adapted" / "xray_denoising_drunet_250" / "adapted" / "models" / "model.pt").is_file()
    assert (table.seconds_per_512[table.method.isin(networks)] > 0).all()
    for _, rows in table.groupby("level"):
        psnr = rows.set_index("method").psnr
        classical = psnr.drop([*networks, "noisy input"])
        for net in networks:
            row = rows.set_index("method").loc[net]
            assert row.gain_over_noisy == pytest.approx(psnr[net] - psnr["noisy input"])
            assert row.best_classical == classical.idxmax()
            assert row.vs_classical == pytest.approx(psnr[net] - classical.max())
        assert rows.set_index("method").loc["xray_denoising_drunet", "vs_xray_denoising_cae"] == pytest.approx(
            psnr["xray_denoising_drunet"] - psnr["xray_denoising_cae"])
    assert "GAT-BM3D" in set(table.method)
    text = (tmp_path / "out" / "quality.md").read_text()
    assert "trained here for 1 epochs: xray_denoising_cae" in text and "1 test images" in text
    assert "- photons 250: " in text and "- photons 1000: " in text
    assert len(pd.read_csv(tmp_path / "out" / "quality.csv")) == len(table)


def test_modality_quality_refuses_a_dataset_of_another_modality(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from test_compare_modalities import tiny_data

    from benchmarks.modality_quality import main
    from monai_denoise.errors import DataError

    data = tiny_data(tmp_path, "ct")
    with pytest.raises(DataError, match=f"--data {data}: a CT dataset, not radiograph"):
        main(["--modality", "xray", "--data", str(data), "--output", str(tmp_path / "out")])
    with pytest.raises(DataError, match="no datalist.json .*prepare --modality ct"):
        main(["--modality", "ct", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_benchmark_ends_bad_input_with_one_line_and_exit_code_2(tmp_path):
    import subprocess
    import sys

    missing = tmp_path / "missing"
    done = subprocess.run([sys.executable, "-m", "benchmarks.modality_quality", "--modality", "ct", "--data",
                           str(missing), "--output", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"python -m benchmarks.modality_quality: error: --data {missing}: no datalist.json "
                                   "(run monai-denoise prepare --modality ct first)")
    assert not (tmp_path / "out").exists()


def test_run_main_finds_a_wrapped_data_error_and_lets_other_errors_through(capsys):
    """MONAI wraps errors raised while it instantiates a config ("Failed to instantiate ..."): still one line."""
    from benchmarks.options import run_main

    from monai_denoise.errors import DataError

    def wrapped():
        try:
            raise DataError("scan.nii.gz: constant image")
        except DataError as err:
            raise RuntimeError("Failed to instantiate component") from err

    with pytest.raises(SystemExit) as stopped:
        run_main(wrapped, "benchmarks.x")
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == "python -m benchmarks.x: error: scan.nii.gz: constant image"

    def broken():
        raise ZeroDivisionError("a bug keeps its traceback")

    with pytest.raises(ZeroDivisionError):
        run_main(broken, "benchmarks.x")


def test_ct_extra_training_trains_each_arm_for_the_same_steps_and_scores_it_on_the_test_slice(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.ct_extra_training import main

    overrides = {"noise#views": 90, "train_noise#views": 90, "patch_size": [32, 32], "patches_per_slice": 2,
                 "num_workers": 0}
    table = main(["--output", str(tmp_path / "out"), "--extra-slices", "0", "2", "--steps", "6",
                  "--overrides", json.dumps(overrides)]).set_index("extra_slices")

    assert table.training_slices.to_dict() == {0: 39, 2: 41}, "the 39 CT slices, then 2 MNI slices more"
    assert table.epochs.to_dict() == {0: 1, 2: 1}, "6 steps of one slice each: at least one whole epoch"
    manifest = pd.read_csv(tmp_path / "out" / "extra_2" / "data" / "manifest.csv")
    assert manifest[manifest.split == "training"].volume_id.str.startswith("mni_icbm152").sum() == 2
    assert (table.best_val_psnr > 30).all() and (table.best_epoch >= 1).all()
    assert (table.test_psnr_i0_400000 > table.test_psnr_i0_150000).all(), "scored at each dose: more photons, better"
    assert (table.test_psnr_i0_150000 > table.test_psnr_i0_60000).all()
    assert table.filter(like="test_ssim").stack().between(0, 1).all()
    assert "| extra_slices |" in (tmp_path / "out" / "extra_training.md").read_text()


def test_xray_training_sources_adds_the_phantom_and_the_reconstructed_radiographs_arm_by_arm(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.xray_training_sources import main

    overrides = {"patch_size": [32, 32], "patches_per_slice": 1, "batch_size": 64, "num_workers": 0,
                 "self_ensemble": 1}
    table = main(["--output", str(tmp_path / "out"), "--arms", "cr", "drr", "--steps", "1",
                  "--overrides", json.dumps(overrides)]).set_index("arm")

    for arm, drr in (("cr", 0), ("drr", 16)):
        manifest = pd.read_csv(tmp_path / "out" / arm / "data" / "manifest.csv")
        training = manifest[manifest.split == "training"]
        assert training.volume_id.str.endswith(("_ap", "_lateral")).sum() == drr
        assert ("leeds" in set(training.volume_id)) == (arm == "drr")
        assert set(manifest[manifest.split == "test"].volume_id) == {"RG3_UNCR"}
    assert table.training_tiles.to_dict() == {"cr": 123, "drr": 151}
    assert (table.best_epoch == 1).all() and (table.best_val_psnr > 30).all()
    assert (table.test_psnr_photons_4000 > table.test_psnr_photons_250).all(), "scored at each dose"
    assert "| arm |" in (tmp_path / "out" / "training_sources.md").read_text()


@pytest.mark.parametrize("modality", ["ct", "xray"])
def test_adaptation_benchmark_writes_scans_that_adapt_json_reads_back_as_the_test_images(modality, tmp_path,
                                                                                         monkeypatch):
    """The noisy test images go to adapt.json as a user's scans (CT in HU, radiographs as 16-bit counts)."""
    monkeypatch.syspath_prepend(str(REPO))
    from monai.transforms import Compose
    from test_compare_modalities import tiny_data

    from benchmarks.adaptation import write_scans
    from monai_denoise.evaluation import evaluation_set
    from monai_denoise.workflows import parse

    bundle, data = f"{modality}_denoising_drunet", tiny_data(tmp_path, modality)
    test = evaluation_set(parse(bundle, ["train", "evaluate"], dataset_dir=str(data), **TINY))
    scans = write_scans(test, tmp_path / "scans", bundle)
    load = Compose(parse(bundle, ["adapt"]).get_parsed_content("loading"))
    (scan,) = sorted(scans.iterdir())
    image = load({"image": str(scan)})["image"].squeeze()
    expected = test.noisy[0, 0].clamp(0, 1) if modality == "xray" else test.noisy[0, 0]
    assert image.shape == expected.shape
    assert float((image - expected).abs().max()) < (1 / 65535 if modality == "xray" else 1e-5)
