"""`monai-denoise compare`: every bundle and the classical baselines on one seeded noisy test set.

Networks are trained through their bundles' ``train.json`` (or reused, or given trained weights), then every method denoises
the same seeded noisy test slices at each noise level. Writes ``comparison.csv`` (per image),
``summary.csv`` / ``summary.md`` (mean +- std per method) and figures.

The data's modality (``provenance.json``) sets the bundles compared by default. The noise section (the bundles'
own, or a noise profile's) sets, through its model (``monai_denoise.noise_models``), the parameter that the levels
vary (``NoiseModel.level``: sigma, CT i0, radiographs photons; the per-image table's ``noise_<key>`` column) and the
classical baselines (``NoiseModel.baselines``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .baselines import Baseline
from .bundle import BUNDLES
from .errors import DataError
from .evaluation import Scored, EvaluationSet, score_baseline, score_network, score_noisy, evaluation_set
from .modalities import MODALITIES, MRI, Modality, get_modality
from .noise_models import noise_model
from .perceptual import LPIPSMetric, LPIPSUnavailable
from .reports import (markdown_table, plot_detail_panels, plot_panels, plot_psnr_vs_noise, plot_validation_curves,
                      read_scalars, summarize, write_csv, write_text)
from .workflows import bundle_dir, load_network, parse, train_bundle

METRICS = ("psnr", "ssim", "mae", "mse", "lpips")


@dataclass
class CompareConfig:
    """What to compare.

    Attributes:
        bundles: bundle names (folders under ``bundles/``), all of the data's modality; default every bundle of
            the data's modality.
        epochs: training epochs of each bundle; a run under the output folder continues to them (one already
            there is reused).
        noise_profile: an extra config file merged after each bundle config (e.g. ``configs/noise/rician_0.05.json``).
        noise_levels: values of the noise's level parameter (``NoiseModel.level``: sigma, CT i0, radiographs
            photons) of the PSNR-against-noise study; default the noise model's ``levels``. The noise section's own
            value (the profile's) is the main level.
        retrain: train from the first epoch even where ``OUTPUT/models/<bundle>`` holds a run.
        baselines: include the classical baselines.
        lpips_model: an LPIPS-like module to use instead of loading LPIPS (tests inject one).
        overrides: config ids and values applied to every bundle config (e.g. ``{"batch_size": 8}``).
        weights: bundle -> trained weights (a ``model.pt``) to compare instead of training it (shipped or shared
            weights); bundles not named here are trained.
    """

    bundles: tuple[str, ...] = ()
    epochs: int = 30
    noise_profile: Path | None = None
    noise_levels: tuple[float, ...] = ()
    retrain: bool = False
    baselines: bool = True
    lpips_model: torch.nn.Module | None = None
    overrides: dict = field(default_factory=dict)
    weights: dict[str, Path] = field(default_factory=dict)


def dataset_modality(data_dir: Path) -> Modality:
    """The modality of a prepared dataset: ``modality`` in its ``provenance.json``.

    Raises:
        DataError: no ``provenance.json``, or one that names no modality: no modality is assumed (a CT dataset
            scored as MRI would be scored wrongly); the line says how to record it.
    """
    path = data_dir / "provenance.json"
    fix = (f"prepare the dataset with `monai-denoise prepare`, or record its modality in {path} as "
           f'{{"modality": "{MRI.name}"}} (one of {", ".join(sorted(MODALITIES))})')
    if not path.is_file():
        raise DataError(f"{data_dir}: no provenance.json, so its modality is unknown; {fix}")
    try:
        name = json.loads(path.read_text()).get("modality")
    except (json.JSONDecodeError, AttributeError) as err:
        raise DataError(f"{path}: not a provenance record ({err})") from None
    if not name:
        raise DataError(f"{path}: names no modality; {fix}")
    return get_modality(name)


def compared_bundles(bundles: tuple[str, ...], modality: Modality, data_dir: Path) -> tuple[str, ...]:
    """``bundles``, or every bundle of ``modality`` where none is named; a DataError for one of another modality."""
    if not bundles:
        return tuple(name for name, spec in BUNDLES.items() if spec.modality.name == modality.name)
    for bundle in bundles:
        other = BUNDLES[bundle].modality if bundle in BUNDLES else modality
        if other.name != modality.name:
            raise DataError(f"{bundle} is a {other.title} bundle but {data_dir} holds {modality.title} images "
                            f"(provenance.json); use it on data prepared with --modality {other.name}, or use "
                            f"the {modality.name}_denoising_* bundles here")
    return bundles


def level_text(value: float) -> str:
    """A noise level as tables print it: ``0.05``, ``400000`` (a whole number without ``.0``)."""
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else str(value)


def _rows(method: str, column: str, level: float, result: Scored, lpips: bool) -> pd.DataFrame:
    scores = result.scores if lpips else result.scores.assign(lpips=np.nan)
    table = scores.assign(**{column: level, "method": method, "settings": result.settings,
                             "seconds_per_slice": result.seconds / len(scores), "parameters": result.parameters})
    return table[[column, "method", "settings", "image", *METRICS, "seconds_per_slice", "parameters"]]


def _train_missing(config: CompareConfig, data_dir: Path, output: Path, extra: list[Path]) -> dict[str, Path]:
    """Train each bundle without given weights under ``output/models`` to ``config.epochs``, resuming an interrupted
    run (from the first epoch with ``retrain``); return every bundle's weights, given or trained."""
    weights = {bundle: Path(config.weights[bundle]) for bundle in config.bundles if bundle in config.weights}
    for bundle in config.bundles:
        if bundle in weights:
            print(f"\n=== {bundle}: weights {weights[bundle]} ===", flush=True)
            continue
        train_dir = output / "models" / bundle
        weights[bundle] = train_dir / "models" / "model.pt"
        print(f"\n=== train {bundle} for {config.epochs} epochs ===", flush=True)
        train_bundle(bundle, train_dir, extra, restart=config.retrain, dataset_dir=str(data_dir),
                     epochs=config.epochs, **config.overrides)
    return weights


def _evaluate_level(level: float, key: str, parser, config: CompareConfig, weights: dict[str, Path],
                    baselines: tuple[Baseline, ...], lpips: LPIPSMetric | None) -> tuple[dict[str, Scored], EvaluationSet]:
    """Every method on the seeded noisy test slices at noise ``level`` of noise section key ``key``; baselines tuned
    on the validation slices at that level alone (not at each of a bundle's ``val_levels``), given the level's noise
    section."""
    at_level = {f"noise#{key}": level}
    val_parser = parser(config.bundles[0], ["train"], **at_level, val_levels=None)
    noise = val_parser.get_parsed_content("noise")
    validation = evaluation_set(val_parser)
    test = evaluation_set(parser(config.bundles[0], ["train", "evaluate"], **at_level))
    results = {"noisy input": score_noisy(test, lpips)}
    for bundle in config.bundles:
        results[bundle] = score_network(parser(bundle, ["train", "evaluate"], **at_level), weights[bundle], test, lpips)
    for baseline in baselines:
        results[baseline.name] = result = score_baseline(baseline, test, noise, validation, lpips)
        print(f"  {baseline.name} ({result.settings}): {result.seconds:.1f} s", flush=True)
    return results, test


def run_compare(data_dir: Path, output: Path, config: CompareConfig) -> pd.DataFrame:
    """Train or reuse every bundle, evaluate everything, write tables and figures; return the summary."""
    for bundle in config.bundles:
        bundle_dir(bundle)
    if not (data_dir / "datalist.json").is_file():
        raise DataError(f"{data_dir / 'datalist.json'}: datalist not found (run monai-denoise prepare first)")
    modality = dataset_modality(data_dir)
    unknown = sorted(set(config.weights) - set(compared_bundles(config.bundles, modality, data_dir)))
    if unknown:
        raise DataError(f"weights given for {unknown}, which are not compared here; add them to the bundles")
    config = replace(config, bundles=compared_bundles(config.bundles, modality, data_dir))
    extra = [config.noise_profile] if config.noise_profile else []
    for bundle, path in config.weights.items():  # before anything trains: refused now, not after hours
        load_network(parse(bundle, ["train"], extra, dataset_dir=str(data_dir), **config.overrides), path)
    output.mkdir(parents=True, exist_ok=True)
    try:
        lpips, lpips_note = LPIPSMetric(config.lpips_model), ""
    except LPIPSUnavailable as err:
        lpips, lpips_note = None, str(err)
        print(f"LPIPS unavailable: {err}")
    weights = _train_missing(config, data_dir, output, extra)

    def parser(bundle: str, names: list[str], **overrides):
        return parse(bundle, names, extra, dataset_dir=str(data_dir), **config.overrides, **overrides)

    noise = parser(config.bundles[0], ["train"]).get_parsed_content("noise")
    model = noise_model(noise)
    key, column, kind = model.level, f"noise_{model.level}", model.describe(noise)
    main_level = float(noise[key])
    baselines = model.classical_baselines(noise) if config.baselines else ()
    tables = []
    for level in sorted({main_level, *map(float, config.noise_levels or model.levels)}):
        print(f"\n=== evaluate at {kind} {key} {level} ===", flush=True)
        results, test = _evaluate_level(level, key, parser, config, weights, baselines, lpips)
        tables += [_rows(method, column, level, result, lpips is not None) for method, result in results.items()]
        if level == main_level:
            _figures({m: r.pred for m, r in results.items()} | {"clean": test.clean}, test.names, config, modality,
                     f"{kind}, {key} {level_text(level)}", output)

    table = pd.concat(tables, ignore_index=True)
    write_csv(table, output / "comparison.csv")
    main = table[table[column] == main_level]
    details = main.groupby("method", sort=False)[["settings", "seconds_per_slice", "parameters"]].first()
    summary = summarize(main, METRICS).merge(details.reset_index(), on="method")
    if lpips is None:
        summary["lpips_mean"] = summary["lpips_std"] = "unavailable"
    write_csv(summary, output / "summary.csv")
    write_text(_markdown(summary, table, kind, key, main_level, lpips_note), output / "summary.md")
    plot_psnr_vs_noise(table, output / "psnr_vs_noise.png", level=column, label=model.level_label)
    print((output / "summary.md").read_text())
    return summary


def _markdown(summary: pd.DataFrame, table: pd.DataFrame, kind: str, key: str, level: float, lpips_note: str) -> str:
    def pm(mean, std, digits):  # one test image has no spread: its mean alone
        if isinstance(mean, str):
            return mean
        return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"

    shown = pd.DataFrame({
        "method": [f"{m} ({s})" if s else m for m, s in zip(summary.method, summary.settings)],
        "PSNR (dB)": [pm(m, s, 2) for m, s in zip(summary.psnr_mean, summary.psnr_std)],
        "SSIM": [pm(m, s, 4) for m, s in zip(summary.ssim_mean, summary.ssim_std)],
        "MAE": [pm(m, s, 4) for m, s in zip(summary.mae_mean, summary.mae_std)],
        "LPIPS": [pm(m, s, 4) for m, s in zip(summary.lpips_mean, summary.lpips_std)],
        "s / slice": [f"{v:.4f}" for v in summary.seconds_per_slice],
        "parameters": [f"{int(v):,}" if pd.notna(v) else "" for v in summary.parameters],
    })
    levels = table.groupby(["method", f"noise_{key}"], sort=False).psnr.mean().unstack().round(2)
    levels.columns = [f"PSNR at {key} {level_text(c)}" for c in levels.columns]
    text = [f"# Comparison: {kind} noise, {key} {level_text(level)}", "",
            f"{table.image.nunique()} test slices, the same seeded noise for every method; mean ± std per slice.", "",
            markdown_table(shown), ""]
    if lpips_note:
        text += [f"LPIPS: unavailable. {lpips_note}", ""]
    text += ["## PSNR (dB) against noise level", "", markdown_table(levels.reset_index()), ""]
    return "\n".join(text)


def _figures(examples: dict[str, torch.Tensor], names: list[str], config: CompareConfig, modality: Modality,
             noise: str, output: Path) -> None:
    picks = sorted({len(names) // 4, len(names) // 2, 3 * len(names) // 4})

    def panel(methods: list[str], rows: list[int], path: Path) -> None:
        columns = {m: [examples[m][i, 0].clamp(0, 1).numpy() for i in rows] for m in methods}
        plot_panels(columns, [names[i].replace(".nii.gz", "") for i in rows], path)

    panel(list(examples), picks, output / "panels_all_methods.png")
    scored = [m for m in examples if m not in ("noisy input", "clean")]
    mse = {m: float(((examples[m].clamp(0, 1) - examples["clean"]) ** 2).mean()) for m in scored}
    ranked = sorted(scored, key=mse.get)
    two = picks[:2]
    panel(["noisy input", ranked[0], "clean"], two, output / "panels_3x2.png")
    panel(["noisy input", *ranked[:3], "clean"], two, output / "panels_5x2.png")
    detail = picks[len(picks) // 2]
    plot_detail_panels({m: examples[m][detail, 0].clamp(0, 1).numpy() for m in ("noisy input", ranked[0], "clean")},
                       modality.display_windows, output / "panels_detail.png",
                       f"{names[detail].replace('.nii.gz', '')}, {noise}: the best method ({ranked[0]}) against the "
                       "noisy input")
    curves = {b: read_scalars(output / "models" / b / "logs") for b in config.bundles if b not in config.weights}
    if curves:
        plot_validation_curves(curves, output / "validation_curves.png")
