"""Poisson-Gaussian noise of a radiograph: quantum (photon-count) noise plus electronic noise.

The image is the detector's linear signal normalised to [0, 1], 1 being the detector's full scale (a
signal proportional to the photons detected, i.e. before any log transform). A pixel of clean value ``x``
becomes::

    y = Poisson(x * photons) / photons + N(0, electronic_std**2)

so ``E[y | x] = x`` and ``Var[y | x] = x / photons + electronic_std**2``: a noise variance linear in the
signal with slope ``1 / photons`` and offset ``electronic_std**2``. In the notation of the generalised
Anscombe transform (:mod:`monai_denoise.anscombe`) this is ``alpha = 1 / photons``, ``sigma = electronic_std``.

deepinv has a ``PoissonGaussianNoise`` too, but it draws from torch's global random generator; these
transforms draw from MONAI's ``self.R`` (a ``numpy.random.RandomState``) like the rest of
:mod:`monai_denoise.transforms.noise`, so ``set_random_state`` and per-item seeds reproduce them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_numpy

from .intensity import check_finite
from .noise import SeededNoised

__all__ = ["PoissonGaussianNoise", "PoissonGaussianNoised"]

DEFAULT_ELECTRONIC_STD = 0.002
"""Electronic noise std on the normalised scale: 0.2 % of full scale, about 8 of the 4096 levels of a 12-bit
detector, a typical read-out noise of a flat-panel detector."""


def _photons_range(photons: float | Sequence[float]) -> tuple[float, float]:
    low, high = (photons, photons) if np.isscalar(photons) else tuple(photons)
    low, high = float(low), float(high)
    if not 0.0 < low <= high:
        raise ValueError(f"photons must be > 0 (inf for no quantum noise) or a [low, high] range with "
                         f"0 < low <= high, got {photons}")
    if low < high and math.isinf(high):
        raise ValueError(f"a photons range must be finite (drawn log-uniformly), got {photons}")
    return low, high


def _std_range(std: float | Sequence[float]) -> tuple[float, float]:
    low, high = (std, std) if np.isscalar(std) else tuple(std)
    low, high = float(low), float(high)
    if not (0.0 <= low <= high and math.isfinite(high)):
        raise ValueError(f"electronic_std must be a finite value >= 0 or a [low, high] range with "
                         f"0 <= low <= high, got {std}")
    return low, high


def _image_name(img: object, default: str = "image") -> str:
    name = img.meta.get("filename_or_obj") if isinstance(img, MetaTensor) else None
    return str(name) if name else default


class PoissonGaussianNoise(RandomizableTransform):
    """Add Poisson-Gaussian noise to a radiograph ``(C, H, W)`` on the normalised linear scale [0, 1].

    ``y = Poisson(max(x, 0) * photons) / photons + N(0, electronic_std**2)``; negative ``x`` count as 0
    photons. Variance ``x / photons + electronic_std**2``. Randomness comes from ``self.R``, so
    ``set_random_state`` reproduces it. Returns float32 of the input's type (MetaTensor meta kept).

    Args:
        photons: expected photon count per pixel at full scale (``x = 1``): the dose. Higher is less noisy;
            ``inf`` switches the quantum noise off. A ``(low, high)`` range draws it log-uniformly on every
            call (blind training over doses). Default 1000.
        electronic_std: standard deviation of the signal-independent electronic noise on the normalised
            scale (>= 0), or a ``(low, high)`` range drawn uniformly on every call. Default 0.002
            (:data:`DEFAULT_ELECTRONIC_STD`).
        clip: clip the noisy image to [0, 1], as a detector saturates. Default False (keeps ``E[y|x] = x``).

    Raises:
        ValueError: invalid parameters.
        DataError: the image holds NaN or Inf values (the message names the image's file when known).
    """

    def __init__(self, photons: float | Sequence[float] = 1000.0,
                 electronic_std: float | Sequence[float] = DEFAULT_ELECTRONIC_STD, clip: bool = False) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self.photons_range = _photons_range(photons)
        self.std_range = _std_range(electronic_std)
        self.clip = clip
        self.photons, self.electronic_std = self.photons_range[1], self.std_range[0]

    def randomize(self, data: object = None) -> None:
        """Draw the dose (log-uniform) and electronic std (uniform) of the next call, where given as ranges."""
        low, high = self.photons_range
        if high > low:
            self.photons = float(math.exp(self.R.uniform(math.log(low), math.log(high))))
        low, high = self.std_range
        if high > low:
            self.electronic_std = float(self.R.uniform(low, high))

    def __call__(self, img: torch.Tensor | np.ndarray, randomize: bool = True) -> torch.Tensor | np.ndarray:
        check_finite(img, _image_name(img))
        if randomize:
            self.randomize()
        x = convert_to_numpy(img, dtype=np.float64)
        y = x
        if math.isfinite(self.photons):
            y = self.R.poisson(np.clip(x, 0.0, None) * self.photons) / self.photons
        if self.electronic_std > 0:
            y = y + self.R.normal(0.0, self.electronic_std, size=x.shape)
        if self.clip:
            y = np.clip(y, 0.0, 1.0)
        dtype = torch.float32 if isinstance(img, torch.Tensor) else np.float32
        out, *_ = convert_to_dst_type(y.astype(np.float32), img, dtype=dtype)
        return out


class PoissonGaussianNoised(SeededNoised):
    """Copy the clean radiograph to ``label_key``, then replace ``keys`` by a Poisson-Gaussian noisy version.

    With ``seed=None`` (training) every call draws fresh noise from this transform's random state. With an
    integer ``seed`` (validation, test) each item's noise (and drawn parameters) is a function of ``seed``
    and the item's file name only, exactly as in ``SyntheticNoised``.

    Args:
        keys: key(s) of the clean image(s), shape ``(C, H, W)``, linear detector signal in [0, 1].
        photons: photons per pixel at full scale, or a ``(low, high)`` range drawn log-uniformly; see
            :class:`PoissonGaussianNoise`. Default 1000.
        electronic_std: electronic noise std on the [0, 1] scale, or a ``(low, high)`` range. Default 0.002.
        label_key: where the clean image is copied before noise is added; None to skip. Needs a single key.
            Default ``"label"``.
        seed: base seed for per-item deterministic noise, or None for fresh noise. Default None.
        clip: clip the noisy image to [0, 1]. Default False.
        params_key: where ``{"photons": float, "electronic_std": float}`` of this item's noise is written (the
            drawn values in blind training), for a noise-conditioned network or the GAT baseline; None to
            skip. Needs a single key. Default None.
    """

    def __init__(self, keys: KeysCollection, photons: float | Sequence[float] = 1000.0,
                 electronic_std: float | Sequence[float] = DEFAULT_ELECTRONIC_STD,
                 label_key: str | None = "label", seed: int | None = None, clip: bool = False,
                 params_key: str | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, PoissonGaussianNoise(photons, electronic_std, clip), label_key, seed, params_key,
                         allow_missing_keys)
        if params_key is not None and len(self.keys) != 1:
            raise ValueError(f"params_key needs exactly one image key, got {self.keys}")

    def noise_info(self) -> dict[str, float]:
        """The dose of the last call's noise: ``{"photons": ..., "electronic_std": ...}``."""
        return {"photons": self.noise.photons, "electronic_std": self.noise.electronic_std}
