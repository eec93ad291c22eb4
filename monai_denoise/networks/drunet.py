"""DRUNet (Zhang et al., "Plug-and-Play Image Restoration with Deep Denoiser Prior", TPAMI 2021), blind variant."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from monai.networks.blocks import Convolution

from .checks import check_network_args


class DRUNetResidualBlock(nn.Module):
    """``x + conv(act(conv(x)))`` with 3x3 bias-free convolutions and no normalization, as in DRUNet.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        channels: number of input and output channels.
        act: activation type and arguments. Default "RELU".
    """

    def __init__(self, spatial_dims: int, channels: int, act: tuple | str = "RELU") -> None:
        super().__init__()
        self.conv_act = Convolution(spatial_dims, channels, channels, act=act, norm=None, bias=False)
        self.conv = Convolution(spatial_dims, channels, channels, bias=False, conv_only=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W[, D])``; returns the same shape."""
        return x + self.conv(self.conv_act(x))


class DRUNet(nn.Module):
    """U-Net of residual blocks with additive skip connections, predicting the clean image.

    Head conv to ``channels[0]``; for each further scale, ``num_res_blocks`` :class:`DRUNetResidualBlock`
    then a kernel-2, stride-2 conv down; ``num_res_blocks`` blocks at the lowest scale; for each scale on the
    way up, the encoder features of that scale are added (not concatenated), then a kernel-2, stride-2
    transposed conv and ``num_res_blocks`` blocks; finally the head features are added and a tail conv maps
    to ``out_channels``. All convolutions are bias-free and nothing is normalized. This is the blind denoiser
    (no noise-level map input) and has no global residual connection; wrap it in ``ResidualDenoiser`` for one.

    The input spatial size must be divisible by ``2 ** (len(channels) - 1)`` (8 by default); this is not
    checked in ``forward``, where other sizes fail with a shape mismatch.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3. Default 2.
        in_channels: number of input channels. Default 1.
        out_channels: number of output channels. Default 1.
        channels: feature channels per scale, top scale first; at least one. Default (32, 64, 128, 256).
        num_res_blocks: residual blocks per scale and direction, and at the lowest scale; at least 1. Default 2.
        act: activation type and arguments inside the residual blocks. Default "RELU".
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128, 256),
        num_res_blocks: int = 2,
        act: tuple | str = "RELU",
    ) -> None:
        super().__init__()
        check_network_args(spatial_dims, in_channels=in_channels, out_channels=out_channels, channels=channels,
                           num_res_blocks=num_res_blocks)
        channels = tuple(channels)

        def res_blocks(c: int) -> list[nn.Module]:
            return [DRUNetResidualBlock(spatial_dims, c, act) for _ in range(num_res_blocks)]

        def resample(c_in: int, c_out: int, is_transposed: bool) -> Convolution:
            # explicit zero paddings: MONAI's defaults assume odd kernels and would give 2n + 1 voxels going up
            return Convolution(
                spatial_dims, c_in, c_out, strides=2, kernel_size=2, bias=False, conv_only=True,
                is_transposed=is_transposed, padding=0, output_padding=0,
            )

        scales = list(zip(channels[:-1], channels[1:]))
        self.head = Convolution(spatial_dims, in_channels, channels[0], bias=False, conv_only=True)
        self.down_path = nn.ModuleList(
            nn.Sequential(*res_blocks(c_top), resample(c_top, c_low, is_transposed=False)) for c_top, c_low in scales
        )
        self.body = nn.Sequential(*res_blocks(channels[-1]))
        self.up_path = nn.ModuleList(
            nn.Sequential(resample(c_low, c_top, is_transposed=True), *res_blocks(c_top))
            for c_top, c_low in reversed(scales)
        )
        self.tail = Convolution(spatial_dims, channels[0], out_channels, bias=False, conv_only=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, in_channels, H, W[, D])`` noisy images; returns ``(B, out_channels, H, W[, D])``."""
        x = self.head(x)
        skips = [x]
        for down in self.down_path:
            x = down(x)
            skips.append(x)
        x = self.body(x)
        for up in self.up_path:
            x = up(x + skips.pop())
        return self.tail(x + skips.pop())
