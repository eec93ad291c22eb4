"""A training progress bar that shows the running loss."""

from __future__ import annotations

from ignite.contrib.handlers import ProgressBar
from ignite.engine import Engine
from monai.handlers import from_engine


class LossProgressBar:
    """Ignite's ``ProgressBar`` over the iterations of each epoch, showing the current loss.

    MONAI engines keep the loss in ``engine.state.output`` (a list of per-item dicts after
    decollation); this handler reads it there, so a bundle config needs no Python of its own.

    Args:
        persist: keep each epoch's finished bar on screen. Default False.
    """

    def __init__(self, persist: bool = False) -> None:
        self.bar = ProgressBar(persist=persist)

    def attach(self, engine: Engine) -> None:
        loss = from_engine(["loss"], first=True)
        self.bar.attach(engine, output_transform=lambda output: {"loss": float(loss(output))})
