"""The U-Net bundle end to end through MONAI's ConfigWorkflow and ``python -m monai.bundle run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import HAS_CXX, TINY, UNET_BUNDLE, phantom, write_nifti
from monai.bundle import ConfigWorkflow

from monai_denoise.bundle import BUNDLES, stale_files, write_bundle
from monai_denoise.modalities import MODALITIES, MRI
from monai_denoise.bundle.template import apply_overrides
from monai_denoise.transforms import SimulatedNoised, SyntheticNoised

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



def test_render_writes_only_what_changed(tmp_path, capsys):
    """A second render leaves every file alone (a job reading a bundle never sees it half-written); a file edited
    by hand is written back."""
    from monai_denoise.cli import main

    assert main(["bundle", "render", "--root", str(tmp_path)]) == 0
    train = tmp_path / "ct_denoising_drunet" / "configs" / "train.json"
    first = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    train.write_text("{}")
    capsys.readouterr()
    assert main(["bundle", "render", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(train)]
    assert {p: p.stat().st_mtime_ns for p in first if p != train} == {p: t for p, t in first.items() if p != train}
    assert main(["bundle", "render", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"{len(BUNDLES)} bundles under {tmp_path}: up to date"

@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_metadata_has_mandatory_keys(name):
    meta = json.loads((UNET_BUNDLE.parent / name / "configs" / "metadata.json").read_text())
    assert set(MANDATORY_METADATA) <= set(meta)
    assert meta["version"] in meta["changelog"] and meta["references"]
    image = meta["network_data_format"]["inputs"]["image"]
    assert image["modality"] == "/".join(BUNDLES[name].modality.dicom_modalities)
    assert image["value_range"] == [0, 1] and image["channel_def"]
    assert name.startswith(f"{BUNDLES[name].modality.name}_denoising_")


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



def test_evaluate_scores_the_weights_at_ckpt_path(trained_bundle, tiny_dataset, tmp_path):
    """Shared weights are scored with ``--ckpt_path`` into an output folder of their own, as the trained run's."""
    bundle, output = trained_bundle

    def scores(output_dir: Path, **overrides) -> pd.Series:
        workflow(bundle, ["train", "evaluate"], "train", dataset_dir=str(tiny_dataset), output_dir=str(output_dir),
                 **TINY, **overrides).run()
        return pd.read_csv(output_dir / "metrics" / "test_metrics.csv").set_index("image")["psnr"]

    pd.testing.assert_series_equal(scores(tmp_path / "shared", ckpt_path=str(output / "models" / "model.pt")),
                                   scores(output))


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


def test_inference_reads_a_big_endian_nifti_as_its_native_twin(trained_bundle, tmp_path):
    """Scanners and older tools write big-endian NIfTI / Analyze files (nibabel's own ``anatomical.nii`` is one)."""
    bundle, output = trained_bundle
    volume = np.rint(phantom((40, 36, 10), seed=9))
    header = nib.Nifti1Header(endianness=">")
    header.set_data_dtype(np.int16)
    (tmp_path / "big").mkdir()
    nib.save(nib.Nifti1Image(volume.astype(">i2"), np.eye(4), header), str(tmp_path / "big" / "scan.nii"))
    write_nifti(tmp_path / "native" / "scan.nii", volume.astype("<i2"))
    assert nib.load(str(tmp_path / "big" / "scan.nii")).header.endianness == ">"
    for name in ("big", "native"):
        workflow(bundle, ["inference"], "infer", dataset_dir=str(tmp_path / name), output_dir=str(tmp_path / f"{name}_out"),
                 ckpt_path=str(output / "models" / "model.pt"), roi_size=TINY["roi_size"]).run()
    big, native = (nib.load(str(tmp_path / f"{name}_out" / "scan.nii")) for name in ("big", "native"))
    assert big.get_data_dtype().newbyteorder("=") == native.get_data_dtype() == np.dtype("<i2")
    np.testing.assert_array_equal(big.get_fdata(), native.get_fdata())


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
    by_key = [p for p in profiles if "noise" not in json.loads(p.read_text()) and _profile_modality(p) is MRI]
    for profile in by_key:
        parser = ConfigParser()
        parser.read_config([str(UNET_BUNDLE / "configs" / "train.json"), str(profile)])
        wanted = {"noise#type": "gaussian", "noise#sigma": 0.05, **json.loads(profile.read_text())}
        validation = parser.get_parsed_content("validate#preprocessing").transforms[-1].transform
        training = next(t.transform for t in parser.get_parsed_content("train#preprocessing").transforms
                        if isinstance(t, SimulatedNoised))
        assert (validation.noise.kinds, validation.noise.low) == ((wanted["noise#type"],), wanted["noise#sigma"])
        assert validation.noise.clip == training.noise.clip == wanted.get("noise#clip", False)
        assert validation.seed == parser["noise"]["seed"], "a profile changes the noise, not the test-set seed"
        assert training.seed is None, "training draws fresh noise"
        kinds = wanted.get("train_noise#type", [wanted["noise#type"]])
        low, high = wanted.get("train_noise#sigma", [wanted["noise#sigma"]] * 2)
        assert (training.noise.kinds, training.noise.low, training.noise.high) == (tuple(kinds), low, high)


def test_every_shipped_noise_profile_passes_the_profile_check():
    from monai_denoise.noise_models import check_profile

    from conftest import REPO

    profiles = sorted((REPO / "configs" / "noise").glob("*.json"))
    assert len(profiles) >= 10
    for profile in profiles:
        check_profile(profile)


@pytest.mark.parametrize("modality", list(MODALITIES.values()), ids=lambda m: m.name)
def test_origin_profile_puts_clipped_gaussian_noise_on_every_modality(modality):
    """The origin report's noise (x + 0.3 N(0, 1.5^2), clipped) replaces each modality's own noise, seeded."""
    from monai.bundle import ConfigParser
    from monai.data import MetaTensor

    from conftest import REPO

    profile = REPO / "configs" / "noise" / "origin_cae.json"
    bundle = next(b for b, spec in BUNDLES.items() if spec.modality is modality and b.endswith("_cae"))
    parser = ConfigParser()
    parser.read_config([str(UNET_BUNDLE.parent / bundle / "configs" / "train.json"), str(profile)])
    validation = parser.get_parsed_content("validate#preprocessing").transforms[-1]
    training = next(t for t in parser.get_parsed_content("train#preprocessing").transforms
                    if isinstance(t, SimulatedNoised))
    for transform, seed in ((validation, 20261122), (training, None)):
        assert isinstance(transform.transform, SyntheticNoised) and transform.transform.seed == seed
        noise = transform.transform.noise
        assert (noise.kinds, noise.low, noise.high, noise.clip) == (("gaussian",), 0.45, 0.45, True)
    clean = MetaTensor(torch.linspace(0, 1, 64 * 64).reshape(1, 64, 64), meta={"filename_or_obj": "slice.nii.gz"})
    first, again = validation({"image": clean.clone()}), validation({"image": clean.clone()})
    assert torch.equal(first["label"], clean) and torch.equal(first["image"], again["image"]), "seeded per file"
    assert 0.0 <= float(first["image"].min()) and float(first["image"].max()) <= 1.0, "clipped"
    assert 0.3 < float((first["image"] - clean).std()) < 0.45, "sigma 0.45, less after clipping"


def _profile_modality(profile: Path):
    """The modality whose noise section has every ``noise#`` key the profile sets."""
    keys = {k.split("#")[1] for k in json.loads(profile.read_text()) if k.startswith("noise#")}
    return next(m for m in MODALITIES.values() if keys <= set(m.noise))


@pytest.mark.parametrize("name", ["ct_quarter_dose", "ct_very_low_dose", "xray_dose_1000", "xray_dose_250"])
def test_dose_profiles_set_the_test_noise_of_their_modality(name):
    from monai.bundle import ConfigParser

    from conftest import REPO

    profile = REPO / "configs" / "noise" / f"{name}.json"
    modality = _profile_modality(profile)
    bundle = next(b for b, spec in BUNDLES.items() if spec.modality is modality)
    parser = ConfigParser()
    parser.read_config([str(UNET_BUNDLE.parent / bundle / "configs" / "train.json"), str(profile)])
    validation = parser.get_parsed_content("validate#preprocessing").transforms[-1].transform
    for key, value in json.loads(profile.read_text()).items():
        assert getattr(validation.noise, key.split("#")[1]) == value, key
    assert validation.seed == parser["noise"]["seed"]


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


OTHER_BUNDLES = sorted(name for name, spec in BUNDLES.items() if spec.modality is MRI and name != UNET_BUNDLE.name)
"""The MRI bundles besides the U-Net; the CT and radiograph bundles have tests of their own (test_modality_bundles)."""


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


def rendered_bundle(name: str, root) -> Path:
    """The bundle ``name`` as the template renders it now, in ``root``, with its shipped weights."""
    write_bundle(BUNDLES[name], root)
    bundle = Path(root) / name
    (bundle / "models").mkdir()
    (bundle / "models" / "model.pt").write_bytes((UNET_BUNDLE.parent / name / "models" / "model.pt").read_bytes())
    return bundle


def scanner_scans(folder: Path) -> dict[str, Path]:
    """Noisy scans as scanners write them: an int16 magnitude EPI series with a zero background (minimum 0), a
    float32 volume and an int16 volume with intensity scaling (``scl_slope`` 0.25, ``scl_inter`` 100)."""
    rng = np.random.default_rng(3)
    magnitude = np.rint(np.abs(phantom((40, 36, 8, 2), seed=11) + rng.normal(0, 40, (40, 36, 8, 2))))
    magnitude[:3] = 0  # an empty border, as outside the head
    scaled = nib.Nifti1Image(np.rint((phantom((40, 36, 8), seed=13) + rng.normal(0, 30, (40, 36, 8)) + 50) * 4)
                             .astype(np.int16), np.diag([2.0, 2.0, 3.0, 1.0]))
    scaled.header.set_slope_inter(0.25, 100.0)
    floats = (phantom((40, 36, 8), seed=12) + rng.normal(0, 30, (40, 36, 8))).astype(np.float32)
    folder.mkdir(parents=True)
    nib.save(scaled, str(folder / "scaled.nii.gz"))
    return {"epi.nii.gz": write_nifti(folder / "epi.nii.gz", magnitude.astype(np.int16), np.diag([3.0, 3.0, 3.0, 1])),
            "float.nii": write_nifti(folder / "float.nii", floats), "scaled.nii.gz": folder / "scaled.nii.gz"}


def assert_denoised_in_range(source: nib.Nifti1Image, denoised: nib.Nifti1Image) -> None:
    src, out = source.get_fdata(), denoised.get_fdata()
    assert out.shape == src.shape and np.isfinite(out).all()
    assert src.min() <= out.min() and out.max() <= src.max(), "within the input's value range"
    assert np.corrcoef(src.ravel(), out.ravel())[0, 1] > 0.9 and not np.allclose(out, src)


def test_inference_writes_the_input_data_type_within_the_input_range(tmp_path, monkeypatch):
    """Issue 15, item 7: an int16 EPI series (minimum 0) came back as float32 with negative values."""
    from monai_denoise.io import ScanReader

    reads = []
    read = ScanReader.read
    monkeypatch.setattr(ScanReader, "read", lambda self, data, **kw: reads.append(data) or read(self, data, **kw))
    bundle = rendered_bundle("mri_denoising_unet_noise_map", tmp_path / "bundle")
    scans = scanner_scans(tmp_path / "in")
    assert nib.load(str(scans["epi.nii.gz"])).get_fdata().min() == 0
    wf = workflow(bundle, ["inference"], "infer", dataset_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "out"),
                  roi_size=TINY["roi_size"])
    assert wf.parser["output_dtype"] == "input"
    wf.run()
    assert len(reads) == len(scans), "the source's type and range travel in the meta data: each scan is read once"
    for name, path in scans.items():
        source, denoised = nib.load(str(path)), nib.load(str(tmp_path / "out" / name))
        assert denoised.get_data_dtype() == source.get_data_dtype(), name
        assert_denoised_in_range(source, denoised)
    epi = nib.load(str(tmp_path / "out" / "epi.nii.gz"))
    assert epi.get_data_dtype() == np.int16 and (epi.dataobj.slope, epi.dataobj.inter) == (1.0, 0.0)
    assert epi.get_fdata().min() >= 0, "a magnitude image stays non-negative"
    scaled = nib.load(str(tmp_path / "out" / "scaled.nii.gz"))
    assert (scaled.dataobj.slope, scaled.dataobj.inter) == (0.25, 100.0), "an int16 output keeps the scaling"
    raw = np.asarray(scaled.dataobj.get_unscaled())
    assert raw.dtype == np.int16 and np.ptp(raw) > 1000, "the integers hold the values in the source's steps"


def test_output_dtype_float32_keeps_floats_and_inference_logs_each_file(tmp_path):
    bundle = rendered_bundle("mri_denoising_unet", tmp_path / "bundle")
    scans = scanner_scans(tmp_path / "in")
    output = tmp_path / "out"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
               "--dataset_dir", str(tmp_path / "in"), "--output_dir", str(output), "--roi_size", "[32,32]",
               "--output_dtype", "float32"]
    result = subprocess.run(command, cwd=bundle, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, path in scans.items():
        source, denoised = nib.load(str(path)), nib.load(str(output / name))
        assert denoised.get_data_dtype() == np.float32 and (denoised.dataobj.slope, denoised.dataobj.inter) == (1, 0)
        assert_denoised_in_range(source, denoised)
        written = [line for line in result.stdout.splitlines() if f"wrote {output / name} " in line]
        assert len(written) == 1 and " - monai_denoise.io - INFO - " in written[0], result.stdout[-3000:]
    assert not np.allclose(nib.load(str(output / "epi.nii.gz")).get_fdata() % 1, 0), "floats, not rounded"


def test_save_like_sourced_rounds_clips_and_falls_back_to_reading_the_source(tmp_path):
    """Without the source's type and range in the meta data the source is read again; integer outputs are
    rounded and clipped to the source range, a scaled source's integers keep its scaling."""
    from monai.data import MetaTensor

    from monai_denoise.io import SaveLikeSourced

    source = nib.Nifti1Image(np.array([[[0, 10], [20, 30]]], np.int16), np.eye(4))
    source.header.set_slope_inter(0.5, 1.0)  # values 1, 6, 11, 16
    nib.save(source, str(tmp_path / "in.nii"))
    pred = MetaTensor(torch.tensor([[[[-3.0, 6.2], [11.4, 40.0]]]]), meta={"filename_or_obj": str(tmp_path / "in.nii")})
    SaveLikeSourced("pred", tmp_path / "int", output_dtype="input")({"pred": pred})
    out = nib.load(str(tmp_path / "int" / "in.nii"))
    assert out.get_data_dtype() == np.int16 and (out.dataobj.slope, out.dataobj.inter) == (0.5, 1.0)
    np.testing.assert_array_equal(out.get_fdata(), [[[1.0, 6.0], [11.5, 16.0]]])
    SaveLikeSourced("pred", tmp_path / "uint8", output_dtype="uint8")({"pred": pred})
    np.testing.assert_array_equal(nib.load(str(tmp_path / "uint8" / "in.nii")).dataobj.get_unscaled(),
                                  [[[0, 10], [21, 30]]])
    SaveLikeSourced("pred", tmp_path / "float", output_dtype="float64")({"pred": pred})
    out = nib.load(str(tmp_path / "float" / "in.nii"))
    assert out.get_data_dtype() == np.float64 and (out.dataobj.slope, out.dataobj.inter) == (1.0, 0.0)
    np.testing.assert_allclose(out.get_fdata(), [[[1.0, 6.2], [11.4, 16.0]]], rtol=1e-6)
    with pytest.raises(ValueError, match="output_dtype: 'complex64'"):
        SaveLikeSourced("pred", tmp_path, output_dtype="complex64")


def test_a_training_set_smaller_than_one_batch_trains_in_one_smaller_batch(tiny_dataset, tmp_path):
    output = tmp_path / "out"
    run = workflow(UNET_BUNDLE, ["train"], "train", dataset_dir=str(tiny_dataset), output_dir=str(output), epochs=1,
                   **{**TINY, "batch_size": 1000})
    run.run()

    assert not run.trainer.data_loader.drop_last and run.trainer.state.epoch_length == 1
    assert (output / "models" / "model.pt").is_file()


def test_the_vae_learns_more_than_a_constant_image(tiny_dataset, tmp_path):
    """The test that would have caught the collapsed dense-latent VAE (no better than one grey image)."""
    from monai_denoise.metrics import image_metrics
    from monai_denoise.workflows import denoise, load_network, noisy_set, parse, run_workflow

    bundle = "mri_denoising_vae"
    run_workflow(bundle, ["train"], "train", dataset_dir=str(tiny_dataset), output_dir=str(tmp_path / "vae"),
                 epochs=4, **TINY)
    parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(tiny_dataset), **TINY)
    noisy, clean, _ = noisy_set(parser)
    pred = denoise(parser, load_network(parser, tmp_path / "vae" / "models" / "model.pt"), noisy).clamp(0, 1)

    psnr = float(image_metrics(pred, clean)["psnr"].mean())
    constant = float(image_metrics(torch.full_like(clean, float(clean.mean())), clean)["psnr"].mean())
    assert psnr > constant + 5, f"VAE {psnr:.2f} dB, the mean image {constant:.2f} dB"
