"""The report's detail panels: where they zoom, and the windows a reader of each modality uses."""

from __future__ import annotations

import numpy as np
import pytest

from monai_denoise.modalities import MODALITIES, get_modality
from monai_denoise.reports import detail_box, plot_detail_panels


def test_the_detail_box_lands_on_the_structure():
    clean = np.zeros((64, 64))
    clean[40:56, 8:24] = np.random.default_rng(0).random((16, 16))
    rows, cols = detail_box(clean)
    assert rows.stop - rows.start == cols.stop - cols.start == 16
    assert 32 <= rows.start <= 48 and 0 <= cols.start <= 16


def test_ct_is_shown_in_the_soft_tissue_window_beside_the_full_one():
    (name, low, high), (full, full_low, full_high) = get_modality("ct").display_windows
    hu = [v * 2000 - 1000 for v in (low, high)]
    assert "W 400 / L 40" in name and hu == pytest.approx([-160, 240])
    assert (full_low, full_high) == (0.0, 1.0) and "-1000, 1000" in full


@pytest.mark.parametrize("name", list(MODALITIES))
def test_every_modality_draws_its_detail_panels(name, tmp_path):
    rng = np.random.default_rng(1)
    clean = np.clip(np.add.outer(np.linspace(0.2, 0.7, 48), np.linspace(0, 0.2, 40)), 0, 1)
    images = {"noisy input": clean + rng.normal(0, 0.05, clean.shape), "denoiser": clean + 0.01, "clean": clean}
    path = tmp_path / "panels_detail.png"
    plot_detail_panels(images, get_modality(name).display_windows, path, "test slice")
    assert path.stat().st_size > 1000
