"""The simulated noises: which transform adds each, what sets its level and which classical denoisers face it.

A config's noise section (``noise``, ``train_noise``) names its noise by ``type`` and holds its parameters;
:func:`noise_model` finds the :class:`NoiseModel` that adds it. Each modality declares its default noise
(``Modality.noise``), and a noise profile may set another: ``configs/noise/origin_cae.json`` puts the origin
report's clipped Gaussian noise on CT and radiographs as on MRI.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError


@dataclass(frozen=True)
class NoiseModel:
    """One simulated noise.

    Attributes:
        types: the values of a noise section's ``type`` that this model adds.
        transform: the dictionary noise transform (dotted name); it copies the clean image to ``label`` first and
            takes a ``seed`` (per-item seeded noise, None for fresh noise).
        arguments: the transform's arguments -> the noise section's keys.
        reads_meta: the transform reads the image's meta data (CT: the pixel spacing in mm), so training keeps it
            until the noise is added.
        level: the section key that sets the noise level, which ``monai-denoise compare --noise-levels`` varies
            (``sigma``; ``i0`` and ``photons``, where a larger value is less noise).
        levels: compare's default levels of ``level``.
        level_label: the axis label of ``level`` in compare's PSNR-against-noise figure.
        baselines: the function that lists the classical baselines of this noise, set fairly (dotted name):
            ``baselines(noise)`` -> ``monai_denoise.baselines.Baseline`` items for noise section ``noise``.
        title: the noise in report titles; empty to print the section's ``type`` (``gaussian``, ``rician``).
        recorruption: how ``adapt.json``'s recorrupted pairs follow this noise on a user's scans
            (:data:`monai_denoise.transforms.RECORRUPTIONS`).
    """

    types: tuple[str, ...]
    transform: str
    arguments: dict[str, str]
    reads_meta: bool
    level: str
    levels: tuple[float, ...]
    level_label: str
    baselines: str
    title: str = ""
    recorruption: str = "white"

    def describe(self, noise: Mapping) -> str:
        """The noise of section ``noise`` in a report title: ``low-dose CT``, ``gaussian``, ``gaussian/rician``."""
        kinds = noise["type"]
        return self.title or (kinds if isinstance(kinds, str) else "/".join(kinds))

    def check(self, noise: Mapping) -> None:
        """A DataError where noise section ``noise`` (this model's) lacks the level key."""
        if self.level not in noise:
            raise DataError(f"noise section {dict(noise)}: {noise['type']} noise needs '{self.level}'; set it in the "
                            f"config or the noise profile")

    def dictionary_transform(self, noise: Mapping, **kwargs):
        """The transform adding the noise of section ``noise`` (this model's): its parameters from the section, the
        other arguments (``keys``, ``label_key``, ``seed``, ...) from ``kwargs``. The level key is required; the other
        parameters default to the transform's defaults where the section leaves them out."""
        self.check(noise)
        module, name = self.transform.rsplit(".", 1)
        transform = getattr(importlib.import_module(module), name)
        return transform(**{arg: noise[key] for arg, key in self.arguments.items() if key in noise}, **kwargs)

    def classical_baselines(self, noise: Mapping) -> tuple:
        """The classical baselines (``monai_denoise.baselines.Baseline`` items) for noise section ``noise``."""
        module, function = self.baselines.rsplit(".", 1)
        return tuple(getattr(importlib.import_module(module), function)(noise))


ADDITIVE = NoiseModel(
    types=("gaussian", "rician", "poisson"),
    transform="monai_denoise.transforms.SyntheticNoised",
    arguments={"kind": "type", "sigma": "sigma", "clip": "clip"},
    reads_meta=False,
    level="sigma",
    levels=(0.02, 0.05, 0.10),
    level_label="noise sigma (normalised intensity)",
    baselines="monai_denoise.baselines.additive_baselines",
)
"""Gaussian, Rician (magnitude) and Poisson noise of one sigma on the [0, 1] scale: MRI's noise, and the origin
report's clipped Gaussian noise on any modality."""

LOW_DOSE_CT = NoiseModel(
    types=("low_dose_ct",),
    transform="monai_denoise.transforms.LowDoseCTNoised",
    arguments={"i0": "i0", "electronic_std": "electronic_std", "views": "views"},
    reads_meta=True,
    level="i0",
    levels=(60000.0, 150000.0, 400000.0),
    level_label="I0 (incident photons per ray; more is less noise)",
    baselines="monai_denoise.baselines.ct_baselines",
    title="low-dose CT",
    recorruption="local",
)
"""Low-dose CT noise simulated in the projection domain (HU images)."""

POISSON_GAUSSIAN = NoiseModel(
    types=("poisson_gaussian",),
    transform="monai_denoise.transforms.PoissonGaussianNoised",
    arguments={"photons": "photons", "electronic_std": "electronic_std"},
    reads_meta=False,
    level="photons",
    levels=(250.0, 1000.0, 4000.0),
    level_label="photons per pixel at full scale (more is less noise)",
    baselines="monai_denoise.baselines.xray_baselines",
    title="Poisson-Gaussian",
    recorruption="signal_dependent",
)
"""A detector's quantum (Poisson) and electronic (Gaussian) noise on a linear signal (radiographs)."""

NOISE_MODELS = (ADDITIVE, LOW_DOSE_CT, POISSON_GAUSSIAN)
"""Every simulated noise."""


def noise_model(noise: Mapping) -> NoiseModel:
    """The model that adds the noise of section ``noise``, by its ``type`` (a type, or a list of types of one
    model, drawn per item in blind training); a DataError naming the known types otherwise."""
    kinds = noise.get("type") if isinstance(noise, Mapping) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    models = [m for m in NOISE_MODELS if any(kind in m.types for kind in kinds)]
    known = [kind for m in NOISE_MODELS for kind in m.types]
    if not kinds or len(models) != 1 or any(kind not in known for kind in kinds):
        raise DataError(f"noise section {dict(noise) if isinstance(noise, Mapping) else noise!r}: 'type' must be one "
                        f"of {', '.join(known)} (a list only of types of one model); set it in the config or the "
                        f"noise profile")
    return models[0]


def check_profile(path: Path) -> None:
    """A DataError naming ``path`` where the noise profile is not a JSON object of config keys, or replaces a noise
    section (``noise``, ``train_noise``) with one whose ``type`` or level key is missing or unknown. A section whose
    ``type`` refers to another (``"@noise#type"``) is checked where the config resolves it."""
    try:
        profile = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable noise profile ({err})") from None
    if not isinstance(profile, dict):
        raise DataError(f"{path}: not a noise profile: expected a JSON object of config keys")
    for name in ("noise", "train_noise"):
        section = profile.get(name)
        if name in profile and not (isinstance(section, Mapping) and str(section.get("type", "")).startswith("@")):
            try:
                noise_model(section).check(section)
            except DataError as err:
                raise DataError(f"{path}: {name}: {err}") from None
