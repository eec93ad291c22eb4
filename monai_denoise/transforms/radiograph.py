"""Digitally reconstructed radiographs: the clean linear detector signal of an X-ray beam through a CT volume."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.transforms import Transform
from monai.utils import convert_to_tensor

from .intensity import FULL_SCALE, check_finite

__all__ = ["DigitallyReconstructedRadiograph", "VIEWS"]

VIEWS = {"lateral": 0, "ap": 1}
"""Beam directions through a RAS-oriented volume: along its left-right axis (lateral) or its posterior-anterior axis
(AP, the frontal view of a chest radiograph)."""


class DigitallyReconstructedRadiograph(Transform):
    """A parallel-beam radiograph of a CT volume in Hounsfield units.

    Hounsfield units become linear attenuation ``mu = mu_water (1 + HU / 1000)`` (air, -1000 HU and below, is 0),
    which is integrated along the beam (``view``) over the voxels' length in mm: the line integral ``p``. The
    detector's clean linear signal is ``exp(-p)``, 1 where the beam passes unattenuated (the detector's full scale),
    resampled (bilinear) to square ``pixel_mm`` detector pixels. The project's Poisson-Gaussian noise
    (:class:`~monai_denoise.transforms.PoissonGaussianNoise`) then makes it a radiograph of a given dose.

    Args:
        view: ``"ap"`` (beam along the posterior-anterior axis) or ``"lateral"`` (along the left-right axis) of the
            RAS-oriented volume.
        pixel_mm: the detector's pixel size in mm (> 0). Default 0.5: a binned detector's, and close to what a CT
            volume of 0.6 to 0.7 mm pixels resolves (finer pixels only interpolate).
        mu_water: linear attenuation of water in 1/mm (0.019: about 70 keV, as the CT noise uses). Default 0.019.
    """

    def __init__(self, view: str = "ap", pixel_mm: float = 0.5, mu_water: float = 0.019) -> None:
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        if not (math.isfinite(pixel_mm) and pixel_mm > 0):
            raise ValueError(f"pixel_mm must be > 0 (mm), got {pixel_mm}")
        if not (math.isfinite(mu_water) and mu_water > 0):
            raise ValueError(f"mu_water must be > 0 (1/mm), got {mu_water}")
        self.axis = VIEWS[view]
        self.pixel_mm = float(pixel_mm)
        self.mu_water = float(mu_water)

    def __call__(self, img: torch.Tensor) -> MetaTensor:
        """``img``: ``(C, X, Y, Z)`` in HU, RAS-oriented, with its voxel spacing in a MetaTensor's affine (an
        identity affine means 1 mm voxels). Returns float32 ``(C, H, W, 1)`` in (0, 1], ``H, W`` the two axes other
        than the beam's at ``pixel_mm``, with ``meta[FULL_SCALE]`` 1 and an affine of ``pixel_mm`` spacing.

        Raises:
            ValueError: not a ``(C, X, Y, Z)`` volume.
            DataError: NaN or Inf values (named by the image's file).
        """
        if img.ndim != 4:
            raise ValueError(f"a radiograph is projected from a (C, X, Y, Z) volume, got shape {tuple(img.shape)}")
        name = str(img.meta.get("filename_or_obj", "image")) if isinstance(img, MetaTensor) else "image"
        spacing = [float(s) for s in img.pixdim[:3]] if isinstance(img, MetaTensor) else [1.0, 1.0, 1.0]
        hu = convert_to_tensor(img, track_meta=False, dtype=torch.float64)
        check_finite(hu, name)
        attenuation = self.mu_water * (1.0 + hu.clamp(min=-1000.0) / 1000.0)
        line_integral = attenuation.sum(dim=1 + self.axis) * spacing[self.axis]
        kept = [s for axis, s in enumerate(spacing) if axis != self.axis]
        size = [max(1, round(n * s / self.pixel_mm)) for n, s in zip(line_integral.shape[1:], kept)]
        signal = F.interpolate(torch.exp(-line_integral)[None], size=size, mode="bilinear", align_corners=False)[0]
        out = MetaTensor(signal.float()[..., None], affine=torch.diag(torch.tensor([self.pixel_mm] * 3 + [1.0])))
        if isinstance(img, MetaTensor):
            out.meta["filename_or_obj"] = img.meta.get("filename_or_obj")
        out.meta[FULL_SCALE] = 1.0
        return out
