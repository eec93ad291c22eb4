"""Per-image metrics of an evaluation run as one CSV table with a summary row."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from ignite.engine import Engine, Events
from monai.data import MetaTensor

from monai_denoise.atomic import atomic_path


class MetricsTableWriter:
    """Write ``engine.state.metric_details`` as a CSV: one row per image, one column per metric.

    The metric handlers must run with ``save_details=True`` (MONAI's default). Rows are named by
    the file name of ``image_key``; a last row ``mean`` holds each column's mean. The file is
    written atomically when the evaluation completes. (MONAI's ``MetricsSaver`` writes one raw file per
    metric and a separate summary; this keeps one table per run, the shape reports and pandas expect.)

    Args:
        output_path: the CSV file to write.
        image_key: batch key whose metadata names each image. Default ``"image"``.
    """

    def __init__(self, output_path: str | os.PathLike, image_key: str = "image") -> None:
        self.output_path = Path(output_path)
        self.image_key = image_key
        self._names: list[str] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect_names)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self._names = []

    def _collect_names(self, engine: Engine) -> None:
        for item in engine.state.batch:
            image = item[self.image_key]
            name = image.meta.get("filename_or_obj", "") if isinstance(image, MetaTensor) else ""
            self._names.append(os.path.basename(str(name)) or f"item_{len(self._names)}")

    def _write(self, engine: Engine) -> None:
        details = getattr(engine.state, "metric_details", {})
        if not details:
            raise RuntimeError("MetricsTableWriter: no metric details; run metric handlers with save_details=True")
        columns = {name: torch.as_tensor(values).reshape(len(self._names), -1).float().mean(dim=1).tolist()
                   for name, values in details.items()}
        table = pd.DataFrame({"image": self._names, **columns})
        summary = table.drop(columns="image").mean().to_frame().T.assign(image="mean")
        table = pd.concat([table, summary[table.columns]], ignore_index=True)
        with atomic_path(self.output_path, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
