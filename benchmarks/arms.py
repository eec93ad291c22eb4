"""Training arms of the benchmarks that compare what a bundle learns from different training images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from monai_denoise.compare import CompareConfig, run_compare
from monai_denoise.reports import markdown_table, write_csv, write_text

from .speed import machine


def train_and_score(bundle: str, data: Path, output: Path, epochs: int, start: Path, overrides: dict,
                    level: str) -> dict:
    """Fine-tune ``bundle`` from the weights ``start`` on the prepared dataset ``data`` for ``epochs`` through
    ``monai-denoise compare`` (under ``output/compare``, no classical baselines), which then scores the best
    validation checkpoint on the test images at each level of the noise's ``level`` key (CT ``i0``, radiographs
    ``photons``).

    Returns:
        ``epochs``, the best mean validation PSNR (``best_val_psnr``) and its epoch, and the mean test PSNR and
        SSIM per level (``test_psnr_<level>_<value>``, ``test_ssim_<level>_<value>``).
    """
    config = CompareConfig(bundles=(bundle,), epochs=epochs, baselines=False,
                           overrides={**overrides, "finetune_from": str(start)})
    run_compare(data, output / "compare", config)
    record = torch.load(output / "compare" / "models" / bundle / "models" / "checkpoint_last.pt", map_location="cpu",
                        weights_only=True)["best_model"]
    comparison = pd.read_csv(output / "compare" / "comparison.csv")
    scores = comparison[comparison.method == bundle].groupby(f"noise_{level}")[["psnr", "ssim"]].mean()
    return {"epochs": epochs, "best_val_psnr": record["best_metric"], "best_epoch": record["best_epoch"],
            **{f"test_psnr_{level}_{value:g}": row.psnr for value, row in scores.iterrows()},
            **{f"test_ssim_{level}_{value:g}": row.ssim for value, row in scores.iterrows()}}


def write_arms(table: pd.DataFrame, output: Path, stem: str, title: str, method: str) -> None:
    """Write ``output/<stem>.csv`` and ``<stem>.md`` (``title``, the machine, ``method`` and the table), print it."""
    write_csv(table, output / f"{stem}.csv")
    text = "\n\n".join([f"# {title}", f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}.", method,
                         markdown_table(table.round(3))]) + "\n"
    write_text(text, output / f"{stem}.md")
    print("\n" + text, flush=True)
