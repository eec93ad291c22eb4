"""Noise-level conditioning: sigma estimation, the noise level map in training, and at inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import phantom

from monai_denoise.inferers import FramewiseSliceInferer, NoiseLevelInferer
from monai_denoise.networks import ResidualDenoiser
from monai_denoise.transforms import (
    NoiseLevel,
    NoiseLevelMap,
    NoiseLevelMapd,
    SyntheticNoise,
    SyntheticNoised,
    estimate_noise_sigma,
)
from monai_denoise.workflows import network_input, parse

BUNDLE = "mri_denoising_unet_noise_map"


def normalised_phantom(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    volume = torch.from_numpy(phantom(shape, seed))
    return volume / volume.max()


def noisy(clean: torch.Tensor, kind: str, sigma: float, seed: int = 1) -> torch.Tensor:
    noise = SyntheticNoise(kind, sigma)
    noise.set_random_state(seed)
    return noise(clean[None])[0]


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
@pytest.mark.parametrize("dims", [2, 3])
def test_the_estimate_recovers_gaussian_sigma_in_2d_and_3d(sigma, dims):
    clean = normalised_phantom((96, 96, 3))[..., 1] if dims == 2 else normalised_phantom((48, 48, 24))

    assert estimate_noise_sigma(noisy(clean, "gaussian", sigma)) == pytest.approx(sigma, rel=0.1)


@pytest.mark.parametrize("sigma", [0.05, 0.1])
def test_the_refined_estimate_recovers_rician_sigma_that_the_whole_image_underestimates(sigma):
    clean = normalised_phantom((64, 64, 16))
    image = noisy(clean, "rician", sigma)

    assert estimate_noise_sigma(image) == pytest.approx(sigma, rel=0.1)
    assert estimate_noise_sigma(image, iterations=0) < 0.85 * sigma, "the Rayleigh background pulls it down"


def test_a_constant_image_has_no_noise_and_bad_arguments_are_refused():
    assert estimate_noise_sigma(torch.full((16, 16), 0.3)) == 0.0
    assert estimate_noise_sigma(torch.full((16, 16, 4), 0.3)) == 0.0
    with pytest.raises(ValueError, match="every side >= 2"):
        estimate_noise_sigma(torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"\(H, W\) or a volume \(H, W, D\)"):
        estimate_noise_sigma(torch.zeros(4, 4, 4, 4))
    with pytest.raises(ValueError, match="min_snr"):
        estimate_noise_sigma(torch.zeros(8, 8), min_snr=0.0)


@pytest.mark.parametrize("kind", ["gaussian", "rician"])
def test_a_one_slice_volume_is_estimated_as_its_image(kind):
    image = noisy(normalised_phantom((96, 96, 3))[..., 1], kind, 0.05)

    assert estimate_noise_sigma(image[..., None]) == estimate_noise_sigma(image)
    assert estimate_noise_sigma(image[..., None]) == pytest.approx(0.05, rel=0.1)


@pytest.mark.parametrize("kind", ["gaussian", "rician"])
def test_repeated_slices_keep_the_noise_of_the_slice(kind):
    """Every slice a copy of one noisy slice (nearest-neighbour resampling): the noise is in-plane, and a
    difference between neighbouring slices, which the 2x2x2 estimator took, read 0 and left it in place."""
    volume = noisy(normalised_phantom((96, 96, 3))[..., 1], kind, 0.05)[..., None].repeat(1, 1, 16)

    assert estimate_noise_sigma(volume) == pytest.approx(0.05, rel=0.1)
    assert NoiseLevel()(volume[None]) == pytest.approx(0.05, rel=0.1), "as the noise-map bundles estimate it"


@pytest.mark.parametrize("kind", ["gaussian", "rician"])
def test_interpolated_slices_read_about_the_noise_of_the_whole_volume(kind):
    """Every other slice the mean of its neighbours (linear upsampling by 2): those slices hold sigma / sqrt(2),
    the others sigma; pooling all slices reads about the root-mean-square sqrt(3 / 4) sigma, the 2x2x2
    estimator half sigma or less."""
    sigma = 0.05
    originals = noisy(normalised_phantom((96, 96, 17))[..., ::2], kind, sigma)
    means = (originals[..., :-1] + originals[..., 1:]) / 2
    volume = torch.cat([torch.stack([originals[..., :-1], means], -1).flatten(-2), originals[..., -1:]], -1)

    assert volume.shape == (96, 96, 17) and torch.equal(volume[..., 1], (volume[..., 0] + volume[..., 2]) / 2)
    assert estimate_noise_sigma(volume) == pytest.approx(math.sqrt(3 / 4) * sigma, rel=0.15)


def test_the_map_is_a_constant_channel_after_the_image():
    image = torch.rand(1, 8, 6)

    out = NoiseLevelMap()(image, 0.07)

    assert out.shape == (2, 8, 6)
    assert torch.equal(out[0], image[0]) and torch.all(out[1] == 0.07)
    with pytest.raises(ValueError, match=">= 0"):
        NoiseLevelMap()(image, -0.1)


def test_blind_training_appends_the_sigma_each_item_was_drawn_with():
    clean = torch.full((1, 64, 64), 0.5)
    add_noise = SyntheticNoised("image", kind="gaussian", sigma=[0.01, 0.12], sigma_key="noise_sigma")
    add_noise.set_random_state(3)
    append = NoiseLevelMapd("image", sigma_key="noise_sigma")

    items = [append(add_noise({"image": clean})) for _ in range(4)]

    sigmas = [item["noise_sigma"] for item in items]
    assert len(set(sigmas)) == 4 and all(0.01 <= s <= 0.12 for s in sigmas)
    for item, sigma in zip(items, sigmas):
        assert item["image"].shape == (2, 64, 64) and torch.all(item["image"][1] == sigma)
        assert float((item["image"][0] - item["label"][0]).std()) == pytest.approx(sigma, rel=0.1)


def test_the_sigma_key_needs_a_single_image_key():
    with pytest.raises(ValueError, match="sigma_key needs exactly one image key"):
        SyntheticNoised(["image", "other"], label_key=None, sigma_key="noise_sigma")


def test_the_map_needs_the_sigma_key():
    with pytest.raises(KeyError, match="sigma_key='noise_sigma'"):
        NoiseLevelMapd("image")({"image": torch.zeros(1, 4, 4)})


def test_a_residual_denoiser_corrects_only_the_image_channel():
    network = ResidualDenoiser(torch.nn.Conv2d(2, 1, 3, padding=1))
    x = torch.rand(3, 2, 16, 16)

    assert torch.equal(network(x), x[:, :1]), "the untrained network returns the noisy image, not the map"


class MapRecorder(torch.nn.Module):
    """Returns the image channel unchanged and records the noise level map it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.levels.append(x[:, 1:].unique())
        return x[:, :1]


def test_the_inferer_gives_every_window_the_given_sigma_and_keeps_the_output_shape():
    slices = FramewiseSliceInferer(spatial_dim=2, roi_size=(16, 16), sw_batch_size=4)
    network = MapRecorder()
    series = torch.rand(1, 2, 24, 20, 5)  # (B, T, X, Y, Z): two frames of a 4D series

    out = NoiseLevelInferer(slices, noise_level=0.04)(series, network)

    assert torch.allclose(out, series) and len(network.levels) > 1
    assert all(torch.equal(level, torch.tensor([0.04])) for level in network.levels)


def test_the_inferer_estimates_sigma_from_the_volume_by_default():
    clean = normalised_phantom((48, 48, 12))
    volume = noisy(clean, "gaussian", 0.06)[None, None]
    network = MapRecorder()

    NoiseLevelInferer(FramewiseSliceInferer(spatial_dim=2, roi_size=(48, 48)))(volume, network)

    assert float(network.levels[0]) == pytest.approx(0.06, rel=0.1)


def test_the_estimate_of_a_series_is_the_median_over_its_frames():
    clean = normalised_phantom((48, 48, 12))
    frames = torch.stack([noisy(clean, "gaussian", 0.04, seed=1), noisy(clean, "gaussian", 0.08, seed=2)])
    inferer = NoiseLevelInferer(FramewiseSliceInferer(spatial_dim=2, roi_size=(48, 48)))

    expected = (estimate_noise_sigma(frames[0]) + estimate_noise_sigma(frames[1])) / 2
    assert inferer.sigma(frames[None]) == pytest.approx(expected)


def test_the_inferer_takes_numpy_levels_and_refuses_a_negative_boolean_or_unknown_one():
    assert NoiseLevelInferer(FramewiseSliceInferer(spatial_dim=2, roi_size=(16, 16)), np.float32(0.03)).sigma(
        torch.zeros(1, 1, 4, 4, 2)) == pytest.approx(0.03)
    for level in (-0.01, True, "auto"):
        with pytest.raises(ValueError, match="noise_level"):
            NoiseLevelInferer(FramewiseSliceInferer(spatial_dim=2, roi_size=(16, 16)), level)


def test_the_bundle_trains_on_the_drawn_sigma_and_validates_with_the_known_one(tiny_dataset):
    parser = parse(BUNDLE, ["train"], dataset_dir=str(tiny_dataset), **{"noise#sigma": 0.08})

    patches = parser.get_parsed_content("train#dataset")[0]
    inferer = parser.get_parsed_content("validate#inferer")
    slices = torch.rand(2, 1, 16, 16)

    assert all(p["image"].shape[0] == 2 and torch.all(p["image"][1] == p["noise_sigma"]) for p in patches)
    assert isinstance(inferer, NoiseLevelInferer) and inferer.noise_level == 0.08
    assert torch.all(network_input(parser, slices)[:, 1] == 0.08)
