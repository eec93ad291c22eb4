"""Assign whole volumes or subjects to training / validation / test, never single slices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monai_denoise.errors import DataError

SPLITS = ("training", "validation", "test")


def format_fractions(fractions: Sequence[float]) -> str:
    """``0.7, 0.15, 0.15``: fractions as plain numbers (never ``np.float64(...)``), as a message shows them."""
    return ", ".join(f"{float(f):g}" for f in fractions)


def check_fractions(fractions: Sequence[float]) -> np.ndarray:
    """``fractions`` as a float array, checked: three non-negative numbers summing to 1, training > 0.

    Raises:
        DataError: anything else.
    """
    values = np.asarray(fractions, dtype=float)
    if values.shape != (3,) or (values < 0).any() or values[0] <= 0 or not np.isclose(values.sum(), 1):
        raise DataError(f"split fractions must be three non-negative numbers summing to 1 with training > 0, "
                        f"got {format_fractions(np.atleast_1d(values))}")
    return values


def _too_few(n: int, fractions: np.ndarray, unit: str) -> str:
    """The one-line message for ``n`` groups that cannot fill the non-zero ``fractions``: what to pass instead."""
    needed = int((fractions > 0).sum())
    text = (f"{n} {unit}{'' if n == 1 else 's'} cannot fill {needed} split{'' if needed == 1 else 's'} "
            f"({format_fractions(fractions)}): every split needs a {unit} of its own; "
            f"give at least {needed} {unit}{'' if needed == 1 else 's'}")
    if n >= 2:
        text += (", or --split 0.5 0.5 0 for training and validation only (enough for a bundle's train.json, "
                 "not for evaluate.json or compare)")
    elif n == 1:
        text += (", or --split 1 0 0 for training slices only (training a bundle also needs a validation "
                 f"{unit}; to denoise one scan, run a bundle's inference.json or adapt.json on it, no prepare "
                 "needed)")
    return text


def split_counts(n: int, fractions: Sequence[float], unit: str = "volume") -> tuple[int, int, int]:
    """How many of ``n`` groups go to each split: largest remainder, at least one per non-zero fraction.

    ``unit`` names a group in messages (``volume`` or ``subject``).

    Raises:
        DataError: bad ``fractions`` (see :func:`check_fractions`), or fewer groups than non-zero fractions
            (the message says which ``--split`` works).
    """
    fractions = check_fractions(fractions)
    if n < int((fractions > 0).sum()):
        raise DataError(_too_few(n, fractions, unit))
    raw = fractions * n
    counts = np.floor(raw).astype(int)
    counts[(fractions > 0) & (counts == 0)] = 1
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    order = np.argsort(-(raw - np.floor(raw)))
    for i in order:
        if counts.sum() >= n:
            break
        counts[i] += 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def assign_splits(groups: list[str], fractions: Sequence[float], seed: int, unit: str = "volume") -> dict[str, str]:
    """Map each distinct group (volume or subject id) to a split, shuffled reproducibly by ``seed``.

    ``unit`` names a group in messages (``volume`` or ``subject``).
    """
    unique = sorted(set(groups))
    if not unique:
        return {}
    order = np.random.default_rng(seed).permutation(len(unique))
    n_train, n_val, _ = split_counts(len(unique), fractions, unit)
    assignment = {}
    for rank, index in enumerate(order):
        split = "training" if rank < n_train else "validation" if rank < n_train + n_val else "test"
        assignment[unique[index]] = split
    return assignment
