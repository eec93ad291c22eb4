"""DnCNN (Zhang et al., "Beyond a Gaussian Denoiser", IEEE TIP 2017): a plain CNN that predicts the noise."""

from __future__ import annotations

import torch
from torch import nn

from monai.networks.blocks import Convolution

from .checks import check_network_args


class DnCNN(nn.Module):
    """``Conv+act -> (depth - 2) x (Conv+norm+act) -> Conv`` estimates the noise; ``forward`` subtracts it.

    All convolutions have 3x3 kernels and keep the spatial size, so any input size works. ``self.body`` is the
    noise estimator (also available as :meth:`estimate_noise`); ``forward(x)`` returns ``x - self.body(x)``.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3. Default 2.
        in_channels: number of input channels. Default 1.
        out_channels: number of output channels; must equal ``in_channels``. Default 1.
        channels: feature channels of the hidden layers. Default 64.
        depth: total number of convolution layers, at least 3. Default 17.
        act: activation type and arguments. Default "RELU".
        norm: feature normalization type and arguments of the middle layers. Default "BATCH".
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 64,
        depth: int = 17,
        act: tuple | str = "RELU",
        norm: tuple | str = "BATCH",
    ) -> None:
        super().__init__()
        check_network_args(spatial_dims, in_channels=in_channels, channels=channels)
        if out_channels != in_channels:
            raise ValueError(
                f"out_channels must equal in_channels ({in_channels}) because the noise estimate is subtracted "
                f"from the input, got {out_channels}."
            )
        if depth < 3:
            raise ValueError(f"depth must be at least 3, got {depth}.")
        self.body = nn.Sequential(
            Convolution(spatial_dims, in_channels, channels, act=act, norm=None),
            *(Convolution(spatial_dims, channels, channels, act=act, norm=norm) for _ in range(depth - 2)),
            Convolution(spatial_dims, channels, out_channels, conv_only=True),
        )

    def estimate_noise(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, H, W[, D])`` noisy images; returns the estimated noise, same shape."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, H, W[, D])`` noisy images; returns the denoised images ``x - noise``, same shape."""
        return x - self.estimate_noise(x)
