"""Training that survives being killed: a resume checkpoint after every epoch (resumed by
:class:`~monai_denoise.handlers.loaders.ResumeCheckpointLoader`).

A bundle config cannot reference ``train#trainer`` from inside the trainer's own handler list (a circular
reference), so the handler adds the engine's state under ``"trainer"`` itself.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from ..errors import DataError, describe
from .weights import save_atomically, unwrap

logger = logging.getLogger(__name__)


class TrainingCheckpoint:
    """Write everything a run needs to resume to ``save_dir/filename``, atomically, after every epoch.

    The file holds ``{name: obj.state_dict()}`` for ``save_dict`` (model, optimiser, scheduler and the
    best-model saver's record) and ``"trainer"``: the engine's iteration, epoch length and planned epochs. It
    is written through a temporary file, fsync and rename, so a run killed at any moment (SIGKILL, out of
    memory, power cut) leaves the last completed epoch resumable with :class:`ResumeCheckpointLoader`.

    Attach it after the handlers that change state at the end of an epoch (learning-rate schedule,
    validation with its best-model saver), so the checkpoint holds their result.

    Args:
        save_dir: folder of the checkpoint, created if needed.
        save_dict: objects with ``state_dict()``; a DDP-wrapped model is saved unwrapped.
        filename: default ``"checkpoint_last.pt"``.
        every_iterations: write every this many iterations instead of every epoch (a run of one long epoch,
            such as adaptation). Default None: every epoch.
    """

    def __init__(self, save_dir: str | os.PathLike, save_dict: dict, filename: str = "checkpoint_last.pt",
                 every_iterations: int | None = None) -> None:
        if every_iterations is not None and every_iterations < 1:
            raise ValueError(f"every_iterations must be >= 1 or None, got {every_iterations}")
        self.path = Path(save_dir) / filename
        self.save_dict = dict(save_dict)
        self.every_iterations = every_iterations

    def attach(self, engine: Engine) -> None:
        event = (Events.EPOCH_COMPLETED if self.every_iterations is None
                 else Events.ITERATION_COMPLETED(every=self.every_iterations))
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine) -> None:
        content = {name: unwrap(obj).state_dict() for name, obj in self.save_dict.items()}
        content["trainer"] = engine.state_dict()
        save_atomically(content, self.path)
        logger.debug(f"iteration {engine.state.iteration}: wrote {self.path}")


def checkpoint_progress(path: str | os.PathLike) -> tuple[int, int] | None:
    """(iterations done, iterations planned) recorded in a :class:`TrainingCheckpoint` file; None if there is none.

    Raises:
        DataError: the file exists but cannot be read as a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        trainer = torch.load(path, map_location="cpu", weights_only=True)["trainer"]
        return int(trainer["iteration"]), int(trainer["epoch_length"]) * int(trainer["max_epochs"])
    except Exception as err:
        raise DataError(f"{path}: not a readable training checkpoint ({describe(err)}); delete it to train from "
                        "the start") from err
