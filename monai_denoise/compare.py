"""`monai-denoise compare`: every bundle and the classical baselines on one seeded noisy test set.

Networks are trained through their bundles' ``train.json`` (or reused), then every method denoises
the same seeded noisy test slices at each noise level. Writes ``comparison.csv`` (per image),
``summary.csv`` / ``summary.md`` (mean +- std per method) and figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .baselines import BASELINES, Baseline, apply, rician_forms, tune
from .bundle import BUNDLES
from .errors import DataError
from .metrics import image_metrics
from .perceptual import LPIPSMetric, LPIPSUnavailable
from .reports import (markdown_table, plot_panels, plot_psnr_vs_noise, plot_validation_curves, read_scalars,
                      summarize)
from .workflows import bundle_dir, denoise, load_network, noisy_set, parse, run_workflow

METRICS = ("psnr", "ssim", "mae", "mse", "lpips")


@dataclass
class CompareConfig:
    """What to compare.

    Attributes:
        bundles: bundle names (folders under ``bundles/``); default every bundle.
        epochs: training epochs of each bundle that has no checkpoint yet (or with ``retrain``).
        noise_profile: an extra config file merged after each bundle config (e.g. ``configs/noise/rician_0.05.json``).
        noise_levels: sigmas of the PSNR-against-noise study; the profile's own sigma is the main level.
        retrain: train even where ``OUTPUT/models/<bundle>/models/model.pt`` exists.
        baselines: include the classical baselines.
        lpips_model: an LPIPS-like module to use instead of loading LPIPS (tests inject one).
        overrides: config ids and values applied to every bundle config (e.g. ``{"batch_size": 8}``).
    """

    bundles: tuple[str, ...] = tuple(BUNDLES)
    epochs: int = 30
    noise_profile: Path | None = None
    noise_levels: tuple[float, ...] = (0.02, 0.05, 0.10)
    retrain: bool = False
    baselines: bool = True
    lpips_model: torch.nn.Module | None = None
    overrides: dict = field(default_factory=dict)


@dataclass
class _Result:
    pred: torch.Tensor
    seconds: float
    parameters: int | None = None
    settings: str = ""


def _rows(method: str, sigma: float, names: list[str], result: _Result, clean: torch.Tensor,
          lpips: LPIPSMetric | None) -> pd.DataFrame:
    scores = {k: v.numpy() for k, v in image_metrics(result.pred, clean).items()}
    scores["lpips"] = lpips(result.pred, clean).numpy() if lpips else np.full(len(names), np.nan)
    return pd.DataFrame({"noise_sigma": sigma, "method": method, "settings": result.settings, "image": names,
                         **scores, "seconds_per_slice": result.seconds / len(names),
                         "parameters": result.parameters})


def run_compare(data_dir: Path, output: Path, config: CompareConfig) -> pd.DataFrame:
    """Train or reuse every bundle, evaluate everything, write tables and figures; return the summary."""
    for bundle in config.bundles:
        bundle_dir(bundle)
    if not (data_dir / "datalist.json").is_file():
        raise DataError(f"{data_dir / 'datalist.json'}: datalist not found (run monai-denoise prepare first)")
    output.mkdir(parents=True, exist_ok=True)
    try:
        lpips = LPIPSMetric(config.lpips_model)
        lpips_note = ""
    except LPIPSUnavailable as err:
        lpips, lpips_note = None, str(err)
        print(f"LPIPS unavailable: {err}")

    extra = [config.noise_profile] if config.noise_profile else []
    weights = {}
    for bundle in config.bundles:
        train_dir = output / "models" / bundle
        weights[bundle] = train_dir / "models" / "model.pt"
        if config.retrain or not weights[bundle].is_file():
            print(f"\n=== train {bundle} for {config.epochs} epochs ===", flush=True)
            run_workflow(bundle, ["train"], "train", extra, dataset_dir=str(data_dir), output_dir=str(train_dir),
                         epochs=config.epochs, **config.overrides)
        else:
            print(f"reusing {weights[bundle]}")

    def parser(bundle: str, names: list[str], **overrides):
        return parse(bundle, names, extra, dataset_dir=str(data_dir), **config.overrides, **overrides)

    reference = parser(config.bundles[0], ["train"])
    kind, main_sigma = reference["noise"]["type"], float(reference["noise"]["sigma"])
    baselines: tuple[Baseline, ...] = (BASELINES + rician_forms() if kind == "rician" else BASELINES) \
        if config.baselines else ()
    levels = sorted({main_sigma, *config.noise_levels})
    tables, examples = [], {}
    for sigma in levels:
        print(f"\n=== evaluate at {kind} sigma {sigma} ===", flush=True)
        val_noisy, val_clean, _ = noisy_set(parser(config.bundles[0], ["train"], **{"noise#sigma": sigma}))
        noisy, clean, names = noisy_set(parser(config.bundles[0], ["train", "evaluate"], **{"noise#sigma": sigma}))
        results = {"noisy input": _Result(noisy, 0.0)}
        for bundle in config.bundles:
            bundle_parser = parser(bundle, ["train", "evaluate"])
            network = load_network(bundle_parser, weights[bundle])
            start = time.perf_counter()
            pred = denoise(bundle_parser, network, noisy)
            results[bundle] = _Result(pred, time.perf_counter() - start, sum(p.numel() for p in network.parameters()))
        for baseline in baselines:
            params = tune(baseline, val_noisy, val_clean, sigma)
            start = time.perf_counter()
            pred = apply(baseline, noisy, sigma, params)
            results[baseline.name] = _Result(pred, time.perf_counter() - start,
                                             settings=", ".join(f"{k} {v}" for k, v in params.items()))
            print(f"  {baseline.name} ({results[baseline.name].settings}): {results[baseline.name].seconds:.1f} s",
                  flush=True)
        tables += [_rows(method, sigma, names, result, clean, lpips) for method, result in results.items()]
        if sigma == main_sigma:
            examples = {method: result.pred for method, result in results.items()} | {"clean": clean}
            example_names = names

    table = pd.concat(tables, ignore_index=True)
    table.to_csv(output / "comparison.csv", index=False, float_format="%.6g")
    main = table[table.noise_sigma == main_sigma]
    summary = summarize(main, METRICS)
    extra = main.groupby("method", sort=False)[["settings", "seconds_per_slice", "parameters"]].first().reset_index()
    summary = summary.merge(extra, on="method")
    if lpips is None:
        summary["lpips_mean"] = summary["lpips_std"] = "unavailable"
    summary.to_csv(output / "summary.csv", index=False, float_format="%.6g")
    _write_markdown(summary, table, kind, main_sigma, lpips_note, output / "summary.md")
    _figures(examples, example_names, config, output)
    plot_psnr_vs_noise(table, output / "psnr_vs_noise.png")
    print((output / "summary.md").read_text())
    return summary


def _write_markdown(summary: pd.DataFrame, table: pd.DataFrame, kind: str, sigma: float, lpips_note: str,
                    path: Path) -> None:
    def pm(mean, std, digits):
        return mean if isinstance(mean, str) else f"{mean:.{digits}f} ± {std:.{digits}f}"

    shown = pd.DataFrame({
        "method": [f"{m} ({s})" if s else m for m, s in zip(summary.method, summary.settings)],
        "PSNR (dB)": [pm(m, s, 2) for m, s in zip(summary.psnr_mean, summary.psnr_std)],
        "SSIM": [pm(m, s, 4) for m, s in zip(summary.ssim_mean, summary.ssim_std)],
        "MAE": [pm(m, s, 4) for m, s in zip(summary.mae_mean, summary.mae_std)],
        "LPIPS": [pm(m, s, 4) for m, s in zip(summary.lpips_mean, summary.lpips_std)],
        "s / slice": [f"{v:.4f}" for v in summary.seconds_per_slice],
        "parameters": [f"{int(v):,}" if pd.notna(v) else "" for v in summary.parameters],
    })
    levels = table.groupby(["method", "noise_sigma"], sort=False).psnr.mean().unstack().round(2)
    levels.columns = [f"PSNR at sigma {c}" for c in levels.columns]
    text = [f"# Comparison: {kind} noise, sigma {sigma}", "",
            f"{table.image.nunique()} test slices, the same seeded noise for every method; mean ± std per slice.", "",
            markdown_table(shown), ""]
    if lpips_note:
        text += [f"LPIPS: unavailable. {lpips_note}", ""]
    text += ["## PSNR (dB) against noise level", "", markdown_table(levels.reset_index()), ""]
    path.write_text("\n".join(text))


def _figures(examples: dict[str, torch.Tensor], names: list[str], config: CompareConfig, output: Path) -> None:
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
    curves = {b: read_scalars(output / "models" / b / "logs") for b in config.bundles}
    plot_validation_curves(curves, output / "validation_curves.png")
