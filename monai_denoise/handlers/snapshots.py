"""Model snapshots at chosen epochs, for studies of training length (e.g. 10, 100 and 1000 epochs)."""

from __future__ import annotations

import os

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver


class EpochSnapshots:
    """Save ``network``'s weights as ``save_dir/model_epoch{N}.pt`` at the end of each epoch N in ``epochs``.

    An Ignite ``Checkpoint`` (atomic writes, DDP unwrapped, every snapshot kept) fired only on those epochs;
    each file holds the plain ``state_dict``, as the bundles' ``model.pt`` does.

    Args:
        save_dir: folder for the snapshots, created if needed.
        network: the model to save.
        epochs: epoch numbers (1-based) to snapshot.
    """

    def __init__(self, save_dir: str | os.PathLike, network: torch.nn.Module, epochs: list[int]) -> None:
        if any(int(e) < 1 for e in epochs):
            raise ValueError(f"snapshot epochs must be >= 1, got {epochs}")
        self.epochs = sorted({int(e) for e in epochs})
        self.checkpoint = Checkpoint({"model": network}, DiskSaver(str(save_dir), require_empty=False),
                                     filename_pattern="model_epoch{global_step}.{ext}", n_saved=None,
                                     global_step_transform=lambda engine, _: engine.state.epoch)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED(event_filter=lambda _, epoch: epoch in self.epochs),
                                 self.checkpoint)
