"""The weights a bundle ships as ``models/model.pt``: the best validated ones, or those of a completed run.

Both savers write the plain ``state_dict`` (a DDP wrapper unwrapped), as MONAI's ``CheckpointSaver`` does for a
single object, but atomically and flushed to disk: a run killed while saving leaves the previous file whole.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from ..atomic import atomic_path

logger = logging.getLogger(__name__)


def unwrap(obj: object) -> object:
    """The module inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper, else ``obj`` itself."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return obj.module if isinstance(obj, wrappers) else obj


def save_atomically(content: object, path: str | os.PathLike) -> None:
    """``torch.save(content)`` to ``path`` through a temporary file, fsync and rename."""
    with atomic_path(path, suffix=".pt", durable=True) as tmp:
        torch.save(content, tmp)


class BestModelSaver:
    """Save ``network``'s weights to ``save_dir/filename`` whenever the evaluator's key metric improves.

    Attach it to the validation evaluator. Higher is better (PSNR, SSIM); a non-finite value is never
    the best. Its state (the best value and its epoch) goes into the training checkpoint through
    :meth:`state_dict`, so a resumed run replaces ``model.pt`` only with weights better than those it holds.

    Args:
        save_dir: folder of the weights file, created if needed.
        network: the model whose weights are saved.
        filename: default ``"model.pt"``.
        metric_name: the metric to compare; default the evaluator's key metric.
        enabled: write files; False (DDP ranks other than 0) keeps track of the best value only.
    """

    def __init__(self, save_dir: str | os.PathLike, network: torch.nn.Module, filename: str = "model.pt",
                 metric_name: str | None = None, enabled: bool = True) -> None:
        self.path = Path(save_dir) / filename
        self.network = network
        self.metric_name = metric_name
        self.enabled = enabled
        self.best_metric: float | None = None
        self.best_epoch = 0
        self.engine: Engine | None = None

    def attach(self, engine: Engine) -> None:
        self.engine = engine
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        name = self.metric_name or engine.state.key_metric_name
        value = float(engine.state.metrics[name])
        if not math.isfinite(value) or (self.best_metric is not None and value <= self.best_metric):
            return
        if self.enabled:
            save_atomically(unwrap(self.network).state_dict(), self.path)
            logger.info(f"epoch {engine.state.epoch}: best {name} so far ({value:.4f}), saved {self.path}")
        self.best_metric, self.best_epoch = value, engine.state.epoch

    def state_dict(self) -> dict:
        return {"best_metric": self.best_metric, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore the best value, and the evaluator's record of it (MONAI's logs name the best epoch)."""
        self.best_metric, self.best_epoch = state["best_metric"], int(state["best_epoch"])
        if self.engine is not None and self.best_metric is not None:
            self.engine.state.best_metric = self.best_metric
            self.engine.state.best_metric_epoch = self.best_epoch


class FinalModelSaver:
    """Save ``network``'s weights to ``save_dir/filename`` when the run completes its planned iterations.

    A run that raises or is stopped (``engine.terminate()``, after which Ignite still fires ``COMPLETED``)
    writes nothing, so a fine-tuning run that breaks part-way keeps the weights an earlier run wrote there.

    Args:
        save_dir: folder of the weights file, created if needed.
        network: the model whose weights are saved.
        filename: default ``"model.pt"``.
    """

    def __init__(self, save_dir: str | os.PathLike, network: torch.nn.Module, filename: str = "model.pt") -> None:
        self.path = Path(save_dir) / filename
        self.network = network

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        state = engine.state
        planned = state.max_iters if state.max_iters is not None else state.epoch_length * state.max_epochs
        if state.iteration < planned:
            logger.warning(f"run stopped at iteration {state.iteration} of {planned}: {self.path} is not written")
            return
        save_atomically(unwrap(self.network).state_dict(), self.path)
        logger.info(f"saved {self.path}")
