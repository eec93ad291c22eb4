"""Classical denoisers from well-kept libraries, set fairly: widths tuned on validation, BM3D given the true sigma.

Every denoiser maps one ``(H, W)`` float image in [0, 1] and the true noise sigma to a denoised image.
Under Rician noise each also has a bias-corrected form (Gaussian-designed denoisers leave the Rician
bias, mean sigma * sqrt(pi / 2) in the background, in place).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

import bm3d
import numpy as np
import torch
from scipy import ndimage
from skimage.restoration import denoise_nl_means

from .metrics import image_metrics

Denoiser = Callable[..., np.ndarray]


def gaussian_filter(image: np.ndarray, sigma: float, width: float = 1.0) -> np.ndarray:
    """Gaussian smoothing with standard deviation ``width`` pixels (``sigma`` unused, kept for the common signature)."""
    return ndimage.gaussian_filter(image, width)


def median_filter(image: np.ndarray, sigma: float, size: int = 3) -> np.ndarray:
    """Median of each ``size`` x ``size`` neighbourhood."""
    return ndimage.median_filter(image, size=size)


def nl_means(image: np.ndarray, sigma: float, h_factor: float = 0.8) -> np.ndarray:
    """scikit-image non-local means (5x5 patches, 13x13 search) with filter strength ``h_factor * sigma``."""
    return denoise_nl_means(image, h=h_factor * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)


def bm3d_denoise(image: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (the ``bm3d`` package, Makinen et al. 2020) with the true noise standard deviation."""
    return np.asarray(bm3d.bm3d(image, sigma_psd=sigma), dtype=np.float32)


def remove_rician_bias(estimate: np.ndarray, sigma: float, squared: bool = False) -> np.ndarray:
    """``sqrt(max(E[m^2] - 2 sigma^2, 0))``: the magnitude without the Rician noise floor.

    Args:
        estimate: a denoised magnitude image (any shape), or a denoised squared magnitude when ``squared``.
        sigma: the true noise standard deviation of each complex channel.
        squared: ``estimate`` is already a squared magnitude. Default False.
    """
    power = estimate if squared else estimate**2
    return np.sqrt(np.maximum(power - 2.0 * sigma**2, 0.0))


def rician_bias_corrected(denoiser: Denoiser, form: str) -> Denoiser:
    """Wrap a Gaussian-noise denoiser ``D`` for Rician magnitude data ``m`` (true sigma ``s``).

    - ``"post"``: ``sqrt(max(D(m)^2 - 2 s^2, 0))``,
    - ``"squared"``: ``sqrt(max(D(m^2) - 2 s^2, 0))``, denoising the squared magnitude, whose noise
      standard deviation is about ``2 s rms(m)``.
    """
    if form not in ("post", "squared"):
        raise ValueError(f"bias-correction form must be 'post' or 'squared', got {form!r}")

    def corrected(image: np.ndarray, sigma: float, **params) -> np.ndarray:
        if form == "post":
            return remove_rician_bias(denoiser(image, sigma, **params), sigma)
        noise_std = 2.0 * sigma * float(np.sqrt(np.mean(image**2)))
        return remove_rician_bias(denoiser(image**2, noise_std, **params), sigma, squared=True)

    return corrected


@dataclass(frozen=True)
class Baseline:
    """A classical method: its denoiser and the parameter grid searched on validation images."""

    name: str
    denoiser: Denoiser
    grid: dict[str, tuple] = field(default_factory=dict)


BASELINES = (
    Baseline("Gaussian filter", gaussian_filter, {"width": (0.5, 0.75, 1.0, 1.5, 2.0)}),
    Baseline("median filter", median_filter, {"size": (3, 5)}),
    Baseline("non-local means", nl_means, {"h_factor": (0.6, 0.8, 1.0, 1.2)}),
    Baseline("BM3D", bm3d_denoise),
)


def rician_forms(baselines: tuple[Baseline, ...] = BASELINES) -> tuple[Baseline, ...]:
    """Each baseline in its two bias-corrected forms, the form becoming a tuned parameter."""
    return tuple(Baseline(f"{b.name} (bias-corrected)", _form_switch(b.denoiser), {**b.grid, "form": ("post", "squared")})
                 for b in baselines)


def _form_switch(denoiser: Denoiser) -> Denoiser:
    forms = {form: rician_bias_corrected(denoiser, form) for form in ("post", "squared")}

    def denoise(image: np.ndarray, sigma: float, form: str = "post", **params) -> np.ndarray:
        return forms[form](image, sigma, **params)

    return denoise


def apply(baseline: Baseline, images: torch.Tensor, sigma: float, params: dict) -> torch.Tensor:
    """Denoise each ``(N, 1, H, W)`` image with ``params``; returns float32 of the same shape."""
    array = images.detach().cpu().numpy().astype(np.float64)
    out = np.stack([baseline.denoiser(a[0], sigma, **params)[None] for a in array])
    return torch.from_numpy(out.astype(np.float32))


def tune(baseline: Baseline, noisy: torch.Tensor, clean: torch.Tensor, sigma: float) -> dict:
    """The grid point with the best mean PSNR on validation ``(noisy, clean)`` images (``{}`` without a grid)."""
    candidates = [dict(zip(baseline.grid, values)) for values in product(*baseline.grid.values())]
    scores = [float(image_metrics(apply(baseline, noisy, sigma, p), clean)["psnr"].mean()) for p in candidates]
    return candidates[int(np.argmax(scores))]
