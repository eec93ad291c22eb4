"""Slice-by-slice inference over 3D volumes and 4D series."""

from __future__ import annotations

from typing import Any

import torch
from monai.inferers import SliceInferer


class FramewiseSliceInferer(SliceInferer):
    """Run a single-channel 2D network over every slice of every frame of ``(B, T, X, Y, Z)`` input.

    The T frames of a 4D series (T = 1 for a 3D volume) are folded into the batch, each frame is
    processed slice by slice along ``spatial_dim`` with MONAI's ``SliceInferer`` (sliding windows of
    ``roi_size`` within a slice), and the output has the input's shape ``(B, T, X, Y, Z)``.
    """

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        batch, frames, *spatial = inputs.shape
        folded = inputs.reshape(batch * frames, 1, *spatial)
        out = super().__call__(folded, network, *args, **kwargs)
        return out.reshape(batch, frames, *spatial)
