"""Radiograph Poisson-Gaussian noise, the generalised Anscombe transform and its exact unbiased inverse, GAT + BM3D."""

from __future__ import annotations

import math

import bm3d
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import integrate, stats

from monai_denoise.anscombe import (gat, gat_bm3d, gat_inverse, gat_inverse_algebraic, gat_inverse_closed_form,
                                    gat_inverse_exact)
from monai_denoise.errors import DataError
from monai_denoise.transforms.xray_noise import PoissonGaussianNoise, PoissonGaussianNoised

PHOTONS, E_STD = 200.0, 0.01


def item(name: str, seed: int = 0, shape=(1, 32, 32)) -> dict:
    values = np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)
    return {"image": MetaTensor(torch.as_tensor(values), meta={"filename_or_obj": name})}


def noisy_of(transform: PoissonGaussianNoised, data: dict) -> torch.Tensor:
    return torch.as_tensor(transform(dict(data))["image"]).clone()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / np.mean((a - b) ** 2)))


def smooth_radiograph(n: int = 64) -> np.ndarray:
    """A gradient plus a brighter disc, values in [0.05, 0.8] (linear detector signal)."""
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1)
    return 0.05 + 0.6 * xx + 0.3 * (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.25**2)


# --- PoissonGaussianNoise / PoissonGaussianNoised ---------------------------------------------------------


@pytest.mark.parametrize("level", [0.0, 0.1, 0.4, 0.8])
def test_variance_is_linear_in_signal(level):
    noise = PoissonGaussianNoise(PHOTONS, E_STD)
    noise.set_random_state(0)
    out = np.asarray(noise(torch.full((1, 128, 128), level)), dtype=np.float64)
    expected = level / PHOTONS + E_STD**2  # slope 1 / photons, offset electronic_std^2
    assert out.var() == pytest.approx(expected, rel=0.05)
    assert out.mean() == pytest.approx(level, abs=4 * math.sqrt(expected / out.size))


def test_infinite_dose_without_electronic_noise_is_identity_and_keeps_meta():
    clean = item("/data/a.png")["image"]
    out = PoissonGaussianNoise(math.inf, 0.0)(clean)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert torch.equal(out.as_tensor(), clean.as_tensor())
    assert out.meta["filename_or_obj"] == "/data/a.png"
    # inf photons with electronic noise: Gaussian noise only
    gaussian = PoissonGaussianNoise(math.inf, 0.05)
    gaussian.set_random_state(0)
    diff = np.asarray(gaussian(torch.zeros(1, 128, 128)))
    assert diff.std() == pytest.approx(0.05, rel=0.05)


def test_set_random_state_reproduces_and_numpy_input():
    clean = np.random.default_rng(1).uniform(0, 1, (1, 16, 16)).astype(np.float64)
    a, b, c = (PoissonGaussianNoise((50, 5000), (0.0, 0.01)).set_random_state(s) for s in (3, 3, 4))
    out_a, out_b, out_c = a(clean), b(clean), c(clean)
    assert isinstance(out_a, np.ndarray) and out_a.dtype == np.float32
    np.testing.assert_array_equal(out_a, out_b)
    assert a.photons == b.photons and 50 <= a.photons <= 5000 and 0 <= a.electronic_std <= 0.01
    assert not np.array_equal(out_a, out_c)


def test_photons_range_is_log_uniform():
    noise = PoissonGaussianNoise((10, 10000), 0.0).set_random_state(0)
    draws = []
    for _ in range(400):
        noise.randomize()
        draws.append(math.log10(noise.photons))
    assert min(draws) >= 1 and max(draws) <= 4
    assert np.mean(draws) == pytest.approx(2.5, abs=0.15)  # uniform in log10 over [1, 4]


def test_clip_and_negative_input():
    noise = PoissonGaussianNoise(20.0, 0.05, clip=True).set_random_state(0)
    out = np.asarray(noise(torch.full((1, 32, 32), 0.98)))
    assert out.min() >= 0.0 and out.max() <= 1.0
    # negative values count as 0 photons: only the electronic noise remains
    zero = PoissonGaussianNoise(20.0, 0.0).set_random_state(0)
    assert float(np.abs(np.asarray(zero(torch.full((1, 8, 8), -0.2)))).max()) == 0.0


def test_dict_copies_clean_label_and_seeded_noise_depends_on_seed_and_name_only():
    data = item("/data/x/A.png")
    clean = data["image"].as_tensor().clone()
    transform = PoissonGaussianNoised("image", photons=PHOTONS, electronic_std=E_STD, seed=7, params_key="noise")
    out = transform(dict(data))
    assert torch.equal(torch.as_tensor(out["label"]), clean)
    assert not torch.equal(torch.as_tensor(out["image"]), clean)
    assert out["noise"] == {"photons": PHOTONS, "electronic_std": E_STD}
    assert torch.equal(data["image"].as_tensor(), clean)  # input item untouched

    first = noisy_of(transform, data)
    noisy_of(transform, item("/data/x/B.png"))  # another item in between does not change A's noise
    assert torch.equal(noisy_of(transform, data), first)
    same_name = item("/elsewhere/A.png")  # only the file's base name counts
    assert torch.equal(noisy_of(transform, same_name), first)
    fresh = PoissonGaussianNoised("image", photons=PHOTONS, electronic_std=E_STD, seed=7)
    fresh.set_random_state(123)  # the random state does not matter with a seed
    assert torch.equal(noisy_of(fresh, data), first)

    assert not torch.equal(noisy_of(transform, item("/data/x/B.png")), first)
    other_seed = PoissonGaussianNoised("image", photons=PHOTONS, electronic_std=E_STD, seed=8)
    assert not torch.equal(noisy_of(other_seed, data), first)


def test_dict_blind_training_is_reproducible_through_set_random_state():
    data = item("/data/A.png")
    outs = []
    for seed in (5, 5, 6):
        t = PoissonGaussianNoised("image", photons=(100, 1000), electronic_std=(0.0, 0.01), params_key="p")
        t.set_random_state(seed)
        outs.append((noisy_of(t, data), t(dict(data))["p"]))
    assert torch.equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1]
    assert not torch.equal(outs[0][0], outs[2][0])


def test_bad_input_and_parameters():
    data = item("/data/broken.png")
    data["image"][0, 3, 3] = float("nan")
    with pytest.raises(DataError, match="broken.png"):
        PoissonGaussianNoised("image")(data)
    with pytest.raises(DataError):
        PoissonGaussianNoise()(torch.tensor([[[float("inf")]]]))
    for kwargs in ({"photons": 0}, {"photons": -5}, {"photons": (100, 10)}, {"photons": (10, math.inf)},
                   {"electronic_std": -0.1}, {"electronic_std": (0.02, 0.01)}, {"electronic_std": math.inf}):
        with pytest.raises(ValueError):
            PoissonGaussianNoise(**kwargs)
    with pytest.raises(ValueError, match="file name"):
        PoissonGaussianNoised("image", seed=1)({"image": torch.zeros(1, 4, 4)})
    with pytest.raises(ValueError):
        PoissonGaussianNoised(["image", "other"])


# --- generalised Anscombe transform ------------------------------------------------------------------------


def poisson_gaussian(rng: np.random.Generator, x: float, alpha: float, sigma: float, n: int) -> np.ndarray:
    return alpha * rng.poisson(x / alpha, n) + rng.normal(0.0, sigma, n)


@pytest.mark.parametrize("x", [0.05, 0.2, 0.5, 0.9])
def test_gat_stabilises_variance(x):
    # radiograph scale: 200 photons at full scale (10 to 180 counts here), electronic std 0.01 (s = 2 counts)
    alpha, sigma = 1.0 / PHOTONS, E_STD
    z = poisson_gaussian(np.random.default_rng(0), x, alpha, sigma, 100_000)
    assert z.var() == pytest.approx(alpha * x + sigma**2, rel=0.03)  # raw variance grows with x
    assert gat(z, alpha, sigma).var() == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("counts", [0.5, 1.0, 2.0, 5.0])
def test_exact_unbiased_inverse_removes_low_count_bias(counts):
    alpha, sigma, mu = 0.5, 0.25, 0.1  # s = sigma / alpha = 0.5 counts of electronic noise
    x = alpha * counts + mu
    rng = np.random.default_rng(1)
    z = alpha * rng.poisson(counts, 400_000) + rng.normal(mu, sigma, 400_000)
    mean_gat = gat(z, alpha, sigma, mu).mean()  # Monte Carlo E[GAT(z) | x]
    exact = float(gat_inverse_exact(mean_gat, alpha, sigma, mu))
    algebraic = float(gat_inverse_algebraic(mean_gat, alpha, sigma, mu))
    assert abs(exact - x) < 0.02 * alpha
    assert abs(algebraic - x) > 0.15 * alpha  # the algebraic inverse is biased at low counts
    assert abs(exact - x) < abs(algebraic - x) / 5
    # the published closed form approximates the exact inverse to a few hundredths of a count
    assert float(gat_inverse_closed_form(mean_gat, alpha, sigma, mu)) == pytest.approx(exact, abs=0.05 * alpha)


@pytest.mark.parametrize("s", [0.0, 2.0])
def test_exact_inverse_is_continuous_at_high_counts(s):
    # beyond the tabulated range (300 counts) the asymptotic inverse takes over without a jump
    for lam in (250.0, 299.0, 301.0, 1000.0):
        k = np.arange(int(lam + 20 * math.sqrt(lam) + 50))
        pmf = stats.poisson.pmf(k, lam)
        t = np.linspace(-10, 10, 4001)
        w = stats.norm.pdf(t) / integrate.trapezoid(stats.norm.pdf(t), t)
        g = integrate.trapezoid(2 * np.sqrt(np.maximum(k[:, None] + s * t + 0.375 + s**2, 0)) * w, t, axis=1)
        assert float(gat_inverse_exact(pmf @ g, 1.0, s)) == pytest.approx(lam, abs=1e-3)
    d = np.linspace(0.0, 60.0, 2001)
    assert np.all(np.diff(gat_inverse_exact(d, 1.0, s)) >= 0)
    assert gat_inverse_exact(np.array([0.0]), 1.0, s)[0] == 0.0


def test_inverse_api_errors():
    with pytest.raises(ValueError):
        gat(np.ones(3), alpha=0.0)
    with pytest.raises(ValueError):
        gat_inverse(np.ones(3), 1.0, -1.0)
    with pytest.raises(ValueError):
        gat_inverse(np.ones(3), method="bogus")


# --- GAT + BM3D ------------------------------------------------------------------------------------------------


def test_gat_bm3d_denoises_and_beats_global_sigma_bm3d():
    photons, e_std = 20.0, 0.01  # very low dose: noise std 0.05 to 0.2 across the image
    clean = smooth_radiograph()
    noise = PoissonGaussianNoise(photons, e_std).set_random_state(0)
    noisy = np.asarray(noise(clean[None].astype(np.float32)))[0].astype(np.float64)

    denoised = gat_bm3d(noisy, photons, e_std)
    assert denoised.shape == clean.shape and denoised.dtype == np.float32
    assert psnr(denoised, clean) > psnr(noisy, clean) + 5.0
    # plain BM3D told the image's average noise std is worse: the noise is signal-dependent
    global_sigma = math.sqrt(clean.mean() / photons + e_std**2)
    plain = np.asarray(bm3d.bm3d(noisy, sigma_psd=global_sigma))
    assert psnr(denoised, clean) > psnr(plain, clean) + 0.3


def test_gat_bm3d_edge_cases():
    image = smooth_radiograph(16)
    np.testing.assert_array_equal(gat_bm3d(image, math.inf, 0.0), image.astype(np.float32))
    with pytest.raises(ValueError):
        gat_bm3d(image[None], 100.0)
    with pytest.raises(ValueError):
        gat_bm3d(image, 0.0)
    bad = image.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        gat_bm3d(bad, 100.0)
