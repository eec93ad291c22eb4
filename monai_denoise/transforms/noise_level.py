"""The noise level as a network input: estimate it from a scan, or append it as a constant channel.

A denoiser conditioned on the noise level (FFDNet, Zhang et al. 2018; DRUNet, Zhang et al. 2021) sees
the noisy image and a map holding its noise standard deviation, so one network serves every level as
well as a network trained for that level alone. Training appends the sigma each item was drawn with
(:class:`NoiseLevelMapd`); inference uses a known sigma or :func:`estimate_noise_sigma`.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_tensor

__all__ = ["RECORRUPTIONS", "NoiseLevel", "NoiseLevelMap", "NoiseLevelMapd", "NoiseLeveld", "estimate_noise_sigma", "estimate_series_sigma",
           "poisson_gaussian_fit", "saturation_bounds", "scan_scale"]

logger = logging.getLogger(__name__)

MAD_TO_SIGMA = 0.6745
"""Median absolute deviation of a standard normal variable: MAD / 0.6745 estimates its standard deviation."""


def _haar(img: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One level of the orthonormal Haar transform along ``axis``: (approximation, detail)."""
    even = img.narrow(axis, 0, img.shape[axis] // 2 * 2)
    first, second = even.unflatten(axis, (-1, 2)).unbind(axis + 1)
    return (first + second) / math.sqrt(2.0), (first - second) / math.sqrt(2.0)


INDEPENDENT_SLICES = 0.8
"""Least ratio of the across-slice (2x2x2) to the in-plane (2x2) estimate of a volume whose slices carry
independent noise; below it the slices are repeated or interpolated and the in-plane estimate is taken."""


def _mad_sigma(detail: torch.Tensor, block_mean: torch.Tensor, min_snr: float, iterations: int) -> float:
    """MAD / 0.6745 of the detail coefficients, refined ``iterations`` times over blocks of mean >= min_snr sigma."""
    detail = detail.flatten().abs()
    block_mean = block_mean.flatten()
    sigma = float(detail.median()) / MAD_TO_SIGMA
    for _ in range(iterations):
        bright = detail[block_mean > min_snr * sigma]
        if bright.numel() == 0:
            break
        sigma = float(bright.median()) / MAD_TO_SIGMA
    return sigma


def estimate_noise_sigma(img: torch.Tensor | np.ndarray, min_snr: float = 3.0, iterations: int = 3) -> float:
    """Noise standard deviation of ``img`` from its finest Haar wavelet details (Donoho's MAD estimator).

    The diagonal detail coefficient of every 2x2 block of a slice (HH) or 2x2x2 block of a volume (HHH) is a
    difference of neighbours, in which smooth anatomy cancels and white noise of standard deviation sigma
    keeps sigma; their median absolute value / 0.6745 estimates sigma. In the dark background of a magnitude
    (Rician) image the noise is Rayleigh distributed and narrower, which would bias that estimate low, so it
    is refined ``iterations`` times over the blocks whose mean is at least ``min_snr`` times the current
    estimate, where Rician noise is close to Gaussian. Noise of any kind already in the image counts too.
    ``skimage.restoration.estimate_sigma`` is the same estimator over every block (``iterations=0`` here,
    which put Rician sigma 0.05 and 0.10 about a fifth low on the EPI sample); dipy's ``piesno`` estimates
    from background voxels only, which tightly cropped scans lack.

    A volume is estimated both ways: in-plane (HH of each slice along the last axis, the bundles' slice axis,
    pooled over the slices) and across slices (HHH). Anatomy that does not cancel adds to either; the 2x2x2
    difference cancels more of it (on the EPI sample it read 1.21 times the added sigma, in-plane 1.28, which
    cost the noise-map bundle 0.3-0.4 dB), so it is taken where the slices carry independent noise: when it
    is between :data:`INDEPENDENT_SLICES` and 1 times the in-plane estimate, else the in-plane one.
    Resampled scans often repeat slices (nearest neighbour) or interpolate between them, which correlates the
    noise across slices; the difference between neighbouring slices then cancels the noise: 0 for repeated
    slices, about half sigma with every other slice the mean of its neighbours, a third with two of three
    interpolated. Interpolated slices are less noisy themselves (sigma / sqrt(2) midway); the pooled in-plane
    details weigh every slice alike and read about the volume's root-mean-square noise: on a smooth phantom
    with 96x96 slices 0.78-0.82 sigma with every other or two of three slices interpolated (RMS 0.87 and
    0.84 sigma), 0.98-1.01 with repeated slices. The noise-map bundle denoised such EPI volumes (sigma 0.05)
    best given 0.8-0.9 times the added sigma, not more. Summaries of per-slice estimates did worse: their
    median flips between the two kinds of slice with their counts (0.65-1.08 sigma); their upper quartile,
    the original slices' sigma, reads ordinary volumes 1-7 % high and cost the bundle 0.8-1.0 dB on the
    interpolated EPI against pooling.

    Args:
        img: one image ``(H, W)`` or volume ``(H, W, D)`` of ``D`` slices ``(H, W)``; sides of 1 voxel are
            dropped (a one-slice volume is its image), ``H`` and ``W`` need at least 2 voxels. Any
            intensity scale; the estimate is on that scale.
        min_snr: block mean / sigma above which a block counts in the refinements, > 0. Default 3.0.
        iterations: refinements; 0 keeps the estimate over every block. Default 3.

    Returns:
        sigma >= 0 (0 for a constant image).
    """
    img = convert_to_tensor(img, track_meta=False, dtype=torch.float64).squeeze()
    if img.ndim not in (2, 3) or min(img.shape) < 2:
        raise ValueError(f"noise estimation needs an image (H, W) or a volume (H, W, D) with every side >= 2 voxels "
                         f"once sides of 1 are dropped, got shape {tuple(img.shape)}")
    if not min_snr > 0 or iterations < 0:
        raise ValueError(f"min_snr must be > 0 and iterations >= 0, got {min_snr} and {iterations}")
    rows, row_detail = _haar(img, 0)
    block, block_detail = _haar(rows, 1)[0], _haar(row_detail, 1)[1]
    in_plane = _mad_sigma(block_detail, block / 2.0, min_snr, iterations)  # the 2x2 approximation is twice the mean
    if img.ndim == 2:
        return in_plane
    across = _mad_sigma(_haar(block_detail, 2)[1], _haar(block, 2)[0] / math.sqrt(8.0), min_snr, iterations)
    return across if INDEPENDENT_SLICES * in_plane <= across <= in_plane else in_plane


def estimate_series_sigma(frames: torch.Tensor | np.ndarray, iterations: int = 3) -> float:
    """The median of :func:`estimate_noise_sigma` (with ``iterations`` refinements) over the frames of
    ``(T, H, W[, D])``: one sigma for a series.

    A 3D volume is a series of one frame (``(1, H, W, D)``); the median ignores a frame or two with motion
    or artefacts.
    """
    frames = convert_to_tensor(frames, track_meta=False, dtype=torch.float64)
    return float(torch.tensor([estimate_noise_sigma(frame, iterations=iterations) for frame in frames]).quantile(0.5))


def item_sigma(data: Mapping[Hashable, object], sigma_key: str, reader: str, writers: str) -> float:
    """The noise sigma an earlier transform wrote to ``data[sigma_key]``; ``reader`` and ``writers`` name the
    transform that needs it and those that write it, for the error when it is missing."""
    if sigma_key not in data:
        raise KeyError(f"{reader}: no {sigma_key!r} in the item; add {writers} with sigma_key={sigma_key!r} before it")
    return float(data[sigma_key])


class NoiseLevelMap(Transform):
    """Append a channel filled with the noise sigma: ``(C, H, W[, D])`` -> ``(C + 1, H, W[, D])``."""

    def __call__(self, img: torch.Tensor, sigma: float) -> torch.Tensor:
        """``img``: the noisy image; ``sigma``: its noise standard deviation on the same scale, >= 0."""
        if not sigma >= 0:
            raise ValueError(f"noise sigma must be >= 0, got {sigma}")
        img = convert_to_tensor(img)
        return torch.cat([img, torch.full_like(img[:1], float(sigma))])


class NoiseLevelMapd(MapTransform):
    """Dictionary wrapper of :class:`NoiseLevelMap`, the sigma read from ``sigma_key`` of the same item.

    Args:
        keys: key(s) of the noisy image(s).
        sigma_key: key holding the sigma of the image's noise, as written by ``SyntheticNoised(sigma_key=...)`` or
            ``Recorruptd``.
    """

    def __init__(self, keys: KeysCollection, sigma_key: str = "noise_sigma", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.sigma_key = sigma_key
        self.append = NoiseLevelMap()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        sigma = item_sigma(d, self.sigma_key, "NoiseLevelMapd", "SyntheticNoised, NoiseLeveld or Recorruptd")
        for key in self.key_iterator(d):
            d[key] = self.append(d[key], sigma)
        return d


class NoiseLevel:
    """The noise sigma of an image: a given one, or estimated with :func:`estimate_series_sigma` (logged).

    Args:
        noise_level: the noise standard deviation on the image's scale (>= 0), or ``"estimate"``.
            Default ``"estimate"``.
        iterations: refinements of the estimate over bright blocks (see :func:`estimate_noise_sigma`), >= 0.
            Default 3: the tissue's noise, also under Rician noise. 0 estimates over every block, which the
            dark background of a magnitude image pulls low: where an overestimate does harm (adaptation),
            the safer side.
    """

    def __init__(self, noise_level: float | str = "estimate", iterations: int = 3) -> None:
        given = isinstance(noise_level, numbers.Real) and not isinstance(noise_level, bool) and noise_level >= 0
        if not (given or noise_level == "estimate"):
            raise ValueError(f"noise_level must be a sigma >= 0 or 'estimate', got {noise_level!r}")
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        self.noise_level = noise_level
        self.iterations = iterations

    def __call__(self, img: torch.Tensor | np.ndarray) -> float:
        """``img``: ``(C, H, W[, D])``, each channel one frame (a 3D volume, or a frame of a 4D series)."""
        if self.noise_level != "estimate":
            return float(self.noise_level)
        sigma = estimate_series_sigma(img, self.iterations)
        logger.info(f"estimated noise sigma {sigma:.4f} over {len(img)} frame(s)")
        return sigma


def scan_scale(img: torch.Tensor) -> float:
    """How many of the scan's own units (signal, HU) make one unit of ``img``'s normalised scale: ``upper_value -
    lower_value`` of ``img.meta["normalization"]`` (written by the intensity normalisations), 1 where the image
    carries none (already normalised, as prepared datasets are)."""
    meta = getattr(img, "meta", {}).get("normalization")
    if not meta:
        return 1.0
    return float(torch.as_tensor(meta["upper_value"], dtype=torch.float64).mean()
                 - torch.as_tensor(meta["lower_value"], dtype=torch.float64).mean())


SATURATED = 0.001
"""Fraction of an image's pixels at its minimum or maximum above which those pixels count as clipped."""


def saturation_bounds(img: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """``(low, high)``: the image's minimum and maximum where more than :data:`SATURATED` of its pixels sit there (a
    saturated detector, a file clipped to its bit depth: no noise is left in them), else -inf and inf."""
    img = convert_to_tensor(img, track_meta=False, dtype=torch.float64)
    low, high = float(img.min()), float(img.max())
    return (low if float((img == low).double().mean()) > SATURATED else -math.inf,
            high if float((img == high).double().mean()) > SATURATED else math.inf)


def poisson_gaussian_fit(img: torch.Tensor | np.ndarray, bins: int = 16) -> tuple[float, float]:
    """``(a, b)`` of the noise variance ``a * signal + b`` of a Poisson-Gaussian image (a radiograph's linear
    detector signal), fitted on the image alone.

    Every 2x2 block of each slice gives its mean and its diagonal Haar detail (HH), in which smooth anatomy
    cancels and the noise keeps about the block's variance. The blocks are binned by mean into ``bins`` equally
    filled bins; in each bin (median |HH| / 0.6745)^2 estimates the variance, robust to edges; a least-squares
    line through the bins' (mean, variance) gives ``a`` and ``b``, both clipped at 0 (Foi et al. 2008 fit the
    same model on wavelet details). Blocks with a pixel at the image's minimum or maximum, where more than
    :data:`SATURATED` of the pixels sit (a saturated detector, a file clipped to its bit depth), have lost their
    noise and are left out, and so, in a second fit, are blocks within three noise standard deviations of such a
    bound (the first fit's), whose noise the clipping truncated.

    Args:
        img: ``(H, W)``, ``(C, H, W)`` or ``(C, H, W, D)`` on any linear scale; the fit is on that scale.
        bins: signal bins, >= 2. Default 16.
    """
    img = convert_to_tensor(img, track_meta=False, dtype=torch.float64)
    img = img.reshape(-1, *img.shape[-2:]) if img.ndim <= 3 else img.movedim(-1, 1).flatten(0, 1)
    rows, row_detail = _haar(img, 1)
    block, detail = _haar(rows, 2)[0] / 2.0, _haar(row_detail, 2)[1]
    bounds = [bound for bound in saturation_bounds(img) if math.isfinite(bound)]
    clipped = torch.zeros_like(img, dtype=torch.bool)
    for bound in bounds:  # a saturated detector (or a clipped file) holds its bound in many pixels
        clipped |= img == bound
    clipped = torch.nn.functional.max_pool2d(clipped[:, None, : block.shape[1] * 2, : block.shape[2] * 2].double(),
                                             2)[:, 0].bool()
    block, detail = block[~clipped], detail[~clipped].abs()
    a, b = _line_fit(block, detail, bins)
    if bounds:  # blocks within 3 sigma of a bound kept only their noise away from it: fit again without them
        sigma = [math.sqrt(max(a * float(bound) + b, 0.0)) for bound in bounds]
        far = torch.ones_like(block, dtype=torch.bool)
        for bound, s in zip(bounds, sigma):
            far &= (block - float(bound)).abs() > 3.0 * s
        a, b = _line_fit(block[far], detail[far], bins)
    return a, b


def _line_fit(block: torch.Tensor, detail: torch.Tensor, bins: int) -> tuple[float, float]:
    """``(a, b)`` of the variance ``a * mean + b`` through the bins of block ``mean`` (see poisson_gaussian_fit)."""
    if block.numel() == 0:
        return 0.0, 0.0
    edges = torch.quantile(block, torch.linspace(0, 1, bins + 1, dtype=torch.float64))
    means, variances = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (block >= low) & (block <= high)
        if inside.sum() >= 8:
            means.append(float(block[inside].mean()))
            variances.append((float(detail[inside].median()) / MAD_TO_SIGMA) ** 2)
    if len(means) < 2 or np.ptp(means) == 0:
        return 0.0, float(np.mean(variances)) if variances else 0.0
    a, b = np.polyfit(means, variances, 1)
    return max(float(a), 0.0), max(float(b), 0.0)


RECORRUPTIONS = ("white", "local", "signal_dependent")
"""How :class:`~monai_denoise.transforms.Recorruptd` draws the fresh noise of a pair, following the scan's noise:
``white`` one sigma for the whole scan (MRI: Gaussian, Rician above the background); ``local`` one sigma per
patch, estimated on the patch (CT: the image-domain noise of filtered back-projection varies across the slice);
``signal_dependent`` the variance ``a * signal + b`` fitted on the whole scan (radiographs: Poisson-Gaussian)."""


class NoiseLeveld(MapTransform):
    """Write the noise of ``keys`` (given, or estimated from the image) to ``sigma_key``, as ``recorruption`` needs it.

    A given ``noise_level`` is the noise standard deviation in the scan's own units (signal, HU: what a
    physicist measures in a uniform region), mapped onto the normalised scale by :func:`scan_scale`, and recorrupts
    white. Estimated, the item gets the sigma over the whole scan (``white``, ``local``: each patch is estimated
    again when recorrupted) or ``(a, b, low, high)``: :func:`poisson_gaussian_fit` and :func:`saturation_bounds`
    (``signal_dependent``).

    Args:
        keys: the key of the noisy image ``(C, H, W[, D])``; a single key.
        sigma_key: where the sigma (or ``(a, b)``) is written. Default ``"noise_sigma"``.
        noise_level: see above, >= 0 or ``"estimate"``. Default ``"estimate"``.
        iterations: refinements of an estimated sigma, see :class:`NoiseLevel`. Default 3.
        recorruption: one of :data:`RECORRUPTIONS`. Default ``"white"``.
    """

    def __init__(self, keys: KeysCollection, sigma_key: str = "noise_sigma", noise_level: float | str = "estimate",
                 iterations: int = 3, recorruption: str = "white", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"NoiseLeveld needs exactly one image key, got {self.keys}")
        if recorruption not in RECORRUPTIONS:
            raise ValueError(f"recorruption must be one of {RECORRUPTIONS}, got {recorruption!r}")
        self.sigma_key = sigma_key
        self.level = NoiseLevel(noise_level, iterations)
        self.recorruption = recorruption

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            if self.level.noise_level != "estimate":
                scale = scan_scale(img)
                d[self.sigma_key] = float(self.level.noise_level) / scale
                logger.info(f"noise sigma {self.level.noise_level} in the scan's units: {d[self.sigma_key]:.4f} on "
                            f"the normalised scale ({scale:g} units per unit)")
            elif self.recorruption == "signal_dependent":
                d[self.sigma_key] = (*poisson_gaussian_fit(img), *saturation_bounds(img))
                logger.info(f"noise variance {d[self.sigma_key][0]:.3g} * signal + {d[self.sigma_key][1]:.3g}, "
                            f"saturated at {d[self.sigma_key][2]:g} / {d[self.sigma_key][3]:g}")
            else:
                d[self.sigma_key] = self.level(img)
        return d
