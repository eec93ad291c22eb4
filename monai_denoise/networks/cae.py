"""Plain convolutional autoencoder: max-pooling down, nearest-neighbour upsampling up, sigmoid output."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Pool

from .checks import check_network_args


class ConvAutoEncoder(nn.Module):
    """Convolutional autoencoder with pooling and nearest-neighbour upsampling (no skip connections).

    With the default ``channels=(64, 128)`` this is exactly::

        Conv 64 (3x3, act) -> MaxPool 2 -> Conv 128 (3x3, act) -> MaxPool 2
        -> Conv 128 (3x3, act) -> Upsample 2 (nearest) -> Conv 64 (3x3, act) -> Upsample 2
        -> Conv out_channels (3x3) -> sigmoid

    and in general one ``Conv c -> MaxPool 2`` per entry ``c`` of ``channels`` on the way down and one
    ``Conv c -> Upsample 2`` per entry, in reverse order, on the way up. All convolutions keep the spatial size
    ("same" padding). MONAI's ``AutoEncoder`` downsamples with strided convolutions and upsamples with
    transposed convolutions instead of pooling and interpolation, which is why this is its own module.

    The input spatial size must be divisible by ``2 ** len(channels)`` (4 by default); this is not checked
    in ``forward``, where other sizes give an output smaller than the input.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3. Default 2.
        in_channels: number of input channels. Default 1.
        out_channels: number of output channels. Default 1.
        channels: feature channels per scale, top scale first. Default (64, 128).
        act: activation type and arguments after every hidden convolution. Default "RELU".
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: Sequence[int] = (64, 128),
        act: tuple | str = "RELU",
    ) -> None:
        super().__init__()
        check_network_args(spatial_dims, in_channels=in_channels, out_channels=out_channels, channels=channels)
        channels = tuple(channels)
        decoder_channels = channels[::-1]
        self.encoder = nn.Sequential(
            *(
                nn.Sequential(
                    Convolution(spatial_dims, c_in, c_out, act=act, norm=None),
                    Pool[Pool.MAX, spatial_dims](kernel_size=2),
                )
                for c_in, c_out in zip((in_channels, *channels[:-1]), channels)
            )
        )
        self.decoder = nn.Sequential(
            *(
                nn.Sequential(
                    Convolution(spatial_dims, c_in, c_out, act=act, norm=None),
                    UpSample(
                        spatial_dims,
                        scale_factor=2,
                        mode="nontrainable",
                        pre_conv=None,
                        interp_mode="nearest",
                        align_corners=None,
                    ),
                )
                for c_in, c_out in zip((channels[-1], *decoder_channels[:-1]), decoder_channels)
            )
        )
        self.output = Convolution(spatial_dims, channels[0], out_channels, act="SIGMOID", norm=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, in_channels, H, W[, D])``; returns ``(B, out_channels, H, W[, D])`` in (0, 1)."""
        return self.output(self.decoder(self.encoder(x)))
