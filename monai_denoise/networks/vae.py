"""Variational autoencoder for denoising with a convolutional (spatial) latent, built from MONAI's ``AutoEncoder``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import get_act_layer
from monai.networks.nets import AutoEncoder
from torch import nn

from .checks import check_network_args

INITIAL_LOGVAR = -6.0
"""Bias of the log-variance head at initialisation: posterior standard deviation exp(-3) = 0.05 of a unit-scale
code. From the usual 0 the sampled code starts as unit noise around a near-zero mean, which the decoder cannot
read, and training crawls."""


class DenoisingVAE(nn.Module):
    """A VAE (Kingma and Welling 2014) whose latent code is a feature map: ``(B, latent_channels, H / s, W / s)``.

    MONAI's ``AutoEncoder`` encoder (``channels``, ``strides``, residual units) maps the noisy image to features
    at ``1 / s`` of its size (``s`` the product of ``strides``); two 1x1 convolutions give the posterior mean
    ``mu`` and log-variance ``logvar`` of every latent element, ``z = mu + eps * exp(logvar / 2)``,
    ``eps ~ N(0, I)`` (the reparameterisation trick), and a 1x1 convolution and the mirrored decoder map ``z``
    back to the image. No skip connection passes the latent by: everything the decoder sees went through the
    sampled code. The spatial latent keeps the network fully convolutional (any size divisible by ``s``, like
    the other denoisers) and each code element local; MONAI's ``VarAutoEncoder``, a dense latent on a fixed
    64x64 window, collapsed to an average image on this project's data (9.75 dB on the held-out EPI).
    Without normalisation layers (``norm=None``, the default) and with a linear output it trains as fast as the
    plain autoencoders; with batch normalisation it crawled (eval-mode error 2.3 times the training loss).

    In training mode ``forward`` returns ``(reconstruction, mu, logvar, z)`` for
    :class:`monai_denoise.losses.VAELoss`; in eval mode only the reconstruction decoded from ``mu``:
    deterministic, and a plain tensor that MONAI inferers and evaluators can use.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3. Default 2.
        in_channels: input channels. Default 1.
        out_channels: output channels. Default 1.
        latent_channels: channels of the latent feature map. Default 16.
        channels: encoder channels per layer, top first; the decoder mirrors them. Default (32, 64).
        strides: stride of each encoder layer, one per entry of ``channels``. Default (2, 2).
        num_res_units: residual units per layer (0: plain convolutions). Default 1.
        act: activation type and arguments. Default "PRELU".
        norm: feature normalization type and arguments, or None. Default None.
        output_act: activation of the output, or None for a linear output. Default None. ``"RELU"`` lets the
            training loss see that intensities are non-negative: the background can be decoded to exactly 0
            instead of scattering around it (the bundles clamp predictions to [0, 1], which turns that scatter
            into a positive offset); ``"SIGMOID"`` gives values in (0, 1), as the ``"bce"`` reconstruction
            needs.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        latent_channels: int = 16,
        channels: Sequence[int] = (32, 64),
        strides: Sequence[int] = (2, 2),
        num_res_units: int = 1,
        act: tuple | str = "PRELU",
        norm: tuple | str | None = None,
        output_act: tuple | str | None = None,
    ) -> None:
        super().__init__()
        check_network_args(spatial_dims, in_channels=in_channels, out_channels=out_channels,
                           latent_channels=latent_channels, channels=channels, strides=strides)
        if len(channels) != len(strides):
            raise ValueError(f"channels and strides must have equal lengths, got {tuple(channels)} and {tuple(strides)}.")
        self.latent_channels = latent_channels
        self.total_stride = math.prod(strides)
        self.autoencoder = AutoEncoder(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                                       channels=channels, strides=strides, num_res_units=num_res_units, act=act,
                                       norm=norm)
        features = channels[-1]
        self.mu = Convolution(spatial_dims, features, latent_channels, kernel_size=1, conv_only=True)
        self.logvar = Convolution(spatial_dims, features, latent_channels, kernel_size=1, conv_only=True)
        nn.init.constant_(self.logvar.conv.bias, INITIAL_LOGVAR)
        self.expand = Convolution(spatial_dims, latent_channels, features, kernel_size=1, act=act, norm=norm)
        self.output_act = nn.Identity() if output_act is None else get_act_layer(output_act)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: ``(B, C, H, W[, D])``, sizes divisible by the total stride; returns the posterior ``(mu, logvar)``,
        each ``(B, latent_channels, H / s, W / s[, D / s])``."""
        for size in x.shape[2:]:
            if size % self.total_stride != 0:
                raise ValueError("spatial sizes " + str(list(x.shape[2:])) + " must be divisible by the total stride "
                                 + str(self.total_stride) + ".")
        features = self.autoencoder.intermediate(self.autoencoder.encode(x))
        return self.mu(features), self.logvar(features)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: ``(B, latent_channels, h, w[, d])`` latent codes; returns ``(B, out_channels, s h, s w[, s d])``."""
        return self.output_act(self.autoencoder.decode(self.expand(z)))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x``: ``(B, C, H, W[, D])`` noisy images in [0, 1].

        Returns ``(reconstruction, mu, logvar, z)`` in training mode and the reconstruction of ``mu`` in eval
        mode; the reconstruction is ``(B, out_channels, H, W[, D])``.
        """
        mu, logvar = self.encode(x)
        if not self.training:
            return self.decode(mu)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar, z
