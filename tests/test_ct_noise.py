"""Projection-domain low-dose CT noise: its projector against scikit-image, and the noise's dose, texture and seeds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from skimage.transform import iradon, radon

from monai_denoise.errors import DataError
from monai_denoise.transforms.ct_noise import DEFAULT_PIXEL_MM, LowDoseCTNoise, LowDoseCTNoised, ParallelBeamProjector

N, VIEWS, WINDOW = 64, 180, (-1000.0, 1000.0)
OFFSETS = np.mgrid[:N, :N] - N // 2
RADIUS = np.hypot(*OFFSETS)
WATER = RADIUS < 20  # inside the 24-pixel water disc, away from its edge


def water_phantom(window: tuple[float, float] = WINDOW) -> torch.Tensor:
    """A 0 HU water disc (radius 24 pixels) in -1000 HU air, ``(1, 64, 64)`` on the normalised scale."""
    hu = np.where(RADIUS < 24, 0.0, -1000.0)
    return torch.from_numpy(((hu - window[0]) / (window[1] - window[0])).astype(np.float32))[None]


def noise_hu(i0: float, seed: int, electronic_std: float = 10.0, window=WINDOW) -> np.ndarray:
    """Noisy minus clean water phantom in HU, ``(64, 64)``."""
    transform = LowDoseCTNoise(i0=i0, electronic_std=electronic_std, views=VIEWS, window=window)
    transform.set_random_state(seed)
    clean = water_phantom(window)
    return ((transform(clean) - clean) * (window[1] - window[0]))[0].numpy()


def water_std(i0: float, electronic_std: float = 10.0, draws: int = 3) -> float:
    return float(np.mean([noise_hu(i0, seed, electronic_std)[WATER].std() for seed in range(draws)]))


def item(name: str) -> dict:
    return {"image": MetaTensor(water_phantom(), meta={"filename_or_obj": name})}


# --- the projector ------------------------------------------------------------------------------------------


def test_projector_matches_scikit_image_radon_and_iradon():
    views = 90
    projector = ParallelBeamProjector(N, N, views)
    angles = np.arange(views) * 180.0 / views
    image = np.exp(-((OFFSETS[0] + 6.0) ** 2 + (OFFSETS[1] - 9.0) ** 2) / 60.0)  # an off-centre blob
    ours = projector.forward(torch.from_numpy(image.astype(np.float32))[None])[0].numpy()
    theirs = radon(image, angles, circle=False).T  # (views, their detectors), centred on their middle bin
    half = theirs.shape[1] // 2
    ours = ours[:, projector.centre - half: projector.centre - half + theirs.shape[1]]
    assert np.abs(ours - theirs).max() < 0.01 * theirs.max()
    # FBP of one noisy sinogram: the same noise as scikit-image's ramp-filter FBP
    sinogram = np.random.default_rng(0).normal(size=theirs.shape).astype(np.float32)
    padded = np.zeros((views, projector.detectors), np.float32)
    padded[:, projector.centre - half: projector.centre - half + theirs.shape[1]] = sinogram
    ours = projector.fbp(torch.from_numpy(padded)[None])[0].numpy()[RADIUS < 28]
    theirs = iradon(sinogram.T, angles, circle=False, filter_name="ramp")[RADIUS < 28]
    assert np.corrcoef(ours, theirs)[0, 1] > 0.98
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)


@pytest.mark.parametrize("shape", [(64, 64), (40, 72)])
def test_projector_fbp_inverts_projection_with_pixel_units(shape):
    rows, columns = np.mgrid[: shape[0], : shape[1]]
    blob = np.exp(-((rows - shape[0] // 2) ** 2 + (columns - shape[1] // 2) ** 2) / 50.0).astype(np.float32)
    projector = ParallelBeamProjector(*shape, VIEWS)
    sinogram = projector.forward(torch.from_numpy(np.stack([blob, 2 * blob])))
    assert sinogram.shape == (2, VIEWS, projector.detectors)
    assert sinogram[0].sum(-1).mean() == pytest.approx(blob.sum(), rel=1e-3)  # every view integrates the image
    ones = projector.forward(torch.ones(1, *shape))[0, 0]  # at 0 degrees: the column sums
    assert ones[projector.centre] == pytest.approx(shape[0], rel=0.02)
    recon = projector.fbp(sinogram).numpy()
    assert np.abs(recon[0] - blob).max() < 0.01 and np.abs(recon[1] - 2 * blob).max() < 0.02


# --- dose, texture, window ----------------------------------------------------------------------------------


def test_noise_vanishes_at_high_dose_and_infinite_dose_returns_the_input():
    assert noise_hu(1e5, 0)[WATER].std() > 5.0
    assert noise_hu(1e9, 0)[WATER].std() < 1.0
    clean = MetaTensor(water_phantom(), meta={"filename_or_obj": "/data/slice.nii.gz"})
    out = LowDoseCTNoise(i0=math.inf, views=VIEWS)(clean)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert torch.equal(out.as_tensor(), clean.as_tensor()) and out.meta["filename_or_obj"] == "/data/slice.nii.gz"


def test_noise_std_scales_as_inverse_sqrt_dose_and_electronic_noise_adds():
    assert water_std(1e5) / water_std(4e5) == pytest.approx(2.0, rel=0.1)
    assert water_std(1e3, electronic_std=50.0) > 1.5 * water_std(1e3, electronic_std=0.0)


def test_noise_has_ramp_filtered_texture_unlike_white_noise():
    """The ramp filter makes CT noise power grow with frequency: little power at low frequencies."""
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(N), np.fft.fftfreq(N)))
    low, mid = frequency < 0.1, (frequency >= 0.2) & (frequency < 0.35)

    def low_over_mid(noise: np.ndarray) -> float:
        power = np.abs(np.fft.fft2(noise)) ** 2
        return float(power[low].mean() / power[mid].mean())

    ct = [noise_hu(1e5, seed) for seed in range(3)]
    white = [np.random.default_rng(seed).normal(0.0, ct[seed].std(), (N, N)) for seed in range(3)]
    assert np.mean([low_over_mid(n) for n in ct]) < 0.6
    assert np.mean([low_over_mid(n) for n in white]) > 0.8


def test_window_round_trip_keeps_the_normalised_scale():
    clean = water_phantom()
    transform = LowDoseCTNoise(i0=1e5, views=VIEWS)
    transform.set_random_state(0)
    noisy = transform(clean)
    assert abs(float(noisy[0][WATER].mean() - clean[0][WATER].mean())) * 2000.0 < 2.0  # HU
    # a soft-tissue window: the same noise in HU from the same seed
    assert np.allclose(noise_hu(1e5, 0, window=(-160.0, 240.0)), noise_hu(1e5, 0), atol=0.05)


def test_numpy_and_non_square_slices_and_channels():
    image = np.random.default_rng(0).uniform(0.4, 0.6, (2, 40, 72)).astype(np.float32)
    transform = LowDoseCTNoise(i0=1e5, views=VIEWS)
    transform.set_random_state(0)
    out = transform(image)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == image.shape
    noise = out - image
    assert noise[:, :4, :4].std() > 0  # corners are scanned too
    assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < 0.1  # channels independent


# --- pixel size, randomness, seeds --------------------------------------------------------------------------


def test_pixel_size_from_meta_data():
    transform = LowDoseCTNoise(views=VIEWS)
    spaced = MetaTensor(water_phantom(), affine=torch.diag(torch.tensor([0.5, 0.5, 2.0, 1.0], dtype=torch.float64)))
    assert transform.image_pixel_mm(spaced) == pytest.approx(0.5)
    assert transform.image_pixel_mm(MetaTensor(water_phantom())) == DEFAULT_PIXEL_MM  # identity affine: unknown
    assert transform.image_pixel_mm(water_phantom()) == DEFAULT_PIXEL_MM
    assert LowDoseCTNoise(views=VIEWS, pixel_mm=0.9).image_pixel_mm(spaced) == 0.9


def test_same_seed_same_noise_and_dose_range_is_reproducible():
    assert np.array_equal(noise_hu(1e5, 3), noise_hu(1e5, 3))
    assert not np.allclose(noise_hu(1e5, 3), noise_hu(1e5, 4))
    doses = []
    for _ in range(2):
        transform = LowDoseCTNoise(i0=(5e4, 2e5), views=VIEWS)
        transform.set_random_state(1)
        doses.append([(transform(water_phantom()), transform.i0)[1] for _ in range(3)])
    assert doses[0] == doses[1] and all(5e4 <= d <= 2e5 for d in doses[0]) and len(set(doses[0])) == 3


def test_dictionary_copies_clean_label_and_seeded_noise_depends_only_on_seed_and_name():
    names = ["/a/ct_001.nii.gz", "/b/ct_002.nii.gz"]
    forward, backward = LowDoseCTNoised("image", i0=1e5, views=VIEWS, seed=7), \
        LowDoseCTNoised("image", i0=1e5, views=VIEWS, seed=7)
    out_forward = {name: forward(item(name)) for name in names}
    out_backward = {name: backward(item(name)) for name in reversed(names)}
    for name in names:
        assert torch.equal(out_forward[name]["label"].as_tensor(), water_phantom())
        assert torch.equal(out_forward[name]["image"], out_backward[name]["image"])
    assert not torch.equal(out_forward[names[0]]["image"], out_forward[names[1]]["image"])
    other_seed = LowDoseCTNoised("image", i0=1e5, views=VIEWS, seed=8)(item(names[0]))["image"]
    assert not torch.equal(other_seed, out_forward[names[0]]["image"])
    # unseeded: set_random_state reaches the array transform
    fresh = [LowDoseCTNoised("image", i0=1e5, views=VIEWS).set_random_state(5)(item(names[0]))["image"]
             for _ in range(2)]
    assert torch.equal(fresh[0], fresh[1])


# --- bad input ----------------------------------------------------------------------------------------------


def test_non_finite_slice_is_a_data_error_naming_the_file():
    clean = water_phantom()
    clean[0, 3, 5] = float("nan")
    with pytest.raises(DataError, match="ct_009.nii.gz"):
        LowDoseCTNoise(views=VIEWS)(MetaTensor(clean, meta={"filename_or_obj": "/data/ct_009.nii.gz"}))
    with pytest.raises(DataError, match="ct_009.nii.gz"):
        LowDoseCTNoised("image", views=VIEWS)({"image": MetaTensor(clean, meta={"filename_or_obj": "ct_009.nii.gz"})})


@pytest.mark.parametrize("kwargs", [{"i0": 0.0}, {"i0": -5.0}, {"i0": (2e5, 5e4)}, {"i0": (1e4, math.inf)},
                                    {"electronic_std": -1.0}, {"views": 0}, {"pixel_mm": 0.0},
                                    {"window": (100.0, -100.0)}])
def test_invalid_parameters_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        LowDoseCTNoise(**kwargs)


def test_wrong_shape_raises_value_error():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        LowDoseCTNoise(views=VIEWS)(torch.zeros(1, 8, 8, 8))


def test_speed_benchmark_prints_one_row_per_geometry(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    from benchmarks.ct_noise_speed import main

    table = main(["--sizes", "32", "--views", "30", "60", "--doses", "1e5", "4e5", "--repeats", "1",
                  "--output", str(tmp_path)])
    assert table["views"].tolist() == [30, 60]
    assert (table["std HU 100000"] > table["std HU 400000"]).all() and (table["s / slice"] > 0).all()
    assert "scikit-image std HU 200000" in table and (tmp_path / "ct_noise_speed.csv").is_file()
    assert "| 32x32 | 30 |" in capsys.readouterr().out


@pytest.mark.parametrize("zoom", [0.5, 1.5])
def test_the_ct_bundles_resample_slices_with_their_spacing_before_the_noise(zoom):
    """train.json's ``resample`` zooms a clean slice as a scan on another pixel grid: the anatomy keeps its size in
    mm (pixel spacing divided by the zoom), air pads, and the noise is simulated at the new spacing."""
    from monai.transforms import Compose

    from monai_denoise.workflows import parse

    parser = parse("ct_denoising_drunet", ["train"],
                   resample={"prob": 1.0, "min_zoom": zoom, "max_zoom": zoom})
    transforms = parser.get_parsed_content("train#preprocessing").transforms
    resampling = Compose([t for t in transforms if type(t).__name__ == "RandZoomd"])
    resampling.set_random_state(0)
    slice_ = MetaTensor(water_phantom(), affine=torch.diag(torch.tensor([0.8, 0.8, 1.0, 1.0], dtype=torch.float64)))
    out = resampling({"image": slice_})["image"]
    assert out.shape == slice_.shape
    assert out.pixdim[:2].tolist() == pytest.approx([0.8 / zoom] * 2)
    water_pixels = float((out > 0.25).sum()) / float((slice_ > 0.25).sum())
    assert water_pixels == pytest.approx(zoom**2, rel=0.1)  # a disc of the same mm on another grid
    assert float(out[0, 0, 0]) == pytest.approx(0.0, abs=1e-6)  # the corner is air (-1000 HU)
    assert LowDoseCTNoise(views=VIEWS).image_pixel_mm(out) == pytest.approx(0.8 / zoom)
