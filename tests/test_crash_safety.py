"""A run killed at any moment loses at most its current epoch: SIGKILL mid-epoch, then ``--resume true``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY, UNET_BUNDLE, bundle_run_args, phantom, write_nifti
from ignite.engine import Events
from test_bundle import workflow

from monai_denoise.errors import DataError
from monai_denoise.handlers import checkpoint_progress
from monai_denoise.workflows import train_bundle

EPOCHS = 6


KILLED_IN_EPOCH = 3
# ``python -m monai.bundle`` whose trainer SIGKILLs its own process after the first iteration of epoch 3, before
# that epoch's checkpoint: the kill lands mid-epoch on any machine, however fast it trains.
SELF_KILLING_BUNDLE_RUN = f"""
import os, runpy, signal, sys
from ignite.engine import Events
from monai.engines import SupervisedTrainer

run = SupervisedTrainer.run

def run_until_killed(self, *args, **kwargs):
    in_epoch = Events.ITERATION_COMPLETED(event_filter=lambda engine, _: engine.state.epoch == {KILLED_IN_EPOCH})
    self.add_event_handler(in_epoch, lambda engine: os.kill(os.getpid(), signal.SIGKILL))
    return run(self, *args, **kwargs)

SupervisedTrainer.run = run_until_killed
sys.argv = ["monai.bundle", *sys.argv[1:]]
runpy.run_module("monai.bundle", run_name="__main__")
"""


def test_training_killed_mid_epoch_resumes_to_the_planned_iterations(tiny_dataset, tmp_path):
    output = tmp_path / "run"
    checkpoint, best = output / "models" / "checkpoint_last.pt", output / "models" / "model.pt"
    args = bundle_run_args([UNET_BUNDLE / "configs" / "train.json"], tiny_dataset, output, epochs=EPOCHS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.run([sys.executable, "-c", SELF_KILLING_BUNDLE_RUN, *args[2:]], check=False,
                           capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == -signal.SIGKILL, first.stdout[-3000:] + first.stderr[-3000:]
    done, planned = checkpoint_progress(checkpoint)
    assert done == (KILLED_IN_EPOCH - 1) * planned // EPOCHS, "the checkpoint of the last completed epoch"
    killed = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert set(killed) == {"model", "optimizer", "lr_scheduler", "best_model", "trainer"}
    assert killed["best_model"]["best_metric"] > 0 and best.is_file()
    torch.load(best, map_location="cpu", weights_only=True)

    result = subprocess.run([sys.executable, *args, "--resume", "true"], capture_output=True, text=True, env=env,
                            timeout=600)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    resumed_epoch = killed["trainer"]["iteration"] // killed["trainer"]["epoch_length"]
    assert f"resumed from {checkpoint} at epoch {resumed_epoch}" in log
    assert f"Epoch[{resumed_epoch}] Complete" not in log, "completed epochs are not trained again"
    assert checkpoint_progress(checkpoint) == (planned, planned), "same total iterations as an unbroken run"
    final = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert final["best_model"]["best_metric"] >= killed["best_model"]["best_metric"]
    assert final["lr_scheduler"]["last_epoch"] == EPOCHS


class Killed(BaseException):
    """Stands in for SIGKILL inside the process: nothing in the engines catches it."""


@pytest.fixture
def scans(tmp_path) -> Path:
    folder = tmp_path / "scans"
    write_nifti(folder / "scan.nii.gz", phantom((40, 36, 6), seed=0))
    return folder


def test_adaptation_killed_part_way_resumes_and_only_then_writes_its_weights(scans, tmp_path):
    options = {"dataset_dir": str(scans), "output_dir": str(tmp_path / "out"), "adaptation#iterations": 6,
               "adaptation#checkpoint_every": 2, "adaptation#patch_size": 32, "adaptation#patches_per_volume": 2}
    checkpoint, weights = tmp_path / "out" / "models" / "checkpoint_last.pt", tmp_path / "out" / "models" / "model.pt"

    def kill_at_iteration_5(engine) -> None:
        raise Killed

    first = workflow(UNET_BUNDLE, ["adapt"], "train", **options)
    first.parser.get_parsed_content("adapt#trainer").add_event_handler(Events.ITERATION_COMPLETED(once=5),
                                                                       kill_at_iteration_5)
    with pytest.raises(Killed):
        first.run()
    assert checkpoint_progress(checkpoint) == (4, 6), "the last checkpoint before the kill, 2 iterations apart"
    assert not weights.exists(), "an unfinished adaptation writes no weights"

    resumed = workflow(UNET_BUNDLE, ["adapt"], "train", resume=True, **options)
    resumed.run()

    assert resumed.parser.get_parsed_content("adapt#trainer").state.iteration == 6
    assert checkpoint_progress(checkpoint) == (6, 6) and weights.is_file()


def test_commands_that_train_continue_an_interrupted_run_and_reuse_a_finished_one(tiny_dataset, tmp_path, capsys):
    """compare, studies and sweeps train through ``train_bundle``: run again, they pick up where they stopped."""
    output = tmp_path / "run"
    first = train_bundle("mri_denoising_dncnn", output, dataset_dir=str(tiny_dataset), epochs=1, **TINY)
    per_epoch = first.trainer.state.epoch_length
    assert "resuming the run" not in capsys.readouterr().out

    longer = train_bundle("mri_denoising_dncnn", output, dataset_dir=str(tiny_dataset), epochs=2, **TINY)

    assert f"resuming the run in {output} at iteration {per_epoch} of {per_epoch}" in capsys.readouterr().out
    assert longer.trainer.state.iteration == 2 * per_epoch
    assert checkpoint_progress(output / "models" / "checkpoint_last.pt") == (2 * per_epoch, 2 * per_epoch)
    weights = (output / "models" / "model.pt").read_bytes()

    again = train_bundle("mri_denoising_dncnn", output, dataset_dir=str(tiny_dataset), epochs=2, **TINY)

    assert again.trainer.state.iteration == 2 * per_epoch and again.evaluator.state.best_metric_epoch >= 1
    assert (output / "models" / "model.pt").read_bytes() == weights, "a finished run is reused as it is"
    restarted = train_bundle("mri_denoising_dncnn", output, restart=True, dataset_dir=str(tiny_dataset), epochs=1,
                             **TINY)
    assert restarted.trainer.state.iteration == per_epoch


def test_a_damaged_checkpoint_is_named_before_a_command_trains(tiny_dataset, tmp_path):
    checkpoint = tmp_path / "run" / "models" / "checkpoint_last.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"\x00" * 64)

    with pytest.raises(DataError, match=f"^{checkpoint}: not a readable training checkpoint [^\\n]* delete it"):
        train_bundle("mri_denoising_dncnn", tmp_path / "run", dataset_dir=str(tiny_dataset), epochs=1, **TINY)
