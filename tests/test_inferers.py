"""FramewiseSliceInferer: slice-by-slice over 3D volumes and 4D series, windows fitted to small slices."""

from __future__ import annotations

import pytest
import torch

from monai_denoise.inferers import FramewiseSliceInferer


class ShapeRecorder(torch.nn.Module):
    """A single 3x3 convolution (zero padding) that records the window shapes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.conv(x)


def inferer(window_multiple: int | None) -> FramewiseSliceInferer:
    return FramewiseSliceInferer(spatial_dim=2, roi_size=(192, 192), sw_batch_size=8, overlap=0.25, mode="gaussian",
                                 window_multiple=window_multiple)


@torch.no_grad()
def test_a_small_slice_runs_as_one_window_of_its_own_size_with_the_same_result():
    series = torch.rand(1, 2, 128, 96, 3)  # (B, T, X, Y, Z): two frames of three 128x96 slices
    network = ShapeRecorder().eval()

    fitted = inferer(16)(series, network)
    fitted_shapes = set(network.shapes)
    network.shapes.clear()
    padded = inferer(None)(series, network)

    assert fitted_shapes == {(6, 1, 128, 96)}
    assert set(network.shapes) == {(6, 1, 192, 192)}
    assert fitted.shape == padded.shape == series.shape
    torch.testing.assert_close(fitted, padded, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fitted, network.conv(series[0].permute(0, 3, 1, 2).reshape(6, 1, 128, 96))
                               .reshape(2, 3, 128, 96).permute(0, 2, 3, 1)[None], rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_only_the_short_side_shrinks_to_a_multiple_of_the_divisor():
    volume = torch.rand(1, 1, 300, 50, 2)
    network = ShapeRecorder().eval()

    out = inferer(16)(volume, network)

    assert out.shape == volume.shape
    assert {shape[2:] for shape in network.shapes} == {(192, 64)}


def test_window_multiple_must_be_positive():
    with pytest.raises(ValueError, match="window_multiple must be a positive integer or None, got 0"):
        inferer(0)
