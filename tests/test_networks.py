"""Denoising networks: shapes in 2D and 3D, TorchScript round trips, argument checks and specific behaviour."""

from __future__ import annotations

import io

import pytest
import torch

from monai_denoise.losses import VAELoss
from monai_denoise.networks import ConvAutoEncoder, DenoisingVAE, DnCNN, DRUNet, ResNetAutoEncoder

SPATIAL_SIZE = {2: (32, 32), 3: (16, 16, 16)}
IN_CHANNELS = 2


def small_vae(spatial_dims: int, out_channels: int = 3) -> DenoisingVAE:
    return DenoisingVAE(spatial_dims, in_channels=IN_CHANNELS, out_channels=out_channels, latent_channels=4,
                        channels=(4, 8), strides=(2, 2))


# name -> (factory taking spatial_dims, expected output channels); tiny but structurally complete networks.
NETWORKS = {
    "cae": (lambda d: ConvAutoEncoder(d, IN_CHANNELS, 3, channels=(4, 8)), 3),
    "resnet_ae": (lambda d: ResNetAutoEncoder(d, IN_CHANNELS, 3, channels=4, num_blocks=2), 3),
    "dncnn": (lambda d: DnCNN(d, IN_CHANNELS, IN_CHANNELS, channels=4, depth=4), IN_CHANNELS),
    "drunet": (lambda d: DRUNet(d, IN_CHANNELS, 3, channels=(4, 8, 16), num_res_blocks=1), 3),
    "vae": (small_vae, 3),
}


def batch(spatial_dims: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, IN_CHANNELS, *SPATIAL_SIZE[spatial_dims], generator=generator)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", NETWORKS)
def test_output_shape(name, spatial_dims):
    factory, out_channels = NETWORKS[name]
    net = factory(spatial_dims).eval()
    with torch.no_grad():
        output = net(batch(spatial_dims))
    assert output.shape == (2, out_channels, *SPATIAL_SIZE[spatial_dims])


@pytest.mark.parametrize("name", NETWORKS)
def test_torchscript_round_trip(name):
    net = NETWORKS[name][0](2).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(net), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer).eval()
    x = batch(2)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x), atol=1e-6)


def test_vae_traces_in_eval_mode():
    net = small_vae(2).eval()
    x = batch(2)
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.trace(net, x), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    with torch.no_grad():
        assert torch.allclose(loaded(batch(2, seed=1)), net(batch(2, seed=1)), atol=1e-6)


@pytest.mark.parametrize(
    "network, kwargs, message",
    [
        (ConvAutoEncoder, {"spatial_dims": 1}, "spatial_dims"),
        (ConvAutoEncoder, {"channels": ()}, "channels"),
        (ResNetAutoEncoder, {"num_blocks": 0}, "num_blocks"),
        (ResNetAutoEncoder, {"channels": 0}, "positive"),
        (DnCNN, {"depth": 2}, "depth"),
        (DnCNN, {"in_channels": 1, "out_channels": 2}, "out_channels must equal in_channels"),
        (DRUNet, {"channels": ()}, "channels"),
        (DRUNet, {"num_res_blocks": 0}, "num_res_blocks"),
        (DenoisingVAE, {"latent_channels": 0}, "latent_channels"),
        (DenoisingVAE, {"spatial_dims": 1}, "spatial_dims"),
        (DenoisingVAE, {"strides": (2, 2, 2)}, "equal length"),
    ],
)
def test_bad_arguments_are_refused(network, kwargs, message):
    with pytest.raises(ValueError, match=message):
        network(**kwargs)


def test_cae_output_is_in_unit_interval():
    net = ConvAutoEncoder(channels=(4, 8)).eval()
    with torch.no_grad():
        output = net(10 * torch.randn(2, 1, 32, 32))
    assert output.min() > 0 and output.max() < 1


def test_dncnn_subtracts_its_noise_estimate():
    net = DnCNN(channels=4, depth=4).eval()
    last_conv = net.body[-1].conv
    with torch.no_grad():
        last_conv.weight.zero_()
        last_conv.bias.zero_()
        x = torch.rand(2, 1, 32, 32)
        assert torch.equal(net.estimate_noise(x), torch.zeros_like(x))
        assert torch.equal(net(x), x)


@pytest.mark.parametrize("output_act, function", [("RELU", torch.relu), ("SIGMOID", torch.sigmoid)])
def test_vae_output_activation_is_applied_to_the_linear_decoding(output_act, function):
    def vae(act):
        torch.manual_seed(0)
        return DenoisingVAE(2, in_channels=1, out_channels=1, latent_channels=4, channels=(8, 16), strides=(2, 2),
                            output_act=act).eval()

    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        linear, activated = vae(None)(x), vae(output_act)(x)
    assert float(linear.min()) < 0, "the linear decoding must go below 0 for the test to mean anything"
    assert torch.allclose(activated, function(linear))


def test_vae_returns_tuple_in_training_and_posterior_mean_reconstruction_in_eval():
    net = small_vae(2)
    x = batch(2)
    reconstruction, mu, logvar, z = net.train()(x)
    assert reconstruction.shape == (2, 3, 32, 32)
    assert mu.shape == logvar.shape == z.shape == (2, 4, 8, 8), "a spatial latent at 1 / total stride"
    assert not torch.equal(z, mu) and float((z - mu).abs().max()) < 1.0, "sampled near the mean at the start"
    net.eval()
    with torch.no_grad():
        output = net(x)
        assert isinstance(output, torch.Tensor)
        assert torch.equal(output, net.decode(net.encode(x)[0]))
        assert torch.equal(output, net(x))
        assert net(torch.rand(1, IN_CHANNELS, 48, 20)).shape == (1, 3, 48, 20), "any size divisible by 4"
        with pytest.raises(ValueError, match="divisible by the total stride 4"):
            net(torch.rand(1, IN_CHANNELS, 30, 32))


@pytest.mark.parametrize("name", NETWORKS)
def test_gradients_reach_every_parameter(name):
    net = NETWORKS[name][0](2).train()
    x = batch(2)
    output = net(x)
    loss = VAELoss()(output, torch.rand_like(output[0])) if name == "vae" else output.square().mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
