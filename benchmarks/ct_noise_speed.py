"""Speed and noise level of the projection-domain low-dose CT noise (``LowDoseCTNoise``) on this machine's CPU.

``python -m benchmarks.ct_noise_speed [--sizes 256 512] [--views 360 720] [--doses 5e4 1e5 2e5 1e6] [--repeats 2]
[--threads N] [--no-skimage] [--output DIR]``

The slice is a 0 HU water disc ``--diameter-mm`` across (default 200 mm, an adult neck or a child's abdomen) in
-1000 HU air, in a ``--fov-mm`` field of view (default 358.4 mm: 0.7 mm pixels at 512x512, 1.4 mm at 256x256).
For each slice size and number of views:

1. setup: seconds to build the projector's geometry (once per process, size and views);
2. s / slice: seconds per call of ``LowDoseCTNoise`` (projection, Poisson and electronic noise, FBP of the noise),
   the mean over ``--repeats`` calls at each dose after one warm-up call; projection: of which the clean forward
   projection alone;
3. scikit-image: the same noise made with scikit-image's ``radon`` and ``iradon`` (ramp filter), one call, and
   its noise std at 2e5 photons (the check that both projectors give the same noise);
4. std at each dose: the noise (noisy minus clean, HU) standard deviation inside the central 80 % of the disc's
   radius, averaged over the ``--repeats`` seeded draws.

Prints one Markdown table and, with ``--output``, writes ``ct_noise_speed.md`` and ``ct_noise_speed.csv``; asserts
nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skimage.transform import iradon, radon

from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.transforms.ct_noise import MIN_COUNTS, LowDoseCTNoise, projector

from .options import run_main
from .speed import cpu_model

ELECTRONIC_STD, MU_WATER, REFERENCE_DOSE = 10.0, 0.019, 2e5


def water_disc(size: int, pixel_mm: float, diameter_mm: float) -> tuple[torch.Tensor, np.ndarray]:
    """(the slice ``(1, size, size)`` on the normalised scale of the window (-1000, 1000) HU, the mask of the
    central 80 % of the disc's radius)."""
    radius = np.hypot(*(np.mgrid[:size, :size] - size // 2)) * pixel_mm
    hu = np.where(radius < diameter_mm / 2, 0.0, -1000.0)
    return torch.from_numpy(((hu + 1000.0) / 2000.0).astype(np.float32))[None], radius < 0.4 * diameter_mm


def skimage_noise_hu(hu: np.ndarray, pixel_mm: float, views: int, i0: float, rng: np.random.RandomState) -> np.ndarray:
    """The noise of :class:`LowDoseCTNoise` (HU) made with scikit-image's ``radon`` / ``iradon``."""
    angles = np.arange(views) * 180.0 / views
    mean_counts = i0 * np.exp(-radon(MU_WATER * pixel_mm * (1.0 + np.maximum(hu, -1000.0) / 1000.0), angles,
                                     circle=False))
    counts = rng.poisson(mean_counts) + rng.normal(0.0, ELECTRONIC_STD, mean_counts.shape)
    line_noise = np.log(mean_counts / np.maximum(counts, MIN_COUNTS))
    return iradon(line_noise, angles, circle=False, filter_name="ramp") * 1000.0 / (MU_WATER * pixel_mm)


def measure(size: int, views: int, args: argparse.Namespace) -> dict[str, float | int | str]:
    """One table row: timings and noise std of ``size`` x ``size`` slices scanned with ``views`` views."""
    pixel_mm = args.fov_mm / size
    clean, centre = water_disc(size, pixel_mm, args.diameter_mm)
    start = time.perf_counter()
    geometry = projector(size, size, views)
    row: dict[str, float | int | str] = {"size": f"{size}x{size}", "views": views, "pixel mm": round(pixel_mm, 3),
                                         "setup s": round(time.perf_counter() - start, 3)}
    LowDoseCTNoise(views=views, pixel_mm=pixel_mm)(clean)  # warm-up: first-touch costs of the geometry's arrays
    seconds, stds = [], {}
    for dose in args.doses:
        transform = LowDoseCTNoise(i0=dose, electronic_std=ELECTRONIC_STD, views=views, pixel_mm=pixel_mm,
                                   mu_water=MU_WATER)
        draws = []
        for seed in range(args.repeats):
            transform.set_random_state(seed)
            start = time.perf_counter()
            noisy = transform(clean)
            seconds.append(time.perf_counter() - start)
            draws.append(float(((noisy - clean)[0].numpy() * 2000.0)[centre].std()))
        stds[f"std HU {dose:g}"] = round(float(np.mean(draws)), 2)
    row["s / slice"] = round(float(np.mean(seconds)), 3)
    start = time.perf_counter()
    geometry.forward(clean)
    row["projection s"] = round(time.perf_counter() - start, 3)
    if args.skimage:
        start = time.perf_counter()
        noise = skimage_noise_hu(clean[0].numpy() * 2000.0 - 1000.0, pixel_mm, views, REFERENCE_DOSE,
                                 np.random.RandomState(0))
        row["scikit-image s / slice"] = round(time.perf_counter() - start, 2)
        row["speed-up"] = f"{row['scikit-image s / slice'] / row['s / slice']:.0f}x"
    row.update(stds)
    if args.skimage:
        row[f"scikit-image std HU {REFERENCE_DOSE:g}"] = round(float(noise[centre].std()), 2)
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.ct_noise_speed", description=__doc__.split("\n\n")[0])
    cli.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="slice sizes (square; default 256 512)")
    cli.add_argument("--views", type=int, nargs="+", default=[360, 720], help="views over 180 degrees")
    cli.add_argument("--doses", type=float, nargs="+", default=[5e4, 1e5, 2e5, 1e6], help="I0, photons per ray")
    cli.add_argument("--repeats", type=int, default=2, help="timed, seeded calls per dose (default 2)")
    cli.add_argument("--diameter-mm", type=float, default=200.0, help="water disc diameter (mm, default 200)")
    cli.add_argument("--fov-mm", type=float, default=358.4, help="field of view (mm, default 358.4)")
    cli.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as in a DataLoader worker)")
    cli.add_argument("--no-skimage", dest="skimage", action="store_false",
                     help="skip the scikit-image comparison (about 15 s at 512x512 with 720 views)")
    cli.add_argument("--output", type=Path, help="folder for ct_noise_speed.md and ct_noise_speed.csv")
    args = cli.parse_args(argv)
    if args.repeats < 1 or min(args.sizes) < 8 or min(args.views) < 1 or min(args.doses) <= 0:
        cli.error("--repeats and --views must be at least 1, --sizes at least 8 and --doses above 0")
    if args.diameter_mm >= args.fov_mm:
        cli.error("--diameter-mm must be smaller than --fov-mm")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print the table and, with ``--output``, write it as Markdown and CSV."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    frame = pd.DataFrame([measure(size, views, args) for size in args.sizes for views in args.views])
    notes = (f"Machine: {cpu_model()}, {torch.get_num_threads()} torch thread(s). "
             f"Water disc {args.diameter_mm:g} mm in a {args.fov_mm:g} mm field of view, electronic noise "
             f"{ELECTRONIC_STD:g} counts, mu_water {MU_WATER} / mm.")
    text = notes + "\n\n" + markdown_table(frame) + "\n"
    print(text, flush=True)
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        write_csv(frame, args.output / "ct_noise_speed.csv")
        write_text(text, args.output / "ct_noise_speed.md")
    return frame


if __name__ == "__main__":
    run_main(main, __spec__.name)
