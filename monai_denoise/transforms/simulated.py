"""The noise that a config's noise section describes, whichever model adds it (:mod:`monai_denoise.noise_models`)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from ..noise_models import noise_model

__all__ = ["SimulatedNoised"]


class SimulatedNoised(Randomizable, MapTransform):
    """Copy the clean image to ``label_key``, then add the noise of section ``noise`` to ``keys``: the dictionary
    transform of the section's model (chosen by ``noise["type"]``: ``gaussian`` / ``rician`` / ``poisson``
    :class:`~monai_denoise.transforms.SyntheticNoised`, ``low_dose_ct``
    :class:`~monai_denoise.transforms.LowDoseCTNoised`, ``poisson_gaussian``
    :class:`~monai_denoise.transforms.PoissonGaussianNoised`) with the section's parameters.

    The bundles' configs add their noise through this transform, so a noise profile that sets another ``type``
    (``configs/noise/origin_cae.json``) changes the noise of every modality's bundle without touching its configs.

    Args:
        keys: key of the clean image, shape ``(C, H, W)``, on the network's [0, 1] scale.
        noise: the noise section: ``type`` and the model's parameters (its ``seed`` is not read: see ``seed``).
        label_key: where the clean image is copied first; None to skip the copy. Default ``"label"``.
        seed: base seed of per-item deterministic noise (validation and test), or None for fresh noise on every call
            (training). Default None.
        sigma_key: where additive noise writes each item's sigma, for a noise-level-conditioned network; None to
            skip. Default None.
        level_key: an item with this key gets the noise at its own level, the key's value in place of the section's
            level key (``sigma``, ``i0``, ``photons``): validation at several doses
            (:func:`monai_denoise.data.at_levels`). None: every item at the section's level. Default None.
    """

    def __init__(self, keys: KeysCollection, noise: Mapping, label_key: str | None = "label", seed: int | None = None,
                 sigma_key: str | None = None, level_key: str | None = None, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.noise, self.model, self.level_key = dict(noise), noise_model(noise), level_key
        self.arguments = {"keys": keys, "label_key": label_key, "seed": seed, "allow_missing_keys": allow_missing_keys,
                          **({} if sigma_key is None else {"sigma_key": sigma_key})}
        self.transform = self.model.dictionary_transform(self.noise, **self.arguments)
        self.at_level: dict[float, MapTransform] = {}

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        for transform in (self.transform, *self.at_level.values()):
            transform.set_random_state(state=self.R)
        return self

    def _transform_for(self, data: Mapping[Hashable, torch.Tensor]) -> MapTransform:
        if self.level_key is None or self.level_key not in data:
            return self.transform
        level = float(data[self.level_key])
        if level not in self.at_level:
            noise = {**self.noise, self.model.level: level}
            self.at_level[level] = self.model.dictionary_transform(noise, **self.arguments)
            self.at_level[level].set_random_state(state=self.R)
        return self.at_level[level]

    def randomize(self, data: object = None) -> None:
        """Randomness is drawn inside the model's transform; nothing to pre-sample."""

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        return self._transform_for(data)(data)
