"""Shared fixtures: tiny synthetic MRI-like volumes, a prepared dataset and a briefly trained U-Net bundle."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import SourceVolume

REPO = Path(__file__).resolve().parent.parent
UNET_BUNDLE = REPO / "bundles" / "mri_denoising_unet"
TINY = {"roi_size": [32, 32], "patch_size": [32, 32], "batch_size": 2, "patches_per_slice": 2}
HAS_CXX = shutil.which(os.environ.get("CXX", "g++")) is not None
"""Whether torch.compile's inductor backend finds the C++ compiler it calls on Linux (``$CXX``, else ``g++``)."""

torch.set_num_threads(1)


def phantom(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A smooth head-like phantom: a few Gaussian blobs on a zero background, scanner-like units."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape[:3]], indexing="ij"), -1)
    volume = np.zeros(shape[:3])
    for _ in range(4):
        centre, width = rng.uniform(-0.4, 0.4, 3), rng.uniform(0.2, 0.5)
        volume += rng.uniform(200, 800) * np.exp(-((grid - centre) ** 2).sum(-1) / (2 * width**2))
    if len(shape) == 4:
        volume = np.stack([volume * (1 + 0.05 * t) for t in range(shape[3])], -1)
    return volume.astype(np.float32)


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.fixture(scope="session")
def volumes_dir(tmp_path_factory) -> Path:
    """Five volumes (one a 4D series) in an LAS-oriented, anisotropic voxel grid."""
    root = tmp_path_factory.mktemp("volumes")
    affine = np.diag([-2.0, 2.0, 3.0, 1.0])
    for i in range(4):
        write_nifti(root / f"sub-{i:02d}_T1w.nii.gz", phantom((40, 36, 10), seed=i), affine)
    write_nifti(root / "sub-04_bold.nii.gz", phantom((40, 36, 10, 2), seed=4), affine)
    return root


@pytest.fixture(scope="session")
def tiny_dataset(volumes_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "data"
    sources = [SourceVolume(p) for p in sorted(volumes_dir.glob("*.nii.gz"))]
    prepare_dataset(sources, out, PrepareConfig(size=32, fractions=(0.6, 0.2, 0.2), command=["test"]))
    return out


@pytest.fixture(scope="session")
def trained_bundle(tiny_dataset, tmp_path_factory) -> tuple[Path, Path]:
    """(bundle copy, output folder) after 2 epochs of training on the tiny dataset."""
    from monai.bundle import ConfigWorkflow

    bundle = tmp_path_factory.mktemp("bundle") / UNET_BUNDLE.name
    shutil.copytree(UNET_BUNDLE, bundle, ignore=shutil.ignore_patterns("models", "logs", "eval"))
    output = bundle.parent / "train_out"
    workflow = ConfigWorkflow(config_file=str(bundle / "configs" / "train.json"), workflow_type="train",
                              meta_file=str(bundle / "configs" / "metadata.json"),
                              logging_file=str(bundle / "configs" / "logging.conf"),
                              bundle_root=str(bundle), dataset_dir=str(tiny_dataset), output_dir=str(output),
                              epochs=2, **TINY)
    workflow.initialize()
    missing = workflow.check_properties()
    workflow.run()
    workflow.finalize()
    assert not missing, f"model-zoo train properties missing: {missing}"
    return bundle, output


def bundle_run_args(configs: list[Path], dataset_dir: Path, output_dir: Path, **overrides) -> list[str]:
    """``-m monai.bundle run`` arguments for the U-Net bundle with the tiny-data overrides, 1 epoch."""
    options = {"config_file": [str(c) for c in configs], "bundle_root": UNET_BUNDLE, "dataset_dir": dataset_dir,
               "output_dir": output_dir, "epochs": 1, **TINY, **overrides}
    args = ["-m", "monai.bundle", "run"]
    for key, value in options.items():
        text = str(value) if isinstance(value, (str, Path)) else json.dumps(value, separators=(",", ":"))
        args += [f"--{key}", text]
    return args
