"""Adapting a bundle to a user's own noisy scans: recorrupted training pairs, frame sampling, adapt.json."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import UNET_BUNDLE, phantom, write_nifti
from ignite.engine import Events
from monai.transforms import Compose
from test_bundle import workflow

from monai_denoise.bundle import BUNDLES
from monai_denoise.transforms import (
    NoiseLevel,
    NoiseLeveld,
    RandFrameSamplesd,
    Recorrupt,
    Recorruptd,
    scan_scale,
)

ADAPT_TINY = {"adaptation#iterations": 3, "adaptation#patch_size": 32, "adaptation#patches_per_volume": 2}


def test_sigma_zero_gives_the_scan_as_input_and_target():
    img = torch.rand(1, 16, 16)
    source, target = Recorrupt().set_random_state(0)(img, 0.0)
    assert torch.equal(source, img) and torch.equal(target, img)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_the_pair_has_noise_independent_of_each_other_around_the_clean_image(alpha):
    """The R2R property: input and target errors against the clean image have the stated levels and no covariance."""
    sigma = 0.1
    clean = torch.rand(1, 256, 256)
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    recorrupt = Recorrupt(alpha).set_random_state(0)
    source, target = recorrupt(noisy, sigma)
    source_error, target_error = (source - clean).flatten(), (target - clean).flatten()
    assert float(source_error.std()) == pytest.approx(sigma * math.sqrt(1 + alpha**2), rel=0.02)
    assert float(target_error.std()) == pytest.approx(sigma * math.sqrt(1 + 1 / alpha**2), rel=0.02)
    correlation = torch.corrcoef(torch.stack([source_error, target_error]))[0, 1]
    assert abs(float(correlation)) < 0.02, "the target's noise must not be predictable from the input's"
    assert recorrupt.input_sigma(sigma) == pytest.approx(sigma * math.sqrt(1 + alpha**2))


def test_without_randomize_the_last_noise_is_reused_and_must_have_been_drawn():
    img = torch.rand(1, 8, 8)
    recorrupt = Recorrupt().set_random_state(0)
    with pytest.raises(RuntimeError, match="randomize=False"):
        recorrupt(img, 0.1, randomize=False)
    first = recorrupt(img, 0.1)
    again = recorrupt(img, 0.1, randomize=False)
    assert torch.equal(first[0], again[0]) and not torch.equal(recorrupt(img, 0.1)[0], first[0])


def test_the_same_seed_gives_the_same_pairs_and_the_dictionary_passes_its_state_on():
    item = {"image": torch.rand(1, 8, 8), "noise_sigma": 0.05}
    first = Recorruptd("image", alpha=0.5).set_random_state(seed=3)(item)
    second = Recorruptd("image", alpha=0.5).set_random_state(seed=3)(item)
    other = Recorruptd("image", alpha=0.5).set_random_state(seed=4)(item)
    assert torch.equal(first["image"], second["image"]) and torch.equal(first["label"], second["label"])
    assert not torch.equal(first["image"], other["image"])
    assert first["noise_sigma"] == pytest.approx(0.05 * math.sqrt(1.25)), "the map follows the input's noise level"
    assert torch.allclose(first["image"] - item["image"], -0.25 * (first["label"] - item["image"]), atol=1e-6)


def test_bad_arguments_and_a_missing_sigma_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        Recorrupt(0.0)
    with pytest.raises(ValueError, match="sigma"):
        Recorrupt()(torch.zeros(1, 4, 4), -0.1)
    with pytest.raises(KeyError, match="NoiseLeveld"):
        Recorruptd("image")({"image": torch.zeros(1, 4, 4)})
    with pytest.raises(ValueError, match="one image key"):
        Recorruptd(["image", "other"])
    with pytest.raises(ValueError, match="noise_level"):
        NoiseLevel("guess")


def test_the_noise_level_is_the_given_one_or_the_median_estimate_over_frames():
    generator = torch.Generator().manual_seed(0)
    series = torch.stack([0.5 + s * torch.randn(64, 64, 8, generator=generator) for s in (0.02, 0.05, 0.06)])
    assert NoiseLeveld("image", noise_level=0.03)({"image": series})["noise_sigma"] == 0.03
    assert NoiseLeveld("image")({"image": series})["noise_sigma"] == pytest.approx(0.05, rel=0.05)
    with pytest.raises(ValueError, match="iterations"):
        NoiseLevel(iterations=-1)


def test_the_unrefined_estimate_errs_low_on_a_magnitude_image_with_a_dark_background():
    """Adaptation's estimate: an overestimated sigma teaches inverted noise, an underestimate leaves some."""
    generator = torch.Generator().manual_seed(0)
    clean = torch.zeros(1, 64, 64, 16)
    clean[:, 16:48, 16:48] = 0.6
    real, imaginary = (0.05 * torch.randn(clean.shape, generator=generator) for _ in range(2))
    magnitude = {"image": torch.hypot(clean + real, imaginary)}
    refined = NoiseLeveld("image")(magnitude)["noise_sigma"]
    unrefined = NoiseLeveld("image", iterations=0)(magnitude)["noise_sigma"]
    assert refined == pytest.approx(0.05, rel=0.1) and unrefined < 0.9 * refined


def test_frame_samples_keep_one_frame_each_and_a_volume_gives_copies_of_itself():
    series = torch.arange(5.0)[:, None, None, None].expand(5, 4, 4, 3)
    samples = RandFrameSamplesd(["image", "mask"], num_samples=20).set_random_state(0)(
        {"image": series, "mask": series * 10, "noise_sigma": 0.1})
    assert len(samples) == 20 and all(s["image"].shape == (1, 4, 4, 3) for s in samples)
    frames = [int(s["image"][0, 0, 0, 0]) for s in samples]
    assert len(set(frames)) > 1 and all(int(s["mask"][0, 0, 0, 0]) == 10 * f for s, f in zip(samples, frames, strict=True))
    assert all(s["noise_sigma"] == 0.1 for s in samples)
    volume = RandFrameSamplesd("image", num_samples=3)({"image": series[:1]})
    assert len(volume) == 3 and all(torch.equal(s["image"], series[:1]) for s in volume)
    assert len(RandFrameSamplesd("mask", 2, allow_missing_keys=True)({"image": series})) == 2, "nothing to sample"
    with pytest.raises(ValueError, match="frame counts"):
        RandFrameSamplesd(["image", "mask"])({"image": series, "mask": series[:2]})


@pytest.fixture()
def noisy_scans(tmp_path):
    """A noisy 3D volume and a noisy 4D series, as a user's scans."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "scans"
    for name, shape in (("vol.nii.gz", (40, 36, 6)), ("run.nii.gz", (40, 36, 6, 3))):
        clean = phantom(shape, seed=len(shape))
        write_nifti(folder / name, clean + rng.normal(0, 40, shape).astype(np.float32))
    return folder


@pytest.mark.parametrize("name", ["mri_denoising_unet", "mri_denoising_unet_noise_map"])
def test_adapt_fine_tunes_the_weights_on_noisy_scans_for_inference(name, noisy_scans, tmp_path):
    bundle = UNET_BUNDLE.parent / name
    adapted = tmp_path / "adapted"
    wf = workflow(bundle, ["adapt"], "train", dataset_dir=str(noisy_scans), output_dir=str(adapted), **ADAPT_TINY)
    shipped = torch.load(bundle / "models" / "model.pt", weights_only=True)
    trainer = wf.parser.get_parsed_content("adapt#trainer")
    wf.run()
    assert trainer.state.iteration == ADAPT_TINY["adaptation#iterations"]
    batch = trainer.state.batch  # decollated: one dictionary per patch
    channels = 2 if BUNDLES[name].noise_level_map else 1
    assert len(batch) == 2 and all(item["image"].shape == (channels, 32, 32) for item in batch), "patches of one volume"
    assert all(item["label"].shape == (1, 32, 32) for item in batch)
    assert np.isfinite(float(trainer.state.output[0]["loss"]))
    saved = torch.load(adapted / "models" / "model.pt", weights_only=True)
    changed = [k for k in shipped if k.endswith("weight") and not torch.equal(saved[k], shipped[k])]
    assert changed, "adaptation changes the weights"
    assert (adapted / "logs").is_dir()
    infer = workflow(bundle, ["inference"], "infer", dataset_dir=str(noisy_scans), output_dir=str(tmp_path / "den"),
                     ckpt_path=str(adapted / "models" / "model.pt"))
    infer.run()
    assert nib.load(str(tmp_path / "den" / "run.nii.gz")).shape == (40, 36, 6, 3)


def test_adapt_uses_the_given_noise_level_in_the_scans_units_instead_of_the_estimate(noisy_scans, tmp_path):
    def input_levels(**overrides) -> set[float]:
        wf = workflow(UNET_BUNDLE, ["adapt"], "train", dataset_dir=str(noisy_scans), output_dir=str(tmp_path),
                      **ADAPT_TINY, **overrides)
        dataset = wf.parser.get_parsed_content("adapt#dataset")
        return {round(sample["noise_sigma"], 6) for index in range(len(dataset)) for sample in dataset[index]}

    wf = workflow(UNET_BUNDLE, ["adapt"], "train", dataset_dir=str(noisy_scans), output_dir=str(tmp_path))
    load = Compose(wf.parser.get_parsed_content("loading"))
    scales = [scan_scale(load({"image": str(path)})["image"]) for path in sorted(noisy_scans.glob("*.nii.gz"))]
    expected = {round(3.0 / scale * math.sqrt(1.25), 6) for scale in scales}
    assert len(expected) == 2 and input_levels(noise_level=3.0) == expected, (
        "the pair's input level: the given sigma (scan units) over each scan's normalisation span")
    estimated = input_levels()
    assert len(estimated) == 2 and all(0.02 < s < 0.2 for s in estimated), (
        f"one estimate per scan, on the normalised scale: {estimated}")


def test_adapt_starts_from_the_given_weights(noisy_scans, tmp_path):
    shipped = torch.load(UNET_BUNDLE / "models" / "model.pt", weights_only=True)
    wf = workflow(UNET_BUNDLE, ["adapt"], "train", dataset_dir=str(noisy_scans), output_dir=str(tmp_path),
                  **{**ADAPT_TINY, "adaptation#learning_rate": 0.0})
    wf.run()
    saved = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    learned = [k for k in shipped if "running_" not in k and "num_batches_tracked" not in k]
    assert learned and all(torch.equal(saved[k], shipped[k]) for k in learned), "with no learning: the given weights"


def test_patches_are_square_so_rotated_patches_collate(noisy_scans, tmp_path):
    """Square patches keep their shape under the 90-degree rotations, so every batch collates."""
    wf = workflow(UNET_BUNDLE, ["adapt"], "train", dataset_dir=str(noisy_scans), output_dir=str(tmp_path),
                  **{**ADAPT_TINY, "adaptation#patches_per_volume": 16})
    dataset = wf.parser.get_parsed_content("adapt#dataset")
    assert {tuple(sample["image"].shape) for sample in dataset[0]} == {(1, 32, 32)}


@pytest.mark.parametrize("stop", ["error", "terminate"])
def test_a_failed_or_stopped_adaptation_leaves_the_previous_weights_in_place(stop, noisy_scans, tmp_path):
    """Only a completed run writes models/model.pt: an error or a stop part-way keeps what an earlier run wrote."""
    previous = tmp_path / "models" / "model.pt"
    previous.parent.mkdir()
    previous.write_bytes((UNET_BUNDLE / "models" / "model.pt").read_bytes())
    wf = workflow(UNET_BUNDLE, ["adapt"], "train", dataset_dir=str(noisy_scans), output_dir=str(tmp_path), **ADAPT_TINY)
    trainer = wf.parser.get_parsed_content("adapt#trainer")

    def interrupt(engine):
        if stop == "terminate":
            engine.terminate()
        else:
            raise RuntimeError("interrupted at iteration 2")

    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=2), interrupt)
    if stop == "terminate":
        wf.run()
        assert trainer.state.iteration == 2
    else:
        with pytest.raises(RuntimeError) as failure:
            wf.run()
        assert "interrupted at iteration 2" in str(failure.value.__cause__), "the run fails with the handler's error"
    assert previous.read_bytes() == (UNET_BUNDLE / "models" / "model.pt").read_bytes()


def test_a_given_noise_level_is_in_the_scans_own_units():
    """``--noise_level 40`` on a CT scan in HU means 40 HU: divided by the normalisation's span, not taken as is."""
    from monai_denoise.transforms import WindowNormalize

    scan = WindowNormalize(-1000.0, 1000.0)(torch.zeros(1, 16, 16, 1))
    assert NoiseLeveld("image", noise_level=40.0)({"image": scan})["noise_sigma"] == pytest.approx(0.02)
    assert NoiseLeveld("image", noise_level=0.02)({"image": torch.zeros(1, 16, 16, 1)})["noise_sigma"] == 0.02


def test_the_poisson_gaussian_fit_recovers_the_noise_of_a_radiograph():
    from monai_denoise.transforms import poisson_gaussian_fit

    rng = np.random.default_rng(0)
    signal = np.tile(np.linspace(0.05, 1.0, 256), (256, 1))
    photons, electronic = 500.0, 0.01
    noisy = rng.poisson(signal * photons) / photons + rng.normal(0, electronic, signal.shape)
    a, b = poisson_gaussian_fit(noisy[None])
    assert a == pytest.approx(1 / photons, rel=0.15) and b == pytest.approx(electronic**2, abs=5e-5)
    saturated = np.minimum(noisy, 0.8)  # a detector (or a file's bit depth) clipping the brightest fifth
    a, b = poisson_gaussian_fit(saturated[None])
    assert a == pytest.approx(1 / photons, rel=0.2) and b == pytest.approx(electronic**2, abs=1e-4)
    assert poisson_gaussian_fit(np.full((1, 32, 32), 0.3)) == (0.0, 0.0)


@pytest.mark.parametrize("recorruption", ["local", "signal_dependent"])
def test_recorrupted_pairs_follow_noise_that_varies_across_the_image(recorruption):
    """The fresh noise is stronger where the scan's noise is: bright (radiographs) or a noisier region (CT)."""
    rng = np.random.default_rng(1)
    signal = np.full((128, 128), 0.2, dtype=np.float32)
    signal[:, 64:] = 0.8
    if recorruption == "signal_dependent":
        noisy = rng.poisson(signal * 200.0) / 200.0
    else:
        noisy = signal + rng.normal(0, 1, signal.shape) * np.where(np.arange(128) < 64, 0.01, 0.05)
    item = NoiseLeveld("image", recorruption=recorruption)({"image": torch.as_tensor(noisy[None], dtype=torch.float32)})
    halves = []
    for half in (slice(0, 64), slice(64, 128)):
        patch = {"image": item["image"][:, :, half], "noise_sigma": item["noise_sigma"]}
        out = Recorruptd("image", alpha=1.0, recorruption=recorruption).set_random_state(0)(patch)
        halves.append(float((out["image"] - out["label"]).std()) / 2)  # (y + z) - (y - z) = 2 z
    expected = ((0.2 / 200) ** 0.5, (0.8 / 200) ** 0.5) if recorruption == "signal_dependent" else (0.01, 0.05)
    assert halves == pytest.approx(expected, rel=0.2)


def test_saturated_pixels_get_no_fresh_noise():
    """A saturated detector region holds no noise: fresh noise there would teach the network to invent it."""
    rng = np.random.default_rng(2)
    noisy = np.minimum(rng.poisson(np.tile(np.linspace(0.2, 1.6, 64), (64, 1)) * 300.0) / 300.0, 1.0)
    item = NoiseLeveld("image", recorruption="signal_dependent")({"image": torch.as_tensor(noisy[None]).float()})
    assert item["noise_sigma"][3] == 1.0, "the saturation bound is found"
    out = Recorruptd("image", recorruption="signal_dependent").set_random_state(0)(item)
    saturated = torch.as_tensor(noisy[None] == 1.0)
    assert bool(saturated.any()) and bool((out["image"] - out["label"])[saturated].eq(0).all())
    assert float((out["image"] - out["label"])[~saturated].abs().mean()) > 0.01
