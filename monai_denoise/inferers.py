"""Slice-by-slice inference over 3D volumes and 4D series, and noise-level conditioning at inference."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from monai.inferers import Inferer, SliceInferer

from .errors import DataError
from .transforms.noise_level import NoiseLevel


class FramewiseSliceInferer(SliceInferer):
    """Run a single-channel 2D network over every slice of every frame of ``(B, T, X, Y, Z)`` input.

    The T frames of a 4D series (T = 1 for a 3D volume) are folded into the batch, each frame is
    processed slice by slice along ``spatial_dim`` with MONAI's ``SliceInferer`` (sliding windows of
    ``roi_size`` within a slice), and the output has the input's shape ``(B, T, X, Y, Z)``.

    Args:
        window_multiple: where a slice side is shorter than ``roi_size``, shrink the window to that side
            rounded up to a multiple of this (the network's size divisor) instead of padding the slice
            to ``roi_size``: a 128x96 EPI slice then runs as one 128x96 window, not one 192x192 window.
            Default None: MONAI's behaviour (pad to ``roi_size``), for networks with a fixed input size.
        args, kwargs: passed to ``SliceInferer`` (``spatial_dim``, ``roi_size``, ``sw_batch_size``, ...).
    """

    def __init__(self, *args: Any, window_multiple: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if window_multiple is not None and window_multiple < 1:
            raise ValueError(f"window_multiple must be a positive integer or None, got {window_multiple}")
        self.window_multiple = window_multiple

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        batch, frames, *spatial = inputs.shape
        folded = inputs.reshape(batch * frames, 1, *spatial)
        out = SliceInferer.__call__(self._fitted(spatial), folded, network, *args, **kwargs)
        return out.reshape(batch, frames, *spatial)

    def _fitted(self, spatial: list[int]) -> SliceInferer:
        """This inferer, or a copy whose window is shrunk to the slice (see ``window_multiple``)."""
        if self.window_multiple is None:
            return self
        plane = [s for d, s in enumerate(spatial) if d != self.spatial_dim]
        multiple = self.window_multiple
        roi = tuple(min(r, -(-s // multiple) * multiple) for r, s in zip(self.orig_roi_size, plane, strict=True))
        if roi == tuple(self.orig_roi_size):
            return self
        fitted = copy.copy(self)
        fitted.orig_roi_size = roi
        return fitted


class NoiseLevelInferer(Inferer):
    """Run ``inferer`` with a network that takes the noisy image plus a noise level map as its last channel.

    The network of a noise-level-conditioned bundle expects ``(N, C + 1, ...)`` input (see
    :class:`~monai_denoise.transforms.NoiseLevelMap`); this inferer takes ``(B, C, ...)`` images and adds
    the map to every window ``inferer`` passes to the network, so any inferer (whole image, sliding
    windows, slice by slice) works unchanged.

    Args:
        inferer: the inferer that runs the network, e.g. ``SimpleInferer`` or ``FramewiseSliceInferer``.
        noise_level: the noise standard deviation on the input's (normalised) scale, or ``"estimate"`` to
            estimate it from the input of each call with :func:`~monai_denoise.transforms.estimate_noise_sigma`
            (the median over images and frames, logged). Default ``"estimate"``.
    """

    def __init__(self, inferer: Inferer, noise_level: float | str = "estimate") -> None:
        self.inferer = inferer
        self.level = NoiseLevel(noise_level)

    @property
    def noise_level(self) -> float | str:
        """The configured noise level: a sigma, or ``"estimate"``."""
        return self.level.noise_level

    def sigma(self, inputs: torch.Tensor) -> float:
        """The noise level used for ``inputs`` (``(B, C, ...)``): the configured one, or the median estimate."""
        return self.level(inputs.detach().float().cpu().flatten(0, 1))

    @staticmethod
    def append_map(x: torch.Tensor, sigma: float) -> torch.Tensor:
        """``(N, C, ...)`` -> ``(N, C + 1, ...)``, the last channel filled with ``sigma``: the network's input."""
        return torch.cat([x, torch.full_like(x[:, :1], sigma)], dim=1)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        sigma = self.sigma(inputs)

        def conditioned(x: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
            return network(self.append_map(x, sigma), *a, **k)

        return self.inferer(inputs, conditioned, *args, **kwargs)


class DihedralEnsembleInferer(Inferer):
    """Run ``inferer`` with the network's output averaged over symmetries of the square (test-time augmentation:
    the "x8" self-ensemble of DRUNet and other image restoration work).

    Every window ``inferer`` passes to the network, ``(N, C, ..., H, W)``, is flipped and turned by quarter turns in
    its last two axes, denoised, turned and flipped back, and the outputs are averaged. The simulated noise has no
    preferred orientation, so each transformed prediction is about as good as the plain one and their errors partly
    cancel (+0.1 to +0.3 dB on the CT and radiograph test images). A window with H != W also passes to the network
    as ``(W, H)``, which fully convolutional networks accept.

    Args:
        inferer: the inferer that runs the network, e.g. ``SimpleInferer`` or ``FramewiseSliceInferer``.
        symmetries: how many to average, each one network call per window: 1 (the plain network), 2 (with a
            left-right flip), 4 (the four quarter turns) or 8 (quarter turns, each with and without the flip).
            Default 8.
    """

    SYMMETRIES: ClassVar[dict[int, tuple[tuple[bool, int], ...]]] = {
        1: ((False, 0),), 2: ((False, 0), (True, 0)), 4: tuple((False, t) for t in range(4)),
        8: tuple((f, t) for f in (False, True) for t in range(4))}
    """Allowed ``symmetries`` -> the (flip, quarter turns) pairs averaged."""

    def __init__(self, inferer: Inferer, symmetries: int = 8) -> None:
        if symmetries not in self.SYMMETRIES:
            raise DataError(f"self_ensemble (the symmetries averaged) must be one of {sorted(self.SYMMETRIES)}, got "
                            f"{symmetries!r}; set 1 for the plain network or 8 for flips and quarter turns")
        self.inferer, self.symmetries = inferer, symmetries

    def ensemble(self, x: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The mean of ``network`` over the symmetries of ``x``'s last two axes, each undone on its output."""
        plane = (-2, -1)
        total = None
        for flip, turns in self.SYMMETRIES[self.symmetries]:
            view = torch.rot90(x.flip(-1) if flip else x, turns, plane)
            out = torch.rot90(network(view, *args, **kwargs), -turns, plane)
            out = out.flip(-1) if flip else out
            total = out if total is None else total + out
        return total / self.symmetries

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.symmetries == 1:
            return self.inferer(inputs, network, *args, **kwargs)

        def ensembled(x: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
            return self.ensemble(x, network, *a, **k)

        return self.inferer(inputs, ensembled, *args, **kwargs)
