"""Feature maps, the VAE latent space and a bundle's figures on tiny networks and data."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from conftest import TINY
from monai.networks.nets import UNet

from monai_denoise.errors import DataError
from monai_denoise.networks import DenoisingVAE, DnCNN, ResidualDenoiser
from monai_denoise.visualise import active_latent_channels, feature_maps, latent_space, visualise_bundle
from monai_denoise.workflows import run_workflow


def no_hooks(network: torch.nn.Module) -> bool:
    return not any(module._forward_hooks for module in network.modules())


def small_vae() -> DenoisingVAE:
    torch.manual_seed(0)
    return DenoisingVAE(latent_channels=2, channels=(4, 8), strides=(2, 2))


def test_feature_maps_default_layers_spread_through_the_network_in_forward_order(tmp_path):
    network = DnCNN(channels=8, depth=10).train()
    names = feature_maps(network, torch.rand(1, 1, 32, 32), tmp_path / "maps.png")
    assert names == [f"body.{i}.conv" for i in (0, 2, 4, 5, 7, 9)]
    assert (tmp_path / "maps.png").stat().st_size > 1000
    assert no_hooks(network) and network.training, "hooks removed and training mode restored"


def test_feature_maps_of_named_unet_layers(tmp_path):
    network = ResidualDenoiser(UNet(2, 1, 1, channels=(4, 8, 16), strides=(2, 2), num_res_units=1))
    layers = ["backbone.model.0", "backbone.model.1", "backbone.model.2"]
    assert feature_maps(network, torch.rand(1, 1, 32, 32), tmp_path / "maps.png", layers, max_channels=2) == layers
    assert (tmp_path / "maps.png").stat().st_size > 1000 and no_hooks(network)
    with pytest.raises(DataError, match="backbone.nope"):
        feature_maps(network, torch.rand(1, 1, 32, 32), tmp_path / "bad.png", ["backbone.nope"])
    with pytest.raises(DataError, match=r"\(1, C, H, W\)"):
        feature_maps(network, torch.rand(2, 1, 32, 32), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_feature_maps_of_a_network_with_a_noise_level_map(tmp_path):
    network = ResidualDenoiser(UNet(2, 2, 1, channels=(4, 8, 16), strides=(2, 2), num_res_units=1))
    image = torch.cat([torch.rand(1, 1, 32, 32), torch.full((1, 1, 32, 32), 0.05)], dim=1)
    assert feature_maps(network, image, tmp_path / "maps.png", ["backbone.model.0"]) == ["backbone.model.0"]
    assert (tmp_path / "maps.png").stat().st_size > 1000


def test_feature_maps_removes_hooks_when_the_forward_pass_fails(tmp_path):
    vae = small_vae()
    with pytest.raises(ValueError):
        feature_maps(vae, torch.rand(1, 1, 18, 18), tmp_path / "maps.png")  # not divisible by the VAE's stride 4
    assert no_hooks(vae) and vae.training


def test_latent_space_projects_posterior_means_and_decodes_seeded_samples(tmp_path):
    vae, noisy = small_vae().train(), torch.rand(6, 1, 32, 32)
    labels = ["sub-01"] * 3 + ["sub-02"] * 3
    table = latent_space(vae, noisy, labels, tmp_path / "a.png", samples=5)
    assert list(table.columns) == ["label", "pc1", "pc2", "active_channels"] and table.label.tolist() == labels
    assert table.active_channels.between(0, 2).all() and table.active_channels.nunique() == 1
    assert table[["pc1", "pc2"]].map(math.isfinite).all().all()
    assert table.pc1.mean() == pytest.approx(0, abs=1e-9) and table.pc1.std() > 0
    assert vae.training, "training mode restored"
    pd.testing.assert_frame_equal(latent_space(vae, noisy, labels, tmp_path / "b.png", samples=5), table)
    latent_space(vae, noisy, labels, tmp_path / "c.png", samples=5, seed=1)
    pictures = [(tmp_path / f"{n}.png").read_bytes() for n in "abc"]
    assert len(pictures[0]) > 1000 and pictures[0] == pictures[1] != pictures[2], "samples drawn from the seed"


def test_latent_space_wants_windows_the_vae_can_encode(tmp_path):
    with pytest.raises(DataError, match=r"h, w divisible by 4, got \(4, 1, 30, 30\)"):
        latent_space(small_vae(), torch.rand(4, 1, 30, 30), ["a"] * 4, tmp_path / "latent.png")
    with pytest.raises(DataError, match="3 labels for 4 images"):
        latent_space(small_vae(), torch.rand(4, 1, 32, 32), ["a"] * 3, tmp_path / "latent.png")


def test_active_latent_channels_count_channels_whose_means_vary_across_images():
    mu = torch.zeros(10, 3, 4, 4)
    mu[:, 0] = torch.arange(10.0)[:, None, None]
    mu[:, 1] = 0.01 * torch.arange(10.0)[:, None, None]
    assert active_latent_channels(mu) == 1, "channel 0 varies, channel 1 barely, channel 2 is collapsed"


@pytest.mark.parametrize("bundle, figures", [
    ("mri_denoising_unet", {"feature_maps"}),
    ("mri_denoising_vae", {"feature_maps", "latent_space", "latent_space_csv"}),
])
def test_visualise_bundle_after_one_epoch(tiny_dataset, tmp_path, bundle, figures):
    run_workflow(bundle, ["train"], "train", dataset_dir=str(tiny_dataset), output_dir=str(tmp_path / "train"),
                 epochs=1, **TINY)
    written = visualise_bundle(bundle, tmp_path / "train" / "models" / "model.pt", tiny_dataset, tmp_path / "figures",
                               overrides=TINY)
    assert set(written) == figures and all(path.parent == tmp_path / "figures" for path in written.values())
    assert all(path.stat().st_size > 100 for path in written.values())
    if "latent_space_csv" in written:
        table = pd.read_csv(written["latent_space_csv"])
        datalist = json.loads((tiny_dataset / "datalist.json").read_text())
        assert table.label.value_counts().to_dict() == {split: len(datalist[split]) for split in ("test", "validation")}
        assert table[["pc1", "pc2"]].map(math.isfinite).all().all()


def test_visualise_bundle_without_weights_names_the_file(tiny_dataset, tmp_path):
    with pytest.raises(DataError, match="missing.pt: weights not found"):
        visualise_bundle("mri_denoising_unet", tmp_path / "missing.pt", tiny_dataset, tmp_path / "figures")
