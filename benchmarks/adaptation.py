"""What ``adapt.json`` gains on each modality's held-out test images, adapting on the noisy test images themselves.

``python -m benchmarks.adaptation --output runs/adaptation [--modalities mri ct xray] [--iterations 400]
[--data-root runs/data] [--overrides JSON]``

For each modality's shipped DRUNet bundle and each dose of its ``val_levels`` (MRI: sigma, CT: I0, radiographs:
photons), as a user whose scanner is unlike the training data would run it:

1. the bundle's seeded noisy test images (its own evaluation, :mod:`monai_denoise.evaluation`) are written as the
   scans a user has, noisy only: NIfTI in the scan's units (CT: HU, through the bundle's ``hu_window``), radiographs
   as 16-bit pictures of the detector's counts;
2. ``adapt.json`` fine-tunes the shipped weights on them (Recorrupted-to-Recorrupted pairs that follow the
   modality's noise, ``NoiseModel.recorruption``; the noise level estimated from the scans, as by default);
3. the evaluation scores the shipped weights without and with the x8 self-ensemble and the adapted weights (with
   the bundle's inferer), on the same images.

``--arms`` adds, on the validation images at the middle dose, the other recorruptions against the modality's own
and, with ``--learning-rates``, other learning rates, adapting on the validation images: the pairs' noise model and
the adaptation's settings chosen by validation (``--validation-only`` runs these alone).

Needs the prepared samples (``monai-denoise prepare --sample --modality M --output DATA_ROOT/M``). Writes
``adaptation.csv`` and ``adaptation.md`` (the machine, the table, each gain), prints them, asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image

from monai_denoise.bundle import BUNDLES
from monai_denoise.errors import DataError
from monai.bundle import ConfigParser

from monai_denoise.evaluation import EvaluationSet, Scored, evaluation_set, score_network, score_noisy
from monai_denoise.modalities import MODALITIES
from monai_denoise.noise_models import noise_model
from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.transforms import RECORRUPTIONS
from monai_denoise.workflows import bundle_dir, parse, run_workflow

from .options import json_object, run_main
from .speed import machine

NETWORK = "drunet"
"""The network whose shipped bundle of each modality is adapted."""


def write_scans(test: EvaluationSet, folder: Path, bundle: str) -> Path:
    """The noisy images of ``test`` as the scans a user has: 16-bit PNG pictures (the detector's counts) where the
    modality reads pictures (radiographs), else NIfTI in the units that the bundle's ``adapt.json`` maps to [0, 1]
    (CT: its ``hu_window``; MRI: any, each scan is normalised by its own percentiles)."""
    folder.mkdir(parents=True, exist_ok=True)
    modality, scans = BUNDLES[bundle].modality, parse(bundle, ["adapt"])
    low, high = scans.get_parsed_content("hu_window") if "hu_window" in scans.config else (0.0, 1.0)
    for image, name in zip(test.noisy, test.names):
        array = image[0].numpy()
        stem = name.removesuffix(".nii.gz")
        if modality.pictures:
            counts = np.clip(np.rint(array * 65535.0), 0, 65535).astype(np.uint16)
            Image.fromarray(counts).save(folder / f"{stem}.png")
        else:
            nib.save(nib.Nifti1Image((low + (high - low) * array)[..., None].astype(np.float32), np.eye(4)),
                     str(folder / f"{stem}.nii.gz"))
    return folder


def adapt(bundle: str, weights: Path, test: EvaluationSet, work: Path, iterations: int, overrides: dict) -> Path:
    """``adapt.json`` of ``bundle`` from ``weights`` on ``test``'s noisy images as scans; the adapted weights."""
    scans = write_scans(test, work / "scans", bundle)
    run_workflow(bundle, ["adapt"], "train", dataset_dir=str(scans), output_dir=str(work / "adapted"),
                 ckpt_path=str(weights), adaptation_refused="", **{"adaptation#iterations": iterations}, **overrides)
    return work / "adapted" / "models" / "model.pt"


def without_ensemble(parser: ConfigParser) -> ConfigParser:
    """A copy of a bundle's configs with its self-ensemble off (``self_ensemble`` 1: the plain network)."""
    plain = ConfigParser(copy.deepcopy(parser.get()))
    plain.update({"self_ensemble": 1})
    return plain


def adapted_score(bundle: str, weights: Path, parser: ConfigParser, test: EvaluationSet, work: Path, iterations: int,
                  overrides: dict) -> Scored:
    """``weights`` after ``adapt.json`` on ``test``'s noisy images themselves, scored on ``test`` with the bundle's
    inferer (``parser``: its configs at the test's level); the adaptation's seconds in ``settings``."""
    start = time.perf_counter()
    adapted = adapt(bundle, weights, test, work, iterations, overrides)
    seconds = time.perf_counter() - start
    return replace(score_network(parser, adapted, test), settings=f"adapted in {seconds:.0f} s")


def variants(bundle: str, weights: Path, parser: ConfigParser, test: EvaluationSet, work: Path, iterations: int,
             overrides: dict) -> dict[str, Scored]:
    """The shipped ``weights`` of ``bundle`` on ``test``: plain, with the bundle's self-ensemble where it has one,
    and adapted on the test images (scored with the bundle's inferer): with the noise estimated, and where the noise
    has one sigma (MRI) also given it, in the scans' units, as a physicist who measured it would."""
    ensemble = parser.get_parsed_content("self_ensemble") if "self_ensemble" in parser.config else 1
    suffix = f" x{ensemble}" if ensemble > 1 else ""
    scored = {"plain": score_network(without_ensemble(parser), weights, test)}
    if ensemble > 1:
        scored[suffix.strip()] = score_network(parser, weights, test)
    scored["adapted" + suffix] = adapted_score(bundle, weights, parser, test, work / "estimated", iterations, overrides)
    noise = parser.get_parsed_content("noise")
    if "sigma" in noise:
        scored["adapted, sigma given" + suffix] = adapted_score(bundle, weights, parser, test, work / "given",
                                                                iterations, {**overrides, "noise_level": noise["sigma"]})
    return scored


def measure(modality: str, data: Path, iterations: int, arms: bool, overrides: dict,
            learning_rates: tuple[float, ...] = (), test: bool = True) -> list[dict]:
    """Rows of one modality: per dose noisy / plain / x8 / adapted on the test images, and the validation arms."""
    bundle = next(name for name, spec in BUNDLES.items() if spec.modality.name == modality and spec.network == NETWORK)
    base = parse(bundle, ["train"], dataset_dir=str(data), **overrides)
    key = noise_model(base.get_parsed_content("noise")).level
    levels = base.config.get("val_levels") or [base.get_parsed_content(f"noise#{key}")]
    own = MODALITIES[modality].noise_model.recorruption
    weights = bundle_dir(bundle) / "models" / "model.pt"
    rows = []

    def row(split: str, level: float, method: str, scored: Scored, noisy_psnr: float) -> dict:
        means = scored.mean()
        return {"modality": modality, "split": split, key: level, "method": method, "psnr": means["psnr"],
                "ssim": means["ssim"], "gain_db": means["psnr"] - noisy_psnr, "adapt_time": scored.settings}

    with tempfile.TemporaryDirectory() as scratch:
        for level in map(float, levels if test else ()):
            parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(data), **overrides, **{f"noise#{key}": level})
            test = evaluation_set(parser)
            noisy = score_noisy(test)
            found = {"noisy input": noisy} | variants(bundle, weights, parser, test, Path(scratch) / f"test_{level:g}",
                                                      iterations, overrides)
            rows += [row("test", level, method, scored, noisy.mean()["psnr"]) for method, scored in found.items()]
            print(pd.DataFrame(rows[-len(found):]).to_string(index=False), flush=True)
        if arms:
            level = levels[len(levels) // 2]
            parser = parse(bundle, ["train"], dataset_dir=str(data), **overrides, **{f"noise#{key}": level},
                           val_levels=None)
            validation = evaluation_set(parser)
            noisy = score_noisy(validation).mean()["psnr"]
            rows.append(row("validation", level, "shipped", score_network(parser, weights, validation), noisy))
            default = parse(bundle, ["adapt"]).get_parsed_content("adaptation#learning_rate")
            for recorruption, rate in [*((own, rate) for rate in sorted({default, *learning_rates}, reverse=True)),
                                       *((other, default) for other in sorted(set(RECORRUPTIONS) - {own}))]:
                adapted = adapt(bundle, weights, validation, Path(scratch) / f"val_{recorruption}_{rate:g}", iterations,
                                {**overrides, "recorruption": recorruption, "adaptation#learning_rate": rate})
                rows.append(row("validation", level, f"adapted ({recorruption}, learning rate {rate:g})",
                                score_network(parser, adapted, validation), noisy))
                print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    cli = argparse.ArgumentParser(prog="python -m benchmarks.adaptation", description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, required=True, help="folder for adaptation.csv / .md")
    cli.add_argument("--modalities", nargs="+", choices=sorted(MODALITIES), default=sorted(MODALITIES))
    cli.add_argument("--data-root", type=Path, default=Path("runs/data"),
                     help="folder of the prepared samples, one sub-folder per modality (default runs/data)")
    cli.add_argument("--iterations", type=int, default=400, help="adaptation iterations (adapt.json's default 400)")
    cli.add_argument("--arms", action="store_true",
                     help="also compare, on the validation images, the recorruptions and --learning-rates")
    cli.add_argument("--learning-rates", nargs="+", type=float, default=(),
                     help="adaptation learning rates tried on the validation images beside adapt.json's (with --arms)")
    cli.add_argument("--validation-only", action="store_true", help="run the validation arms alone (with --arms)")
    cli.add_argument("--overrides", type=json_object, default={}, metavar="JSON", help="config overrides of every run")
    args = cli.parse_args(argv)
    for modality in args.modalities:
        if not (args.data_root / modality / "datalist.json").is_file():
            raise DataError(f"{args.data_root / modality}: no prepared {modality} sample (run monai-denoise prepare "
                            f"--sample --modality {modality} --output {args.data_root / modality})")
    rows = []
    for modality in args.modalities:
        rows += measure(modality, args.data_root / modality, args.iterations, args.arms, args.overrides,
                        tuple(args.learning_rates), not args.validation_only)
        table = pd.DataFrame(rows)
        write_csv(table, args.output / "adaptation.csv")
    text = "\n\n".join([
        "# Adaptation on the held-out test images (noisy only)",
        f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}. `python -m benchmarks.adaptation "
        f"--iterations {args.iterations}`; every score by the bundles' own evaluation (`monai_denoise.evaluation`).",
        markdown_table(table.round(3))]) + "\n"
    write_text(text, args.output / "adaptation.md")
    print("\n" + text, flush=True)
    return table


if __name__ == "__main__":
    run_main(main, __spec__.name)
