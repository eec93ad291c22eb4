"""Model snapshots at chosen epochs, for studies of training length (e.g. 10, 100 and 1000 epochs)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from monai_denoise.atomic import atomic_path


class EpochSnapshots:
    """Save ``network``'s weights as ``save_dir/model_epoch{N}.pt`` at the end of each epoch N in ``epochs``.

    Args:
        save_dir: folder for the snapshots.
        network: the model whose ``state_dict`` is saved (unwrapped from DDP if needed).
        epochs: epoch numbers (1-based) to snapshot.
    """

    def __init__(self, save_dir: str | os.PathLike, network: torch.nn.Module, epochs: list[int]) -> None:
        if any(int(e) < 1 for e in epochs):
            raise ValueError(f"snapshot epochs must be >= 1, got {epochs}")
        self.save_dir = Path(save_dir)
        self.network = network
        self.epochs = sorted({int(e) for e in epochs})

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        epoch = engine.state.epoch
        if epoch in self.epochs:
            module = getattr(self.network, "module", self.network)
            with atomic_path(self.save_dir / f"model_epoch{epoch}.pt", suffix=".pt") as tmp:
                torch.save(module.state_dict(), tmp)
