"""VAELoss and kl_divergence: analytic values, beta scaling, per-element normalisation and argument checks."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from monai_denoise.losses import VAELoss, kl_divergence

IMAGE_SHAPE = (3, 2, 4, 4)  # B, C, H, W: 32 elements per sample


def images(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, target), both in (0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(IMAGE_SHAPE, generator=generator), torch.rand(IMAGE_SHAPE, generator=generator)


def vae_output(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, ...]:
    reconstruction, _ = images()
    return reconstruction, mu, logvar, mu


def test_kl_is_zero_for_the_prior():
    assert torch.equal(kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)), torch.zeros(3))


def test_kl_of_unit_mean_shift_in_one_latent_dimension_is_one_half():
    assert torch.allclose(kl_divergence(torch.ones(3, 1), torch.zeros(3, 1)), torch.full((3,), 0.5))


def test_kl_sums_over_latent_dimensions():
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    expected = sum(kl_divergence(mu[:, i : i + 1], logvar[:, i : i + 1]) for i in range(5))
    assert torch.allclose(kl_divergence(mu, logvar), expected)


def test_kl_term_is_averaged_over_batch_and_divided_by_elements_per_sample():
    reconstruction, target = images()
    output = vae_output(torch.ones(3, 1), torch.zeros(3, 1))
    kl_term = VAELoss(beta=1.0)(output, target) - F.mse_loss(reconstruction, target)
    assert torch.isclose(kl_term, torch.tensor(0.5 / 32))


def test_beta_scales_the_kl_term():
    _, target = images()
    output = vae_output(torch.randn(3, 4), torch.randn(3, 4))
    reconstruction_only = VAELoss(beta=0.0)(output, target)
    assert torch.isclose(reconstruction_only, F.mse_loss(output[0], target))
    kl_term = VAELoss(beta=1.0)(output, target) - reconstruction_only
    assert kl_term > 0
    assert torch.isclose(VAELoss(beta=2.0)(output, target) - reconstruction_only, 2 * kl_term)


def test_plain_tensor_gives_the_reconstruction_term_only():
    reconstruction, target = images()
    assert torch.equal(VAELoss(beta=5.0)(reconstruction, target), F.mse_loss(reconstruction, target))


def test_bce_reconstruction_matches_binary_cross_entropy():
    reconstruction, target = images()
    expected = F.binary_cross_entropy(reconstruction, target)
    assert torch.equal(VAELoss(reconstruction="bce")(reconstruction, target), expected)
    output = vae_output(torch.zeros(3, 4), torch.zeros(3, 4))
    assert torch.isclose(VAELoss(reconstruction="bce")(output, target), expected)


def test_l1_reconstruction_is_the_mean_absolute_error():
    reconstruction, target = images()
    expected = F.l1_loss(reconstruction, target)
    assert torch.equal(VAELoss(reconstruction="l1")(reconstruction, target), expected)
    output = vae_output(torch.zeros(3, 4), torch.zeros(3, 4))
    assert torch.isclose(VAELoss(reconstruction="l1")(output, target), expected), "a standard posterior has KL 0"


@pytest.mark.parametrize("kwargs, message", [({"beta": -0.1}, "beta"), ({"reconstruction": "huber"}, "reconstruction")])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAELoss(**kwargs)
