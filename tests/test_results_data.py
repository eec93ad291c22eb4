"""Measured results and release notes are data under docs/results/, which the bundle renderer reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from monai_denoise import BUNDLES_ROOT
from monai_denoise.bundle import BUNDLES
from monai_denoise.bundle.models import RESULTS_ROOT

REPO = Path(__file__).resolve().parent.parent


def test_every_bundle_renders_its_release_notes_and_measurements_from_docs_results():
    assert {p.name for p in RESULTS_ROOT.iterdir()} == set(BUNDLES)
    for name, spec in BUNDLES.items():
        changelog = json.loads((RESULTS_ROOT / name / "changelog.json").read_text())
        metadata = json.loads((BUNDLES_ROOT / name / "configs" / "metadata.json").read_text())
        assert metadata["version"] == next(iter(changelog)) == spec.version and metadata["changelog"] == changelog
        measured = (RESULTS_ROOT / name / "measured.md").read_text().strip()
        assert measured and measured in (BUNDLES_ROOT / name / "docs" / "README.md").read_text()


def test_the_specs_hold_no_measured_figures():
    for spec in ("monai_denoise/bundle/models.py", "monai_denoise/modalities.py"):
        figures = re.findall(r"\d+\.\d+ dB", (REPO / spec).read_text())
        assert not figures, f"{spec}: measured figures belong in docs/results/: {figures[:3]}"
