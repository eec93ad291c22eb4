"""What each kind of training image adds to the radiograph denoiser: the chest CR alone, a phantom radiograph, and
radiographs reconstructed from CT.

``python -m benchmarks.xray_training_sources --output runs/xray_sources [--arms cr phantom drr] [--steps 1500]
[--overrides JSON]``

Each arm prepares the embedded radiograph sample with some of its training images (validation and test are the
sample's, the same in every arm):

- ``cr``: the chest CR (``RG1_UNCR``) and the photographs, the training images of release 0.5;
- ``phantom``: those and pylinac's kV image of a Leeds phantom;
- ``drr``: those and the frontal and lateral digitally reconstructed radiographs of the CT sample's chest volumes
  (the whole sample).

``xray_denoising_drunet`` is fine-tuned from its shipped weights by its ``train.json`` for the same number of
optimiser steps in every arm (``--steps``), validating every epoch at the bundle's ``val_levels``; ``monai-denoise
compare`` trains it (under ``OUTPUT/<arm>/compare/models``) and scores the best validation checkpoint on the held-out
ankle radiograph's tiles at the noise model's doses, x8 self-ensemble as the bundle's evaluation runs.

Writes ``training_sources.csv`` (per arm: training tiles, epochs, best mean validation PSNR over the doses and its
epoch, test PSNR and SSIM per dose) and ``training_sources.md``, prints them, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import SourceVolume
from monai_denoise.modalities import XRAY
from monai_denoise.workflows import bundle_dir

from .arms import train_and_score, write_arms
from .options import json_object, run_main

BUNDLE = "xray_denoising_drunet"
ARMS = ("cr", "phantom", "drr")


def kept(source: SourceVolume, arm: str) -> bool:
    """Whether ``arm`` trains on ``source`` (every validation and test image is kept)."""
    if source.split != "training":
        return True
    if source.projection:
        return arm == "drr"
    if source.path.name == "leeds.png":
        return arm in ("phantom", "drr")
    return True


def steps_per_epoch(data: Path, overrides: dict) -> int:
    batch = overrides.get("batch_size", json.loads((bundle_dir(BUNDLE) / "configs" / "train.json").read_text())[
        "batch_size"])
    return math.ceil(len(json.loads((data / "datalist.json").read_text())["training"]) / batch)


def run_arm(arm: str, output: Path, steps: int, overrides: dict) -> dict:
    """Prepare, train and score one arm; its row of the table."""
    data = output / "data"
    prepare_dataset([s for s in XRAY.sample_volumes() if kept(s, arm)], data,
                    PrepareConfig(modality=XRAY.name, size=XRAY.prepare_size, command=sys.argv), overwrite=True)
    epochs = max(1, round(steps / steps_per_epoch(data, overrides)))
    start = bundle_dir(BUNDLE) / "models" / "model.pt"
    return {"arm": arm, "training_tiles": len(json.loads((data / "datalist.json").read_text())["training"]),
            **train_and_score(BUNDLE, data, output, epochs, start, overrides, "photons")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m benchmarks.xray_training_sources",
                                  description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, required=True, help="folder for training_sources.csv / .md and each arm")
    cli.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run (default all)")
    cli.add_argument("--steps", type=int, default=1500, help="optimiser steps of every arm (default 1500)")
    cli.add_argument("--overrides", type=json_object, default={}, metavar="JSON",
                     help='config overrides of every run, e.g. \'{"learning_rate": 0.0005}\'')
    args = cli.parse_args(argv)
    if args.steps < 1:
        cli.error("--steps must be >= 1")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run every arm, print and write the table; return it."""
    args = parse_args(argv)
    table = pd.DataFrame([run_arm(arm, args.output / arm, args.steps, args.overrides) for arm in args.arms])
    write_arms(table, args.output, "training_sources", "Radiograph denoiser: what each kind of training image adds",
               f"`{BUNDLE}` fine-tuned from its shipped weights for {args.steps} optimiser steps per arm; validation: "
               "the mean PSNR over the bundle's `val_levels` on the validation tiles; test: the held-out ankle "
               "radiograph's tiles, by `monai-denoise compare`.")
    return table


if __name__ == "__main__":
    run_main(main, __spec__.name)
