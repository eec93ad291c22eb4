"""Checkpoint handlers that include the engine they are attached to, so training can resume mid-schedule.

A bundle config cannot reference ``train#trainer`` from inside the trainer's own handler list (a
circular reference), so these handlers add the engine under ``"trainer"`` when they are attached.
"""

from __future__ import annotations

from ignite.engine import Engine
from monai.handlers import CheckpointLoader, CheckpointSaver


class ResumableCheckpointSaver(CheckpointSaver):
    """MONAI ``CheckpointSaver`` whose checkpoints also hold the trainer state (epoch, iteration)."""

    def attach(self, engine: Engine) -> None:
        self.save_dict["trainer"] = engine
        super().attach(engine)


class ResumeCheckpointLoader(CheckpointLoader):
    """MONAI ``CheckpointLoader`` that also restores the trainer state saved by :class:`ResumableCheckpointSaver`."""

    def attach(self, engine: Engine) -> None:
        self.load_dict["trainer"] = engine
        super().attach(engine)
