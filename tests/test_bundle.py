"""The U-Net bundle end to end through MONAI's ConfigWorkflow and ``python -m monai.bundle run``."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import HAS_CXX, TINY, UNET_BUNDLE, phantom, write_nifti
from monai.bundle import ConfigWorkflow

from monai_denoise.bundle import BUNDLES, stale_files
from monai_denoise.bundle.template import apply_overrides
from monai_denoise.transforms import SyntheticNoised

MANDATORY_METADATA = ("version", "changelog", "monai_version", "pytorch_version", "numpy_version",
                      "required_packages_version", "task", "description", "authors", "copyright",
                      "intended_use", "network_data_format")


def workflow(bundle, configs, workflow_type, extra=(), **overrides):
    files = [str(bundle / "configs" / f"{name}.json") for name in configs] + [str(e) for e in extra]
    wf = ConfigWorkflow(config_file=files, workflow_type=workflow_type, bundle_root=str(bundle),
                        meta_file=str(bundle / "configs" / "metadata.json"),
                        logging_file=str(bundle / "configs" / "logging.conf"), **overrides)
    wf.initialize()
    return wf


def test_overrides_go_only_where_a_config_uses_them():
    config = {"a": 1, "net": {"size": "@latent#0"}, "train": {"x": 0}}
    overrides = {"latent": [8], "loss": "@beta", "beta": 0.1, "train#x": "@gamma", "gamma": 2,
                 "validate#y": "@foo", "foo": 3, "a": 2}
    assert apply_overrides(config, overrides) == {
        "a": 2, "net": {"size": "@latent#0"}, "train": {"x": "@gamma"}, "latent": [8], "gamma": 2}


def test_committed_bundles_match_template():
    for spec in BUNDLES.values():
        assert stale_files(spec, UNET_BUNDLE.parent) == [], "run: monai-denoise bundle render"
    folders = {p.name for p in UNET_BUNDLE.parent.iterdir() if p.is_dir()}
    assert folders == set(BUNDLES), "every bundle folder comes from a spec in monai_denoise/bundle/models.py"


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_metadata_has_mandatory_keys(name):
    meta = json.loads((UNET_BUNDLE.parent / name / "configs" / "metadata.json").read_text())
    assert set(MANDATORY_METADATA) <= set(meta)
    assert meta["version"] in meta["changelog"] and meta["references"]
    image = meta["network_data_format"]["inputs"]["image"]
    assert image["modality"] == "MR" and image["value_range"] == [0, 1] and image["channel_def"]


def test_training_writes_best_and_last_checkpoints_and_logs(trained_bundle):
    _, output = trained_bundle
    assert (output / "models" / "model.pt").is_file()
    last = torch.load(output / "models" / "checkpoint_last.pt", weights_only=True)
    assert {"model", "optimizer", "lr_scheduler", "trainer"} <= set(last)
    trainer = last["trainer"]
    assert trainer["max_epochs"] == 2 and trainer["iteration"] == 2 * trainer["epoch_length"]
    assert list((output / "logs").glob("events.out.tfevents.*"))


def test_resume_continues_from_last_epoch(trained_bundle, tiny_dataset):
    bundle, output = trained_bundle
    resumed = output.parent / "resumed"
    resumed.joinpath("models").mkdir(parents=True)
    (resumed / "models" / "checkpoint_last.pt").write_bytes((output / "models" / "checkpoint_last.pt").read_bytes())
    wf = workflow(bundle, ["train"], "train", dataset_dir=str(tiny_dataset), output_dir=str(resumed), epochs=3,
                  resume=True, **TINY)
    wf.run()
    assert wf.trainer.state.epoch == 3
    assert wf.trainer.state.iteration == 3 * len(wf.train_dataset_data) // TINY["batch_size"]


def test_evaluate_writes_per_image_metrics(trained_bundle, tiny_dataset):
    bundle, output = trained_bundle
    wf = workflow(bundle, ["train", "evaluate"], "train", dataset_dir=str(tiny_dataset), output_dir=str(output),
                  **TINY)
    assert not wf.check_properties()
    wf.run()
    table = pd.read_csv(output / "metrics" / "test_metrics.csv")
    assert list(table.columns) == ["image", "psnr", "ssim", "mae", "mse"]
    test_images = json.loads((tiny_dataset / "datalist.json").read_text())["test"]
    assert len(table) == len(test_images) + 1 and table["image"].iloc[-1] == "mean"
    assert np.isclose(table["psnr"].iloc[-1], table["psnr"].iloc[:-1].mean())
    assert (table["mse"].iloc[:-1] > 0).all() and (table["ssim"].iloc[:-1] <= 1).all()


def test_inference_keeps_shape_affine_and_scale(trained_bundle, tmp_path):
    bundle, output = trained_bundle
    inputs, results = tmp_path / "in", tmp_path / "out"
    affine = np.array([[-2.0, 0, 0, 30], [0, 2.0, 0, -20], [0, 0, 3.0, 5], [0, 0, 0, 1]])
    write_nifti(inputs / "vol3d.nii.gz", phantom((40, 36, 10), seed=7), affine)
    write_nifti(inputs / "series4d.nii", phantom((40, 36, 10, 3), seed=8), affine)
    wf = workflow(bundle, ["inference"], "infer", dataset_dir=str(inputs), output_dir=str(results),
                  ckpt_path=str(output / "models" / "model.pt"), roi_size=TINY["roi_size"])
    assert not wf.check_properties()
    wf.run()
    for name in ("vol3d.nii.gz", "series4d.nii"):
        source, denoised = nib.load(str(inputs / name)), nib.load(str(results / name))
        assert denoised.shape == source.shape
        np.testing.assert_allclose(denoised.affine, source.affine)
        assert denoised.header.get_zooms() == source.header.get_zooms()
        src, out = source.get_fdata(), denoised.get_fdata()
        assert np.isfinite(out).all()
        assert np.corrcoef(src.ravel(), out.ravel())[0, 1] > 0.9, "output must stay in the input's scale and layout"
        assert abs(out.mean() - src.mean()) < 0.1 * src.std()
    assert not list(results.glob(".*partial*")), "no temporary files left behind"


def test_copied_bundle_runs_from_inside_its_folder(tmp_path, tiny_dataset):
    """The documented command, run as a user would from inside a copy of the bundle."""
    bundle = tmp_path / UNET_BUNDLE.name
    bundle.joinpath("configs").mkdir(parents=True)
    for item in (UNET_BUNDLE / "configs").iterdir():
        (bundle / "configs" / item.name).write_bytes(item.read_bytes())
    overrides = [f"--{key} {json.dumps(value).replace(' ', '')}" for key, value in TINY.items()]
    command = (f"{sys.executable} -m monai.bundle run --config_file configs/train.json "
               f"--dataset_dir {tiny_dataset} --epochs 1 " + " ".join(overrides))
    result = subprocess.run(command.split(), cwd=bundle, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (bundle / "models" / "model.pt").is_file(), "without --output_dir weights go to the bundle's models/"


def test_noise_profiles_compose_over_train_config():
    from monai.bundle import ConfigParser

    from conftest import REPO

    profiles = sorted((REPO / "configs" / "noise").glob("*.json"))
    assert {p.stem for p in profiles} >= {"gaussian_0.05", "gaussian_0.10", "rician_0.05", "rician_0.10", "origin_cae",
                                          "blind"}
    for profile in profiles:
        parser = ConfigParser()
        parser.read_config([str(UNET_BUNDLE / "configs" / "train.json"), str(profile)])
        wanted = {"noise#type": "gaussian", "noise#sigma": 0.05, **json.loads(profile.read_text())}
        validation = parser.get_parsed_content("validate#preprocessing").transforms[-1]
        training = next(t for t in parser.get_parsed_content("train#preprocessing").transforms
                        if isinstance(t, SyntheticNoised))
        assert (validation.noise.kinds, validation.noise.low) == ((wanted["noise#type"],), wanted["noise#sigma"])
        assert validation.noise.clip == training.noise.clip == wanted.get("noise#clip", False)
        assert validation.seed == parser["noise"]["seed"], "a profile changes the noise, not the test-set seed"
        assert training.seed is None, "training draws fresh noise"
        kinds = wanted.get("train_noise#type", [wanted["noise#type"]])
        low, high = wanted.get("train_noise#sigma", [wanted["noise#sigma"]] * 2)
        assert (training.noise.kinds, training.noise.low, training.noise.high) == (tuple(kinds), low, high)


@pytest.mark.skipif(not HAS_CXX, reason="torch.compile needs a C++ compiler")
def test_compile_profile_trains_a_compiled_network_and_saves_plain_weights(tiny_dataset, tmp_path):
    from conftest import REPO

    wf = workflow(UNET_BUNDLE, ["train"], "train", [REPO / "configs" / "speed" / "compile.json"],
                  dataset_dir=str(tiny_dataset), output_dir=str(tmp_path), epochs=1, **TINY)
    initial = {k: v.detach().clone() for k, v in wf.parser.get_parsed_content("network").named_parameters()}
    trainer = wf.parser.get_parsed_content("train#trainer")
    assert isinstance(trainer.network, torch._dynamo.eval_frame.OptimizedModule), "the trainer runs the compiled network"
    wf.run()
    assert np.isfinite(float(trainer.state.output[0]["loss"]))
    saved = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    fresh = wf.parser.get_parsed_content("network_def", instantiate=True)
    fresh.load_state_dict(saved)  # strict: the plain network's keys, loadable by inference.json
    assert any(not torch.equal(saved[k], initial[k].cpu()) for k in initial), "the optimizer changed the weights"


OTHER_BUNDLES = sorted(set(BUNDLES) - {UNET_BUNDLE.name})


@pytest.mark.parametrize("name", OTHER_BUNDLES)
def test_every_bundle_trains_evaluates_adapts_and_infers(name, tiny_dataset, tmp_path):
    bundle = UNET_BUNDLE.parent / name
    output = tmp_path / "out"
    train = workflow(bundle, ["train"], "train", dataset_dir=str(tiny_dataset), output_dir=str(output), epochs=1,
                     **TINY)
    assert not train.check_properties()
    train.run()
    evaluate = workflow(bundle, ["train", "evaluate"], "train", dataset_dir=str(tiny_dataset),
                        output_dir=str(output), **TINY)
    evaluate.run()
    table = pd.read_csv(output / "metrics" / "test_metrics.csv")
    assert table["psnr"].notna().all() and table["image"].iloc[-1] == "mean"
    volume = write_nifti(tmp_path / "in" / "vol.nii.gz", phantom((40, 36, 6), seed=3), np.diag([2.0, 2.0, 3.0, 1]))
    adapt = workflow(bundle, ["adapt"], "train", dataset_dir=str(volume.parent), output_dir=str(tmp_path / "adapted"),
                     ckpt_path=str(output / "models" / "model.pt"), roi_size=TINY["roi_size"],
                     **{"adaptation#iterations": 2, "adaptation#patch_size": TINY["patch_size"][0]})
    adapt.run()
    infer = workflow(bundle, ["inference"], "infer", dataset_dir=str(volume.parent), output_dir=str(tmp_path / "den"),
                     ckpt_path=str(tmp_path / "adapted" / "models" / "model.pt"), roi_size=TINY["roi_size"])
    infer.run()
    assert nib.load(str(tmp_path / "den" / "vol.nii.gz")).shape == (40, 36, 6)


def test_finetune_starts_from_the_shared_weights(trained_bundle, tiny_dataset, tmp_path):
    bundle, output = trained_bundle
    shared = output / "models" / "model.pt"
    wf = workflow(bundle, ["train"], "train", dataset_dir=str(tiny_dataset), output_dir=str(tmp_path), epochs=1,
                  finetune_from=str(shared), learning_rate=0.0, **TINY)
    wf.run()
    before = torch.load(shared, weights_only=True)
    after = wf.parser.get_parsed_content("network").state_dict()
    learned = [k for k in before if "running_" not in k and "num_batches_tracked" not in k]
    assert learned and all(torch.equal(before[k], after[k].cpu()) for k in learned), "training starts from shared weights"


def test_inference_takes_a_list_of_files(trained_bundle, tmp_path):
    bundle, output = trained_bundle
    files = [write_nifti(tmp_path / "in" / f"scan{i}.nii.gz", phantom((40, 36, 6), seed=20 + i)) for i in range(3)]
    wf = workflow(bundle, ["inference"], "infer", dataset_dir=[str(files[0]), str(files[2])],
                  output_dir=str(tmp_path / "out"), ckpt_path=str(output / "models" / "model.pt"),
                  roi_size=TINY["roi_size"])
    wf.run()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scan0.nii.gz", "scan2.nii.gz"]
