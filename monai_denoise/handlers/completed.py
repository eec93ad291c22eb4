"""A final checkpoint that only a completed run writes."""

from __future__ import annotations

from ignite.engine import Engine
from monai.handlers import CheckpointSaver


class CompletedCheckpointSaver(CheckpointSaver):
    """MONAI ``CheckpointSaver`` whose final checkpoint (``save_final=True``) is written only when the run completes.

    MONAI's saver also writes the final checkpoint when the run raises or is terminated (``engine.terminate()``,
    after which Ignite still fires ``COMPLETED``), over the file a previous run left there: a fine-tuning run that
    fails or is stopped part-way would replace good weights with half-trained ones under the name that
    ``inference.json`` loads. This one leaves the previous file as it was, and re-raises the error.
    """

    def completed(self, engine: Engine) -> None:
        """Save the final checkpoint, unless the run stopped before its planned last iteration."""
        state = engine.state
        planned = state.max_iters if state.max_iters is not None else state.epoch_length * state.max_epochs
        if state.iteration < planned:
            self.logger.warning(f"run stopped at iteration {state.iteration} of {planned}: the final checkpoint is "
                                "not written")
            return
        super().completed(engine)

    def exception_raised(self, engine: Engine, e: Exception) -> None:
        """Re-raise ``e`` without saving."""
        raise e
