"""Federated against central training of one bundle on the embedded sample, split into sites.

``python -m benchmarks.federated --data runs/demo/data --output runs/federated [--bundle mri_denoising_unet]
[--sites 2] [--rounds 3] [--local-epochs 5]``

The prepared dataset's training volumes are dealt to ``--sites`` sites (whole volumes, the largest first to the
site with the fewest slices) and its validation slices alternately; each site gets a dataset folder of its own.
The job of ``monai-denoise federated job`` then runs in NVFlare's simulator (one process per site, FedAvg over
``--rounds`` rounds of ``--local-epochs`` epochs) and the same bundle trains centrally on all the training slices
for ``rounds x local epochs`` epochs, both from the same seeded initial weights. Both global models are scored on
the dataset's test split (seeded noise) as ``monai-denoise compare`` scores networks. Prints and writes
``OUTPUT/federated.md`` and ``federated.csv``: wall time, test PSNR / SSIM / MAE; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from monai_denoise.errors import DataError
from monai_denoise.federated import DATA_DIR_VARIABLE
from monai_denoise.federated_job import write_job
from monai_denoise.evaluation import score_network, evaluation_set
from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.workflows import parse, train_bundle

from .options import run_main
from .speed import machine


def split_sites(data: Path, sites: int, output: Path) -> list[Path]:
    """Site dataset folders (``datalist.json`` with absolute paths) from the prepared dataset ``data``."""
    datalist = json.loads((data / "datalist.json").read_text())
    manifest = pd.read_csv(data / "manifest.csv")
    volume_of = dict(zip(manifest.image, manifest.volume_id))  # keys as the datalist writes them: images/NAME
    volumes: dict[str, list[dict]] = {}
    for item in datalist["training"]:
        volumes.setdefault(volume_of[item["image"]], []).append({"image": str(data / item["image"])})
    if len(volumes) < sites:
        raise DataError(f"{data / 'datalist.json'}: {len(volumes)} training volume(s) cannot fill {sites} sites")
    shares = [{"training": [], "validation": []} for _ in range(sites)]
    for items in sorted(volumes.values(), key=len, reverse=True):
        min(shares, key=lambda share: len(share["training"]))["training"].extend(items)
    for number, item in enumerate(datalist["validation"]):
        shares[number % sites]["validation"].append({"image": str(data / item["image"])})
    folders = []
    for number, share in enumerate(shares, start=1):
        folder = output / f"site-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        write_text(json.dumps(share, indent=2) + "\n", folder / "datalist.json")
        folders.append(folder)
    return folders


def test_scores(bundle: str, data: Path, weights: Path) -> dict[str, float]:
    """Mean PSNR / SSIM / MAE of ``weights`` on the test split's seeded noisy slices."""
    parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(data))
    scores = score_network(parser, weights, evaluation_set(parser)).mean()
    return {name: scores[name] for name in ("psnr", "ssim", "mae")}


def run_federation(job: Path, workspace: Path, sites: list[Path]) -> float:
    """Run ``job`` in NVFlare's simulator, one process per site; its wall time in seconds."""
    env = {**os.environ, **{f"{DATA_DIR_VARIABLE}_SITE_{n}": str(folder) for n, folder in enumerate(sites, 1)}}
    nvflare = Path(sys.executable).parent / "nvflare"
    start = time.perf_counter()
    result = subprocess.run([str(nvflare), "simulator", str(job), "-w", str(workspace), "-n", str(len(sites)),
                             "-t", str(len(sites))], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (workspace.parent / "simulator.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise DataError(f"{workspace.parent / 'simulator.log'}: the NVFlare simulator failed (exit "
                        f"{result.returncode})")
    return seconds


def main(argv: list[str] | None = None) -> pd.DataFrame:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--data", required=True, type=Path, help="a prepared dataset (monai-denoise prepare --sample)")
    cli.add_argument("--output", required=True, type=Path)
    cli.add_argument("--bundle", default="mri_denoising_unet")
    cli.add_argument("--sites", type=int, default=2)
    cli.add_argument("--rounds", type=int, default=3)
    cli.add_argument("--local-epochs", type=int, default=5)
    args = cli.parse_args(argv)
    if not (args.data / "datalist.json").is_file():
        raise DataError(f"--data {args.data}: no datalist.json (run monai-denoise prepare --sample first)")
    args.output.mkdir(parents=True, exist_ok=True)
    sites = split_sites(args.data, args.sites, args.output / "sites")
    torch.manual_seed(0)
    initial = args.output / "initial.pt"
    torch.save(parse(args.bundle, ["train"]).get_parsed_content("network_def").state_dict(), initial)
    epochs = args.rounds * args.local_epochs

    job = write_job(args.bundle, args.output / "job", args.sites, args.rounds, args.local_epochs,
                    initial_weights=initial, overwrite=True)
    federated_seconds = run_federation(job, args.output / "workspace", sites)
    federated = args.output / "workspace" / "server" / "simulate_job" / "app_server" / "model.pt"

    start = time.perf_counter()
    train_bundle(args.bundle, args.output / "central", restart=True, dataset_dir=str(args.data), epochs=epochs,
                 finetune_from=str(initial))
    central_seconds = time.perf_counter() - start

    rows = [{"training": f"federated, {args.sites} sites x {args.rounds} rounds x {args.local_epochs} epochs",
             "seconds": federated_seconds, **test_scores(args.bundle, args.data, federated)},
            {"training": f"central, {epochs} epochs", "seconds": central_seconds,
             **test_scores(args.bundle, args.data, args.output / "central" / "models" / "model.pt")}]
    table = pd.DataFrame(rows)
    write_csv(table, args.output / "federated.csv")
    shown = table.assign(seconds=table.seconds.map("{:.0f}".format), psnr=table.psnr.map("{:.2f}".format),
                         ssim=table.ssim.map("{:.4f}".format), mae=table.mae.map("{:.4f}".format))
    text = (f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}.\n\nBundle {args.bundle}, test split of "
            f"{args.data} (seeded noise).\n\n{markdown_table(shown)}\n")
    write_text(text, args.output / "federated.md")
    print(text)
    return table


if __name__ == "__main__":
    run_main(main, __spec__.name)
