"""The training-length and training-set-size studies on tiny data."""

from __future__ import annotations

import pandas as pd
from conftest import TINY

from monai_denoise.studies import dataset_size_study, training_length_study


def test_training_length_study_scores_every_snapshot(tiny_dataset, tmp_path):
    table = training_length_study("mri_denoising_dncnn", tiny_dataset, tmp_path, [1, 3], overrides=TINY)
    assert list(table.epochs) == [1, 3]
    assert {"psnr", "ssim", "mae", "mse"} <= set(table.columns) and table.psnr.notna().all()
    assert table.iloc[0].psnr != table.iloc[1].psnr, "snapshots of different epochs hold different weights"
    snapshots = sorted(p.name for p in (tmp_path / "model" / "models").glob("model_epoch*.pt"))
    assert snapshots == ["model_epoch1.pt", "model_epoch3.pt"], "snapshots at the listed epochs only"
    saved = pd.read_csv(tmp_path / "training_length.csv")
    assert len(saved) == 2
    for figure in ("validation_mse.png", "training_length_panels.png"):
        assert (tmp_path / figure).stat().st_size > 1000


def test_dataset_size_study_trains_on_subsets(tiny_dataset, tmp_path):
    table = dataset_size_study("mri_denoising_dncnn", tiny_dataset, tmp_path, [2, 5], epochs=1, overrides=TINY)
    assert list(table.training_slices) == [2, 5]
    assert table.psnr.notna().all() and (tmp_path / "dataset_size.png").stat().st_size > 1000
    logs = {n: (tmp_path / f"n{n}" / "logs") for n in (2, 5)}
    assert all(list(folder.glob("events.*")) for folder in logs.values())


def test_training_subsets_are_seeded_and_bounded(tiny_dataset):
    import pytest

    from monai_denoise.data import load_datalist
    from monai_denoise.errors import DataError

    every = load_datalist(tiny_dataset / "datalist.json", "training")
    subset = load_datalist(tiny_dataset / "datalist.json", "training", max_items=5, seed=1)
    assert len(subset) == 5 and subset == load_datalist(tiny_dataset / "datalist.json", "training", max_items=5, seed=1)
    assert [every.index(item) for item in subset] == sorted(every.index(item) for item in subset)
    with pytest.raises(DataError, match="cannot take"):
        load_datalist(tiny_dataset / "datalist.json", "training", max_items=len(every) + 1)
