"""Synthetic noise for paired (noisy, clean) training data: Gaussian, Rician and Poisson.

Gaussian and Rician noise reuse MONAI's ``RandGaussianNoise`` / ``RandRicianNoise`` with a fixed
standard deviation; only Poisson noise is implemented here. Every ``sigma`` is on the normalised
[0, 1] intensity scale.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable, RandomizableTransform, RandGaussianNoise, RandRicianNoise
from monai.utils import convert_to_dst_type

from .intensity import check_finite

__all__ = ["NOISE_TYPES", "PoissonNoise", "SeededNoised", "SyntheticNoise", "SyntheticNoised", "item_seed"]

NOISE_TYPES = ("gaussian", "rician", "poisson")


class PoissonNoise(RandomizableTransform):
    """Photon-counting noise: ``Poisson(x * peak) / peak`` for intensities ``x`` in [0, 1].

    Args:
        sigma: noise standard deviation at intensity 1, so the peak count is ``1 / sigma**2``.
            0 leaves the image unchanged. Default 0.05.
    """

    def __init__(self, sigma: float = 0.05) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = sigma

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize(None)
        if self.sigma == 0:
            return img
        peak = 1.0 / self.sigma**2
        counts = self.R.poisson(np.clip(np.asarray(img, dtype=np.float64), 0.0, None) * peak)
        out, *_ = convert_to_dst_type((counts / peak).astype(np.float32), img)
        return out


def _make_noise(kind: str, sigma: float) -> RandomizableTransform:
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    if kind == "gaussian":
        return RandGaussianNoise(prob=1.0, mean=0.0, std=sigma, sample_std=False)
    if kind == "rician":
        return RandRicianNoise(prob=1.0, mean=0.0, std=sigma, relative=False, sample_std=False)
    if kind == "poisson":
        return PoissonNoise(sigma)
    raise ValueError(f"unknown noise type {kind!r}; expected one of {NOISE_TYPES}")


class SyntheticNoise(RandomizableTransform):
    """Add noise to an image of shape ``(C, H, W[, D])`` with values in [0, 1].

    A single type and sigma give a fixed noise model (validation, test). A list of types and/or a
    ``[low, high]`` sigma range give blind training: each call draws the type uniformly from the list
    and sigma uniformly from the range, so one network learns every listed noise model and level.

    Args:
        kind: ``"gaussian"``, ``"rician"`` (magnitude of complex Gaussian noise: non-negative, biased
            upwards in the background) or ``"poisson"``, or a list of them. Default ``"gaussian"``.
        sigma: standard deviation on the [0, 1] scale, or a ``[low, high]`` range; 0 leaves the image
            unchanged. Default 0.05.
        clip: clip the noisy image to [0, 1], as image files with a fixed range do. Default False.
    """

    def __init__(self, kind: str | Sequence[str] = "gaussian", sigma: float | Sequence[float] = 0.05,
                 clip: bool = False) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        self.kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        if not self.kinds:
            raise ValueError("at least one noise type is needed")
        self.low, self.high = _sigma_range(sigma)
        self.clip = clip
        self.noises = {k: _make_noise(k, self.high) for k in self.kinds}
        self.kind, self.sigma = self.kinds[0], self.low

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        for noise in self.noises.values():
            noise.set_random_state(state=self.R)
        return self

    def randomize(self, data: object = None) -> None:
        """Draw the noise type and sigma of the next call (nothing is drawn for a fixed noise model)."""
        if len(self.kinds) > 1:
            self.kind = self.kinds[self.R.randint(len(self.kinds))]
        if self.high > self.low:
            self.sigma = float(self.R.uniform(self.low, self.high))

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        noise = self.noises[self.kind]
        setattr(noise, "sigma" if isinstance(noise, PoissonNoise) else "std", self.sigma)
        out = noise(img, randomize=randomize)
        return out.clamp(0.0, 1.0) if self.clip else out


def _sigma_range(sigma: float | Sequence[float]) -> tuple[float, float]:
    low, high = (sigma, sigma) if np.isscalar(sigma) else tuple(sigma)
    if not 0.0 <= float(low) <= float(high):
        raise ValueError(f"noise sigma must be >= 0 or a [low, high] range with 0 <= low <= high, got {sigma}")
    return float(low), float(high)


def item_seed(seed: int, name: str) -> int:
    """A 32-bit seed derived from a base ``seed`` and an item ``name``, identical on every machine."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


class SeededNoised(Randomizable, MapTransform):
    """Base of the dictionary noise transforms: copy the clean image to ``label_key``, then replace ``keys`` by
    ``noise(image)``, the array transform this one wraps.

    With ``seed=None`` (training) every call draws fresh noise from this transform's random state, which
    ``set_random_state`` passes on to ``noise``. With an integer ``seed`` (validation and test) the noise of each
    item is a function of ``seed`` and the item's file name only (:func:`item_seed`), so the same noisy set comes
    back on every run, in any order, with any number of workers, on every machine.

    Args:
        keys: key(s) of the clean image(s), shape ``(C, H, W[, D])``.
        noise: the array noise transform, drawing from its ``R``.
        label_key: where the clean image is copied before noise is added; None to skip the copy. Needs a single
            key. Default ``"label"``.
        seed: base seed for per-item deterministic noise, or None for fresh noise. Default None.
        info_key: where :meth:`noise_info` (the parameters the noise was drawn with) is written after each call;
            None to skip. Needs a single key. Default None.
    """

    def __init__(self, keys: KeysCollection, noise: RandomizableTransform, label_key: str | None = "label",
                 seed: int | None = None, info_key: str | None = None, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if label_key is not None and len(self.keys) != 1:
            raise ValueError(f"label_key needs exactly one image key, got {self.keys}")
        self.noise = noise
        self.label_key = label_key
        self.seed = seed
        self.info_key = info_key

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.noise.set_random_state(state=self.R)
        return self

    def randomize(self, data: object = None) -> None:
        """Randomness is drawn inside the array transform; nothing to pre-sample."""

    def noise_info(self) -> object:
        """What ``info_key`` receives: the parameters of the last call's noise."""
        return None

    def _seed_for(self, img: torch.Tensor, key: Hashable) -> int:
        name = img.meta.get("filename_or_obj") if isinstance(img, MetaTensor) else None
        if not name:
            raise ValueError(f"seeded noise for key {key!r} needs the image's file name in its metadata")
        return item_seed(self.seed, os.path.basename(str(name)))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            name = img.meta.get("filename_or_obj", "image") if isinstance(img, MetaTensor) else "image"
            check_finite(img, f"{name} ({key})")
            if self.label_key is not None:
                d[self.label_key] = img.clone() if isinstance(img, torch.Tensor) else np.copy(img)
            if self.seed is not None:
                self.noise.set_random_state(seed=self._seed_for(img, key))
            d[key] = self.noise(img)
            if self.info_key is not None:
                d[self.info_key] = self.noise_info()
        return d


class SyntheticNoised(SeededNoised):
    """Copy the clean image to ``label_key``, then replace ``keys`` by a version with :class:`SyntheticNoise`
    (seeded per item with ``seed``, see :class:`SeededNoised`).

    Args:
        keys: key(s) of the clean image(s), shape ``(C, H, W[, D])``, values in [0, 1].
        kind: noise type or list of types, see :class:`SyntheticNoise`. Default ``"gaussian"``.
        sigma: noise standard deviation on the [0, 1] scale, or a ``[low, high]`` range. Default 0.05.
        label_key: where the clean image is copied before noise is added; None to skip the copy.
            Needs a single key. Default ``"label"``.
        seed: base seed for per-item deterministic noise, or None for fresh noise. Default None.
        clip: clip the noisy image to [0, 1]. Default False.
        sigma_key: where the sigma of this item's noise is written (a float, the drawn one in blind
            training), for a noise-level-conditioned network (``NoiseLevelMapd``); None to skip. Needs a
            single key. Default None.
    """

    def __init__(self, keys: KeysCollection, kind: str | Sequence[str] = "gaussian",
                 sigma: float | Sequence[float] = 0.05,
                 label_key: str | None = "label", seed: int | None = None, clip: bool = False,
                 sigma_key: str | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, SyntheticNoise(kind, sigma, clip), label_key, seed, sigma_key, allow_missing_keys)
        if sigma_key is not None and len(self.keys) != 1:
            raise ValueError(f"sigma_key needs exactly one image key, got {self.keys}")

    def noise_info(self) -> float:
        """The sigma of the last call's noise."""
        return self.noise.sigma
