"""Checks that a training run will do what it is asked, made before it starts."""

from __future__ import annotations

from monai.engines import Trainer

from .errors import DataError


def check_planned_run(trainer: Trainer, source: str, validation_interval: int | None = None) -> None:
    """DataError if ``trainer`` would run no iteration, or if its validation (which chooses ``model.pt``) would
    never run.

    Args:
        trainer: a MONAI trainer, built and not yet run.
        source: what the training data comes from (a datalist or folder), named in the error.
        validation_interval: epochs between validations, if the run validates.
    """
    state, loader = trainer.state, trainer.data_loader
    if not state.epoch_length or not state.max_epochs or state.epoch_length < 1 or state.max_epochs < 1:
        items = len(loader.dataset) if hasattr(loader, "dataset") else "?"
        batch = getattr(loader, "batch_size", "?")
        drop = " (the partial last batch is dropped)" if getattr(loader, "drop_last", False) else ""
        raise DataError(f"{source}: the run would train nothing: {items} item(s) in batches of {batch}{drop} give "
                        f"{state.epoch_length or 0} iteration(s) per epoch, {state.max_epochs or 0} epoch(s); "
                        "give more data, a smaller batch size or more iterations")
    if validation_interval is not None and validation_interval > state.max_epochs:
        raise DataError(f"val_interval {validation_interval} is above epochs {state.max_epochs}: no validation "
                        "would choose model.pt; set val_interval <= epochs")


def refuse_adaptation(reason: str) -> None:
    """Stop an ``adapt.json`` run of a modality where adaptation was measured to mislead, before anything is read or
    written; an empty ``reason`` (``--adaptation_refused ''``) lets it run.

    Raises:
        DataError: with ``reason`` (``Modality.adaptation_refused``: the measurement, and what to do instead).
    """
    if reason:
        raise DataError(reason)
