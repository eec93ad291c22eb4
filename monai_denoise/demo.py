"""`monai-denoise demo`: the main job on the embedded sample MRI, from raw volumes to a report.

1. prepare the sample (MNI152 T1 -> training, dipy b0 -> validation, EPI BOLD -> test),
2. train the U-Net bundle (``train.json``), 3. evaluate it on the seeded noisy test split
(``evaluate.json``) next to the noisy input and a Gaussian filter tuned on validation,
4. denoise the held-out EPI series (``inference.json``), 5. write tables and figures.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import torch
from monai.bundle import ConfigWorkflow
from monai.data import DataLoader

from data_prep import PrepareConfig, prepare_dataset, sample_volumes

from .baselines import gaussian_filter, tune_gaussian_sigma
from .errors import DataError
from .metrics import image_metrics
from .reports import plot_panels, plot_training_curves, read_scalars, summarize

BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "mri_denoising_unet"
DEMO_EPOCHS = 120


def _workflow(configs: list[str], workflow_type: str, **overrides) -> ConfigWorkflow:
    workflow = ConfigWorkflow(config_file=[str(BUNDLE / "configs" / f"{c}.json") for c in configs],
                              workflow_type=workflow_type, meta_file=str(BUNDLE / "configs" / "metadata.json"),
                              logging_file=str(BUNDLE / "configs" / "logging.conf"), bundle_root=str(BUNDLE),
                              **overrides)
    workflow.initialize()
    return workflow


def _stack(dataset) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(noisy, clean, names) of a dataset of seeded noisy slices, each ``(N, 1, H, W)``."""
    batch = next(iter(DataLoader(dataset, batch_size=len(dataset), shuffle=False)))
    names = [Path(p).name for p in batch["image"].meta["filename_or_obj"]]
    return batch["image"].as_tensor(), batch["label"].as_tensor(), names


@torch.no_grad()
def _denoise(network: torch.nn.Module, noisy: torch.Tensor, device: torch.device) -> torch.Tensor:
    network.eval()
    return torch.cat([network(chunk.to(device)).cpu() for chunk in noisy.split(8)])


def _stage(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def run_demo(output: Path, epochs: int | None = None, overwrite: bool = False) -> pd.DataFrame:
    """Run the whole demo into ``output``; return the per-method summary table."""
    if not (BUNDLE / "configs" / "train.json").is_file():
        raise DataError(f"{BUNDLE}: bundle not found; run the demo from a checkout of monai-denoise")
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{output}: folder exists and is not empty (pass --overwrite to replace it)")
        shutil.rmtree(output)
    epochs = epochs or DEMO_EPOCHS
    data, train_dir, report = output / "data", output / "train", output / "report"

    _stage("1/5 prepare the embedded sample MRI")
    sources = sample_volumes()
    manifest = prepare_dataset(sources, data, PrepareConfig(command=sys.argv))
    print(manifest.groupby(["split", "volume_id"]).size().to_string())

    _stage(f"2/5 train the U-Net bundle for {epochs} epochs")
    trainer = _workflow(["train"], "train", dataset_dir=str(data), output_dir=str(train_dir), epochs=epochs)
    trainer.run()
    iterations_per_epoch = trainer.trainer.state.epoch_length
    val_noisy, val_clean, _ = _stack(trainer.parser.get_parsed_content("validate#dataset"))
    trainer.finalize()

    _stage("3/5 evaluate on the held-out test volume (seeded noise) next to the baselines")
    evaluator = _workflow(["train", "evaluate"], "train", dataset_dir=str(data), output_dir=str(train_dir))
    evaluator.run()
    noisy, clean, names = _stack(evaluator.parser.get_parsed_content("validate#dataset"))
    denoised = _denoise(evaluator.parser.get_parsed_content("network"), noisy,
                        evaluator.parser.get_parsed_content("device"))
    evaluator.finalize()
    sigma = tune_gaussian_sigma(val_noisy, val_clean)
    methods = {"noisy input": noisy, f"Gaussian filter (sigma {sigma} px)": gaussian_filter(noisy, sigma),
               "U-Net bundle": denoised}
    table = pd.concat([pd.DataFrame({"method": method, "image": names,
                                     **{k: v.numpy() for k, v in image_metrics(images, clean).items()}})
                       for method, images in methods.items()], ignore_index=True)
    summary = summarize(table)
    report.mkdir(parents=True, exist_ok=True)
    table.to_csv(report / "metrics.csv", index=False, float_format="%.6g")
    summary.to_csv(report / "summary.csv", index=False, float_format="%.6g")

    _stage("4/5 denoise the held-out EPI series with inference.json")
    test_source = next(s.path for s in sources if s.split == "test")
    inference = _workflow(["inference"], "infer", dataset_dir=str(test_source), output_dir=str(output / "inference"),
                          ckpt_path=str(train_dir / "models" / "model.pt"))
    inference.run()
    inference.finalize()

    _stage("5/5 figures")
    picks = [len(names) // 4, len(names) // 2, 3 * len(names) // 4]
    columns = {m: [images[i, 0].clamp(0, 1).numpy() for i in picks] for m, images in methods.items()}
    columns["clean"] = [clean[i, 0].numpy() for i in picks]
    plot_panels(columns, [names[i].replace(".nii.gz", "") for i in picks], report / "panels.png")
    reference = {"noisy input": float(image_metrics(val_noisy, val_clean)["psnr"].mean())}
    plot_training_curves(read_scalars(train_dir / "logs"), report / "training_curves.png", iterations_per_epoch,
                         reference)

    with pd.option_context("display.width", 160, "display.precision", 4):
        print(summary.to_string(index=False))
    print(f"\nreport:       {report} (metrics.csv, summary.csv, panels.png, training_curves.png)")
    print(f"weights:      {train_dir / 'models' / 'model.pt'}")
    print(f"denoised:     {output / 'inference' / test_source.name}")
    print(f"TensorBoard:  tensorboard --logdir {train_dir / 'logs'}")
    return summary
