"""Classical denoisers used as baselines next to the networks."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter as _gaussian_filter

from .metrics import image_metrics


def gaussian_filter(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of each ``(B, 1, H, W)`` image with standard deviation ``sigma`` pixels."""
    array = images.detach().cpu().numpy()
    out = np.stack([_gaussian_filter(a, sigma=(0, sigma, sigma)) for a in array])
    return torch.from_numpy(out).to(images.dtype)


def tune_gaussian_sigma(noisy: torch.Tensor, clean: torch.Tensor,
                        grid: tuple[float, ...] = (0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0)) -> float:
    """The filter width in ``grid`` with the best mean PSNR on ``(noisy, clean)`` validation images."""
    scores = {s: float(image_metrics(gaussian_filter(noisy, s), clean)["psnr"].mean()) for s in grid}
    return max(scores, key=scores.get)
