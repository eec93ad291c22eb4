"""What a training run shows: one progress bar per epoch with the running loss, and one summary line per epoch."""

from __future__ import annotations

import logging
import time

from ignite.contrib.handlers import ProgressBar
from ignite.engine import Engine, Events
from monai.handlers import from_engine

logger = logging.getLogger(__name__)


def debug_only(engine: Engine, event: int) -> bool:
    """Event filter for per-iteration log lines (MONAI ``StatsHandler(iteration_log=...)``): on only where the
    logging configuration enables DEBUG (e.g. ``level=DEBUG`` for the root logger in the bundle's
    ``logging.conf``). MONAI pins its StatsHandler's own logger at INFO, so this module's logger is asked."""
    return logger.isEnabledFor(logging.DEBUG)


class LossProgressBar:
    """Ignite's ``ProgressBar`` over the iterations of each epoch, showing the current loss, and a log line
    per epoch with the epoch's mean loss and duration.

    MONAI engines keep the loss in ``engine.state.output`` (a list of per-item dicts after
    decollation); this handler reads it there, so a bundle config needs no Python of its own.

    Args:
        persist: keep each epoch's finished bar on screen. Default False.
    """

    def __init__(self, persist: bool = False) -> None:
        self.bar = ProgressBar(persist=persist)
        self.loss = from_engine(["loss"], first=True)
        self.total, self.count, self.start = 0.0, 0, 0.0

    def attach(self, engine: Engine) -> None:
        self.bar.attach(engine, output_transform=lambda output: {"loss": float(self.loss(output))})
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def epoch_started(self, engine: Engine) -> None:
        self.total, self.count, self.start = 0.0, 0, time.perf_counter()

    def iteration_completed(self, engine: Engine) -> None:
        self.total += float(self.loss(engine.state.output))
        self.count += 1

    def epoch_completed(self, engine: Engine) -> None:
        mean = self.total / max(self.count, 1)
        logger.info(f"epoch {engine.state.epoch}/{engine.state.max_epochs}: mean loss {mean:.6g} over "
                    f"{self.count} iterations, {time.perf_counter() - self.start:.1f} s")
