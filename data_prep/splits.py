"""Assign whole volumes or subjects to training / validation / test, never single slices."""

from __future__ import annotations

import numpy as np

from monai_denoise.errors import DataError

SPLITS = ("training", "validation", "test")


def split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """How many of ``n`` groups go to each split: largest remainder, at least one per non-zero fraction."""
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions[0] <= 0 or not np.isclose(fractions.sum(), 1):
        raise DataError(f"split fractions must be three non-negative numbers summing to 1 with training > 0, "
                        f"got {tuple(fractions)}")
    needed = int((fractions > 0).sum())
    if n < needed:
        raise DataError(f"{n} volume(s)/subject(s) cannot fill {needed} splits {tuple(fractions)}: "
                        "every split needs a whole volume or subject of its own")
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


def assign_splits(groups: list[str], fractions: tuple[float, float, float], seed: int) -> dict[str, str]:
    """Map each distinct group (volume or subject id) to a split, shuffled reproducibly by ``seed``."""
    unique = sorted(set(groups))
    if not unique:
        return {}
    order = np.random.default_rng(seed).permutation(len(unique))
    n_train, n_val, _ = split_counts(len(unique), fractions)
    assignment = {}
    for rank, index in enumerate(order):
        split = "training" if rank < n_train else "validation" if rank < n_train + n_val else "test"
        assignment[unique[index]] = split
    return assignment
