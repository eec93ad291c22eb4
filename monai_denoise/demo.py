"""`monai-denoise demo`: the main job on the embedded sample MRI, from raw volumes to a report.

1. prepare the sample (MNI152 T1, dipy test_piesno and photographs -> training, dipy b0 -> validation,
EPI BOLD -> test),
2. train the U-Net bundle (``train.json``), 3. score it on the seeded noisy test split (the bundle's own
evaluation, :mod:`monai_denoise.evaluation`) next to the noisy input and a Gaussian filter tuned on validation,
4. denoise the held-out EPI series (``inference.json``), 5. write tables and figures,
6. for every other modality (CT, radiographs): prepare its embedded sample and score the bundles that ship weights
on its held-out images (seeded noise at the modality's default dose) with ``monai-denoise compare``: metrics and
noisy / denoised / clean panels.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from data_prep import PrepareConfig, prepare_dataset, sample_volumes

from .baselines import BASELINES
from .bundle import BUNDLES
from .compare import CompareConfig, run_compare
from .evaluation import score_baseline, score_network, score_noisy, evaluation_set
from .modalities import MODALITIES, Modality
from .reports import plot_panels, plot_training_curves, read_scalars, summarize, write_csv
from .workflows import bundle_dir, parse, run_workflow, shipped_weights

BUNDLE = "mri_denoising_unet"
DEMO_EPOCHS = 70


def _stage(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def run_demo(output: Path, epochs: int | None = None, overwrite: bool = False) -> pd.DataFrame:
    """Run the whole demo into ``output``; return the per-method summary table."""
    bundle_dir(BUNDLE)
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{output}: folder exists and is not empty (pass --overwrite to replace it)")
        shutil.rmtree(output)
    epochs = epochs or DEMO_EPOCHS
    data, train_dir, report = output / "data", output / "train", output / "report"

    _stage("1/6 prepare the embedded sample MRI")
    sources = sample_volumes()
    manifest = prepare_dataset(sources, data, PrepareConfig(command=sys.argv))
    print(manifest.groupby(["split", "volume_id"]).size().to_string())

    _stage(f"2/6 train the U-Net bundle for {epochs} epochs")
    trainer = run_workflow(BUNDLE, ["train"], "train", dataset_dir=str(data), output_dir=str(train_dir),
                           epochs=epochs)
    iterations_per_epoch = trainer.trainer.state.epoch_length

    _stage("3/6 evaluate on the held-out test volume (seeded noise) next to the baselines")
    parser = parse(BUNDLE, ["train", "evaluate"], dataset_dir=str(data))
    validation, test = evaluation_set(parse(BUNDLE, ["train"], dataset_dir=str(data))), evaluation_set(parser)
    sigma = float(parser["noise"]["sigma"])
    gaussian = score_baseline(next(b for b in BASELINES if b.name == "Gaussian filter"), test, sigma, validation)
    methods = {"noisy input": score_noisy(test), f"Gaussian filter ({gaussian.settings})": gaussian,
               "U-Net bundle": score_network(parser, train_dir / "models" / "model.pt", test)}
    table = pd.concat([pd.concat([pd.Series(method, index=scored.scores.index, name="method"), scored.scores], axis=1)
                       for method, scored in methods.items()], ignore_index=True)
    names, clean = test.names, test.clean
    summary = summarize(table)
    write_csv(table, report / "metrics.csv")
    write_csv(summary, report / "summary.csv")

    _stage("4/6 denoise the held-out EPI series with inference.json")
    test_source = next(s.path for s in sources if s.split == "test")
    run_workflow(BUNDLE, ["inference"], "infer", dataset_dir=str(test_source), output_dir=str(output / "inference"),
                 ckpt_path=str(train_dir / "models" / "model.pt"))

    _stage("5/6 figures")
    picks = [len(names) // 4, len(names) // 2, 3 * len(names) // 4]
    columns = {m: [scored.pred[i, 0].numpy() for i in picks] for m, scored in methods.items()}
    columns["clean"] = [clean[i, 0].numpy() for i in picks]
    plot_panels(columns, [names[i].replace(".nii.gz", "") for i in picks], report / "panels.png")
    reference = {"noisy input": score_noisy(validation).mean()["psnr"]}
    plot_training_curves(read_scalars(train_dir / "logs"), report / "training_curves.png", iterations_per_epoch,
                         reference)

    others = [m for m in MODALITIES.values() if m.name != BUNDLES[BUNDLE].modality.name and shipped_weights(m)]
    _stage(f"6/6 the shipped {', '.join(m.title for m in others)} bundles on their held-out images")
    for modality in others:
        score_shipped_bundles(modality, output / f"data_{modality.name}", report / modality.name)

    with pd.option_context("display.width", 160, "display.precision", 4):
        print(summary.to_string(index=False))
    print(f"\nreport:       {report} (metrics.csv, summary.csv, panels.png, training_curves.png; "
          f"{', '.join(m.name for m in others)}: summary.md, panels_3x2.png, panels_detail.png)")
    print(f"weights:      {train_dir / 'models' / 'model.pt'}")
    print(f"denoised:     {output / 'inference' / test_source.name}")
    print(f"TensorBoard:  tensorboard --logdir {train_dir / 'logs'}")
    return summary


def score_shipped_bundles(modality: Modality, data: Path, report: Path) -> pd.DataFrame:
    """Prepare ``modality``'s embedded sample into ``data`` and score the bundles that ship weights on its held-out
    test images at the modality's default noise level, as ``monai-denoise compare --weights`` does (the bundles'
    own evaluation, no classical baselines: the README's comparisons have those); writes ``report/summary.md`` and
    the panels, and returns the summary."""
    prepare_dataset(modality.sample_volumes(), data, PrepareConfig(modality=modality.name,
                                                                   size=modality.prepare_size, command=sys.argv))
    weights = shipped_weights(modality)
    level = float(modality.noise[modality.noise_model.level])
    return run_compare(data, report, CompareConfig(bundles=tuple(weights), noise_levels=(level,), baselines=False,
                                                   weights=weights))
