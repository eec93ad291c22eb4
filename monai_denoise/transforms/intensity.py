"""Robust percentile intensity normalisation, invertible so denoised output maps back to scanner units."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform, Transform
from monai.transforms.utils_pytorch_numpy_unification import percentile
from monai.utils import convert_to_tensor

from ..errors import DataError

__all__ = ["FULL_SCALE", "PercentileNormalize", "PercentileNormalized", "WindowNormalize", "WindowNormalized", "check_finite"]

FULL_SCALE = "full_scale"
"""Meta key of the largest value a source can store (``2 ** BitsStored - 1`` of a radiograph), which
:class:`WindowNormalize` maps to 1 where it is given no upper bound."""


def check_finite(img: torch.Tensor | np.ndarray, name: str = "image") -> None:
    """Raise a DataError (a ``ValueError``) naming ``name`` when ``img`` holds NaN or Inf values."""
    bad = ~torch.isfinite(convert_to_tensor(img))
    if bool(bad.any()):
        raise DataError(f"{name}: contains {int(bad.sum())} NaN or Inf voxel(s); repair or remove the file")


class _LinearNormalize(InvertibleTransform, Transform):
    """Map ``[low, high]`` linearly to [0, 1], invertibly; subclasses say where ``low`` and ``high`` come from.

    Refuses NaN / Inf voxels with an error naming the image, records the mapping in the image's
    ``meta["normalization"]`` and clips to [0, 1] where ``clip``.
    """

    clip: bool

    def bounds(self, img: torch.Tensor, name: str) -> tuple[float, float, dict]:
        """``(low, high, details)`` of ``img`` (named ``name`` in errors); ``details`` join ``meta["normalization"]``."""
        raise NotImplementedError

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Normalise ``img`` (any shape, e.g. ``(C, H, W[, D])``); returns float32, in [0, 1] when ``clip``."""
        img = convert_to_tensor(img, track_meta=True, dtype=torch.float32)
        name = str(img.meta.get("filename_or_obj", "image")) if isinstance(img, MetaTensor) else "image"
        check_finite(img, name)
        low, high, details = self.bounds(img, name)
        out = (img - low) / (high - low)
        if self.clip:
            out = out.clamp(0.0, 1.0)
        if isinstance(out, MetaTensor):
            out.meta["normalization"] = {**details, "lower_value": low, "upper_value": high}
        self.push_transform(out, extra_info={"lower_value": low, "upper_value": high})
        return out

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        """Map normalised intensities back: ``x * (upper_value - lower_value) + lower_value``."""
        info = self.pop_transform(data)["extra_info"]
        return data * (info["upper_value"] - info["lower_value"]) + info["lower_value"]


class PercentileNormalize(_LinearNormalize):
    """Map the ``lower`` / ``upper`` intensity percentiles of an image to 0 / 1.

    Unlike ``monai.transforms.ScaleIntensityRangePercentiles`` this transform refuses inputs it cannot
    normalise (NaN / Inf voxels, or equal percentiles such as a constant image) with an error naming
    the image, records the percentile values in the image's ``meta["normalization"]`` and is invertible,
    so a denoised prediction can be mapped back to the input's original intensity scale.

    Args:
        lower: lower percentile in [0, 100), mapped to 0. Default 0.5.
        upper: upper percentile in (lower, 100], mapped to 1. Default 99.5.
        clip: clip the result to [0, 1]. Default True. Use False where the map must be exactly invertible.
    """

    def __init__(self, lower: float = 0.5, upper: float = 99.5, clip: bool = True) -> None:
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
        self.lower = lower
        self.upper = upper
        self.clip = clip

    def bounds(self, img: torch.Tensor, name: str) -> tuple[float, float, dict]:
        """The ``lower`` / ``upper`` percentiles of ``img``; a DataError where they are equal (a constant image)."""
        low, high = (float(v) for v in percentile(img.flatten(), [self.lower, self.upper]))
        if not high > low:
            raise DataError(
                f"{name}: cannot normalise, the {self.lower} and {self.upper} percentiles are equal ({low}); "
                "the image is constant or almost empty"
            )
        return low, high, {"lower_percentile": self.lower, "upper_percentile": self.upper}


class _Normalized(MapTransform, InvertibleTransform):
    """Dictionary wrapper of an invertible array normalisation ``normalizer``, applied to and inverted on ``keys``."""

    def __init__(self, keys: KeysCollection, normalizer: InvertibleTransform, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalizer = normalizer

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer.inverse(d[key])
        return d


class PercentileNormalized(_Normalized):
    """Dictionary wrapper of :class:`PercentileNormalize`."""

    def __init__(self, keys: KeysCollection, lower: float = 0.5, upper: float = 99.5, clip: bool = True,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, PercentileNormalize(lower, upper, clip), allow_missing_keys)


class WindowNormalize(_LinearNormalize):
    """Map a fixed intensity window ``[low, high]`` linearly to [0, 1]: ``(x - low) / (high - low)``.

    For units that mean the same in every image, where per-image percentiles would not: Hounsfield units of CT
    (``low=-1000, high=1000``: air 0, water 0.5, 1000 HU 1; denser bone above 1) and the linear detector signal of a
    radiograph (``low=0`` and, with ``high=None``, the source's full scale from its meta data, :data:`FULL_SCALE`,
    e.g. ``2 ** BitsStored - 1``). Invertible, so a denoised image maps back to the scanner's units.

    Args:
        low: value mapped to 0, in the image's units (e.g. HU).
        high: value mapped to 1, above ``low``; None to take the image's ``meta[FULL_SCALE]``.
        clip: clip the result to [0, 1]. Default False: values outside the window stay outside it, exactly invertible.
        floor: values below it, in the image's units, become it first (CT: -1024 HU, so the padding outside a
            reconstruction circle that a NIfTI file keeps, e.g. -2048, is air, as the DICOM reader makes it).
            None: no floor. Values above it stay exactly invertible.
    """

    def __init__(self, low: float = 0.0, high: float | None = None, clip: bool = False,
                 floor: float | None = None) -> None:
        if high is not None and not high > low:
            raise ValueError(f"window must satisfy low < high, got {low}, {high}")
        self.low = float(low)
        self.high = high
        self.clip = clip
        self.floor = floor

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Normalise ``img`` (any shape), after raising values below ``floor`` to it."""
        if self.floor is not None:
            img = convert_to_tensor(img, track_meta=True, dtype=torch.float32)
            img = torch.where(img < self.floor, torch.full_like(img, self.floor), img)
        return super().__call__(img)

    def bounds(self, img: torch.Tensor, name: str) -> tuple[float, float, dict]:
        """The window: ``low`` and ``high``, or the image's full scale; a DataError where that is missing."""
        high = self.high
        if high is None:
            high = img.meta.get(FULL_SCALE) if isinstance(img, MetaTensor) else None
            if high is None:
                raise DataError(f"{name}: no full-scale value in its meta data ({FULL_SCALE!r}) and no window given; "
                                "read it with monai_denoise.io.ScanReader or set the window's high value")
            high = float(torch.as_tensor(high).flatten()[0])
            if not high > self.low:
                raise DataError(f"{name}: full scale {high} is not above the window's low value {self.low}")
        return self.low, float(high), {}


class WindowNormalized(_Normalized):
    """Dictionary wrapper of :class:`WindowNormalize`."""

    def __init__(self, keys: KeysCollection, low: float = 0.0, high: float | None = None, clip: bool = False,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, WindowNormalize(low, high, clip), allow_missing_keys)
