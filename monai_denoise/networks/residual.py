"""Global residual learning: the backbone predicts a correction that is added to the noisy input."""

from __future__ import annotations

import torch
from torch import nn


class ResidualDenoiser(nn.Module):
    """``output = input[:, :C_out] + gate * backbone(input)``: the backbone corrects the input's first channels.

    Learning the residual (DnCNN, Zhang et al. 2017) with a learnable scalar ``gate`` that starts at
    0 (ReZero, Bachlechner et al. 2021) makes the untrained network the identity, so training starts
    at the noisy input's quality instead of far below it, whatever the backbone.

    Args:
        backbone: network mapping ``(B, C, H, W[, D])`` to ``(B, C_out, H, W[, D])`` with ``C_out <= C``, e.g.
            MONAI's ``UNet``; extra input channels (a noise level map) inform the correction only.
        gate_init: initial value of the gate. Default 0.0; 1.0 gives a plain residual connection.
    """

    def __init__(self, backbone: nn.Module, gate_init: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, H, W[, D])`` noisy images in [0, 1]; returns the denoised ``(B, C_out, H, W[, D])``."""
        correction = self.backbone(x)
        return x[:, : correction.shape[1]] + self.gate * correction
