"""The bundles' GPU path (``cuda:0`` with AMP), checked and measured next to the same machine's CPU.

``python -m benchmarks.gpu_check --output runs/gpu_check [--data runs/data] [--bundles ...] [--steps 300]``

Needs a CUDA GPU: without one it prints one line on stderr, runs and writes nothing and exits with code 2.
For each MRI bundle with shipped weights (``bundles/mri_*/models/model.pt``: the check runs on the MRI sample), each
config left to pick its own ``device`` and ``amp`` (``cuda:0`` and AMP where a GPU is visible):

1. training: the bundle's ``train.json`` Ignite trainer (handlers as configured, validation off) on the
   prepared dataset (default: the embedded sample, prepared into a temporary folder), ``--steps`` steps
   after ``--warmup``, timed with the GPU synchronised, and its peak GPU memory
   (``torch.cuda.max_memory_allocated``); the run records where the network's first convolution ran and in
   which dtype (``cuda`` and ``float16`` under AMP) and whether the trainer had AMP and its grad scaler on;
2. inference speed: seconds per noisy test slice through the validation inferer under autocast, as
   ``benchmarks.speed`` times it on the CPU;
3. quality: ``inference.json`` with the shipped weights on the held-out EPI run (each frame with the
   quality benchmark's seeded noise, ``--condition``), scored against the clean frame by
   ``monai_denoise.evaluation.volume_scores``; then the same ``inference.json`` on the CPU;
4. the CPU figures: ``benchmarks.speed`` on the same bundles, data and overrides (``--cpu-steps`` steps: its
   Ignite loop gives the CPU steps/s, its per-slice time the CPU inference time).

Prints one Markdown table, GPU and CPU side by side, and writes ``OUTPUT/gpu_check.md``, ``gpu_check.csv``
and the speed benchmark's ``speed.md`` / ``speed.csv``, each atomically; exits with code 1 after writing
them if a bundle did not train or infer on CUDA with AMP.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from ignite.engine import Engine
from monai.bundle import ConfigWorkflow
from torch import nn

from data_prep import PrepareConfig, prepare_dataset, sample_volumes
from monai_denoise.errors import DataError
from monai_denoise.evaluation import volume_scores
from monai_denoise.modalities import MRI
from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.workflows import (
    bundle_dir,
    config_files,
    denoise,
    parse,
    run_workflow,
    shipped_weights,
)

from . import speed
from .options import json_object, run_main
from .quality import Condition, HeldOutVolume, held_out_volumes, noisy_volume

SHIPPED = list(shipped_weights(MRI))
"""The MRI bundles with shipped weights."""
INFER_WARMUP, INFER_REPEATS = 3, 20
GIB = 2**30


@dataclass
class Row:
    """One bundle's figures (one CSV row): GPU and, prefixed ``cpu_``, CPU."""

    bundle: str
    train_batch: str
    train_steps_per_s: float
    cpu_train_steps_per_s: float
    train_peak_gib: float
    seconds_per_slice: float
    cpu_seconds_per_slice: float
    psnr: float
    cpu_psnr: float
    infer_peak_gib: float
    train_ran_on: str
    infer_ran_on: str


def missing_gpu() -> str | None:
    """What keeps the check from running, in words, or None where torch sees a CUDA GPU."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build; install a CUDA build (see the README's set-up)"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    hidden = "" if visible is None else f", CUDA_VISIBLE_DEVICES={visible!r}"
    return f"no CUDA GPU visible to torch {torch.__version__} (a CUDA {torch.version.cuda} build{hidden})"


class SyncedClock(speed.IterationClock):
    """The speed benchmark's iteration clock, reading the time only once the GPU's queued work is done."""

    def __call__(self, engine: Engine) -> None:
        if engine.state.iteration in (self.first, self.last):
            torch.cuda.synchronize()
        super().__call__(engine)


@contextlib.contextmanager
def first_convolution() -> Iterator[dict[str, str]]:
    """Yield a dict that gets ``"ran_on"``: the device and dtype of the output of the first convolution any
    module runs inside the block (``"cuda:0 float16"`` under AMP on the GPU)."""
    seen: dict[str, str] = {}

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.modules.conv._ConvNd) and not seen:
            seen["ran_on"] = f"{output.device} {str(output.dtype).removeprefix('torch.')}"
            handle.remove()

    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@contextlib.contextmanager
def peak_gpu_memory() -> Iterator[dict[str, float]]:
    """Yield a dict that gets ``"gib"``: ``torch.cuda.max_memory_allocated`` over the block, in GiB."""
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    peak: dict[str, float] = {}
    yield peak
    torch.cuda.synchronize()
    peak["gib"] = torch.cuda.max_memory_allocated() / GIB


def gpu_training(bundle: str, data: Path, output: Path, overrides: dict, warmup: int, steps: int
                 ) -> tuple[float, float, str]:
    """(steps/s, peak GPU GiB, where it ran: first convolution's device and dtype, AMP and grad scaler) of
    ``steps`` iterations of the bundle's ``train#trainer`` after ``warmup``, validation off, device and AMP as
    ``train.json`` picks them."""
    configs = bundle_dir(bundle) / "configs"
    epochs = warmup + steps
    workflow = ConfigWorkflow(config_file=config_files(bundle, ["train"]), workflow_type="train",
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              bundle_root=str(bundle_dir(bundle)), dataset_dir=str(data), output_dir=str(output),
                              epochs=epochs, val_interval=epochs + 1, **overrides)
    workflow.initialize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    clock = SyncedClock(warmup, steps)
    clock.attach(trainer)
    with peak_gpu_memory() as peak, first_convolution() as conv:
        trainer.run()
    amp = "AMP on" if trainer.amp and trainer.scaler is not None else "AMP off"
    return steps / clock.seconds, peak["gib"], f"{conv.get('ran_on', 'no convolution')}, {amp}"


def gpu_seconds_per_slice(bundle: str, data: Path, overrides: dict) -> float:
    """Seconds per slice of the speed benchmark's noisy test slices through the bundle's validation inferer on
    the config's device, under autocast where its ``amp`` is on."""
    parser = parse(bundle, ["train"], dataset_dir=str(data), **overrides)
    network = parser.get_parsed_content("network").eval()
    device = next(network.parameters()).device
    slices = speed.noisy_test_slices(bundle, data, overrides).to(device)

    def batch() -> None:
        with torch.autocast(device.type, enabled=bool(parser.get_parsed_content("amp"))):
            denoise(parser, network, slices, chunk=speed.INFER_BATCH)
        torch.cuda.synchronize()

    return speed.time_calls(batch, INFER_WARMUP, INFER_REPEATS) / (INFER_REPEATS * len(slices))


def write_noisy(volumes: list[HeldOutVolume], condition: Condition, folder: Path) -> float:
    """Write each volume with the quality benchmark's seeded noise to ``folder/NAME.nii.gz``; return the
    noisy volumes' mean PSNR."""
    folder.mkdir(parents=True)
    psnr = []
    for volume in volumes:
        noisy = noisy_volume(volume, condition).numpy().astype(np.float32)
        nib.save(nib.Nifti1Image(noisy, np.eye(4)), str(folder / f"{volume.name}.nii.gz"))
        psnr.append(volume_scores(noisy, volume.clean)["psnr"])
    return float(np.mean(psnr))


def inference_psnr(bundle: str, volumes: list[HeldOutVolume], noisy: Path, output: Path, **overrides
                   ) -> tuple[float, str]:
    """(mean PSNR, first convolution's device and dtype, AMP) of the bundle's ``inference.json`` with its
    shipped weights on the noisy volumes of :func:`write_noisy`, against the clean volumes."""
    with first_convolution() as conv:
        workflow = run_workflow(bundle, ["inference"], "infer", dataset_dir=str(noisy), output_dir=str(output),
                                **overrides)
    amp = "AMP on" if workflow.parser.get_parsed_content("evaluator").amp else "AMP off"
    psnr = [volume_scores(np.asarray(nib.load(output / f"{v.name}.nii.gz").dataobj, dtype=np.float32),
                          v.clean)["psnr"]
            for v in volumes]
    return float(np.mean(psnr)), f"{conv.get('ran_on', 'no convolution')}, {amp}"


def on_gpu_with_amp(ran_on: str) -> bool:
    """Whether a ``ran_on`` record says CUDA, a half-precision convolution and AMP on."""
    return ran_on.startswith("cuda") and ("float16" in ran_on) and ran_on.endswith("AMP on")


def table(rows: list[Row]) -> pd.DataFrame:
    """The printed table: one row per bundle, GPU and CPU figures side by side with their ratio or difference."""
    return pd.DataFrame([{
        "bundle": r.bundle, "train batch": r.train_batch,
        "train steps/s GPU": f"{r.train_steps_per_s:.1f}", "train steps/s CPU": f"{r.cpu_train_steps_per_s:.2f}",
        "train GPU / CPU": f"{r.train_steps_per_s / r.cpu_train_steps_per_s:.1f}x",
        "peak GPU GiB train": f"{r.train_peak_gib:.2f}",
        "s / slice GPU": f"{r.seconds_per_slice:.5f}", "s / slice CPU": f"{r.cpu_seconds_per_slice:.4f}",
        "infer GPU / CPU": f"{r.cpu_seconds_per_slice / r.seconds_per_slice:.1f}x",
        "PSNR GPU (dB)": f"{r.psnr:.2f}", "PSNR CPU (dB)": f"{r.cpu_psnr:.2f}",
        "PSNR GPU - CPU (dB)": f"{r.psnr - r.cpu_psnr:+.3f}",
        "peak GPU GiB inference.json": f"{r.infer_peak_gib:.2f}",
        "ran on (train; inference.json)": f"{r.train_ran_on}; {r.infer_ran_on}"} for r in rows])


def report(rows: list[Row], args: argparse.Namespace, data: str, noisy_psnr: float) -> str:
    """The Markdown report: machine, settings, the table and what each column means."""
    gpu = torch.cuda.get_device_properties(0)
    about = ", ".join(f"{k} {v}" for k, v in {
        **speed.machine(), "GPU": f"{gpu.name} ({gpu.total_memory / GIB:.0f} GiB, CUDA {torch.version.cuda})"}.items())
    settings = (f"data {data}, {args.steps} timed GPU training steps after {args.warmup} warm-up ones, "
                f"{args.cpu_steps} CPU ones (the speed benchmark), noise {args.condition}, "
                f"overrides {json.dumps(args.overrides)}")
    notes = [
        ("train steps/s: the bundle's `train.json` Ignite trainer (handlers as configured, validation off) on the "
         "data above, device and AMP as the config picks them (GPU, synchronised before each clock reading) or "
         "on the CPU (`benchmarks.speed`'s Ignite loop); train batch: patches per step."),
        ("peak GPU GiB: `torch.cuda.max_memory_allocated` over the training run or the `inference.json` run."),
        (f"s / slice: batches of {speed.INFER_BATCH} of the data's noisy test slices (192x192 in the embedded "
         f"sample) through the bundle's validation inferer, eval, no grad (GPU: under autocast, {INFER_REPEATS} "
         f"timed batches; CPU: `benchmarks.speed`)."),
        (f"PSNR: the bundle's `inference.json` with its shipped weights on each frame of the held-out EPI run with "
         f"the quality benchmark's seeded {args.condition} noise, against the clean frame as `benchmarks.quality` "
         f"scores it (whole native-size volume, data range 1; mean over frames; a noise-map bundle estimates the "
         f"sigma, as `inference.json` does by default); noisy input {noisy_psnr:.2f} dB. GPU: the config's own "
         f"device and AMP; CPU: `device` cpu, `amp` false."),
        ("ran on: the device and dtype of the first convolution's output (float16: autocast is on) and whether "
         "the trainer or evaluator had AMP on."),
    ]
    return "\n\n".join([f"Machine: {about}.", f"Settings: {settings}.", markdown_table(table(rows)),
                        "\n".join(f"- {n}" for n in notes)]) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, required=True,
                     help="folder for gpu_check.md, gpu_check.csv, speed.md and speed.csv")
    cli.add_argument("--data", type=Path, default=None,
                     help="prepared dataset folder (with datalist.json); default the embedded sample, prepared "
                          "into a temporary folder")
    cli.add_argument("--bundles", nargs="+", choices=SHIPPED, default=SHIPPED)
    cli.add_argument("--steps", type=int, default=300, help="timed GPU training steps per bundle (default 300)")
    cli.add_argument("--warmup", type=int, default=20, help="untimed GPU training steps before them (default 20)")
    cli.add_argument("--cpu-steps", type=int, default=10, help="timed CPU steps of the speed benchmark (default 10)")
    cli.add_argument("--condition", type=Condition.parse, default=Condition("gaussian", 0.05), metavar="TYPE:SIGMA",
                     help="noise on the held-out EPI run (default gaussian:0.05)")
    cli.add_argument("--overrides", type=json_object, default={},
                     help='JSON train.json overrides for GPU and CPU alike, e.g. \'{"num_workers": 4}\'')
    args = cli.parse_args(argv)
    if args.steps < 1 or args.warmup < 1 or args.cpu_steps < 1:
        cli.error("--steps, --warmup and --cpu-steps must be at least 1")
    if {"device", "amp"} & set(args.overrides):
        cli.error("--overrides: leave device and amp to the configs; checking their choice is the point")
    return args


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the check, print the table and write it under ``--output``; exit 2 without a GPU."""
    args = parse_args(argv)
    missing = missing_gpu()
    if missing is not None:
        print(f"error: the GPU check needs a CUDA GPU: {missing}; nothing was run or written", file=sys.stderr)
        raise SystemExit(2)
    if args.data is not None and not (args.data / "datalist.json").is_file():
        raise DataError(f"--data {args.data}: no datalist.json (run monai-denoise prepare first)")
    print(f"GPU: {torch.cuda.get_device_name(0)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_check.") as folder:
        scratch = Path(folder)
        data = args.data
        if data is None:
            data = scratch / "data"
            prepare_dataset(sample_volumes(), data, PrepareConfig(command=sys.argv))
        volumes = held_out_volumes([s.path for s in sample_volumes() if s.split == "test"])
        noisy_psnr = write_noisy(volumes, args.condition, scratch / "noisy")
        gpu = {}
        for bundle in args.bundles:
            print(f"\n=== {bundle} on the GPU ===", flush=True)
            steps_per_s, train_peak, train_ran_on = gpu_training(bundle, data, scratch / "train" / bundle,
                                                                 args.overrides, args.warmup, args.steps)
            per_slice = gpu_seconds_per_slice(bundle, data, args.overrides)
            with peak_gpu_memory() as peak:
                psnr, infer_ran_on = inference_psnr(bundle, volumes, scratch / "noisy", scratch / "gpu" / bundle)
            cpu_psnr, _ = inference_psnr(bundle, volumes, scratch / "noisy", scratch / "cpu" / bundle, **speed.CPU)
            gpu[bundle] = {"train_steps_per_s": steps_per_s, "train_peak_gib": train_peak,
                           "seconds_per_slice": per_slice, "psnr": psnr, "cpu_psnr": cpu_psnr,
                           "infer_peak_gib": peak["gib"], "train_ran_on": train_ran_on, "infer_ran_on": infer_ran_on}
            print(f"{bundle}: {steps_per_s:.1f} steps/s, peak {train_peak:.2f} GiB; inference.json PSNR {psnr:.2f} dB "
                  f"on the GPU, {cpu_psnr:.2f} dB on the CPU; ran on {train_ran_on}; {infer_ran_on}", flush=True)
        print("\n=== the speed benchmark (CPU) ===", flush=True)
        cpu = speed.main(["--data", str(data), "--output", str(scratch / "speed"), "--bundles", *args.bundles,
                          "--steps", str(args.cpu_steps), "--warmup", "1", "--overrides", json.dumps(args.overrides)])
        rows = [Row(bundle=c.bundle, train_batch=c.train_shape, cpu_train_steps_per_s=args.cpu_steps / c.ignite_seconds,
                    cpu_seconds_per_slice=c.seconds_per_slice, **gpu[c.bundle]) for c in cpu]
        for name in ("speed.md", "speed.csv"):
            write_text((scratch / "speed" / name).read_text(), args.output / name)
    text = report(rows, args, "the embedded sample" if args.data is None else f"`{args.data}`", noisy_psnr)
    write_csv(pd.DataFrame([asdict(r) for r in rows]), args.output / "gpu_check.csv")
    write_text(text, args.output / "gpu_check.md")
    print("\n" + text, flush=True)
    off = [f"{r.bundle} (train: {r.train_ran_on}; inference.json: {r.infer_ran_on})" for r in rows
           if not (on_gpu_with_amp(r.train_ran_on) and on_gpu_with_amp(r.infer_ran_on))]
    if off:
        print(f"error: not on the GPU with AMP: {', '.join(off)}", file=sys.stderr)
        raise SystemExit(1)
    return rows


if __name__ == "__main__":
    run_main(main, __spec__.name)
