"""Behaviour of the synthetic-noise and percentile-normalisation transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_denoise.transforms import NOISE_TYPES, PercentileNormalize, SyntheticNoise, SyntheticNoised

SIGMA = 0.1


def image_item(name: str, seed: int = 0, shape=(1, 32, 32)) -> dict:
    """A ``{"image": MetaTensor}`` item with values in [0, 1] and ``name`` as its file name."""
    values = np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)
    return {"image": MetaTensor(torch.as_tensor(values), meta={"filename_or_obj": name})}


def noisy(transform: SyntheticNoised, item: dict) -> torch.Tensor:
    """The noisy image of ``item`` as a plain tensor (the input item is not modified)."""
    return torch.as_tensor(transform(dict(item))["image"]).clone()


def constant(value: float, shape=(1, 128, 128)) -> torch.Tensor:
    return torch.full(shape, value, dtype=torch.float32)


def seeded_noise(kind: str, sigma: float, seed: int = 0) -> SyntheticNoise:
    transform = SyntheticNoise(kind, sigma)
    transform.set_random_state(seed)
    return transform


# --- SyntheticNoise / SyntheticNoised ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_sigma_zero_leaves_image_unchanged(kind):
    item = image_item("/data/A.nii.gz")
    clean = item["image"].as_tensor().clone()

    assert torch.equal(torch.as_tensor(SyntheticNoise(kind, 0.0)(clean)), clean)

    out = SyntheticNoised("image", kind=kind, sigma=0.0, seed=1)(item)
    assert torch.equal(torch.as_tensor(out["image"]), clean)
    assert torch.equal(torch.as_tensor(out["label"]), clean)


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_label_holds_clean_copy_and_image_is_noisy(kind):
    item = image_item("/data/A.nii.gz")
    clean = item["image"].as_tensor().clone()

    out = SyntheticNoised("image", kind=kind, sigma=SIGMA, seed=1)(item)

    assert torch.equal(torch.as_tensor(out["label"]), clean)
    assert out["label"] is not item["image"]
    assert not torch.allclose(torch.as_tensor(out["image"]), clean)
    assert torch.equal(item["image"].as_tensor(), clean), "the input item must not be modified"


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_seeded_noise_depends_on_file_name_not_on_call_order(kind):
    a, b = image_item("/data/A.nii.gz"), image_item("/data/B.nii.gz")  # same pixels, different names

    first = SyntheticNoised("image", kind=kind, sigma=SIGMA, seed=42)
    a1, b1 = noisy(first, a), noisy(first, b)
    second = SyntheticNoised("image", kind=kind, sigma=SIGMA, seed=42)
    b2, a2 = noisy(second, b), noisy(second, a)

    assert torch.equal(a1, a2)
    assert torch.equal(b1, b2)
    assert not torch.equal(a1, b1)
    assert torch.equal(noisy(first, a), a1), "repeating an item on the same transform repeats its noise"


def test_seeded_noise_uses_the_base_name_and_the_seed():
    here, elsewhere = image_item("/one/A.nii.gz"), image_item("/two/A.nii.gz")

    assert torch.equal(noisy(SyntheticNoised("image", seed=5), here), noisy(SyntheticNoised("image", seed=5), elsewhere))
    assert not torch.equal(noisy(SyntheticNoised("image", seed=5), here), noisy(SyntheticNoised("image", seed=6), here))


def test_seeded_noise_needs_a_file_name():
    with pytest.raises(ValueError, match="file name"):
        SyntheticNoised("image", seed=5)({"image": torch.zeros(1, 8, 8)})


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_unseeded_noise_differs_between_calls(kind):
    item = image_item("/data/A.nii.gz")
    transform = SyntheticNoised("image", kind=kind, sigma=SIGMA, seed=None)

    assert not torch.equal(noisy(transform, item), noisy(transform, item))


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_set_random_state_makes_unseeded_noise_reproducible(kind):
    item = image_item("/data/A.nii.gz")

    def run(state_seed: int) -> torch.Tensor:
        transform = SyntheticNoised("image", kind=kind, sigma=SIGMA).set_random_state(state_seed)
        return torch.stack([noisy(transform, item), noisy(transform, item)])

    first, again, other = run(7), run(7), run(8)
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1]), "successive calls still draw fresh noise"
    assert not torch.equal(first, other)


def test_rician_noise_is_non_negative_and_biased_upward_on_zero_background():
    out = torch.as_tensor(seeded_noise("rician", SIGMA)(constant(0.0)))

    assert float(out.min()) >= 0.0
    assert float(out.mean()) == pytest.approx(SIGMA * math.sqrt(math.pi / 2), rel=0.05)


def test_gaussian_noise_has_the_requested_std_and_zero_mean():
    clean = constant(0.5)
    residual = torch.as_tensor(seeded_noise("gaussian", SIGMA)(clean)) - clean

    assert float(residual.std()) == pytest.approx(SIGMA, rel=0.03)
    assert abs(float(residual.mean())) < 0.01


def test_poisson_noise_variance_at_intensity_one_is_sigma_squared():
    out = torch.as_tensor(seeded_noise("poisson", SIGMA)(constant(1.0))).double()

    assert float(out.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(out.var()) == pytest.approx(SIGMA**2, rel=0.05)
    assert float(out.min()) >= 0.0


def test_blind_noise_draws_each_listed_type_and_sigmas_within_the_range():
    noise = SyntheticNoise(["gaussian", "rician"], [0.02, 0.1]).set_random_state(seed=5)
    clean = constant(0.0)
    drawn = []
    for _ in range(40):
        out = torch.as_tensor(noise(clean))
        drawn.append((noise.kind, noise.sigma, float(out.min())))

    assert {kind for kind, _, _ in drawn} == {"gaussian", "rician"}
    assert all(0.02 <= sigma <= 0.1 for _, sigma, _ in drawn)
    assert max(s for _, s, _ in drawn) - min(s for _, s, _ in drawn) > 0.04
    assert all(low >= 0.0 for kind, _, low in drawn if kind == "rician"), "Rician magnitudes are never negative"
    assert any(low < 0.0 for kind, _, low in drawn if kind == "gaussian")


def test_blind_noise_is_reproducible_from_its_seed():
    def draws(seed: int) -> list:
        noise = SyntheticNoise(["gaussian", "rician"], [0.02, 0.1]).set_random_state(seed=seed)
        return [(noise.kind, noise.sigma, torch.as_tensor(noise(constant(0.3))).sum().item()) for _ in range(5)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


@pytest.mark.parametrize("sigma", [[0.1, 0.05], [-0.01, 0.05]])
def test_bad_sigma_range_is_refused(sigma):
    with pytest.raises(ValueError, match="sigma must be >= 0 or a \\[low, high\\] range"):
        SyntheticNoise("gaussian", sigma)


@pytest.mark.parametrize("make", [
    lambda: SyntheticNoise("speckle", SIGMA),
    lambda: SyntheticNoised("image", kind="speckle"),
], ids=["array", "dict"])
def test_unknown_noise_type_is_refused(make):
    with pytest.raises(ValueError, match="unknown noise type 'speckle'"):
        make()


@pytest.mark.parametrize("kind", NOISE_TYPES)
@pytest.mark.parametrize("make", [SyntheticNoise, lambda kind, sigma: SyntheticNoised("image", kind, sigma)],
                         ids=["array", "dict"])
def test_negative_sigma_is_refused(make, kind):
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        make(kind, -0.1)


# --- PercentileNormalize -----------------------------------------------------------------------------------


@pytest.fixture
def scan() -> MetaTensor:
    values = np.random.default_rng(3).normal(300.0, 80.0, (1, 24, 20, 12)).astype(np.float32)
    return MetaTensor(torch.as_tensor(values), meta={"filename_or_obj": "/scans/sub-01_T1w.nii.gz"})


def test_normalize_with_clip_stays_in_unit_range(scan):
    out = PercentileNormalize(1.0, 99.0, clip=True)(scan)

    assert out.dtype == torch.float32
    assert float(out.min()) == 0.0
    assert float(out.max()) == 1.0
    # about 1 % of the voxels lie below the lower and above the upper percentile
    assert float((out == 0).float().mean()) == pytest.approx(0.01, abs=0.005)
    assert float((out == 1).float().mean()) == pytest.approx(0.01, abs=0.005)


def test_normalize_maps_percentiles_to_zero_and_one_and_records_them(scan):
    values = scan.numpy().ravel()
    low, high = np.percentile(values, [2.0, 98.0])

    out = PercentileNormalize(2.0, 98.0, clip=False)(scan)

    stats = out.meta["normalization"]
    assert stats["lower_percentile"] == 2.0 and stats["upper_percentile"] == 98.0
    assert stats["lower_value"] == pytest.approx(low, rel=1e-5)
    assert stats["upper_value"] == pytest.approx(high, rel=1e-5)
    np.testing.assert_allclose(np.percentile(out.numpy(), [2.0, 98.0]), [0.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(out.numpy(), (scan.numpy() - low) / (high - low), atol=1e-5)


def test_normalize_inverse_restores_the_input(scan):
    transform = PercentileNormalize(2.0, 98.0, clip=False)
    normalised = transform(scan)
    assert not torch.allclose(normalised.as_tensor(), scan.as_tensor())

    restored = transform.inverse(normalised)

    np.testing.assert_allclose(restored.numpy(), scan.numpy(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("value", [0.0, 7.5])
def test_normalize_refuses_a_constant_image_naming_its_file(value):
    image = MetaTensor(torch.full((1, 8, 8), value), meta={"filename_or_obj": "/scans/flat.nii.gz"})

    with pytest.raises(ValueError, match=r"/scans/flat\.nii\.gz: cannot normalise.*percentiles are equal"):
        PercentileNormalize()(image)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_normalize_refuses_nan_and_inf(scan, bad):
    scan[0, 3, 4, 5] = bad
    scan[0, 1, 1, 1] = bad

    with pytest.raises(ValueError, match=r"sub-01_T1w\.nii\.gz: contains 2 NaN or Inf voxel\(s\)"):
        PercentileNormalize()(scan)


@pytest.mark.parametrize("lower, upper", [(50.0, 50.0), (60.0, 40.0), (-1.0, 99.0), (1.0, 101.0)])
def test_normalize_refuses_bad_percentiles(lower, upper):
    with pytest.raises(ValueError, match="percentiles must satisfy"):
        PercentileNormalize(lower, upper)


def test_window_normalize_maps_hounsfield_units_linearly_and_back():
    from monai_denoise.transforms import WindowNormalized

    hu = MetaTensor(torch.tensor([[[-1000.0, 0.0], [1000.0, 3000.0]]]), meta={"filename_or_obj": "ct.nii.gz"})
    normalize = WindowNormalized("image", low=-1000.0, high=1000.0)
    out = normalize({"image": hu})
    torch.testing.assert_close(out["image"].as_tensor(), torch.tensor([[[0.0, 0.5], [1.0, 2.0]]]))
    assert out["image"].meta["normalization"] == {"lower_value": -1000.0, "upper_value": 1000.0}
    torch.testing.assert_close(normalize.inverse(out)["image"].as_tensor(), hu.as_tensor())


def test_window_normalize_floor_makes_padding_air_and_keeps_the_rest_invertible():
    from monai_denoise.transforms import WindowNormalize

    hu = MetaTensor(torch.tensor([[[-2048.0, -1024.0], [0.0, 1000.0]]]), meta={"filename_or_obj": "lidc.nii.gz"})
    normalize = WindowNormalize(-1000.0, 1000.0, floor=-1024.0)
    out = normalize(hu)
    torch.testing.assert_close(out.as_tensor(), torch.tensor([[[-0.012, -0.012], [0.5, 1.0]]]))
    torch.testing.assert_close(normalize.inverse(out).as_tensor(), torch.tensor([[[-1024.0, -1024.0], [0.0, 1000.0]]]))
    with pytest.raises(ValueError, match="lidc.nii.gz: contains 1 NaN"):
        normalize(MetaTensor(torch.tensor([[[float("nan"), 0.0]]]), meta={"filename_or_obj": "lidc.nii.gz"}))


def test_window_normalize_takes_a_radiographs_full_scale_and_names_a_file_without_one():
    from monai_denoise.errors import DataError
    from monai_denoise.transforms import FULL_SCALE, WindowNormalize

    signal = MetaTensor(torch.tensor([[[0.0, 511.5, 1023.0]]]), meta={"filename_or_obj": "cr.dcm", FULL_SCALE: 1023})
    torch.testing.assert_close(WindowNormalize(0.0)(signal).as_tensor(), torch.tensor([[[0.0, 0.5, 1.0]]]))
    with pytest.raises(DataError, match="xray.nii.gz: no full-scale value"):
        WindowNormalize(0.0)(MetaTensor(torch.ones(1, 2, 2), meta={"filename_or_obj": "xray.nii.gz"}))
    with pytest.raises(ValueError, match="low < high"):
        WindowNormalize(5.0, 5.0)


@pytest.mark.parametrize("noise, transform", [
    ({"type": "gaussian", "sigma": 0.1, "clip": True}, "SyntheticNoised"),
    ({"type": ["gaussian", "rician"], "sigma": [0.01, 0.1]}, "SyntheticNoised"),
    ({"type": "low_dose_ct", "i0": 1e5, "electronic_std": 10.0, "views": 90}, "LowDoseCTNoised"),
    ({"type": "poisson_gaussian", "photons": 500.0, "electronic_std": 0.002}, "PoissonGaussianNoised"),
])
def test_simulated_noise_adds_the_noise_its_section_names(noise, transform):
    """Each noise type reaches its model's transform, which copies the clean image to label and adds noise."""
    from monai_denoise.transforms import SimulatedNoised

    noised = SimulatedNoised("image", noise, seed=None).set_random_state(3)
    assert type(noised.transform).__name__ == transform
    clean = MetaTensor(torch.full((1, 64, 64), 0.4), meta={"filename_or_obj": "a.nii.gz", "pixdim": [1, 1, 1, 1]})
    out = noised({"image": clean.clone()})
    assert torch.equal(out["label"], clean) and float((out["image"] - clean).abs().mean()) > 1e-4


@pytest.mark.parametrize("noise, message", [
    ({"sigma": 0.05}, "'type' must be one of gaussian, rician, poisson, low_dose_ct, poisson_gaussian"),
    ({"type": "speckle", "sigma": 0.05}, "'type' must be one of"),
    ({"type": ["gaussian", "low_dose_ct"], "sigma": 0.05}, "a list only of types of one model"),
    ({"type": "low_dose_ct", "electronic_std": 10.0}, "low_dose_ct noise needs 'i0'"),
])
def test_a_noise_section_without_a_known_type_or_its_level_is_refused_in_one_line(noise, message):
    from monai_denoise.errors import DataError
    from monai_denoise.transforms import SimulatedNoised

    with pytest.raises(DataError, match=message):
        SimulatedNoised("image", noise)


def test_an_item_with_its_own_noise_level_gets_that_level_and_the_rest_the_sections():
    """Validation at several doses: at_levels repeats each item per level, SimulatedNoised reads it per item."""
    from monai_denoise.data import at_levels
    from monai_denoise.transforms import SimulatedNoised

    noise = {"type": "gaussian", "sigma": 0.05}
    noised = SimulatedNoised("image", noise, seed=7, level_key="noise_level")
    clean = MetaTensor(torch.full((1, 64, 64), 0.5), meta={"filename_or_obj": "a.nii.gz"})
    items = at_levels([{"image": clean}], [0.01, 0.05, 0.2])
    assert [item["noise_level"] for item in items] == [0.01, 0.05, 0.2]

    stds = [float((noised({**item, "image": clean.clone()})["image"] - clean).std()) for item in items]
    assert stds == pytest.approx([0.01, 0.05, 0.2], rel=0.05)
    at_section_level = noised({"image": clean.clone()})["image"]
    same_level = noised({"image": clean.clone(), "noise_level": 0.05})["image"]
    assert torch.equal(at_section_level, same_level), "the section's level, seeded per file as before"
    assert at_levels([{"image": "a"}], None) == [{"image": "a"}]


@pytest.mark.parametrize("levels", [[0.05, 0.0], [-1.0], ["high"], [True]])
def test_validation_levels_must_be_positive_numbers(levels):
    from monai_denoise.data import at_levels
    from monai_denoise.errors import DataError

    with pytest.raises(DataError, match=r"val_levels \(the validation noise levels\) must be positive numbers"):
        at_levels([{"image": "a"}], levels)
