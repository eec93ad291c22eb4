"""Digitally reconstructed radiographs of CT volumes: the physics, the geometry, and their place in a radiograph
dataset."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import SourceVolume
from monai_denoise.errors import DataError
from monai_denoise.transforms import FULL_SCALE, DigitallyReconstructedRadiograph

MU_WATER = 0.019


def _volume(hu: np.ndarray, spacing: tuple[float, float, float]) -> MetaTensor:
    return MetaTensor(torch.as_tensor(hu[None], dtype=torch.float32),
                      affine=torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64)),
                      meta={"filename_or_obj": "chest.nii.gz"})


def test_the_signal_is_beer_lambert_through_water_and_one_through_air():
    hu = np.full((8, 20, 6), -1000.0)
    hu[:, 5:15, :] = 0.0  # 10 voxels of water along y, 2 mm each: 20 mm
    radiograph = DigitallyReconstructedRadiograph("ap", pixel_mm=2.0)(_volume(hu, (2.0, 2.0, 2.0)))
    assert radiograph.shape == (1, 8, 6, 1)
    torch.testing.assert_close(radiograph.as_tensor(), torch.full((1, 8, 6, 1), math.exp(-MU_WATER * 20.0)))
    air = DigitallyReconstructedRadiograph("ap", pixel_mm=2.0)(_volume(np.full((8, 20, 6), -2048.0), (2.0,) * 3))
    torch.testing.assert_close(air.as_tensor(), torch.ones(1, 8, 6, 1)), "padding below air attenuates nothing"


def test_views_and_pixel_size_set_the_detector_grid_and_its_meta():
    hu = np.zeros((10, 30, 4))
    lateral = DigitallyReconstructedRadiograph("lateral", pixel_mm=0.5)(_volume(hu, (1.0, 1.0, 2.5)))
    assert lateral.shape == (1, 60, 20, 1), "y (30 mm) and z (10 mm) at 0.5 mm"
    torch.testing.assert_close(lateral.as_tensor(), torch.full_like(lateral.as_tensor(), math.exp(-MU_WATER * 10.0)))
    assert lateral.meta[FULL_SCALE] == 1.0
    np.testing.assert_allclose(lateral.pixdim[:2], (0.5, 0.5))


def test_bone_attenuates_more_than_water():
    hu = np.zeros((4, 10, 4))
    hu[2:, :, :] = 1000.0
    signal = DigitallyReconstructedRadiograph("ap", pixel_mm=1.0)(_volume(hu, (1.0,) * 3))[0, :, 0, 0]
    assert signal[0] == pytest.approx(math.exp(-MU_WATER * 10.0), rel=1e-5)
    assert signal[3] == pytest.approx(math.exp(-2 * MU_WATER * 10.0), rel=1e-5)


@pytest.mark.parametrize("kwargs, match", [({"view": "pa"}, "view"), ({"pixel_mm": 0.0}, "pixel_mm"),
                                           ({"mu_water": -1.0}, "mu_water")])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DigitallyReconstructedRadiograph(**kwargs)


def test_a_slice_and_nan_values_are_refused_naming_the_file():
    with pytest.raises(ValueError, match="volume"):
        DigitallyReconstructedRadiograph()(torch.zeros(1, 4, 4))
    hu = np.zeros((4, 4, 4))
    hu[1, 1, 1] = np.nan
    with pytest.raises(DataError, match="chest.nii.gz: contains 1 NaN"):
        DigitallyReconstructedRadiograph()(_volume(hu, (1.0,) * 3))


def test_prepare_tiles_both_views_of_one_ct_volume_into_one_split(tmp_path):
    rng = np.random.default_rng(0)
    hu = np.full((40, 40, 24), -1000.0, dtype=np.float32)
    hu[8:32, 8:32, :] = rng.normal(40.0, 200.0, (24, 24, 24))
    ct = tmp_path / "chest.nii.gz"
    nib.save(nib.Nifti1Image(hu, np.diag([2.0, 2.0, 2.0, 1.0])), str(ct))
    pictures = [tmp_path / f"picture{i}.png" for i in range(2)]
    for path in pictures:
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(path)
    sources = [SourceVolume(ct, "training", projection="ap"), SourceVolume(ct, "training", projection="lateral"),
               SourceVolume(pictures[0], "validation"), SourceVolume(pictures[1], "test")]
    manifest = prepare_dataset(sources, tmp_path / "xray", PrepareConfig(modality="xray", size=32))
    drr = manifest[manifest.volume_id.str.startswith("chest")]
    assert set(drr.volume_id) == {"chest_ap", "chest_lateral"} and set(drr.split) == {"training"}
    assert set(drr.subject_id) == {"chest"}, "both views of one scan are one subject"
    tile = nib.load(str(tmp_path / "xray" / drr.image.iloc[0])).get_fdata()
    assert 0.0 < tile.min() and tile.max() <= 1.0, "the linear signal on the detector's full scale"
    np.testing.assert_allclose(nib.load(str(tmp_path / "xray" / drr.image.iloc[0])).header.get_zooms()[:2],
                               (0.5, 0.5))
