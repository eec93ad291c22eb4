"""Denoising quality on whole held-out MRI volumes: the bundles against NLM, BM3D and BM4D.

``python -m benchmarks.quality --output runs/quality --weights mri_denoising_drunet=bundles/mri_denoising_drunet/models/model.pt
[--adapt mri_denoising_drunet] [--volumes my_scan.nii.gz ...] [--conditions gaussian:0.05 gaussian:0.10 rician:0.05 rician:0.10]``

Every test volume (by default the embedded EPI run that no bundle trains on; each frame of a 4D file is
one volume) is normalised with the 0.5 / 99.5 percentiles to [0, 1] as ``data_prep`` does, then, for
each noise condition, gets seeded noise (the same on every run and machine) and is denoised by:

- each bundle with the given weights, as its ``inference.json`` runs: the noisy volume normalised by its own
  percentiles, slice by slice through the bundle's inferer, mapped back (a noise-level-conditioned bundle
  twice: given the true sigma, and estimating it from the volume);
- with ``--adapt``, under Gaussian noise, those bundles again after their ``adapt.json`` fine-tuned them on
  each noisy volume alone (Recorrupted-to-Recorrupted pairs), adaptation time included: given the true
  sigma, and estimating it from the volume as ``adapt.json`` does by default;
- non-local means (scikit-image, slice by slice, filter strength tuned on the validation split's
  slices when ``--data`` is given, else 0.8 sigma);
- BM3D slice by slice and BM4D on the whole volume, both given the true sigma; under Rician noise also
  their two bias-corrected forms (``post``: ``sqrt(max(D(m)^2 - 2 s^2, 0))``, ``squared``: ``D(m^2)``
  corrected the same way), the better of which is the fair classical reference.

PSNR (data range 1) is over every voxel of the native-size volume, SSIM is the mean 2D SSIM over its
axial slices. Writes ``quality.csv`` (one row per volume, condition and method) and ``quality.md``
(mean over volumes, seconds per slice and per volume), prints the table and the target gaps, asserts
nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bm4d
import nibabel as nib
import numpy as np
import pandas as pd
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor

from data_prep.sources import sample_volumes
from monai_denoise.volumes import load_volume
from monai_denoise.baselines import (
    BASELINES,
    bm3d_denoise,
    nl_means,
    remove_rician_bias,
    rician_bias_corrected,
)
from monai_denoise.bundle import BUNDLES
from monai_denoise.errors import DataError
from monai_denoise.inferers import NoiseLevelInferer
from monai_denoise.evaluation import evaluation_set, tune_baseline, volume_scores
from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.transforms import PercentileNormalize, SyntheticNoise, item_seed
from monai_denoise.workflows import load_network, parse, parse_weights, run_workflow

from .options import json_object, run_main
from .speed import machine

SEED = 20261122
DEFAULT_CONDITIONS = ("gaussian:0.05", "gaussian:0.1", "rician:0.05", "rician:0.1")
VolumeDenoiser = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Condition:
    """A noise type and its standard deviation on the [0, 1] scale."""

    kind: str
    sigma: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        """``"rician:0.05"`` -> ``Condition("rician", 0.05)``."""
        kind, _, sigma = text.partition(":")
        if kind not in ("gaussian", "rician") or not sigma:
            raise argparse.ArgumentTypeError(f"noise condition must be gaussian:SIGMA or rician:SIGMA, got {text!r}")
        return cls(kind, float(sigma))

    def __str__(self) -> str:
        return f"{self.kind} {self.sigma:g}"


@dataclass
class HeldOutVolume:
    """One normalised 3D test volume ``(X, Y, Z)`` in [0, 1] and its name (file stem and frame)."""

    name: str
    clean: torch.Tensor


def held_out_volumes(paths: list[Path], lower: float = 0.5, upper: float = 99.5) -> list[HeldOutVolume]:
    """Every frame of every NIfTI file in ``paths``, RAS-oriented and percentile-normalised to [0, 1]."""
    normalize = PercentileNormalize(lower, upper, clip=True)
    volumes = []
    for path in paths:
        series = load_volume(path)
        stem = path.name.removesuffix(".gz").removesuffix(".nii")
        for frame in range(series.shape[0]):
            clean = normalize(series[frame:frame + 1]).as_tensor()[0]
            volumes.append(HeldOutVolume(f"{stem}_t{frame:03d}", clean))
    return volumes


def noisy_volume(volume: HeldOutVolume, condition: Condition) -> torch.Tensor:
    """``volume`` with seeded noise of ``condition``: the same array on every run and machine."""
    noise = SyntheticNoise(condition.kind, condition.sigma)
    noise.set_random_state(seed=item_seed(SEED, f"{volume.name}:{condition.kind}:{condition.sigma}"))
    return noise(volume.clean[None])[0]


def slicewise(denoiser: Callable[..., np.ndarray], **params) -> VolumeDenoiser:
    """Apply a 2D ``denoiser(image, sigma, **params)`` to each axial slice ``[:, :, z]`` of a volume."""

    def run(volume: np.ndarray, sigma: float) -> np.ndarray:
        return np.stack([denoiser(volume[:, :, z], sigma, **params) for z in range(volume.shape[2])], axis=2)

    return run


def bm4d_denoise(volume: np.ndarray, sigma: float) -> np.ndarray:
    """BM4D (the ``bm4d`` package) on a whole 3D volume with the true noise standard deviation."""
    return np.asarray(bm4d.bm4d(volume, sigma_psd=sigma), dtype=np.float32)


def network_denoisers(bundle: str, weights: Path) -> dict[str, VolumeDenoiser]:
    """Method name -> the bundle's network with ``weights``, run on a noisy volume as its ``inference.json`` runs it.

    A noise-level-conditioned bundle comes twice: given the true sigma, as BM3D and BM4D are, and with the
    sigma its inferer estimates from the noisy volume, as it runs on a user's scan by default.
    """
    parser = parse(bundle, ["inference"], device="$torch.device('cpu')", amp=False)
    network = load_network(parser, weights)

    def given(noise_level: str | None) -> VolumeDenoiser:
        return lambda volume, sigma: denoise_as_inference(parser, network, volume, sigma, noise_level)

    if not isinstance(parser.get_parsed_content("inferer"), NoiseLevelInferer):
        return {bundle: given(None)}
    return {f"{bundle} (true sigma)": given(None), f"{bundle} (estimated sigma)": given("estimate")}


def adapted_denoisers(bundle: str, weights: Path, overrides: dict | None = None) -> dict[str, VolumeDenoiser]:
    """Method name -> the bundle's network adapted to each noisy volume alone by its ``adapt.json`` (with
    ``overrides``), then run as :func:`network_denoisers` runs it; its time counts. Twice: adaptation (and a
    noise-level-conditioned inferer) given the true sigma, as BM3D is, and estimating it from the volume, as
    ``adapt.json`` does by default."""
    overrides = overrides or {}
    parser = parse(bundle, ["inference"], device="$torch.device('cpu')", amp=False)
    iterations = parse(bundle, ["adapt"], **overrides).get_parsed_content("adaptation#iterations")

    def adapted(noise_level: str | None) -> VolumeDenoiser:
        def run(volume: np.ndarray, sigma: float) -> np.ndarray:
            network = adapted_network(parser, bundle, weights, volume, sigma, overrides, noise_level)
            return denoise_as_inference(parser, network, volume, sigma, noise_level)

        return run

    return {f"{bundle} adapted to the scan ({iterations} it., {name} sigma)": adapted(level)
            for name, level in (("true", None), ("estimated", "estimate"))}


def normalized(parser: ConfigParser, volume: np.ndarray) -> tuple[MetaTensor, PercentileNormalize]:
    """``volume`` ``(X, Y, Z)`` -> ``(1, X, Y, Z)`` normalised by its own percentiles as ``inference.json`` does, and
    the transform that inverts it."""
    lower, upper = parser.get_parsed_content("percentiles")
    normalize = PercentileNormalize(lower, upper, clip=False)
    return normalize(torch.from_numpy(volume)[None]), normalize


def normalized_sigma(scaled: MetaTensor, sigma: float) -> float:
    """A noise sigma on the scale of the input of :func:`normalized` -> on its normalised scale."""
    bounds = scaled.meta["normalization"]
    return sigma / (bounds["upper_value"] - bounds["lower_value"])


@torch.no_grad()
def denoise_as_inference(parser: ConfigParser, network: torch.nn.Module, volume: np.ndarray, sigma: float,
                         noise_level: str | None = None) -> np.ndarray:
    """Denoise ``volume`` as the bundle's ``inference.json`` does: normalise by its percentiles, run the inferer,
    map back. A noise-level-conditioned inferer gets ``noise_level``, or by default the true ``sigma``."""
    scaled, normalize = normalized(parser, volume)
    inferer = parser.get_parsed_content("inferer")
    if isinstance(inferer, NoiseLevelInferer):
        given = normalized_sigma(scaled, sigma) if noise_level is None else noise_level
        inferer = NoiseLevelInferer(inferer.inferer, given)
    pred = inferer(scaled.as_tensor()[None], network)[0]
    return normalize.inverse(MetaTensor(pred, applied_operations=scaled.applied_operations))[0].numpy()


def adapted_network(parser: ConfigParser, bundle: str, weights: Path, volume: np.ndarray, sigma: float,
                    overrides: dict, noise_level: str | None = None) -> torch.nn.Module:
    """The bundle's network after its ``adapt.json`` ran from ``weights`` on the noisy ``volume`` alone.

    ``volume`` goes to a NIfTI file, as a user's scan would, and ``adapt.json`` gets ``noise_level``, or by default
    the true ``sigma`` in the scan's units (the volume's own).
    """
    level = sigma if noise_level is None else noise_level
    with tempfile.TemporaryDirectory() as folder:
        scans, adapted = Path(folder) / "scan", Path(folder) / "adapted"
        scans.mkdir()
        nib.save(nib.Nifti1Image(volume.astype(np.float32), np.eye(4)), str(scans / "noisy.nii.gz"))
        run_workflow(bundle, ["adapt"], "train", dataset_dir=str(scans), output_dir=str(adapted),
                     ckpt_path=str(weights), noise_level=level, device="$torch.device('cpu')", amp=False,
                     **overrides)
        return load_network(parser, adapted / "models" / "model.pt")


def nlm_strength(data: Path | None, condition: Condition) -> float:
    """Non-local means ``h_factor`` tuned on the validation split's seeded noisy slices (0.8 without data)."""
    if data is None:
        return 0.8
    parser = parse(next(iter(BUNDLES)), ["train"], dataset_dir=str(data),
                   **{"noise#type": condition.kind, "noise#sigma": condition.sigma})
    baseline = next(b for b in BASELINES if b.denoiser is nl_means)
    return float(tune_baseline(baseline, evaluation_set(parser), condition.sigma)["h_factor"])


def methods(condition: Condition, networks: dict[str, VolumeDenoiser], adapted: dict[str, VolumeDenoiser],
            h_factor: float) -> dict[str, tuple[VolumeDenoiser, str | None]]:
    """Method name -> (volume denoiser, name of the method whose output it corrects for Rician bias, or None).

    ``adapted`` networks run under Gaussian noise only: their recorrupted training pairs need zero-mean noise,
    and Rician noise is not (it lifts the background to a floor that the scan alone cannot tell from anatomy).
    """
    table: dict[str, tuple[VolumeDenoiser, str | None]] = {name: (run, None) for name, run in networks.items()}
    if condition.kind == "gaussian":
        table.update((name, (run, None)) for name, run in adapted.items())
    table[f"non-local means (h {h_factor:g} sigma, slices)"] = (slicewise(nl_means, h_factor=h_factor), None)
    table["BM3D (true sigma, slices)"] = (slicewise(bm3d_denoise), None)
    table["BM4D (true sigma, volume)"] = (bm4d_denoise, None)
    if condition.kind == "rician":
        for name, run in (("BM3D", slicewise(bm3d_denoise)), ("BM4D", bm4d_denoise)):
            source = next(m for m in table if m.startswith(name))
            table[f"{name} bias-corrected, post"] = (run, source)
            table[f"{name} bias-corrected, squared"] = (rician_bias_corrected(run, "squared"), None)
    return table


def evaluate(volumes: list[HeldOutVolume], conditions: list[Condition], networks: dict[str, VolumeDenoiser],
             adapted: dict[str, VolumeDenoiser], data: Path | None) -> pd.DataFrame:
    """One row per volume, condition and method: PSNR, SSIM, MAE, seconds per volume and per slice."""
    rows = []
    for condition in conditions:
        h_factor = nlm_strength(data, condition)
        for volume in volumes:
            noisy = noisy_volume(volume, condition).numpy()
            outputs: dict[str, np.ndarray] = {}
            rows.append({"condition": str(condition), "volume": volume.name, "method": "noisy input",
                         **volume_scores(noisy, volume.clean), "seconds_per_volume": 0.0})
            for name, (run, source) in methods(condition, networks, adapted, h_factor).items():
                start = time.perf_counter()
                if source is None:
                    outputs[name] = run(noisy, condition.sigma)
                    seconds = time.perf_counter() - start
                else:
                    outputs[name] = remove_rician_bias(outputs[source], condition.sigma)
                    seconds = rows_seconds(rows, str(condition), volume.name, source)
                rows.append({"condition": str(condition), "volume": volume.name, "method": name,
                             **volume_scores(outputs[name], volume.clean), "seconds_per_volume": seconds})
                print(f"{condition} {volume.name} {name}: PSNR {rows[-1]['psnr']:.2f} dB, "
                      f"SSIM {rows[-1]['ssim']:.4f}, {seconds:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    slices = {v.name: v.clean.shape[2] for v in volumes}
    table["seconds_per_slice"] = table.seconds_per_volume / table.volume.map(slices)
    return table


def rows_seconds(rows: list[dict], condition: str, volume: str, method: str) -> float:
    """Seconds of an earlier row (a bias correction costs its source method's time)."""
    return next(r["seconds_per_volume"] for r in rows
                if (r["condition"], r["volume"], r["method"]) == (condition, volume, method))


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over volumes per condition and method."""
    keys = ["condition", "method"]
    return table.groupby(keys, sort=False)[["psnr", "ssim", "mae", "seconds_per_volume", "seconds_per_slice"]
                                           ].mean().reset_index()


def gaps(means: pd.DataFrame, networks: list[str]) -> list[str]:
    """Per condition: the best network's PSNR / SSIM against the best classical reference (BM3D and BM4D forms)."""
    lines = []
    for condition, rows in means.groupby("condition", sort=False):
        nets = rows[rows.method.isin(networks)]
        if nets.empty:
            continue
        best = nets.loc[nets.psnr.idxmax()]
        for family in ("BM3D", "BM4D"):
            refs = rows[rows.method.str.startswith(family)]
            ref = refs.loc[refs.psnr.idxmax()]
            lines.append(f"{condition}: {best.method} {best.psnr:.2f} dB / SSIM {best.ssim:.4f} vs "
                         f"{ref.method} {ref.psnr:.2f} dB / SSIM {ref.ssim:.4f}: "
                         f"{best.psnr - ref.psnr:+.2f} dB, SSIM {best.ssim - ref.ssim:+.4f}")
    return lines


def report(means: pd.DataFrame, volumes: list[HeldOutVolume], weights: dict[str, Path], networks: list[str],
           args: argparse.Namespace) -> str:
    """The Markdown report: machine, command inputs, the table per condition and the gaps (``networks``: method names)."""
    shown = pd.DataFrame({
        "noise": means.condition, "method": means.method, "PSNR (dB)": means.psnr.map("{:.2f}".format),
        "SSIM": means.ssim.map("{:.4f}".format), "MAE": means.mae.map("{:.4f}".format),
        "s / slice": means.seconds_per_slice.map("{:.4f}".format),
        "s / volume": means.seconds_per_volume.map("{:.2f}".format)})
    about = ", ".join(f"{k} {v}" for k, v in machine().items())
    described = ", ".join(f"{v.name} ({'x'.join(map(str, v.clean.shape))})" for v in volumes)
    weights_text = ", ".join(f"{b}: `{w}`" for b, w in weights.items())
    return "\n\n".join([
        f"Machine: {about}.",
        f"Test volumes (mean over them): {described}. Weights: {weights_text}.",
        markdown_table(shown),
        "Best network against the best BM3D / BM4D form:\n\n" + "\n".join(f"- {g}" for g in gaps(means, networks)),
        ("PSNR over every voxel of the native-size volume (data range 1), SSIM the mean 2D SSIM of its axial "
         "slices; seeded noise, the same for every method. BM3D and BM4D get the true sigma; under Rician noise "
         "their bias-corrected forms remove the noise floor sqrt(2) sigma. Networks run as their bundle's "
         "`inference.json` does (the noisy volume normalised by its own percentiles, slice by slice, mapped back), "
         "on the CPU; an adapted network was first fine-tuned on that noisy volume alone by the bundle's "
         "`adapt.json` (given the true sigma, or estimating it), and its seconds include that."),
    ]) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, required=True, help="folder for quality.csv and quality.md")
    cli.add_argument("--weights", nargs="*", default=[], metavar="BUNDLE=PATH", help="trained weights per bundle")
    cli.add_argument("--volumes", nargs="*", type=Path, default=None,
                     help="NIfTI test volumes (3D or 4D); default the embedded EPI test run")
    cli.add_argument("--conditions", nargs="+", type=Condition.parse,
                     default=[Condition.parse(c) for c in DEFAULT_CONDITIONS], metavar="TYPE:SIGMA")
    cli.add_argument("--data", type=Path, default=None,
                     help="prepared dataset whose validation split tunes non-local means (optional)")
    cli.add_argument("--max-volumes", type=int, default=None, help="use only the first N test volumes")
    cli.add_argument("--adapt", nargs="*", default=[], metavar="BUNDLE",
                     help="bundles (among --weights) also scored after adapting to each noisy volume (adapt.json)")
    cli.add_argument("--adapt-overrides", type=json_object, default={}, metavar="JSON",
                     help='adapt.json overrides, e.g. \'{"adaptation#iterations": 800}\'')
    args = cli.parse_args(argv)
    unknown = [b for b in args.adapt if not any(w.partition("=")[0] == b for w in args.weights)]
    if unknown:
        cli.error(f"--adapt {unknown}: give their weights with --weights")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print the table and the gaps, write ``quality.csv`` and ``quality.md``."""
    args = parse_args(argv)
    weights = parse_weights(args.weights)
    if args.data is not None and not (args.data / "datalist.json").is_file():
        raise DataError(f"--data {args.data}: no datalist.json (run monai-denoise prepare first)")
    paths = args.volumes or [s.path for s in sample_volumes() if s.split == "test"]
    volumes = held_out_volumes(paths)[:args.max_volumes]
    networks = {name: run for bundle, path in weights.items() for name, run in network_denoisers(bundle, path).items()}
    adapted = {name: run for bundle in args.adapt
               for name, run in adapted_denoisers(bundle, weights[bundle], args.adapt_overrides).items()}
    for run in networks.values():  # untimed warm-up: the first call sets up the CPU kernels for the slice size
        run(volumes[0].clean.numpy(), 0.0)
    table = evaluate(volumes, args.conditions, networks, adapted, args.data)
    args.output.mkdir(parents=True, exist_ok=True)
    write_csv(table, args.output / "quality.csv")
    text = report(summary(table), volumes, weights, [*networks, *adapted], args)
    write_text(text, args.output / "quality.md")
    print("\n" + text, flush=True)
    return table


if __name__ == "__main__":
    run_main(main, __spec__.name)
