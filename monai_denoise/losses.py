"""Loss for training :class:`monai_denoise.networks.DenoisingVAE`: reconstruction plus weighted KL divergence."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

RECONSTRUCTION_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "bce": F.binary_cross_entropy}


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, I)``, summed over the latent dimensions.

    Args:
        mu: posterior means, ``(B, L)`` (any shape ``(B, ...)``: all but the first dimension are summed).
        logvar: posterior log-variances, same shape as ``mu``.

    Returns:
        ``(B,)``: ``-0.5 * sum(1 + logvar - mu ** 2 - exp(logvar))`` per sample, >= 0.
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


class VAELoss(nn.Module):
    """``reconstruction + beta * KL / (C * H * W[ * D])``, the negative ELBO on a per-element scale.

    The reconstruction term is the mean over all elements of the squared error, the absolute error or the
    binary cross-entropy between the reconstruction and ``target``. The KL term is :func:`kl_divergence`
    averaged over the batch and divided by the number of image elements per sample (``C * H * W[ * D]`` of
    ``target``), so that ``beta`` weighs it against a per-pixel reconstruction term: ``beta=1`` with ``"bce"`` is
    the ELBO divided by the number of elements, and larger ``beta`` gives a smoother, more regular latent space
    (beta-VAE, Higgins et al. 2017).

    Args:
        beta: weight of the KL term, >= 0. Default 1.0.
        reconstruction: ``"mse"`` (a Gaussian decoder), ``"l1"`` (a Laplace decoder: it learns the median, which
            restores a zero background exactly) or ``"bce"`` (needs the reconstruction and the target in [0, 1],
            e.g. with ``output_act="SIGMOID"``). Default "mse".
    """

    def __init__(self, beta: float = 1.0, reconstruction: str = "mse") -> None:
        super().__init__()
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}.")
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction must be one of {tuple(RECONSTRUCTION_LOSSES)}, got {reconstruction!r}.")
        self.beta = beta
        self.reconstruction_loss = RECONSTRUCTION_LOSSES[reconstruction]

    def forward(self, output: torch.Tensor | tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
        """Scalar loss.

        Args:
            output: the training-mode output ``(reconstruction, mu, logvar, z)`` of a VAE, or a plain
                reconstruction ``(B, C, H, W[, D])``, for which only the reconstruction term is computed.
            target: ``(B, C, H, W[, D])`` clean images, same shape as the reconstruction.
        """
        if isinstance(output, torch.Tensor):
            return self.reconstruction_loss(output, target)
        reconstruction, mu, logvar, _ = output
        kl_per_element = kl_divergence(mu, logvar).mean() / target[0].numel()
        return self.reconstruction_loss(reconstruction, target) + self.beta * kl_per_element
