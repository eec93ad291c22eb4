"""Every entry point x every bad input: one error line naming the file and the problem, a non-zero exit, nothing
half-written.

Bundle configs run in-process as ``python -m monai.bundle run`` runs them (``monai.bundle.scripts.run``); the line a
user sees is the DataError the run raised (``monai_denoise.console`` prints it alone, checked once end to end in a
real process below). ``PAIRS`` counts the (entry point, bad input) pairs tried; README quotes it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, TINY, UNET_BUNDLE, bundle_run_args, phantom, write_nifti
from ignite.engine import Events
from monai.bundle.scripts import run as bundle_run
from test_bad_input import (HUGE, SHAPE, huge_header, random_bytes_file, random_volume, truncated_file,
                            volume_case, with_bad_voxels, zero_byte_file)

from monai_denoise.cli import main
from monai_denoise.console import data_error

ADAPT_TINY = {"adaptation#iterations": 2, "adaptation#patch_size": 32, "adaptation#patches_per_volume": 2}
TRAINED = REPO / "bundles" / "mri_denoising_unet" / "models" / "model.pt"
"""Shipped U-Net weights: the inference and adaptation cases run a real network."""


def run_config(names: list[str], **overrides) -> str:
    """Run the U-Net bundle's ``names`` configs in-process; return the DataError line the run ends with."""
    configs = [str(UNET_BUNDLE / "configs" / f"{name}.json") for name in names]
    try:
        bundle_run(config_file=configs, bundle_root=str(UNET_BUNDLE),
                   logging_file=str(UNET_BUNDLE / "configs" / "logging.conf"), **overrides)
    except BaseException as err:  # the run must end with an error; which one is checked below
        found = data_error(err)
        assert found is not None, "".join(traceback.format_exception(err))
        line = str(found)
        assert "\n" not in line and "np.float" not in line, line
        return line
    raise AssertionError(f"{names} ran without an error")


def nothing_partial(folder: Path) -> None:
    leftovers = [p for p in folder.rglob("*") if ".partial" in p.name or p.name.startswith(".")]
    assert not leftovers, f"half-written files left behind: {leftovers}"


# --- bad scans, for the configs that read a folder of scans (inference.json, adapt.json) ----------------------


READ = "cannot read the image data, the file may be (damaged or )?truncated"
BAD_SCANS = [
    pytest.param(zero_byte_file, re.escape("file is empty (0 bytes)"), id="zero-byte"),
    pytest.param(truncated_file, READ, id="truncated"),
    pytest.param(random_bytes_file, "not a readable NIfTI file", id="corrupt"),
    pytest.param(volume_case("z_nan.nii.gz", with_bad_voxels(np.nan)), re.escape("contains 3 NaN or Inf voxel(s)"),
                 id="nan"),
    pytest.param(volume_case("z_constant.nii.gz", np.full(SHAPE, 42.0)), "cannot normalise, the 0.5 and 99.5 "
                 "percentiles are equal", id="constant"),
    pytest.param(volume_case("z_flat.nii.gz", np.ones((24, 20))), "expected a 3D volume or a 4D series, got 2D",
                 id="2d"),
    pytest.param(volume_case("z_5d.nii.gz", random_volume(shape=(8, 8, 4, 2, 2))), "expected a 3D volume or a 4D "
                 "series, got 5D", id="5d"),
    pytest.param(huge_header, HUGE, id="huge-header"),
]
SCAN_CONFIGS = {"inference": {"ckpt_path": str(TRAINED), "roi_size": [32, 32]},
                "adapt": {"ckpt_path": str(TRAINED), **ADAPT_TINY}}


@pytest.fixture
def scans(tmp_path) -> Path:
    folder = tmp_path / "scans"
    write_nifti(folder / "a_good.nii.gz", phantom((32, 32, 4), seed=0))
    return folder


@pytest.mark.parametrize("config", SCAN_CONFIGS)
@pytest.mark.parametrize("make_bad, problem", BAD_SCANS)
def test_scan_configs_name_a_bad_scan(config, make_bad, problem, scans, tmp_path):
    bad = make_bad(scans)
    output = tmp_path / "out"

    line = run_config([config], dataset_dir=str(scans), output_dir=str(output), **SCAN_CONFIGS[config])

    assert re.match(re.escape(str(bad)) + ": " + problem, line), line
    assert not list(output.rglob("z_*")), "nothing is written for the bad scan"
    assert not (output / "models" / "model.pt").exists(), "a failed adaptation writes no weights"
    if output.exists():
        nothing_partial(output)


@pytest.mark.parametrize("config", SCAN_CONFIGS)
@pytest.mark.parametrize("case", ["missing folder", "empty folder"])
def test_scan_configs_name_a_missing_or_empty_folder(config, case, tmp_path):
    folder = tmp_path / "scans"
    if case == "empty folder":
        folder.mkdir()
    problem = "no such file or folder" if case == "missing folder" else "folder holds no .nii or .nii.gz file"

    line = run_config([config], dataset_dir=str(folder), output_dir=str(tmp_path / "out"), **SCAN_CONFIGS[config])

    assert line.startswith(f"{folder}: {problem}"), line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.nii.gz"))


def test_inference_names_a_scan_that_disappears_mid_run_and_keeps_the_finished_ones(scans, tmp_path):
    """Scans are read one at a time: the ones denoised before the missing one are written whole, none after it."""
    write_nifti(scans / "b_gone.nii.gz", phantom((32, 32, 4), seed=1))
    write_nifti(scans / "c_later.nii.gz", phantom((32, 32, 4), seed=2))
    output = tmp_path / "out"

    handlers = [{"_target_": "CheckpointLoader", "load_path": "@ckpt_path", "load_dict": {"model": "@network"},
                 "map_location": "@device"},
                {"_target_": "test_entry_points.AtIteration", "iteration": 1, "path": str(scans / "b_gone.nii.gz")}]

    line = run_config(["inference"], dataset_dir=str(scans), output_dir=str(output), ckpt_path=str(TRAINED),
                      roi_size=[32, 32], handlers=handlers)

    assert line.startswith(f"{scans / 'b_gone.nii.gz'}: the file is gone"), line
    assert sorted(p.name for p in output.iterdir()) == ["a_good.nii.gz"]
    nothing_partial(output)


class AtIteration:
    """Delete ``path`` when the engine completes ``iteration`` (a scan that disappears mid-run)."""

    def __init__(self, iteration: int, path: str) -> None:
        self.iteration, self.path = iteration, Path(path)

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=self.iteration), lambda _: self.path.unlink())


# --- weights and checkpoints ----------------------------------------------------------------------------------


def corrupt_weights(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    path.write_bytes(TRAINED.read_bytes()[:1000])
    return path


def other_network_weights(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Conv2d(1, 1, 3).state_dict(), path)
    return path


BAD_WEIGHTS = [
    pytest.param(lambda tmp_path: tmp_path / "model.pt", "weights not found", id="missing"),
    pytest.param(corrupt_weights, "cannot load these weights", id="corrupt"),
    pytest.param(other_network_weights, "cannot load these weights", id="other-network"),
]


@pytest.mark.parametrize("config", ["inference", "adapt", "evaluate", "train"])
@pytest.mark.parametrize("make_weights, problem", BAD_WEIGHTS)
def test_configs_name_bad_weights(config, make_weights, problem, scans, tiny_dataset, tmp_path):
    """The weights to score, denoise with or start from (``train.json``'s ``--finetune_from``): the line names the
    file and, for a missing one, the option that gave it."""
    weights = make_weights(tmp_path)
    output = tmp_path / "out"
    option = "finetune_from" if config == "train" else "ckpt_path"
    if config in ("evaluate", "train"):
        options = {"dataset_dir": str(tiny_dataset), option: str(weights), "epochs": 1, **TINY}
    else:
        options = {**SCAN_CONFIGS[config], "dataset_dir": str(scans), option: str(weights)}

    line = run_config(["train", config] if config == "evaluate" else [config], output_dir=str(output), **options)

    assert line.startswith(f"{weights}: {problem}"), line
    assert f"--{option}" in line or problem != "weights not found", line
    assert not list(output.rglob("*.nii.gz")) and not (output / "metrics").exists()
    assert not (output / "models").exists()


@pytest.mark.parametrize("case, problem", [
    ("no checkpoint", "no checkpoint to resume from"),
    ("corrupt checkpoint", "cannot resume from this checkpoint"),
])
def test_train_names_a_checkpoint_it_cannot_resume(case, problem, tiny_dataset, tmp_path):
    checkpoint = tmp_path / "out" / "models" / "checkpoint_last.pt"
    if case == "corrupt checkpoint":
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"\x00" * 100)

    line = run_config(["train"], dataset_dir=str(tiny_dataset), output_dir=str(tmp_path / "out"), epochs=1,
                      resume=True, **TINY)

    assert line.startswith(f"{checkpoint}: {problem}"), line
    assert not (tmp_path / "out" / "models" / "model.pt").exists()


# --- datalists, for the configs that read a prepared dataset (train.json, evaluate.json) ----------------------


def write_slice(path: Path, array: np.ndarray) -> Path:
    return write_nifti(path, np.asarray(array, dtype=np.float32))


def datalist_case(content, bad_slice=None):
    """A dataset folder whose datalist is ``content`` (text, or a dict); ``bad_slice`` writes ``images/bad.nii.gz``."""
    def make(folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True)
        good = write_slice(folder / "images" / "good.nii.gz", np.random.default_rng(0).uniform(0, 1, (32, 32)))
        named = folder / "datalist.json"
        if bad_slice is not None:
            named = bad_slice(folder / "images" / "bad.nii.gz")
        if content is not None:
            text = content if isinstance(content, str) else json.dumps(content)
            (folder / "datalist.json").write_text(text.replace("GOOD", good.name))
        return folder, named
    return make


def truncated_slice(path: Path) -> Path:
    write_slice(path, np.random.default_rng(1).uniform(0, 1, (32, 32)))
    path.write_bytes(path.read_bytes()[:200])
    return path


def zero_byte_slice(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def nan_slice(path: Path) -> Path:
    array = np.random.default_rng(1).uniform(0, 1, (32, 32))
    array[3, 4] = np.nan
    return write_slice(path, array)


SPLITS = {key: [{"image": "images/GOOD"}] for key in ("training", "validation", "test")}
WITH_BAD = {key: [{"image": "images/GOOD"}, {"image": "images/bad.nii.gz"}] for key in SPLITS}
BAD_DATALISTS = [
    pytest.param(datalist_case(None), "datalist file not found", id="missing-datalist"),
    pytest.param(datalist_case('{"training": ['), "not valid JSON", id="malformed-datalist"),
    pytest.param(datalist_case({"other": []}), "missing key", id="missing-key"),
    pytest.param(datalist_case({key: [] for key in SPLITS}), "'.*' must be a non-empty list", id="empty-list"),
    pytest.param(datalist_case({key: [{"label": "x"}] for key in SPLITS}), "entry 0 of '.*' has no 'image' key",
                 id="no-image"),
    pytest.param(datalist_case({key: [{"image": "images/gone.nii.gz"}] for key in SPLITS}),
                 "entry 0 of '.*' points to a missing file", id="missing-slice"),
    pytest.param(datalist_case(WITH_BAD, zero_byte_slice), READ, id="zero-byte-slice"),
    pytest.param(datalist_case(WITH_BAD, truncated_slice), READ, id="truncated-slice"),
    pytest.param(datalist_case(WITH_BAD, nan_slice), re.escape("contains 1 NaN or Inf voxel(s)"), id="nan-slice"),
]


@pytest.mark.parametrize("config", ["train", "evaluate"])
@pytest.mark.parametrize("make_data, problem", BAD_DATALISTS)
def test_dataset_configs_name_a_bad_datalist_or_slice(config, make_data, problem, tmp_path):
    data, named = make_data(tmp_path / "data")
    output = tmp_path / "out"
    if config == "evaluate":
        output.joinpath("models").mkdir(parents=True)
        shutil.copy(TRAINED, output / "models" / "model.pt")

    line = run_config([config], dataset_dir=str(data), output_dir=str(output), epochs=1, **TINY)

    assert re.match(re.escape(str(named)) + ": " + problem, line), line
    assert not (output / "metrics").exists() and not (output / "models" / "checkpoint_last.pt").exists()


@pytest.mark.parametrize("overrides, problem", [
    ({"epochs": 0}, "{datalist}: the run would train nothing"),
    ({"epochs": 2, "val_interval": 3}, "val_interval 3 is above epochs 2: no validation would choose model.pt"),
], ids=["zero-epochs", "validation-never-runs"])
def test_train_refuses_a_run_that_would_do_nothing(overrides, problem, tiny_dataset, tmp_path):
    line = run_config(["train"], dataset_dir=str(tiny_dataset), output_dir=str(tmp_path / "out"),
                      **{**TINY, **overrides})

    assert line.startswith(problem.format(datalist=tiny_dataset / "datalist.json")), line
    assert not (tmp_path / "out" / "models").exists()


def test_adapt_refuses_zero_iterations(scans, tmp_path):
    line = run_config(["adapt"], dataset_dir=str(scans), output_dir=str(tmp_path / "out"),
                      **{**SCAN_CONFIGS["adapt"], "adaptation#iterations": 0})

    assert line.startswith(f"{scans}: the run would train nothing"), line
    assert not (tmp_path / "out" / "models").exists()


# --- the command line -----------------------------------------------------------------------------------------


def cli_error(capsys, *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert code != 0 and len(lines) == 1, err
    return lines[0].split(": error: ", 1)[1]


def zip_case(kind: str):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "bundle.zip"
        if kind == "zero-byte":
            path.touch()
        elif kind == "truncated":
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("mri_denoising_unet/configs/metadata.json", "{}" * 5000)
            path.write_bytes(path.read_bytes()[:300])
        return path
    return make


@pytest.mark.parametrize("make_zip, problem", [
    (zip_case("missing"), "not found"),
    (zip_case("zero-byte"), "not a readable zip file"),
    (zip_case("truncated"), "not a readable zip file"),
], ids=["missing", "zero-byte", "truncated"])
def test_bundle_verify_names_a_bad_package(make_zip, problem, tmp_path, capsys):
    path = make_zip(tmp_path)

    line = cli_error(capsys, "bundle", "verify", str(path))

    assert line.startswith(f"{path}: {problem}"), line


SHARING_PROBLEMS = {"package": "no weights to package", "export": "weights not found",
                    "corrupt": "cannot be loaded with torch.load", "other-network": "does not fit network_def"}


@pytest.mark.parametrize("verb", ["package", "export"])
@pytest.mark.parametrize("case, make_weights", [(p.id, p.values[0]) for p in BAD_WEIGHTS])
def test_bundle_package_and_export_name_bad_weights(verb, case, make_weights, tmp_path, capsys):
    bundle = tmp_path / UNET_BUNDLE.name
    shutil.copytree(UNET_BUNDLE, bundle)
    weights = make_weights(tmp_path)
    output = tmp_path / ("unet.zip" if verb == "package" else "model.ts")
    args = (["bundle", "package", str(bundle), "--weights", str(weights), "--output", str(output)] if verb == "package"
            else ["bundle", "export", str(bundle), "--output", str(output)])
    if verb == "export":
        (bundle / "models" / "model.pt").unlink()
        if weights.exists():
            shutil.copy(weights, bundle / "models" / "model.pt")
        weights = bundle / "models" / "model.pt"

    line = cli_error(capsys, *args)

    assert line.startswith(f"{weights}: {SHARING_PROBLEMS[verb if case == 'missing' else case]}"), line
    assert not output.exists()
    nothing_partial(tmp_path)


# --- the line a user sees, end to end -------------------------------------------------------------------------


def test_a_bundle_run_ends_with_the_error_line_alone(tmp_path):
    """A real ``python -m monai.bundle run``: exit 1, the DataError's line, no traceback."""
    missing = tmp_path / "my_volumes"
    args = bundle_run_args([UNET_BUNDLE / "configs" / "inference.json"], missing, tmp_path / "out")

    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1] == f"error: {missing}: no such file or folder"
