"""The generalised Anscombe transform (GAT) for Poisson-Gaussian noise, its exact unbiased inverse, and GAT + BM3D.

Noise model (Makitalo & Foi, "Optimal inversion of the generalized Anscombe transformation for
Poisson-Gaussian noise", IEEE TIP 22(1), 2013)::

    z = alpha * Poisson(x / alpha) + N(mu, sigma**2)

``alpha`` > 0 is the gain of the Poisson part, ``sigma`` >= 0 and ``mu`` the std and mean of the Gaussian part,
all in the units of ``z``. The forward GAT ``D = gat(z)`` makes the noise approximately N(0, 1). Its exact
unbiased inverse maps ``E[gat(z) | x]`` back to ``x``: applied to a denoised ``D`` (an estimate of
``E[gat(z) | x]``) it undoes the bias that the non-linear transform puts into the mean, which the algebraic
inverse leaves in place and which is large at low counts.

With ``y = z' = (z - mu) / alpha`` (unit gain) and ``s = sigma / alpha``, ``gat(z) = 2 sqrt(max(y + 3/8 + s**2, 0))``
and ``y = Poisson(x') + N(0, s**2)``, so everything is computed at unit gain and scaled back.

For a radiograph on the normalised scale (:mod:`monai_denoise.transforms.xray_noise`) ``alpha = 1 / photons``,
``sigma = electronic_std``, ``mu = 0``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import bm3d
import numpy as np
from scipy import integrate, stats

__all__ = ["gat", "gat_bm3d", "gat_inverse", "gat_inverse_algebraic", "gat_inverse_closed_form",
           "gat_inverse_exact"]

_SQRT_3_2 = math.sqrt(1.5)
_LAMBDA_MAX = 300.0
"""Upper end (unit-gain counts) of the tabulated exact inverse; above it the asymptotic inverse
``(D / 2)**2 - 1/8 - s**2`` is used, which there agrees with the exact inverse to 1e-4 counts or better."""


def _check(alpha: float, sigma: float) -> None:
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha (Poisson gain) must be finite and > 0, got {alpha}")
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma (Gaussian std) must be finite and >= 0, got {sigma}")


def gat(z: np.ndarray, alpha: float = 1.0, sigma: float = 0.0, mu: float = 0.0) -> np.ndarray:
    """Forward GAT: ``(2 / alpha) sqrt(max(alpha z + 3/8 alpha**2 + sigma**2 - alpha mu, 0))``.

    Args:
        z: Poisson-Gaussian data (any shape), units of ``alpha * count``.
        alpha: Poisson gain (> 0); sigma: Gaussian std (>= 0); mu: Gaussian mean, all in units of ``z``.

    Returns:
        float64 array, noise std about 1 (dimensionless), values >= 0.
    """
    _check(alpha, sigma)
    z = np.asarray(z, dtype=np.float64)
    return (2.0 / alpha) * np.sqrt(np.maximum(alpha * z + 0.375 * alpha**2 + sigma**2 - alpha * mu, 0.0))


def gat_inverse_algebraic(d: np.ndarray, alpha: float = 1.0, sigma: float = 0.0, mu: float = 0.0) -> np.ndarray:
    """Algebraic inverse of :func:`gat`: ``((alpha d / 2)**2 - 3/8 alpha**2 - sigma**2 + alpha mu) / alpha``.

    Biased when applied to a denoised (mean) ``d``, most at low counts; for comparison only.
    """
    _check(alpha, sigma)
    d = np.asarray(d, dtype=np.float64)
    return ((alpha * d / 2.0) ** 2 - 0.375 * alpha**2 - sigma**2 + alpha * mu) / alpha


def _closed_form_unit(d: np.ndarray, s: float) -> np.ndarray:
    """Closed-form approximation at unit gain: the Anscombe exact-unbiased-inverse approximation minus ``s**2``."""
    d = np.asarray(d, dtype=np.float64)
    safe = np.maximum(d, 2.0 * math.sqrt(0.375))  # the expression is 0 there and not monotone below
    out = (0.25 * safe**2 + 0.25 * _SQRT_3_2 / safe - 1.375 / safe**2 + 0.625 * _SQRT_3_2 / safe**3
           - 0.125 - s**2)
    return np.where(d > 2.0 * math.sqrt(0.375), np.maximum(out, 0.0), 0.0)


def gat_inverse_closed_form(d: np.ndarray, alpha: float = 1.0, sigma: float = 0.0, mu: float = 0.0) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2011, 2013).

    At unit gain, ``I(D) = 1/4 D**2 + 1/4 sqrt(3/2) D**-1 - 11/8 D**-2 + 5/8 sqrt(3/2) D**-3 - 1/8 - s**2``
    with ``s = sigma / alpha``, clipped at 0 (and 0 for ``D <= 2 sqrt(3/8)``, where the expression is 0 and
    stops being monotone); then ``x = alpha I(D) + mu``. Accurate at moderate and high counts; at low counts
    with ``s > 0`` it deviates from the exact inverse (:func:`gat_inverse_exact`).
    """
    _check(alpha, sigma)
    return alpha * _closed_form_unit(d, sigma / alpha) + mu


@lru_cache(maxsize=32)
def _exact_table(s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(E[gat(y) | lam], lam)`` at unit gain for ``y = Poisson(lam) + N(0, s**2)``, lam in [0, _LAMBDA_MAX].

    ``E = sum_k P(k; lam) g_k`` with ``g_k = E_t[2 sqrt(max(k + s t + 3/8 + s**2, 0))]``, ``t ~ N(0, 1)``,
    integrated by the trapezoid rule on ``t`` in [-10, 10].
    """
    k_max = math.ceil(_LAMBDA_MAX + 15.0 * math.sqrt(_LAMBDA_MAX) + 30.0)
    k = np.arange(k_max + 1, dtype=np.float64)
    if s > 0:
        t = np.linspace(-10.0, 10.0, 8001)
        w = stats.norm.pdf(t)
        w /= integrate.trapezoid(w, t)
        values = 2.0 * np.sqrt(np.maximum(k[:, None] + s * t[None] + 0.375 + s**2, 0.0))
        g = integrate.trapezoid(values * w[None], t, axis=1)
    else:
        g = 2.0 * np.sqrt(k + 0.375)
    lam = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 200)[:-1], np.linspace(1.0, _LAMBDA_MAX, 1200)])
    expectation = stats.poisson.pmf(k[None], lam[:, None]) @ g
    if not np.all(np.diff(expectation) > 0):
        raise RuntimeError(f"E[GAT] is not increasing for sigma/alpha = {s}")  # pragma: no cover
    expectation.flags.writeable = False
    lam.flags.writeable = False
    return expectation, lam


def gat_inverse_exact(d: np.ndarray, alpha: float = 1.0, sigma: float = 0.0, mu: float = 0.0) -> np.ndarray:
    """Exact unbiased inverse of :func:`gat` (Makitalo & Foi 2013), computed numerically.

    The inverse is defined by ``I(E[gat(z) | x]) = x``. ``E[gat(z) | x]`` is computed at unit gain over a
    grid of counts ``lam = (x - mu) / alpha`` in [0, 300] for ``s = sigma / alpha`` (a Poisson sum over a
    Gaussian integral, cached per ``s``) and inverted by linear interpolation. Above the grid the
    asymptotically unbiased inverse ``(D / 2)**2 - 1/8 - s**2`` is used (error there 1e-4 counts or less, vs
    about 0.3 / D counts for the closed form, whose ``D**-1`` term is a low-count fit); below
    ``E[gat | x = mu]`` the result is ``mu`` (0 counts).

    Args:
        d: values in the GAT domain (e.g. a denoised :func:`gat` image), any shape.
        alpha, sigma, mu: the noise parameters given to :func:`gat`.

    Returns:
        float64 array in the units of ``z`` (``>= mu``).
    """
    _check(alpha, sigma)
    d = np.asarray(d, dtype=np.float64)
    expectation, lam = _exact_table(float(f"{sigma / alpha:.6g}"))  # rounded: a stable cache key
    out = np.interp(d, expectation, lam, left=0.0)
    high = d > expectation[-1]
    if np.any(high):
        out = np.where(high, (d / 2.0) ** 2 - 0.125 - (sigma / alpha) ** 2, out)
    return alpha * out + mu


def gat_inverse(d: np.ndarray, alpha: float = 1.0, sigma: float = 0.0, mu: float = 0.0,
                method: str = "exact") -> np.ndarray:
    """Inverse GAT by ``method``: ``"exact"`` (default, :func:`gat_inverse_exact`), ``"closed_form"`` or
    ``"algebraic"``."""
    methods = {"exact": gat_inverse_exact, "closed_form": gat_inverse_closed_form, "algebraic": gat_inverse_algebraic}
    if method not in methods:
        raise ValueError(f"unknown inverse {method!r}; expected one of {sorted(methods)}")
    return methods[method](d, alpha, sigma, mu)


def gat_bm3d(noisy: np.ndarray, photons: float, electronic_std: float = 0.0, inverse: str = "exact") -> np.ndarray:
    """Denoise a radiograph with Poisson-Gaussian noise of known parameters: GAT -> BM3D -> exact unbiased inverse.

    The noise model is that of :class:`~monai_denoise.transforms.xray_noise.PoissonGaussianNoise`:
    ``y = Poisson(x * photons) / photons + N(0, electronic_std**2)`` on the normalised linear scale, i.e. a GAT
    with ``alpha = 1 / photons`` (unit Poisson gain after scaling by ``photons``), ``sigma = electronic_std``.
    After the GAT the noise std is 1, so BM3D (the ``bm3d`` package) runs with ``sigma_psd = 1``.

    Args:
        noisy: ``(H, W)`` image on the normalised [0, 1] scale (values may stray outside it through noise).
        photons: photons per pixel at full scale (> 0); ``inf`` means Gaussian noise only (plain BM3D with
            ``electronic_std``).
        electronic_std: electronic noise std on the [0, 1] scale (>= 0).
        inverse: ``"exact"`` (default), ``"closed_form"`` or ``"algebraic"``, see :func:`gat_inverse`.

    Returns:
        float32 ``(H, W)`` estimate of the clean image on the [0, 1] scale (>= 0; not clipped above).
    """
    noisy = np.asarray(noisy, dtype=np.float64)
    if noisy.ndim != 2:
        raise ValueError(f"gat_bm3d needs an (H, W) image, got shape {noisy.shape}")
    if not np.all(np.isfinite(noisy)):
        raise ValueError("gat_bm3d: the image contains NaN or Inf values")
    if not photons > 0:
        raise ValueError(f"photons must be > 0, got {photons}")
    if not (electronic_std >= 0 and math.isfinite(electronic_std)):
        raise ValueError(f"electronic_std must be finite and >= 0, got {electronic_std}")
    if math.isinf(photons):
        if electronic_std == 0:
            return noisy.astype(np.float32)
        return np.asarray(bm3d.bm3d(noisy, sigma_psd=electronic_std), dtype=np.float32)
    alpha = 1.0 / photons
    stabilised = gat(noisy, alpha, electronic_std)
    denoised = np.asarray(bm3d.bm3d(stabilised, sigma_psd=1.0), dtype=np.float64)
    return gat_inverse(denoised, alpha, electronic_std, method=inverse).astype(np.float32)
