"""Time to quality: validation PSNR against wall-clock training time, and when each model first passes BM3D.

``python -m benchmarks.time_to_quality --data runs/demo/data --output runs/ttq --bundles mri_denoising_drunet
[--epochs 40] [--configs configs/speed/compile.json] [--overrides '{"batch_size": 4}']``

Trains each bundle with its own ``train.json`` (then the ``--configs`` files: noise profiles, speed options;
validation every epoch) into ``OUTPUT/<bundle>``, recording those settings in ``OUTPUT/<bundle>/run_settings.json``,
or reuses that folder's TensorBoard logs when it already holds a completed run (``--retrain`` to train again; a
run that was interrupted is trained again from the start, as its clock cannot continue): a run
recorded with other settings is refused, one made outside this benchmark (no record) is taken as it is. The
clock starts at the first training iteration's log entry (so it leaves out data caching, and with
``configs/speed/compile.json`` the compilation in the first step). BM3D, given the true sigma, denoises the same
seeded noisy validation slices the bundle validates on. Writes ``time_to_quality.csv`` (one row per
validation), ``time_to_quality.md`` and ``time_to_quality.png``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from monai_denoise.baselines import BASELINES
from monai_denoise.bundle import BUNDLES
from monai_denoise.errors import DataError
from monai_denoise.evaluation import score_baseline, evaluation_set
from monai_denoise.reports import markdown_table, read_scalars, save_figure, write_csv, write_text
from monai_denoise.handlers import checkpoint_progress
from monai_denoise.workflows import parse, run_workflow

from .options import json_object, run_main
from .speed import machine

RUN_SETTINGS = "run_settings.json"


def bm3d_validation_psnr(bundle: str, data: Path, configs: list[Path], overrides: dict) -> float:
    """Mean PSNR of BM3D (true sigma) on the bundle's seeded noisy validation slices."""
    parser = parse(bundle, ["train"], configs, dataset_dir=str(data), **overrides)
    sigma = float(parser.get_parsed_content("noise#sigma"))
    bm3d = next(b for b in BASELINES if b.name == "BM3D")
    return score_baseline(bm3d, evaluation_set(parser), sigma).mean()["psnr"]


def training_curve(log_dir: Path) -> pd.DataFrame:
    """Validation PSNR per epoch with minutes since the first training iteration (columns epoch, minutes, psnr)."""
    scalars = read_scalars(log_dir)
    if scalars.empty or not (scalars.tag == "val_psnr").any():
        raise DataError(f"{log_dir}: no val_psnr in the TensorBoard logs (was the run validated?)")
    start = scalars[scalars.tag == "train_loss"].wall_time.min()
    psnr = scalars[scalars.tag == "val_psnr"].sort_values("step")
    return pd.DataFrame({"epoch": psnr.step.to_numpy(), "minutes": (psnr.wall_time.to_numpy() - start) / 60.0,
                         "psnr": psnr.value.to_numpy()})


def first_pass(curve: pd.DataFrame, reference: float) -> pd.Series | None:
    """The first validation whose PSNR is above ``reference``, or None."""
    above = curve[curve.psnr > reference]
    return above.iloc[0] if len(above) else None


def recorded_settings(record: Path) -> dict:
    """The settings a run of this benchmark was trained with, from its ``run_settings.json``."""
    try:
        settings = json.loads(record.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{record}: not a readable settings record ({err}); pass --retrain") from err
    if not isinstance(settings, dict):
        raise DataError(f"{record}: expected a JSON object of settings; pass --retrain")
    return settings


def train(bundle: str, data: Path, run_dir: Path, epochs: int | None, configs: list[Path], overrides: dict) -> None:
    """Train ``bundle`` (``train.json``, then ``configs``) into ``run_dir`` with validation every epoch."""
    extra = {"epochs": epochs} if epochs else {}
    run_workflow(bundle, ["train"], "train", configs, dataset_dir=str(data), output_dir=str(run_dir), val_interval=1,
                 **extra, **overrides)


def plot(curves: dict[str, pd.DataFrame], references: dict[str, float], path: Path) -> None:
    """Validation PSNR against minutes of training, one line per bundle, BM3D dashed in the same colour."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for number, (bundle, curve) in enumerate(curves.items()):
        colour = f"C{number}"
        ax.plot(curve.minutes, curve.psnr, color=colour, label=bundle)
        ax.axhline(references[bundle], color=colour, linestyle="--", label=f"BM3D on {bundle}'s validation set")
    ax.set(xlabel="training time (minutes, wall clock)", ylabel="validation PSNR (dB)", title="Time to quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.time_to_quality", description=__doc__.split("\n\n")[0])
    cli.add_argument("--data", type=Path, required=True, help="prepared dataset folder (with datalist.json)")
    cli.add_argument("--output", type=Path, required=True, help="folder for the runs, tables and figure")
    cli.add_argument("--bundles", nargs="+", choices=list(BUNDLES), default=["mri_denoising_drunet"])
    cli.add_argument("--epochs", type=int, default=None, help="training epochs (default: the bundle's own)")
    cli.add_argument("--retrain", action="store_true", help="train even where OUTPUT/<bundle> has logs")
    cli.add_argument("--configs", type=Path, nargs="+", default=[],
                     help="config files merged after each bundle's train.json (configs/noise/*, configs/speed/*)")
    cli.add_argument("--overrides", type=json_object, default={}, help="JSON config overrides for every bundle")
    args = cli.parse_args(argv)
    for config in args.configs:
        if not config.is_file():
            cli.error(f"--configs {config}: no such file")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Train or reuse each bundle's run, print and write the time-to-quality table and figure."""
    args = parse_args(argv)
    if not (args.data / "datalist.json").is_file():
        raise DataError(f"--data {args.data}: no datalist.json (run monai-denoise prepare first)")
    curves, references, rows = {}, {}, []
    settings = {"configs": [str(c) for c in args.configs], "overrides": args.overrides, "epochs": args.epochs}
    for bundle in args.bundles:
        run_dir = args.output / bundle
        record = run_dir / RUN_SETTINGS
        progress = checkpoint_progress(run_dir / "models" / "checkpoint_last.pt")
        if args.retrain or progress is None or progress[0] < progress[1]:
            shutil.rmtree(run_dir / "logs", ignore_errors=True)
            run_dir.mkdir(parents=True, exist_ok=True)
            write_text(json.dumps(settings, indent=2) + "\n", record)
            train(bundle, args.data, run_dir, args.epochs, args.configs, args.overrides)
        elif record.is_file() and (recorded := recorded_settings(record)) != settings:
            raise DataError(f"{run_dir}: this run was trained with {json.dumps(recorded)}, not with "
                            f"{json.dumps(settings)}; pass --retrain or another --output")
        curves[bundle] = training_curve(run_dir / "logs")
        references[bundle] = bm3d_validation_psnr(bundle, args.data, args.configs, args.overrides)
        passed = first_pass(curves[bundle], references[bundle])
        best = curves[bundle].loc[curves[bundle].psnr.idxmax()]
        rows.append({"bundle": bundle, "BM3D validation PSNR (dB)": f"{references[bundle]:.2f}",
                     "best validation PSNR (dB)": f"{best.psnr:.2f}", "at minute": f"{best.minutes:.1f}",
                     "passes BM3D at minute": "not passed" if passed is None else f"{passed.minutes:.1f}",
                     "at epoch": "" if passed is None else int(passed.epoch),
                     "training minutes": f"{curves[bundle].minutes.max():.1f}"})
    args.output.mkdir(parents=True, exist_ok=True)
    write_csv(pd.concat([c.assign(bundle=b) for b, c in curves.items()]), args.output / "time_to_quality.csv")
    plot(curves, references, args.output / "time_to_quality.png")
    about = ", ".join(f"{k} {v}" for k, v in machine().items())
    text = f"Machine: {about}.\n\nSettings: {json.dumps(settings)}.\n\n{markdown_table(pd.DataFrame(rows))}\n"
    write_text(text, args.output / "time_to_quality.md")
    print("\n" + text, flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    run_main(main, __spec__.name)
