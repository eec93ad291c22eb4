"""Variational autoencoder for denoising: MONAI's ``VarAutoEncoder`` with a deterministic eval-mode output."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from monai.networks.nets import VarAutoEncoder

from .checks import check_network_args


class DenoisingVAE(nn.Module):
    """:class:`monai.networks.nets.VarAutoEncoder` (Kingma and Welling 2014) returning a tensor in eval mode.

    In training mode ``forward`` returns ``(reconstruction, mu, logvar, z)`` as ``VarAutoEncoder`` does, with
    ``z = mu + eps * exp(logvar / 2)``, ``eps ~ N(0, I)`` (the reparameterisation trick), for
    :class:`monai_denoise.losses.VAELoss`. In eval mode it returns only the reconstruction decoded from the
    posterior mean ``mu``: deterministic, and a plain tensor that MONAI inferers and evaluators can use.
    (``VarAutoEncoder`` itself returns the 4-tuple in both modes and, unless ``use_mean_at_inference=True``,
    decodes ``mu + std`` at inference.)

    The latent layers are fully connected, so the input size is fixed at construction by ``in_shape``.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3. Default 2.
        in_shape: input shape without the batch dimension, channels first: ``(C, H, W[, D])``; every spatial
            size must be divisible by the product of ``strides``. Default (1, 64, 64).
        out_channels: number of output channels. Default 1.
        latent_size: number of latent dimensions. Default 64.
        channels: encoder channels per layer, top first; the decoder mirrors them. Default (32, 64, 128).
        strides: stride of each encoder layer, one per entry of ``channels``. Default (2, 2, 2).
        num_res_units: residual units per layer (0: plain convolutions). Default 1.
        act: activation type and arguments. Default "PRELU".
        norm: feature normalization type and arguments. Default "BATCH".
        use_sigmoid: whether to apply a sigmoid to the output, giving values in (0, 1). Default True.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_shape: Sequence[int] = (1, 64, 64),
        out_channels: int = 1,
        latent_size: int = 64,
        channels: Sequence[int] = (32, 64, 128),
        strides: Sequence[int] = (2, 2, 2),
        num_res_units: int = 1,
        act: tuple | str = "PRELU",
        norm: tuple | str = "BATCH",
        use_sigmoid: bool = True,
    ) -> None:
        super().__init__()
        check_network_args(spatial_dims, in_shape=in_shape, out_channels=out_channels, latent_size=latent_size,
                           channels=channels, strides=strides)
        if len(in_shape) != spatial_dims + 1:
            raise ValueError(
                f"in_shape must be (C, H, W) for 2D or (C, H, W, D) for 3D, got {tuple(in_shape)} "
                f"for spatial_dims={spatial_dims}."
            )
        if len(channels) != len(strides):
            raise ValueError(f"channels and strides must have equal lengths, got {tuple(channels)} and {tuple(strides)}.")
        total_stride = math.prod(strides)
        if any(size % total_stride for size in in_shape[1:]):
            raise ValueError(
                f"spatial sizes {tuple(in_shape[1:])} must be divisible by the total stride {total_stride}."
            )
        self.vae = VarAutoEncoder(
            spatial_dims=spatial_dims,
            in_shape=in_shape,
            out_channels=out_channels,
            latent_size=latent_size,
            channels=channels,
            strides=strides,
            num_res_units=num_res_units,
            act=act,
            norm=norm,
            use_sigmoid=use_sigmoid,
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: ``(B, *in_shape)``; returns the posterior ``(mu, logvar)``, each ``(B, latent_size)``."""
        return self.vae.encode_forward(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: ``(B, latent_size)`` latent codes; returns ``(B, out_channels, H, W[, D])`` images."""
        return self.vae.decode_forward(z, self.vae.use_sigmoid)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x``: ``(B, *in_shape)`` noisy images in [0, 1].

        Returns ``(reconstruction, mu, logvar, z)`` in training mode and the reconstruction of ``mu`` in eval
        mode; the reconstruction is ``(B, out_channels, H, W[, D])``, in (0, 1) when ``use_sigmoid``.
        """
        mu, logvar = self.encode(x)
        if not self.training:
            return self.decode(mu)
        z = self.vae.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar, z
