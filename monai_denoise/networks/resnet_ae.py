"""Autoencoder with one strided downsampling, a stack of residual blocks and one transposed-conv upsampling."""

from __future__ import annotations

import torch
from torch import nn

from monai.networks.blocks import Convolution
from monai.networks.layers.utils import get_act_layer

from .checks import check_network_args


class ResidualBlock(nn.Module):
    """``act(x + norm(conv(act(norm(conv(x))))))``: the basic block of ResNet (He et al. 2016), 3x3 kernels.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        channels: number of input and output channels.
        act: activation type and arguments. Default "RELU".
        norm: feature normalization type and arguments. Default "BATCH".
    """

    def __init__(
        self, spatial_dims: int, channels: int, act: tuple | str = "RELU", norm: tuple | str = "BATCH"
    ) -> None:
        super().__init__()
        self.conv_norm_act = Convolution(spatial_dims, channels, channels, act=act, norm=norm)
        self.conv_norm = Convolution(spatial_dims, channels, channels, act=None, norm=norm)
        self.act = get_act_layer(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W[, D])``; returns the same shape."""
        return self.act(x + self.conv_norm(self.conv_norm_act(x)))


class ResNetAutoEncoder(nn.Module):
    """Stem conv, one stride-2 conv down, ``num_blocks`` :class:`ResidualBlock`, one stride-2 transposed conv up,
    and a linear output conv.

    Every hidden convolution has 3x3 kernels followed by ``norm`` and ``act``; the output convolution
    (``channels`` to ``out_channels``, 3x3) has neither, so the output is unbounded. The input spatial size
    must be even; this is not checked in ``forward``, where odd sizes give an output one voxel larger.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3. Default 2.
        in_channels: number of input channels. Default 1.
        out_channels: number of output channels. Default 1.
        channels: feature channels at both scales. Default 64.
        num_blocks: number of residual blocks at the downsampled scale, at least 1. Default 4.
        act: activation type and arguments. Default "RELU".
        norm: feature normalization type and arguments. Default "BATCH".
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 64,
        num_blocks: int = 4,
        act: tuple | str = "RELU",
        norm: tuple | str = "BATCH",
    ) -> None:
        super().__init__()
        check_network_args(spatial_dims, in_channels=in_channels, out_channels=out_channels, channels=channels,
                           num_blocks=num_blocks)
        self.stem = Convolution(spatial_dims, in_channels, channels, act=act, norm=norm)
        self.down = Convolution(spatial_dims, channels, channels, strides=2, act=act, norm=norm)
        self.blocks = nn.Sequential(*(ResidualBlock(spatial_dims, channels, act, norm) for _ in range(num_blocks)))
        self.up = Convolution(spatial_dims, channels, channels, strides=2, act=act, norm=norm, is_transposed=True)
        self.output = Convolution(spatial_dims, channels, out_channels, conv_only=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, in_channels, H, W[, D])`` with even spatial sizes; returns ``(B, out_channels, H, W[, D])``."""
        return self.output(self.up(self.blocks(self.down(self.stem(x)))))
