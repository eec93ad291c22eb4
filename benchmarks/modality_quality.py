"""Denoising quality per modality on its held-out real images: the bundles against the classical denoisers.

``python -m benchmarks.modality_quality --modality ct --output runs/quality_ct [--data data/ct] [--bundles B ...]
[--weights ct_denoising_drunet=PATH ...] [--epochs 30] [--noise-levels 60000 400000] [--overrides JSON]``

Prepares the modality's embedded sample (``--data`` uses a prepared dataset of that modality instead), then runs
``monai-denoise compare`` on it, the one scoring path of the project: every bundle of the modality, with its shipped
weights (or the given ``--weights``; a bundle with neither is trained by its ``train.json`` for ``--epochs``), and the
modality's classical baselines set fairly (CT: BM3D with a validated noise factor; radiographs: GAT-BM3D given the
true Poisson-Gaussian parameters), with ``--overrides`` applied to every bundle config (e.g.
``'{"noise#views": 360}'``), at each noise level of the modality's dose parameter (CT ``i0`` in photons per
ray, radiographs ``photons`` per pixel at full scale; default the modality's levels). The compare output lands in
``OUTPUT/compare``.

Every network with weights is scored as compare scores it (its bundle's inferer: x8 where the bundle self-ensembles)
and, where that is an ensemble, plain (``<bundle> plain``); ``--adapt`` adds each after ``adapt.json`` on the noisy
test images themselves (``<bundle> adapted``, :mod:`benchmarks.adaptation`), ``--adapt-iterations`` long.

Writes ``quality.csv`` (mean PSNR, SSIM and MAE per noise level and method over the test images, seconds per
512x512 image (the measured seconds per test image scaled by its pixel count), with each network's gain over the
noisy input and its difference from the best classical method and from every other network) and ``quality.md``
(machine, data, weights and those tables), prints them, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from data_prep import PrepareConfig, prepare_dataset
from monai_denoise.compare import (
    CompareConfig,
    compared_bundles,
    dataset_modality,
    level_text,
    run_compare,
)
from monai_denoise.errors import DataError
from monai_denoise.modalities import MODALITIES, Modality
from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.evaluation import evaluation_set, score_network
from monai_denoise.workflows import parse, parse_weights, shipped_weights

from .adaptation import adapted_score, without_ensemble
from .options import json_object, run_main
from .speed import machine

NOISY = "noisy input"


PIXELS_512 = 512 * 512


def level_means(comparison: pd.DataFrame, column: str, pixels: int) -> pd.DataFrame:
    """Mean PSNR, SSIM and MAE per noise level and method of compare's per-image table (``column``: its level), and
    the seconds per 512x512 image (``seconds_per_slice`` of images of ``pixels`` pixels, scaled)."""
    comparison = comparison.assign(seconds_per_512=comparison.seconds_per_slice * PIXELS_512 / pixels)
    means = comparison.groupby([column, "method"], sort=False)[["psnr", "ssim", "mae", "seconds_per_512"]].mean()
    return means.reset_index().rename(columns={column: "level"})


def network_variants(modality: Modality, data: Path, weights: dict[str, Path], levels: list[float], adapt: bool,
                     iterations: int, output: Path, overrides: dict) -> pd.DataFrame:
    """Per-image rows (compare's columns) of each network plain where its bundle self-ensembles, and adapted."""
    key, rows = modality.noise_model.level, []
    for bundle, path in weights.items():
        for level in levels:
            parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(data), **overrides, **{f"noise#{key}": level})
            test = evaluation_set(parser)
            found = {}
            if parser.config.get("self_ensemble", 1) > 1:
                found["plain"] = score_network(without_ensemble(parser), path, test)
            if adapt:
                found["adapted"] = adapted_score(bundle, path, parser, test, output / "adapted" / f"{bundle}_{level:g}",
                                                 iterations, overrides)
            rows += [scored.scores.assign(**{f"noise_{key}": level, "method": f"{bundle} {name}",
                                             "seconds_per_slice": scored.seconds / len(test.names)})
                     for name, scored in found.items()]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def with_gaps(means: pd.DataFrame, networks: tuple[str, ...]) -> pd.DataFrame:
    """``means`` with, for each network's row, its PSNR gain over the noisy input and its PSNR and SSIM difference
    from the best classical method at that level (``vs_classical``, ``ssim_vs_classical``, and which one that was)
    and its PSNR difference from every other network (``vs_<network>``)."""
    rows = []
    for _, at_level in means.groupby("level", sort=False):
        classical = at_level[~at_level.method.isin([*networks, NOISY])]
        best = classical.loc[classical.psnr.idxmax()]
        psnr = dict(zip(at_level.method, at_level.psnr))
        for _, row in at_level.iterrows():
            gaps = {}
            if row.method in networks:
                gaps = {"gain_over_noisy": row.psnr - psnr[NOISY], "best_classical": best.method,
                        "vs_classical": row.psnr - best.psnr, "ssim_vs_classical": row.ssim - best.ssim,
                        **{f"vs_{other}": row.psnr - psnr[other] for other in networks if other != row.method}}
            rows.append({**row.to_dict(), **gaps})
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, modality: Modality, data: Path, weights: dict[str, Path], trained: list[str],
           epochs: int, networks: tuple[str, ...]) -> str:
    """The Markdown report of :func:`with_gaps`' table."""
    key = modality.noise_model.level

    def signed(value) -> str:
        return "" if pd.isna(value) else f"{value:+.2f}"

    shown = pd.DataFrame({
        key: table.level.map(level_text), "method": table.method, "PSNR (dB)": table.psnr.map("{:.2f}".format),
        "SSIM": table.ssim.map("{:.4f}".format), "MAE": table.mae.map("{:.4f}".format),
        "s / 512x512": table.seconds_per_512.map("{:.3f}".format),
        "gain over noisy (dB)": table.gain_over_noisy.map(signed),
        "vs best classical (dB)": table.vs_classical.map(signed),
        "SSIM vs best classical": table.ssim_vs_classical.map(lambda v: "" if pd.isna(v) else f"{v:+.4f}"),
        **{f"vs {other} (dB)": table[f"vs_{other}"].map(signed) for other in networks if f"vs_{other}" in table},
    })
    best = table.dropna(subset=["vs_classical"])
    lines = [f"- {key} {level_text(level)}: {row.method} {row.psnr:.2f} dB / SSIM {row.ssim:.4f} against "
             f"{row.best_classical}: {row.vs_classical:+.2f} dB, SSIM {row.ssim_vs_classical:+.4f}"
             for level, rows in best.groupby("level", sort=False) for row in [rows.loc[rows.psnr.idxmax()]]]
    weights_text = ", ".join(f"{b}: `{w}`" for b, w in weights.items()) or "none"
    trained_text = f"; trained here for {epochs} epochs: {', '.join(trained)}" if trained else ""
    images = json.loads((data / "datalist.json").read_text()).get("test", [])
    return "\n\n".join([
        f"# {modality.title} denoising quality on the held-out test images",
        f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}.",
        f"Data: `{data}`, {len(images)} test images (mean over them). Weights: {weights_text}{trained_text}.",
        markdown_table(shown),
        "Best network against the best classical method per level:\n\n" + "\n".join(lines),
        ("Scored by `monai-denoise compare` (each bundle's own evaluation) on the same seeded noisy images for "
         "every method; classical baselines set as compare sets them (parameters tuned on the validation images, "
         "or given the true noise parameters). Per-image rows and panels: `compare/`."),
    ]) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.modality_quality",
                                  description=__doc__.split("\n\n")[0])
    cli.add_argument("--modality", required=True, choices=sorted(MODALITIES))
    cli.add_argument("--output", type=Path, required=True, help="folder for quality.csv, quality.md and compare/")
    cli.add_argument("--data", type=Path, default=None,
                     help="a prepared dataset of the modality (default: prepare the embedded sample in OUTPUT/data)")
    cli.add_argument("--bundles", nargs="+", default=(), metavar="BUNDLE",
                     help="the bundles to score (default every bundle of the modality)")
    cli.add_argument("--weights", nargs="*", default=[], metavar="BUNDLE=PATH",
                     help="trained weights per bundle (default: the shipped ones)")
    cli.add_argument("--epochs", type=int, default=30, help="training epochs of a bundle without weights")
    cli.add_argument("--noise-levels", nargs="+", type=float, default=(),
                     help="levels of the modality's dose parameter (default: the modality's)")
    cli.add_argument("--overrides", type=json_object, default={}, metavar="JSON",
                     help='config overrides for every bundle, e.g. \'{"noise#views": 360}\'')
    cli.add_argument("--adapt", action="store_true",
                     help="add each network after adapt.json on the noisy test images themselves")
    cli.add_argument("--adapt-iterations", type=int, default=400, help="adaptation iterations (default 400)")
    return cli.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print and write ``quality.md`` and ``quality.csv``; return the table."""
    args = parse_args(argv)
    modality = MODALITIES[args.modality]
    weights = shipped_weights(modality) | parse_weights(args.weights)
    data = args.data
    if data is None:
        data = args.output / "data"
        prepare_dataset(modality.sample_volumes(), data, PrepareConfig(modality=modality.name,
                                                                       size=modality.prepare_size, command=sys.argv),
                        overwrite=True)
    elif not (data / "datalist.json").is_file():
        raise DataError(f"--data {data}: no datalist.json (run monai-denoise prepare --modality {modality.name} first)")
    elif dataset_modality(data).name != modality.name:
        raise DataError(f"--data {data}: a {dataset_modality(data).title} dataset, not {modality.title}; prepare one "
                        f"with monai-denoise prepare --modality {modality.name}")
    networks = compared_bundles(tuple(args.bundles), modality, data)
    weights = {bundle: path for bundle, path in weights.items() if bundle in networks}
    config = CompareConfig(bundles=networks, epochs=args.epochs, weights=weights, overrides=args.overrides,
                           noise_levels=tuple(args.noise_levels))
    run_compare(data, args.output / "compare", config)
    column = f"noise_{modality.noise_model.level}"
    comparison = pd.read_csv(args.output / "compare" / "comparison.csv")
    extra = network_variants(modality, data, weights, sorted(comparison[column].unique()), args.adapt,
                             args.adapt_iterations, args.output, args.overrides)
    comparison = pd.concat([comparison, extra], ignore_index=True)
    pixels = int(evaluation_set(parse(networks[0], ["train", "evaluate"], dataset_dir=str(data),
                                      **args.overrides)).noisy[0, 0].numel())
    trained = [b for b in networks if b not in weights]
    networks = (*networks, *extra.get("method", pd.Series(dtype=str)).unique())
    table = with_gaps(level_means(comparison, column, pixels), networks)
    write_csv(table, args.output / "quality.csv")
    text = report(table, modality, data, weights, trained, args.epochs, networks)
    write_text(text, args.output / "quality.md")
    print("\n" + text, flush=True)
    return table


if __name__ == "__main__":
    run_main(main, __spec__.name)
