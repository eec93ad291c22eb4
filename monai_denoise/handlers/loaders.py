"""Checkpoint loaders that fail with one line naming the file: weights to start from, a run to resume."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ignite.engine import Engine
from monai.handlers import CheckpointLoader

from ..errors import DataError, describe

logger = logging.getLogger(__name__)


class CheckedCheckpointLoader(CheckpointLoader):
    """MONAI ``CheckpointLoader`` of weights to start from, checked: a missing file is a DataError when the config
    is built, before anything runs; one that cannot be loaded (damaged, or another network's) when it is loaded.
    (MONAI FL's ``disable_ckpt_loaders`` finds checkpoint loaders by "CheckpointLoader" in their name.)

    Args:
        load_path: the weights (``model.pt``).
        load_dict: objects to load, e.g. ``{"model": network}``.
        option: the config key that gives ``load_path``, named in the message for a missing file.
        kwargs: passed to MONAI's ``CheckpointLoader`` (``map_location``, ``strict``, ...).
    """

    missing = "weights not found; give the path of existing weights (--{option}), or train the bundle (train.json) first"
    unreadable = "cannot load these weights ({cause}); they may be damaged or belong to another network"

    def __init__(self, load_path: str | os.PathLike, load_dict: dict, option: str = "ckpt_path", **kwargs) -> None:
        if not Path(load_path).is_file():
            raise DataError(f"{load_path}: {self.missing.format(option=option)}")
        super().__init__(load_path=str(load_path), load_dict=load_dict, **kwargs)

    def __call__(self, engine: Engine) -> None:
        try:
            super().__call__(engine)
        except Exception as err:  # torch.load and load_state_dict raise many types for damaged or foreign files
            raise DataError(f"{self.load_path}: {self.unreadable.format(cause=describe(err))}") from err


class ResumeCheckpointLoader(CheckedCheckpointLoader):
    """Load a ``TrainingCheckpoint`` file and the trainer state it holds: the trainer continues from the
    checkpoint's iteration to the planned epoch count of the config that resumes it."""

    missing = ("no checkpoint to resume from (a run writes it after its first epoch); start without --resume true, "
               "or pass --resume_from CHECKPOINT")
    unreadable = "cannot resume from this checkpoint ({cause}); start without --resume true"

    def attach(self, engine: Engine) -> None:
        self.load_dict["trainer"] = engine
        super().attach(engine)

    def __call__(self, engine: Engine) -> None:
        super().__call__(engine)
        logger.info(f"resumed from {self.load_path} at epoch {engine.state.epoch}, iteration "
                    f"{engine.state.iteration}, to epoch {engine.state.max_epochs}")
