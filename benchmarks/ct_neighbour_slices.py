"""Whether the CT DRUNet denoises better with the neighbouring slices as extra input channels (2.5D) than from the
slice alone (2D), measured on the validation slices.

``python -m benchmarks.ct_neighbour_slices --data data/ct --output runs/ct_neighbours [--epochs 12]
[--learning-rate 0.0002] [--overrides JSON]``

``--data`` is the prepared CT sample (``monai-denoise prepare --sample --modality ct``). Every prepared slice is
stacked with the slices next to it in its source volume (the one before and the one after, mapped as ``prepare``
maps CT; a single-slice source repeats itself), as ``(X, Y, 3)`` NIfTI files with the centre slice first, in the same
training / validation / test split (``OUTPUT/data``). Both arms then run ``ct_denoising_drunet``'s own ``train.json``
(its augmentation, blind doses, patches, optimiser, schedule and validation at ``val_levels``), fine-tuning the
shipped weights for ``--epochs`` at ``--learning-rate``, with two changes each:

- 2D: the image is the centre slice alone (what the bundle trains on).
- 2.5D: the image is the three slices, each given its own projection-domain noise, and the network's first
  convolution takes three channels (the shipped weights on the centre channel, zeros on the neighbours, so the two
  arms start from the same function); the target is the clean centre slice.

Writes, per arm, the config it ran (``OUTPUT/<arm>/train.json``), its checkpoints and logs, and ``neighbours.csv``
/ ``neighbours.md``: the mean validation PSNR over the doses of the start weights and of the best epoch, the gain
between them (the arms' seeded validation noise differs in its draws, the three channels drawing more, so compare
the gains), the best epoch, and the seconds per epoch. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from monai.bundle import ConfigParser, ConfigWorkflow

from monai_denoise.modalities import CT
from monai_denoise.volumes import load_volume
from monai_denoise.workflows import bundle_dir

from .arms import write_arms
from .options import json_object, run_main

BUNDLE = "ct_denoising_drunet"
ARMS = {"2d": 1, "2.5d": 3}
"""Arm -> input channels (the centre slice, then the one before and the one after)."""
KEY_METRIC = "val_psnr"
"""The validation metric that picks the best epoch (train.json's ``validate#key_metric``)."""
CENTRE = "$lambda x: x[:1]"
"""A config expression that keeps the first (centre) channel."""


def neighbour_stack(volume: np.ndarray, index: int) -> np.ndarray:
    """Slice ``index`` of ``volume`` ``(X, Y, Z)`` and the slices next to it, ``(X, Y, 3)`` centre first; the
    volume's ends repeat."""
    last = volume.shape[2] - 1
    return volume[:, :, [index, max(index - 1, 0), min(index + 1, last)]]


def stack_dataset(data: Path, output: Path) -> Path:
    """``data``'s prepared CT slices with their neighbours, mapped as ``prepare`` maps CT (the modality's
    ``prepare_intensity``), in ``output`` (same datalist keys and splits).

    Raises:
        ValueError: a centre slice that differs from the prepared one (the stack would not be the same image).
    """
    manifest = pd.read_csv(data / "manifest.csv")
    normalise = ConfigParser({"intensity": CT.prepare_intensity}).get_parsed_content("intensity")
    volumes: dict[str, np.ndarray] = {}
    (output / "images").mkdir(parents=True, exist_ok=True)
    renamed = {}
    for row in manifest.itertuples():
        if row.source_file not in volumes:
            volumes[row.source_file] = np.asarray(normalise(load_volume(Path(row.source_file))[0]), np.float32)
        stack = neighbour_stack(volumes[row.source_file], int(row.index))
        prepared = nib.load(str(data / row.image))
        centre = np.asarray(prepared.dataobj, dtype=np.float32).reshape(stack.shape[:2])
        if not np.allclose(stack[..., 0], centre, atol=1e-3):
            raise ValueError(f"{row.image}: the centre of its stack differs from the prepared slice (resized?)")
        name = f"images/{Path(row.image).name.replace('.nii.gz', '_neighbours.nii.gz')}"
        nib.save(nib.Nifti1Image(stack, prepared.affine), str(output / name))
        renamed[row.image] = name
    datalist = json.loads((data / "datalist.json").read_text())
    stacked = {split: [{**item, "image": renamed[item["image"]]} for item in items]
               for split, items in datalist.items()}
    (output / "datalist.json").write_text(json.dumps(stacked, indent=2))
    return output


def arm_config(channels: int) -> dict:
    """``train.json`` of the bundle for an arm: images read as ``(3, X, Y)`` stacks; the centre alone for 2D, all
    three (each with its own noise) for 2.5D with the label cut to the centre after the noise."""
    config = json.loads((bundle_dir(BUNDLE) / "configs" / "train.json").read_text())
    config["network_def"]["backbone"]["in_channels"] = channels
    for section in ("train", "validate"):
        transforms = config[section]["preprocessing"]["transforms"]
        first = next(i for i, t in enumerate(transforms) if t["_target_"] == "EnsureChannelFirstd")
        transforms[first]["channel_dim"] = -1
        if channels == 1:
            transforms.insert(first + 1, {"_target_": "Lambdad", "keys": "image", "func": CENTRE})
        else:
            noise = next(i for i, t in enumerate(transforms) if t["_target_"].endswith("SimulatedNoised"))
            transforms.insert(noise + 1, {"_target_": "Lambdad", "keys": "label", "func": CENTRE})
    return config


def start_weights(channels: int, output: Path) -> Path:
    """The shipped weights for ``channels`` input channels: the head convolution's extra channels zero."""
    state = torch.load(bundle_dir(BUNDLE) / "models" / "model.pt", map_location="cpu", weights_only=True)
    head = next(k for k in state if k.startswith("backbone.head") and k.endswith("weight"))
    weight = state[head]
    state[head] = torch.cat([weight, weight.new_zeros(weight.shape[0], channels - 1, *weight.shape[2:])], dim=1)
    path = output / "start.pt"
    torch.save(state, path)
    return path


def run_arm(name: str, channels: int, data: Path, output: Path, epochs: int, learning_rate: float,
            overrides: dict) -> dict:
    """Validate the start weights, fine-tune, and return the arm's row."""
    folder = output / name.replace(".", "_")
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "train.json"
    config_file.write_text(json.dumps(arm_config(channels), indent=2))
    settings = {"dataset_dir": str(data), "output_dir": str(folder), "epochs": epochs, "learning_rate": learning_rate,
                "finetune_from": str(start_weights(channels, folder)), **overrides}
    configs = bundle_dir(BUNDLE) / "configs"

    def workflow(**extra) -> ConfigWorkflow:
        flow = ConfigWorkflow(config_file=str(config_file), workflow_type="train", meta_file=str(configs /
                              "metadata.json"), logging_file=str(configs / "logging.conf"),
                              bundle_root=str(bundle_dir(BUNDLE)), **settings, **extra)
        flow.initialize()
        return flow

    probe = workflow()
    probe.parser.get_parsed_content("network").load_state_dict(
        torch.load(settings["finetune_from"], map_location="cpu", weights_only=True))
    validator = probe.parser.get_parsed_content("validate#evaluator")
    validator.run()
    start_psnr = float(validator.state.metrics[KEY_METRIC])
    started = time.monotonic()
    trained = workflow()
    trained.run()
    seconds = time.monotonic() - started
    record = torch.load(folder / "models" / "checkpoint_last.pt", map_location="cpu", weights_only=True)["best_model"]
    return {"arm": name, "input channels": channels, "start val PSNR": start_psnr,
            "best val PSNR": record["best_metric"], "gain (dB)": record["best_metric"] - start_psnr,
            "best epoch": record["best_epoch"], "epochs": epochs,
            "s / epoch": seconds / epochs}


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--data", required=True, type=Path, help="the prepared CT sample")
    cli.add_argument("--output", required=True, type=Path)
    cli.add_argument("--epochs", type=int, default=12)
    cli.add_argument("--learning-rate", type=float, default=2e-4)
    cli.add_argument("--overrides", type=json_object, default={}, help="train.json settings for both arms (JSON)")
    args = cli.parse_args(argv)
    data = stack_dataset(args.data, args.output / "data")
    rows = [run_arm(name, channels, data, args.output, args.epochs, args.learning_rate, args.overrides)
            for name, channels in ARMS.items()]
    method = (f"`{BUNDLE}`'s train.json on `{args.data}` with each slice's neighbours ({args.output / 'data'}), "
              f"fine-tuned from the shipped weights for {args.epochs} epochs at learning rate {args.learning_rate:g}; "
              "PSNR in dB on the validation slices, mean over the bundle's val_levels, plain network.")
    write_arms(pd.DataFrame(rows), args.output, "neighbours", "2D against 2.5D input for the CT DRUNet", method)


if __name__ == "__main__":
    run_main(main, __spec__.name)
