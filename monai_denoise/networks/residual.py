"""Global residual learning: the backbone predicts a correction that is added to the noisy input."""

from __future__ import annotations

import torch
from torch import nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class ResidualDenoiser(nn.Module):
    """``output = input + backbone(input)`` for a backbone whose output has the input's shape.

    Learning the residual (DnCNN, Zhang et al. 2017) and zero-initialising the backbone's last
    convolution make the untrained network the identity, so training starts at the noisy input's
    quality instead of below it.

    Args:
        backbone: network mapping ``(B, C, H, W[, D])`` to the same shape, e.g. MONAI's ``UNet``.
        zero_init: zero the weights and bias of the backbone's last convolution. Default True.
    """

    def __init__(self, backbone: nn.Module, zero_init: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        if zero_init:
            convs = [m for m in backbone.modules() if isinstance(m, _CONVS)]
            if not convs:
                raise ValueError("zero_init needs a backbone with at least one convolution")
            nn.init.zeros_(convs[-1].weight)
            if convs[-1].bias is not None:
                nn.init.zeros_(convs[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, H, W[, D])`` noisy images in [0, 1]; returns the denoised images, same shape."""
        return x + self.backbone(x)
