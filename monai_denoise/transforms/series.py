"""Frames of a 4D series as training samples, so a long fMRI run costs no more per step than a 3D volume."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

__all__ = ["RandFrameSamplesd"]


class RandFrameSamplesd(Randomizable, MapTransform):
    """``num_samples`` items, each one random frame (drawn with replacement) of a series ``(T, H, W[, D])``.

    Each item is a copy of the input dictionary whose ``keys`` hold ``(1, H, W[, D])``: frame ``t`` of the
    series, the same ``t`` for every key. A 3D volume (``T = 1``) gives ``num_samples`` copies of itself,
    so every volume of a folder yields the same number of samples whatever its frame count. Follow it with
    a random crop (``RandSpatialCropd``) to draw patches from the frames; like MONAI's
    ``RandSpatialCropSamplesd``, the list it returns is flattened into the batch.

    Args:
        keys: keys of the series, all with the same number of frames.
        num_samples: items returned per call, >= 1. Default 1.
    """

    def __init__(self, keys: KeysCollection, num_samples: int = 1, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        self._frames: np.ndarray = np.zeros(0, dtype=int)

    def randomize(self, data: int) -> None:
        """Draw the frame of each sample from a series of ``data`` frames."""
        self._frames = self.R.randint(data, size=self.num_samples)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> list[dict[Hashable, torch.Tensor]]:
        d = dict(data)
        counts = {key: d[key].shape[0] for key in self.key_iterator(d)}
        if len(set(counts.values())) > 1:
            raise ValueError(f"RandFrameSamplesd: the keys have different frame counts {counts}")
        if not counts:
            return [dict(d) for _ in range(self.num_samples)]
        self.randomize(next(iter(counts.values())))
        return [{**d, **{key: d[key][t:t + 1] for key in counts}} for t in self._frames]
