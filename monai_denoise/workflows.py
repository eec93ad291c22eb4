"""Run a project bundle from Python: parse its configs, train it, build its seeded noisy sets, apply it."""

from __future__ import annotations

from pathlib import Path

import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.data import DataLoader

from . import BUNDLES_ROOT, console
from .bundle import BUNDLES
from .errors import DataError, describe
from .handlers import CheckedCheckpointLoader, checkpoint_progress
from .inferers import NoiseLevelInferer
from .modalities import Modality

console.install()


def bundle_dir(bundle: str) -> Path:
    """The folder of the project bundle ``bundle``; DataError if it does not exist."""
    path = BUNDLES_ROOT / bundle
    if not (path / "configs" / "train.json").is_file():
        available = sorted(p.name for p in BUNDLES_ROOT.iterdir() if (p / "configs").is_dir())
        raise DataError(f"unknown bundle {bundle!r}; available: {available}")
    return path


def shipped_weights(modality: Modality) -> dict[str, Path]:
    """Bundle -> its shipped ``models/model.pt``, for every project bundle of ``modality`` with a release record
    (``releases.json``, written when its weights were packaged)."""
    return {name: BUNDLES_ROOT / name / "models" / "model.pt" for name, spec in BUNDLES.items()
            if spec.modality.name == modality.name and (BUNDLES_ROOT / name / "releases.json").is_file()}


def parse_weights(items: list[str]) -> dict[str, Path]:
    """``["bundle=path", ...]`` (``--weights`` of the command line) -> ``{bundle: Path(path)}``, checking both."""
    weights = {}
    for item in items:
        bundle, _, path = item.partition("=")
        bundle_dir(bundle)
        if not Path(path).is_file():
            raise DataError(f"--weights {item!r}: no weights file at {path!r} (give BUNDLE=PATH to a model.pt)")
        weights[bundle] = Path(path)
    return weights


def config_files(bundle: str, names: list[str], extra: list[str | Path] = ()) -> list[str]:
    """Paths of the bundle's ``names`` configs (e.g. ``["train", "evaluate"]``), then ``extra`` files."""
    return [str(bundle_dir(bundle) / "configs" / f"{n}.json") for n in names] + [str(e) for e in extra]


def parse(bundle: str, names: list[str], extra: list[str | Path] = (), **overrides) -> ConfigParser:
    """A ConfigParser of the merged configs with ``bundle_root`` set and ``overrides`` applied."""
    parser = ConfigParser()
    parser.read_config(config_files(bundle, names, extra))
    parser.update({"bundle_root": str(bundle_dir(bundle)), **overrides})
    return parser


def run_workflow(bundle: str, names: list[str], workflow_type: str, extra: list[str | Path] = (),
                 **overrides) -> ConfigWorkflow:
    """Initialise and run a bundle workflow (as ``python -m monai.bundle run`` does); return it finalised."""
    configs = bundle_dir(bundle) / "configs"
    workflow = ConfigWorkflow(config_file=config_files(bundle, names, extra), workflow_type=workflow_type,
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              bundle_root=str(bundle_dir(bundle)), **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return workflow


def train_bundle(bundle: str, output_dir: str | Path, extra: list[str | Path] = (), restart: bool = False,
                 **overrides) -> ConfigWorkflow:
    """Train ``bundle`` (its ``train.json``, then ``extra`` configs) into ``output_dir``, resuming a run that was
    killed there.

    Where ``output_dir/models/checkpoint_last.pt`` exists, training continues from its last completed epoch to
    the planned epochs (a run already there returns at once, its weights kept); ``restart`` trains from the
    first epoch instead. A command that trains (compare, studies, sweeps, the demo) run again after a kill
    so loses at most the epoch it was in.
    """
    progress = None if restart else checkpoint_progress(Path(output_dir) / "models" / "checkpoint_last.pt")
    if progress is not None:
        print(f"resuming the run in {output_dir} at iteration {progress[0]} of {progress[1]}", flush=True)
    return run_workflow(bundle, ["train"], "train", extra, output_dir=str(output_dir), resume=progress is not None,
                        **overrides)


def noisy_set(parser: ConfigParser, dataset_id: str = "validate#dataset") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(noisy, clean, file names) of a seeded evaluation dataset, images stacked to ``(N, 1, H, W)``."""
    dataset = parser.get_parsed_content(dataset_id)
    batch = next(iter(DataLoader(dataset, batch_size=len(dataset), shuffle=False)))
    names = [Path(p).name for p in batch["image"].meta["filename_or_obj"]]
    return batch["image"].as_tensor(), batch["label"].as_tensor(), names


def load_network(parser: ConfigParser, weights: str | Path) -> torch.nn.Module:
    """The bundle's ``network_def`` on the CPU with ``weights`` loaded, in eval mode.

    Raises:
        DataError: the weights are missing, damaged or another network's (one line naming the file).
    """
    network = parser.get_parsed_content("network_def")
    if not Path(weights).is_file():
        raise DataError(f"{weights}: weights not found")
    try:
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except Exception as err:  # torch.load and load_state_dict raise many types for damaged or foreign files
        raise DataError(f"{weights}: {CheckedCheckpointLoader.unreadable.format(cause=describe(err))}") from err
    return network.eval()


def network_input(parser: ConfigParser, noisy: torch.Tensor) -> torch.Tensor:
    """What the bundle's network takes for ``(N, 1, H, W)`` noisy slices: the slices themselves, or for a
    noise-level-conditioned bundle the slices with the map of its validation ``noise_level`` appended."""
    inferer = parser.get_parsed_content("validate#inferer")
    if isinstance(inferer, NoiseLevelInferer):
        return inferer.append_map(noisy, inferer.sigma(noisy))
    return noisy


@torch.no_grad()
def denoise(parser: ConfigParser, network: torch.nn.Module, noisy: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Apply ``network`` with the bundle's validation inferer to ``(N, 1, H, W)`` images, ``chunk`` at a time."""
    inferer = parser.get_parsed_content("validate#inferer")
    return torch.cat([inferer(part, network) for part in noisy.split(chunk)])
