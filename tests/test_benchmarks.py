"""The speed benchmark runs end to end on tiny data and writes finite, positive figures (no targets asserted)."""

from __future__ import annotations

import json
import math

import pandas as pd
from conftest import REPO, TINY

BUNDLE = "mri_denoising_dncnn"


def test_speed_benchmark_writes_one_row_per_bundle(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.speed import main

    main(["--data", str(tiny_dataset), "--output", str(tmp_path), "--bundles", BUNDLE, "--steps", "2",
          "--warmup", "1", "--repeats", "1", "--overrides", json.dumps(TINY)])

    table = pd.read_csv(tmp_path / "speed.csv")
    assert table["bundle"].tolist() == [BUNDLE]
    figures = table.select_dtypes("number").iloc[0]
    assert {"train_gflops", "infer_gflops", "train_of_conv", "ignite_over_bare", "data_wait_share",
            "seconds_per_slice", "speedup_over_bm3d"} <= set(figures.index)
    assert all(math.isfinite(v) and v > 0 for v in figures), figures.to_dict()
    assert (tmp_path / "speed.md").read_text().count(BUNDLE) == 1
