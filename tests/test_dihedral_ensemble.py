"""DihedralEnsembleInferer: the x8 self-ensemble averages the network over flips and quarter turns, undone."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import SimpleInferer

from monai_denoise.console import data_error
from monai_denoise.errors import DataError
from monai_denoise.inferers import DihedralEnsembleInferer, FramewiseSliceInferer
from monai_denoise.workflows import parse


class FirstRowMarker(torch.nn.Module):
    """Adds 8 to the window's first row and records the window shapes: not equivariant to any turn or flip."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        out = x.clone()
        out[..., 0, :] += 8.0
        return out


@pytest.mark.parametrize("symmetries", [1, 2, 4, 8])
def test_each_symmetry_is_undone_on_the_output(symmetries):
    x = torch.rand(2, 1, 6, 10)
    network = FirstRowMarker()
    out = DihedralEnsembleInferer(SimpleInferer(), symmetries)(x, network)

    expected = x.clone()
    for flip, turns in DihedralEnsembleInferer.SYMMETRIES[symmetries]:
        view = torch.rot90(x.flip(-1) if flip else x, turns, (-2, -1))
        back = torch.rot90(network(view), -turns, (-2, -1))
        expected += ((back.flip(-1) if flip else back) - x) / symmetries
    # the marker lands on the edge the transformed window had on top: the input itself, moved to each edge in turn
    assert torch.allclose(out, expected)
    assert out.shape == x.shape
    edges = {1: [8.0, 0, 0, 0], 2: [8.0, 0, 0, 0], 4: [2.0] * 4, 8: [2.0] * 4}[symmetries]
    residual = out - x
    assert [residual[..., 0, 3:-3].mean().item(), residual[..., -1, 3:-3].mean().item(),
            residual[..., 2:-2, 0].mean().item(), residual[..., 2:-2, -1].mean().item()] == pytest.approx(edges)


def test_an_equivariant_network_is_unchanged_and_non_square_windows_pass_turned():
    network = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        network.weight.copy_(torch.tensor([[[[0.0, 1, 0], [1, 4, 1], [0, 1, 0]]]]))  # symmetric under all 8
    recorder = FirstRowMarker()
    x = torch.rand(1, 1, 16, 32)
    with torch.no_grad():
        assert torch.allclose(DihedralEnsembleInferer(SimpleInferer())(x, network), network(x), atol=1e-5)
        DihedralEnsembleInferer(SimpleInferer())(x, recorder)
    assert sorted(set(recorder.shapes)) == [(1, 1, 16, 32), (1, 1, 32, 16)]
    assert len(recorder.shapes) == 8


@torch.no_grad()
def test_it_wraps_the_windows_of_a_slice_inferer():
    volume = torch.rand(1, 1, 40, 40, 3)  # (B, T, X, Y, Z)
    network = torch.nn.Conv2d(1, 1, 3, padding=1)
    slices = FramewiseSliceInferer(spatial_dim=2, roi_size=(32, 32), sw_batch_size=4, overlap=0.25,
                                   mode="gaussian", window_multiple=16)
    plain = slices(volume, network)
    ensembled = DihedralEnsembleInferer(slices)(volume, network)
    assert ensembled.shape == plain.shape == volume.shape
    assert not torch.allclose(ensembled, plain)
    assert torch.equal(DihedralEnsembleInferer(slices, 1)(volume, network), plain)


def test_other_counts_are_refused_with_one_line_naming_the_config_key():
    with pytest.raises(DataError, match="self_ensemble .* must be one of"):
        DihedralEnsembleInferer(SimpleInferer(), 3)
    with pytest.raises(Exception) as raised:  # MONAI wraps it in "Failed to instantiate"; the console unwraps it
        parse("ct_denoising_drunet", ["inference"], self_ensemble=3).get_parsed_content("inferer")
    assert "self_ensemble" in str(data_error(raised.value))


def test_the_ct_and_radiograph_drunets_evaluate_and_infer_ensembled_and_validate_plain():
    for name in ("ct_denoising_drunet", "xray_denoising_drunet"):
        for config in ("evaluate", "inference"):
            parser = parse(name, [config])
            inferer = parser.get_parsed_content("validate#inferer" if config == "evaluate" else "inferer")
            assert isinstance(inferer, DihedralEnsembleInferer) and inferer.symmetries == 8
            plain = parse(name, [config], self_ensemble=1).get_parsed_content(
                "validate#inferer" if config == "evaluate" else "inferer")
            assert plain.symmetries == 1
        assert isinstance(parse(name, ["train"]).get_parsed_content("validate#inferer"), SimpleInferer)
        assert isinstance(parse(name, ["train", "evaluate"]).get_parsed_content("validate#inferer"),
                          DihedralEnsembleInferer)
    assert "self_ensemble" not in parse("mri_denoising_drunet", ["inference"]).get("", {})
