"""Per-image quality metrics (MONAI's PSNR, SSIM, MAE, MSE) for images in [0, 1]."""

from __future__ import annotations

import torch
from monai.metrics import MAEMetric, MSEMetric, PSNRMetric, SSIMMetric


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """PSNR (dB, data range 1), SSIM, MAE and MSE of each image.

    Args:
        pred: ``(B, 1, H, W)`` images, clamped to [0, 1] before scoring.
        target: ``(B, 1, H, W)`` clean images in [0, 1].

    Returns:
        metric name -> ``(B,)`` tensor, the same metrics and names as the bundles' evaluate.json.
    """
    pred = pred.clamp(0.0, 1.0)
    metrics = {"psnr": PSNRMetric(max_val=1.0), "ssim": SSIMMetric(spatial_dims=2, data_range=1.0),
               "mae": MAEMetric(), "mse": MSEMetric()}
    return {name: metric(pred, target).reshape(-1) for name, metric in metrics.items()}
