"""The image-quality metrics of the project (MONAI's PSNR, SSIM, MAE, MSE on images in [0, 1]), defined once.

:data:`METRICS` is the one definition: :mod:`monai_denoise.evaluation` scores with it and the bundle renderer writes
``evaluate.json``'s metric handlers from it, so a bundle's evaluation and the project's scoring cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from monai.metrics import MAEMetric, MSEMetric, PSNRMetric, SSIMMetric


@dataclass(frozen=True)
class ImageMetric:
    """A per-image MONAI metric and the MONAI handler that computes it in a bundle's evaluator.

    Attributes:
        metric: the MONAI metric class (a ``CumulativeIterationMetric``).
        args: its arguments.
        handler: the ``monai.handlers`` class that wraps it in ``evaluate.json`` (``IgniteMetricHandler`` takes the
            metric itself as ``metric_fn``).
    """

    metric: type
    args: dict = field(default_factory=dict)
    handler: str = "IgniteMetricHandler"

    def handler_config(self, output_transform: str) -> dict:
        """The handler's config section for ``evaluate.json``."""
        if self.handler == "IgniteMetricHandler":
            return {"_target_": self.handler, "output_transform": output_transform,
                    "metric_fn": {"_target_": self.metric.__name__, **self.args}}
        return {"_target_": self.handler, **self.args, "output_transform": output_transform}


METRICS = {
    "psnr": ImageMetric(PSNRMetric, {"max_val": 1.0}, "PeakSignalToNoiseRatio"),
    "ssim": ImageMetric(SSIMMetric, {"spatial_dims": 2, "data_range": 1.0}),
    "mae": ImageMetric(MAEMetric, handler="MeanAbsoluteError"),
    "mse": ImageMetric(MSEMetric, handler="MeanSquaredError"),
}
"""Metric name -> definition; the first is a bundle's key metric (``val_psnr`` in training)."""


def image_metrics(pred: torch.Tensor, target: torch.Tensor, names: tuple[str, ...] = tuple(METRICS)
                  ) -> dict[str, torch.Tensor]:
    """The ``names`` metrics of :data:`METRICS` per image, as scored (no clamping here: the evaluation clamps first).

    Args:
        pred: ``(B, 1, H, W)`` images, in [0, 1] after the bundle's postprocessing (``(B, 1, H, W, D)`` volumes for
            the metrics other than SSIM, which is 2D).
        target: clean images of ``pred``'s shape.
        names: which metrics. Default all.

    Returns:
        metric name -> ``(B,)`` tensor.
    """
    return {name: METRICS[name].metric(**METRICS[name].args)(pred, target).reshape(-1) for name in names}
