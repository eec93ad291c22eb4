"""Whether MRI slices with simulated CT noise help a CT denoiser that has only a few real CT slices to learn from.

``python -m benchmarks.ct_extra_training --output runs/ct_extra [--extra-slices 0 5 15] [--steps 600]
[--overrides JSON]``

For each number N of ``--extra-slices``, prepares the embedded CT sample plus N evenly spaced axial slices of the MRI
sample's MNI152 T1 template. An MR image has no Hounsfield units, so MRI's percentile mapping puts it on the [0, 1]
scale the CT window gives CT slices (air 0, as -1000 HU), and training simulates CT's projection-domain noise on it as
on the CT slices. ``ct_denoising_drunet`` is then fine-tuned from ``mri_denoising_drunet``'s shipped weights by its
``train.json``, as its shipped weights were, for the same number of optimiser steps in every arm (``--steps``; epochs
= steps / steps per epoch), validating every epoch at the bundle's ``val_levels``. ``monai-denoise compare`` trains it
(under ``OUTPUT/extra_N/compare/models``) and scores the best validation checkpoint on the held-out test slice at the
CT noise model's doses. N = 0 is the CT slices alone.

Writes ``extra_training.csv`` (per N: training slices, epochs, best mean validation PSNR over the doses and its epoch,
test PSNR and SSIM per dose) and ``extra_training.md``, prints them, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import SourceVolume, mni_template
from monai_denoise.modalities import CT
from monai_denoise.workflows import bundle_dir

from .arms import train_and_score, write_arms
from .options import json_object, run_main

BUNDLE = "ct_denoising_drunet"
START = "mri_denoising_drunet"
"""The bundle trained in every arm, and the bundle whose shipped weights it starts from."""


def prepare_arm(extra: int, folder: Path) -> Path:
    """The embedded CT sample plus ``extra`` evenly spaced MNI template slices (none for 0), prepared in ``folder``."""
    template = mni_template()
    extras = [SourceVolume(template.path, "training", template.terms, intensity="mri", slices=extra)] if extra else []
    prepare_dataset(CT.sample_volumes() + extras, folder,
                    PrepareConfig(modality=CT.name, size=CT.prepare_size, command=sys.argv), overwrite=True)
    return folder


def epochs_for(steps: int, data: Path, overrides: dict) -> int:
    """Epochs that give about ``steps`` optimiser steps on the training slices of ``data``."""
    batch = overrides.get("batch_size", json.loads((bundle_dir(BUNDLE) / "configs" / "train.json").read_text())[
        "batch_size"])
    slices = len(json.loads((data / "datalist.json").read_text())["training"])
    return max(1, round(steps / math.ceil(slices / batch)))


def run_arm(extra: int, output: Path, steps: int, overrides: dict) -> dict:
    """Prepare, train and score one arm; its row of the table."""
    data = prepare_arm(extra, output / "data")
    start = bundle_dir(START) / "models" / "model.pt"
    scores = train_and_score(BUNDLE, data, output, epochs_for(steps, data, overrides), start, overrides, "i0")
    return {"extra_slices": extra, "training_slices": len(json.loads((data / "datalist.json").read_text())["training"]),
            **scores}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m benchmarks.ct_extra_training", description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, required=True, help="folder for extra_training.csv / .md and each arm")
    cli.add_argument("--extra-slices", nargs="+", type=int, default=[0, 5, 15],
                     help="numbers of MNI template slices added to the CT training slices (default 0 5 15)")
    cli.add_argument("--steps", type=int, default=600, help="optimiser steps of every arm (default 600)")
    cli.add_argument("--overrides", type=json_object, default={}, metavar="JSON",
                     help='config overrides of every run, e.g. \'{"noise#views": 360}\'')
    args = cli.parse_args(argv)
    if any(n < 0 for n in args.extra_slices) or args.steps < 1:
        cli.error("--extra-slices must be >= 0 and --steps >= 1")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run every arm, print and write the table; return it."""
    args = parse_args(argv)
    table = pd.DataFrame([run_arm(n, args.output / f"extra_{n}", args.steps, args.overrides)
                          for n in args.extra_slices])
    write_arms(table, args.output, "extra_training", "CT denoiser: MRI slices with CT noise added to the CT training "
               "slices", f"`{BUNDLE}` fine-tuned from `{START}` for {args.steps} optimiser steps per arm; validation: "
               "the mean PSNR over the bundle's `val_levels` on the validation slices; test: the held-out slice, by "
               "`monai-denoise compare`.")
    return table


if __name__ == "__main__":
    run_main(main, __spec__.name)
