"""Classical denoisers from well-kept libraries, set fairly: widths tuned on validation, BM3D given the true noise.

Every denoiser maps one ``(H, W)`` float image in [0, 1] (and, where it needs them, the true noise parameters)
to a denoised image. A :class:`Baseline` names which parameters of the noise section it is given
(``noise_args``): the baselines of additive noise take the true sigma, and under Rician noise each also has a
bias-corrected form (Gaussian-designed denoisers leave the Rician bias, mean sigma * sqrt(pi / 2) in the
background, in place). Each noise model declares its baselines (``NoiseModel.baselines``):
:func:`additive_baselines`, :func:`ct_baselines`, :func:`xray_baselines`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import bm3d
import numpy as np
import torch
from scipy import ndimage
from skimage.restoration import denoise_nl_means

from .anscombe import gat_bm3d
from .transforms.noise_level import estimate_noise_sigma

Denoiser = Callable[..., np.ndarray]


def gaussian_filter(image: np.ndarray, sigma: float | None = None, width: float = 1.0) -> np.ndarray:
    """Gaussian smoothing with standard deviation ``width`` pixels (``sigma`` unused, kept for the common signature)."""
    return ndimage.gaussian_filter(image, width)


def median_filter(image: np.ndarray, sigma: float | None = None, size: int = 3) -> np.ndarray:
    """Median of each ``size`` x ``size`` neighbourhood."""
    return ndimage.median_filter(image, size=size)


def nl_means(image: np.ndarray, sigma: float, h_factor: float = 0.8) -> np.ndarray:
    """scikit-image non-local means (5x5 patches, 13x13 search) with filter strength ``h_factor * sigma``."""
    return denoise_nl_means(image, h=h_factor * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)


def bm3d_denoise(image: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (the ``bm3d`` package, Makinen et al. 2020) with the true noise standard deviation."""
    return np.asarray(bm3d.bm3d(image, sigma_psd=sigma), dtype=np.float32)


def bm3d_estimated(image: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """BM3D with one global sigma: ``factor`` times the image's own noise estimate
    (:func:`~monai_denoise.transforms.noise_level.estimate_noise_sigma`, the wavelet MAD estimate on the
    image's scale); ``factor`` is tuned on validation images."""
    sigma = factor * estimate_noise_sigma(image)
    if sigma <= 0:
        return np.asarray(image, dtype=np.float32)
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
    """A classical method: its denoiser, the parameter grid searched on validation images, and the noise parameters
    it is given.

    Attributes:
        name: the method's name in tables.
        denoiser: ``denoiser(image, **noise_arguments, **params)`` -> the denoised ``(H, W)`` image.
        grid: parameter name -> values searched on validation images (see :func:`monai_denoise.evaluation.tune_baseline`).
        noise_args: denoiser argument -> key of the noise section whose true value it is given; default the
            MRI baselines' ``{"sigma": "sigma"}``; ``{}`` for a method that sees the image alone.
    """

    name: str
    denoiser: Denoiser
    grid: dict[str, tuple] = field(default_factory=dict)
    noise_args: dict[str, str] = field(default_factory=lambda: {"sigma": "sigma"})

    def __call__(self, image: np.ndarray, noise: Mapping, **params) -> np.ndarray:
        """Denoise ``image`` given noise section ``noise`` (the true values of the level) and ``params``."""
        return self.denoiser(image, **{arg: noise[key] for arg, key in self.noise_args.items()}, **params)


BASELINES = (
    Baseline("Gaussian filter", gaussian_filter, {"width": (0.5, 0.75, 1.0, 1.5, 2.0)}),
    Baseline("median filter", median_filter, {"size": (3, 5)}),
    Baseline("non-local means", nl_means, {"h_factor": (0.6, 0.8, 1.0, 1.2)}),
    Baseline("BM3D", bm3d_denoise),
)


def rician_forms(baselines: tuple[Baseline, ...] = BASELINES) -> tuple[Baseline, ...]:
    """Each baseline in its two bias-corrected forms, the form becoming a tuned parameter (baselines given the
    true sigma, as the MRI ones are)."""
    if any(b.noise_args != {"sigma": "sigma"} for b in baselines):
        raise ValueError("rician_forms needs baselines given the noise sigma (noise_args {'sigma': 'sigma'})")
    return tuple(Baseline(f"{b.name} (bias-corrected)", _form_switch(b.denoiser), {**b.grid, "form": ("post", "squared")})
                 for b in baselines)


def _form_switch(denoiser: Denoiser) -> Denoiser:
    forms = {form: rician_bias_corrected(denoiser, form) for form in ("post", "squared")}

    def denoise(image: np.ndarray, sigma: float, form: str = "post", **params) -> np.ndarray:
        return forms[form](image, sigma, **params)

    return denoise


def additive_baselines(noise: Mapping) -> tuple[Baseline, ...]:
    """Additive noise of one sigma (MRI's, and the origin protocol's on any modality): Gaussian and median filters and non-local means tuned on validation, BM3D given the true sigma; under
    Rician noise (``noise["type"]``) also each in its bias-corrected forms."""
    return BASELINES + rician_forms() if noise.get("type") == "rician" else BASELINES


BM3D_FACTORS = (0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
"""Factors of the estimated noise sigma searched for BM3D where the noise is not white Gaussian of a known sigma."""

FILTERS = (
    Baseline("Gaussian filter", gaussian_filter, {"width": (0.5, 0.75, 1.0, 1.5, 2.0)}, noise_args={}),
    Baseline("median filter", median_filter, {"size": (3, 5)}, noise_args={}),
)
"""The Gaussian and median filters for noise without one sigma (CT, radiographs): widths tuned on validation."""


def ct_baselines(noise: Mapping) -> tuple[Baseline, ...]:
    """CT (projection-domain low-dose noise): BM3D, and the Gaussian and median filters tuned on validation.

    Low-dose CT noise comes through filtered back-projection: it is correlated (streaky, with the ramp filter's
    texture) and non-stationary (strongest behind dense, long ray paths), and no single sigma on the image
    describes it. BM3D's white-noise model is therefore approximate: BM3D runs with one global sigma, the
    slice's own wavelet estimate (:func:`bm3d_estimated`, on the [0, 1] window scale) times a factor from
    :data:`BM3D_FACTORS` tuned on the validation slices, and the factor absorbs the mismatch (the fine-scale
    estimate reads correlated noise low). ``noise`` (i0, electronic_std, views) is not used: no classical
    image-domain denoiser takes the projection-domain parameters.
    """
    return (Baseline("BM3D", bm3d_estimated, {"factor": BM3D_FACTORS}, noise_args={}), *FILTERS)


def xray_baselines(noise: Mapping) -> tuple[Baseline, ...]:
    """Radiographs (Poisson-Gaussian noise): GAT-BM3D given the true ``photons`` and ``electronic_std`` of the level
    (:func:`monai_denoise.anscombe.gat_bm3d`: BM3D after the generalised Anscombe transform with its exact unbiased
    inverse, the classical Poisson-Gaussian baseline), BM3D with one tuned global sigma (the image's noise
    estimate times a factor tuned on validation, blind to the noise's signal dependence), and the Gaussian and
    median filters tuned on validation."""
    return (Baseline("GAT-BM3D", gat_bm3d, noise_args={"photons": "photons", "electronic_std": "electronic_std"}),
            Baseline("BM3D", bm3d_estimated, {"factor": BM3D_FACTORS}, noise_args={}), *FILTERS)


def _noise_section(noise: Mapping | float) -> Mapping:
    """``noise`` as a noise section: a number is the MRI shorthand for ``{"sigma": noise}``."""
    return noise if isinstance(noise, Mapping) else {"sigma": float(noise)}


def apply(baseline: Baseline, images: torch.Tensor, noise: Mapping | float, params: dict) -> torch.Tensor:
    """Denoise each ``(N, 1, H, W)`` image with ``params`` given the noise section ``noise`` of their level (or a
    sigma, for baselines given only that); returns float32 of the same shape."""
    noise = _noise_section(noise)
    array = images.detach().cpu().numpy().astype(np.float64)
    out = np.stack([baseline(a[0], noise, **params)[None] for a in array])
    return torch.from_numpy(out.astype(np.float32))
