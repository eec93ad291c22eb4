"""Training pairs from noisy images alone, to adapt a trained denoiser to a user's own scans.

Recorrupted-to-Recorrupted (R2R, Pang et al., CVPR 2021): from a noisy image ``y = x + n`` with
Gaussian noise ``n ~ N(0, sigma^2)`` and a fresh draw ``z ~ N(0, sigma^2)``, the input ``y + alpha z``
and the target ``y - z / alpha`` carry independent noise (their covariance is ``sigma^2 - sigma^2 = 0``),
so the mean squared error between a network's output and the target is, in expectation, its error
against the unseen clean ``x`` plus a constant. A network trained on such pairs learns to denoise noise
of standard deviation ``sigma * sqrt(1 + alpha^2)`` on the user's own data: no clean image is needed.
The argument holds pixel by pixel, so ``sigma`` may be a map: the fresh noise then follows noise whose level
varies across the image (radiographs' signal-dependent noise, CT's across the slice).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, RandomizableTransform
from monai.utils import convert_to_tensor

from .noise_level import RECORRUPTIONS, estimate_noise_sigma, item_sigma


__all__ = ["Recorrupt", "Recorruptd"]


class Recorrupt(RandomizableTransform):
    """One Recorrupted-to-Recorrupted pair ``(y + alpha z, y - z / alpha)`` from a noisy image ``y``.

    Args:
        alpha: how the fresh noise ``z`` is shared between input and target, > 0. The input's noise has
            standard deviation ``sigma * sqrt(1 + alpha^2)``, the target's ``sigma * sqrt(1 + 1 / alpha^2)``:
            a small alpha keeps the input close to the scan, a large one the target. Default 0.5 (the paper's).
    """

    def __init__(self, alpha: float = 0.5) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha
        self._z: np.ndarray | None = None

    def input_sigma(self, sigma: float | torch.Tensor) -> float:
        """The noise standard deviation of the pair's input for a scan with noise ``sigma`` (a map: its RMS)."""
        rms = float(torch.as_tensor(sigma, dtype=torch.float64).square().mean().sqrt())
        return rms * math.sqrt(1.0 + self.alpha**2)

    def randomize(self, shape: tuple[int, ...]) -> None:
        self._z = self.R.standard_normal(shape).astype(np.float32)

    def __call__(self, img: torch.Tensor, sigma: float | torch.Tensor, randomize: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``img``: the noisy image ``(C, H, W[, D])``; ``sigma``: its noise standard deviation (>= 0), one number
        or a map broadcastable to ``img``.

        Returns:
            (input, target), both float32 tensors of ``img``'s shape; ``sigma`` 0 gives ``(img, img)``.
        """
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        if not bool((sigma >= 0).all()):
            raise ValueError(f"noise sigma must be >= 0, got a minimum of {float(sigma.min())}")
        img = convert_to_tensor(img, track_meta=False, dtype=torch.float32)
        if randomize:
            self.randomize(tuple(img.shape))
        if self._z is None or self._z.shape != tuple(img.shape):
            raise RuntimeError("Recorrupt called with randomize=False before noise of this shape was drawn")
        z = torch.from_numpy(self._z).to(img.device) * sigma.to(img.device)
        return img + self.alpha * z, img - z / self.alpha


def signal_dependent_sigma(img: torch.Tensor, a: float, b: float, low: float = -math.inf, high: float = math.inf
                           ) -> torch.Tensor:
    """``sqrt(a * s + b)`` per pixel of ``(C, H, W)``, ``s`` the noisy image smoothed over 3x3 pixels (the signal the
    noise depends on, less noisy than the pixel itself), clipped at 0; 0 at pixels at a saturation bound ``low`` or
    ``high``, which hold no noise (fresh noise there would teach the network to invent it)."""
    signal = torch.nn.functional.avg_pool2d(img.float()[None], 3, stride=1, padding=1, count_include_pad=False)[0]
    sigma = (a * signal.clamp(min=0.0) + b).clamp(min=0.0).sqrt()
    return torch.where((img <= low) | (img >= high), torch.zeros_like(sigma), sigma)


class Recorruptd(Randomizable, MapTransform):
    """Dictionary wrapper of :class:`Recorrupt`: the noisy ``keys`` becomes the pair's input, ``label_key`` its target.

    The noise is read from ``sigma_key`` (written by :class:`~monai_denoise.transforms.NoiseLeveld` with the same
    ``recorruption``) and the fresh noise follows it (see :data:`~monai_denoise.transforms.RECORRUPTIONS`):
    ``white`` one sigma, ``local`` the patch's own estimate, ``signal_dependent`` a map from ``(a, b, low, high)``
    (no fresh noise at saturated pixels). The key
    then holds the input's noise sigma (a map's RMS), so a noise-level-conditioned network gets the right map from
    ``NoiseLevelMapd``.

    Args:
        keys: the key of the noisy image ``(C, H, W)`` (a patch); a single key.
        label_key: where the target is written. Default ``"label"``.
        sigma_key: the item's noise. Default ``"noise_sigma"``.
        alpha: see :class:`Recorrupt`. Default 0.5.
        recorruption: one of :data:`~monai_denoise.transforms.RECORRUPTIONS`. Default ``"white"``.
    """

    def __init__(self, keys: KeysCollection, label_key: str = "label", sigma_key: str = "noise_sigma",
                 alpha: float = 0.5, recorruption: str = "white", allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"Recorruptd needs exactly one image key, got {self.keys}")
        if recorruption not in RECORRUPTIONS:
            raise ValueError(f"recorruption must be one of {RECORRUPTIONS}, got {recorruption!r}")
        self.label_key = label_key
        self.sigma_key = sigma_key
        self.recorruption = recorruption
        self.recorrupt = Recorrupt(alpha)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.recorrupt.set_random_state(state=self.R)
        return self

    def randomize(self, data: object = None) -> None:
        """Randomness is drawn inside :class:`Recorrupt`; nothing to pre-sample."""

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        if self.sigma_key not in d:
            item_sigma(d, self.sigma_key, "Recorruptd", "NoiseLeveld")
        noise = d[self.sigma_key]
        for key in self.key_iterator(d):
            img = torch.as_tensor(d[key], dtype=torch.float32)
            if self.recorruption == "signal_dependent" and isinstance(noise, (tuple, list)):
                sigma = signal_dependent_sigma(img, *map(float, noise))
            elif self.recorruption == "local":
                sigma = torch.tensor([[[estimate_noise_sigma(channel)]] for channel in img])
            else:
                sigma = float(noise)
            d[key], d[self.label_key] = self.recorrupt(d[key], sigma)
            d[self.sigma_key] = self.recorrupt.input_sigma(sigma)
        return d
