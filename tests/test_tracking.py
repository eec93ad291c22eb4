"""Experiment tracking: ``python -m monai.bundle run ... --tracking mlflow`` records to a local SQLite store."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from conftest import TINY, UNET_BUNDLE, bundle_run_args
from mlflow.tracking import MlflowClient
from monai.utils import path_to_sqlite_uri

EPOCHS = 2


def test_mlflow_records_training_loss_and_validation_metrics(tiny_dataset, tmp_path):
    output = tmp_path / "out"
    args = bundle_run_args([UNET_BUNDLE / "configs" / "train.json"], tiny_dataset, output, epochs=EPOCHS,
                           tracking="mlflow")
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # MONAI's default store: <output_dir>/mlruns.db (MLflow 3 refuses a plain folder as the store)
    client = MlflowClient(tracking_uri=path_to_sqlite_uri(output / "mlruns.db"))
    experiment = client.get_experiment_by_name("monai_experiment")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED", "trainer and validator log into one run"
    run_id = runs[0].info.run_id

    losses = client.get_metric_history(run_id, "train_loss")
    training = json.loads((tiny_dataset / "datalist.json").read_text())["training"]
    assert len(losses) == EPOCHS * (len(training) // TINY["batch_size"]), "one loss per iteration"
    assert all(math.isfinite(m.value) and m.value > 0 for m in losses)
    psnr = client.get_metric_history(run_id, "val_psnr")
    assert sorted(m.step for m in psnr) == list(range(1, EPOCHS + 1)), "one validation PSNR per epoch"
    assert all(20 < m.value < 60 for m in psnr)
    assert {"val_ssim", "val_mae", "val_mse"} <= set(runs[0].data.metrics)
