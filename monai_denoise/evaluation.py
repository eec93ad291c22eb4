"""How good is a denoiser on a dataset: the project's one scoring path.

A bundle defines its own evaluation, and this module reads it from the bundle's configs rather than restating it:

- the test images: the seeded noisy and clean images of ``validate#dataset`` (``train.json`` + ``evaluate.json``:
  the test split; ``train.json`` alone: the validation split), :func:`evaluation_set`;
- the postprocessing: ``validate#postprocessing`` (predictions clamped to [0, 1], and for CT and radiographs the
  clean images too, whose HU or signal can leave the window), applied to every prediction before it is scored;
- the metrics: :data:`monai_denoise.metrics.METRICS`, from which ``evaluate.json``'s handlers are rendered.

``evaluate.json`` (MONAI's evaluator), ``monai-denoise compare``, the studies, the demo and the benchmarks all
score through here, so one network on one dataset has one score.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.bundle import ConfigParser

from .baselines import Baseline, apply
from .metrics import image_metrics
from .perceptual import LPIPSMetric
from .workflows import denoise, load_network, noisy_set

@dataclass(frozen=True)
class EvaluationSet:
    """A bundle's seeded noisy images and what they are scored against.

    Attributes:
        noisy: ``(N, 1, H, W)`` noisy images on the bundle's normalised scale (about [0, 1]).
        clean: ``(N, 1, H, W)`` clean images after the bundle's postprocessing (CT and radiographs: clamped to [0, 1]).
        names: the file name of each image.
        postprocess: the bundle's ``validate#postprocessing`` as ``pred -> pred``; default the clamp to [0, 1] that
            every bundle's is.
    """

    noisy: torch.Tensor
    clean: torch.Tensor
    names: list[str]
    postprocess: Callable[[torch.Tensor], torch.Tensor] = partial(torch.clamp, min=0.0, max=1.0)


@dataclass(frozen=True)
class Scored:
    """One method's predictions on a :class:`EvaluationSet` and their scores.

    Attributes:
        pred: ``(N, 1, H, W)`` predictions after the bundle's postprocessing.
        scores: one row per image: ``image`` and a column per metric of :data:`monai_denoise.metrics.METRICS`
            (``lpips`` where measured).
        seconds: wall time of the method on the whole set (0 for the noisy input).
        parameters: a network's parameter count, else None.
        settings: a tuned baseline's parameters, e.g. ``"factor 1.5"``; empty otherwise.
    """

    pred: torch.Tensor
    scores: pd.DataFrame
    seconds: float = 0.0
    parameters: int | None = None
    settings: str = ""

    def mean(self) -> dict[str, float]:
        """The mean of each score over the images."""
        return {name: float(self.scores[name].mean()) for name in self.scores.columns if name != "image"}


def evaluation_set(parser: ConfigParser, dataset_id: str = "validate#dataset") -> EvaluationSet:
    """The seeded noisy images of ``dataset_id`` in ``parser`` (a bundle's merged configs) with its postprocessing."""
    noisy, clean, names = noisy_set(parser, dataset_id)
    postprocessing = parser.get_parsed_content(dataset_id.split("#")[0] + "#postprocessing")

    def postprocess(pred: torch.Tensor) -> torch.Tensor:  # MONAI's thresholds work in place: on a copy
        return torch.as_tensor(postprocessing({"pred": pred.clone(), "label": pred.clone()})["pred"])

    label = torch.as_tensor(postprocessing({"pred": clean.clone(), "label": clean.clone()})["label"])
    return EvaluationSet(noisy, label, names, postprocess)


def score(pred: torch.Tensor, test: EvaluationSet, lpips: LPIPSMetric | None = None) -> Scored:
    """Score ``(N, 1, H, W)`` predictions of ``test``'s noisy images, after the bundle's postprocessing."""
    pred = test.postprocess(pred)
    table = pd.DataFrame({"image": test.names, **{k: v.numpy() for k, v in image_metrics(pred, test.clean).items()}})
    if lpips is not None:
        table["lpips"] = lpips(pred, test.clean).numpy()
    return Scored(pred, table)


def score_noisy(test: EvaluationSet, lpips: LPIPSMetric | None = None) -> Scored:
    """The noisy input itself, scored as a method (the reference every gain is measured from)."""
    return score(test.noisy, test, lpips)


def score_network(parser: ConfigParser, weights: str | Path, test: EvaluationSet, lpips: LPIPSMetric | None = None
                  ) -> Scored:
    """``weights`` in the bundle's network, applied with its validation inferer (self-ensemble included)."""
    network = load_network(parser, weights)
    start = time.perf_counter()
    pred = denoise(parser, network, test.noisy)
    seconds = time.perf_counter() - start
    scored = score(pred, test, lpips)
    return Scored(scored.pred, scored.scores, seconds, sum(p.numel() for p in network.parameters()))


def tune_baseline(baseline: Baseline, validation: EvaluationSet, noise: Mapping | float) -> dict:
    """The grid point of ``baseline`` with the best mean PSNR on the ``validation`` images at noise section ``noise``
    (or a sigma); ``{}`` without a grid, which runs nothing."""
    candidates = [dict(zip(baseline.grid, values)) for values in product(*baseline.grid.values())]
    if len(candidates) == 1:
        return candidates[0]
    psnr = [score(apply(baseline, validation.noisy, noise, p), validation).mean()["psnr"] for p in candidates]
    return candidates[int(np.argmax(psnr))]


def score_baseline(baseline: Baseline, test: EvaluationSet, noise: Mapping | float, validation: EvaluationSet | None = None,
                   lpips: LPIPSMetric | None = None) -> Scored:
    """A classical baseline given the noise section ``noise`` of ``test``'s level, its parameters tuned on
    ``validation`` at that level (needed where the baseline has a grid)."""
    params = tune_baseline(baseline, validation, noise) if validation is not None else {}
    start = time.perf_counter()
    pred = apply(baseline, test.noisy, noise, params)
    seconds = time.perf_counter() - start
    scored = score(pred, test, lpips)
    return Scored(scored.pred, scored.scores, seconds, settings=", ".join(f"{k} {v}" for k, v in params.items()))


def volume_scores(pred: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Scores of a denoised ``(H, W, D)`` volume: PSNR and MAE over the whole volume, SSIM the mean over its axial
    slices; ``pred`` clamped to [0, 1] as a bundle's postprocessing does."""
    pred_t = torch.from_numpy(np.asarray(pred, dtype=np.float32)).clamp(0.0, 1.0)
    clean_t = torch.as_tensor(np.asarray(clean, dtype=np.float32))
    whole = image_metrics(pred_t[None, None], clean_t[None, None], ("psnr", "mae"))
    slices = image_metrics(pred_t.permute(2, 0, 1)[:, None], clean_t.permute(2, 0, 1)[:, None], ("ssim",))
    return {"psnr": float(whole["psnr"][0]), "ssim": float(slices["ssim"].mean()), "mae": float(whole["mae"][0])}
