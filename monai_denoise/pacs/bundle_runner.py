"""Run a bundle's ``inference.json`` on DICOM series, in process, as ``python -m monai.bundle run`` would."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from monai.bundle import ConfigWorkflow

from ..console import data_error
from ..dicom import file_modality
from ..errors import DataError

logger = logging.getLogger(__name__)

WORKFLOW_LOGGER = "monai.bundle.workflows"
"""MONAI's workflow logger, which warns on every run that the bundle's logging file is skipped (the caller's logging
applies)."""


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Let logger ``name`` through at ERROR only, within the block."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class BundleRunner:
    """One bundle, ready to denoise DICOM series with its ``inference.json`` (derived DICOM series out).

    Args:
        bundle: the bundle folder (``configs/inference.json``, ``configs/metadata.json`` with ``dicom_modalities``,
            ``models/model.pt`` or the ``ckpt_path`` of ``overrides``).
        overrides: ``inference.json`` settings (e.g. ``{"self_ensemble": 1}``).

    Raises:
        DataError: no such folder, no inference.json or metadata.json, metadata without ``dicom_modalities`` (a
            bundle from before 0.x of this project: render it again), or no weights.
    """

    def __init__(self, bundle: str | Path, overrides: Mapping[str, Any] | None = None) -> None:
        self.root = Path(bundle).resolve()  # absolute: ITK's lazy loading may change the working folder mid-run
        configs = self.root / "configs"
        for name in ("inference.json", "metadata.json"):
            if not (configs / name).is_file():
                raise DataError(f"{self.root}: no configs/{name}; give the folder of a monai-denoise bundle")
        metadata = json.loads((configs / "metadata.json").read_text())
        if not metadata.get("dicom_modalities"):
            raise DataError(f"{configs / 'metadata.json'}: names no dicom_modalities (the DICOM Modality values the "
                            "bundle serves); use a bundle rendered by this version of monai-denoise")
        self.name, self.version = str(metadata.get("name", self.root.name)), str(metadata.get("version", ""))
        self.modalities = tuple(str(m) for m in metadata["dicom_modalities"])
        self.overrides = dict(overrides or {})
        weights = Path(self.overrides.get("ckpt_path", self.root / "models" / "model.pt")).resolve()
        if "ckpt_path" in self.overrides:
            self.overrides["ckpt_path"] = str(weights)
        if not weights.is_file():
            raise DataError(f"{weights}: no weights for bundle {self.name}; download the bundle with its weights or "
                            "give --overrides '{\"ckpt_path\": PATH}'")

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def denoise(self, series: Path, output: Path) -> list[Path]:
        """Denoise the DICOM series in folder ``series`` (one series: its instance files) into ``output``; return the
        derived instance files, in slice order per derived folder.

        Raises:
            DataError: the series cannot be read or denoised (the line names the file and the problem).
        """
        output.mkdir(parents=True, exist_ok=True)
        configs = self.root / "configs"
        with tempfile.TemporaryDirectory(dir=output, prefix=".run.") as scratch, _quiet(WORKFLOW_LOGGER):
            workflow = ConfigWorkflow(config_file=str(configs / "inference.json"), workflow_type="infer",
                                      meta_file=str(configs / "metadata.json"), logging_file=False,
                                      bundle_root=str(self.root),
                                      **{**self.overrides, "dataset_dir": str(series), "output_dir": scratch,
                                         "output_format": "source"})
            try:
                workflow.initialize()
                workflow.run()
                workflow.finalize()
            except Exception as err:  # MONAI wraps the reader's DataError in its own errors: give the line itself
                found = data_error(err)
                if found is None:
                    raise
                raise found from err
            written = sorted(Path(scratch).rglob("*.dcm"))
            if not written:
                raise DataError(f"{series}: {self} wrote no derived instance")
            results = []
            for path in written:
                target = output / path.relative_to(scratch)
                target.parent.mkdir(parents=True, exist_ok=True)
                path.replace(target)
                results.append(target)
        return results


def series_modality(folder: Path) -> str:
    """The DICOM ``Modality`` of the series in ``folder``, read from its first file's header.

    Raises:
        DataError: an empty folder, or a first file without a readable header (the line names it).
    """
    files = sorted(folder.iterdir())
    if not files:
        raise DataError(f"{folder}: holds no DICOM file")
    return file_modality(files[0])


def runners_by_modality(runners: list[BundleRunner]) -> dict[str, BundleRunner]:
    """DICOM Modality -> the one runner that serves it.

    Raises:
        DataError: two bundles serve one modality.
    """
    served: dict[str, BundleRunner] = {}
    for runner in runners:
        for modality in runner.modalities:
            if modality in served:
                raise DataError(f"{served[modality].root} and {runner.root} both serve Modality {modality}; give one "
                                "bundle per modality")
            served[modality] = runner
    return served
