"""LPIPS (Zhang et al., CVPR 2018) through the ``lpips`` package, for single-channel images in [0, 1]."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .errors import DataError


class LPIPSUnavailable(DataError):
    """The ImageNet backbone weights that LPIPS needs are not on this machine."""


def _backbone_weights(net: str):
    from torchvision.models import AlexNet_Weights, SqueezeNet1_1_Weights, VGG16_Weights

    weights = dict(zip(BACKBONES, (AlexNet_Weights.IMAGENET1K_V1, VGG16_Weights.IMAGENET1K_V1,
                                   SqueezeNet1_1_Weights.IMAGENET1K_V1)))
    if net not in weights:
        raise DataError(f"LPIPS backbone must be one of {', '.join(weights)}, got {net!r}")
    return weights[net]


def backbone_weights_path(net: str = "alex") -> Path:
    """Where torchvision looks for the ImageNet weights of the LPIPS backbone ``net`` (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_backbone_weights(net).url)


BACKBONES = ("alex", "vgg", "squeeze")
"""The ImageNet backbones LPIPS can use (torchvision's AlexNet, VGG16, SqueezeNet 1.1); ``alex`` is the default."""


def fetch_backbone(net: str = "alex") -> tuple[Path, bool]:
    """Download the ImageNet weights of the LPIPS backbone ``net`` into the torch hub cache, once: the one download
    a user runs on purpose (``monai-denoise lpips-weights``); every other run reads the cache only.

    Returns:
        (the weights file, whether it was downloaded now; False where it was already there).

    Raises:
        DataError: the download failed (no network): one line with the address, to copy the file by hand.
    """
    path = backbone_weights_path(net)
    if path.is_file():
        return path, False
    try:
        torch.hub.load_state_dict_from_url(_backbone_weights(net).url, progress=True, check_hash=True)
    except Exception as err:  # urllib, ssl and hash errors alike: the file could not be brought here
        raise DataError(f"could not download {_backbone_weights(net).url} ({err}); on a machine with network access "
                        f"run this command again, or copy the file to {path}") from None
    return path, True


def load_lpips_model(net: str = "alex") -> nn.Module:
    """The ``lpips.LPIPS`` model with its ImageNet backbone, loaded only from the local torch hub cache.

    Raises:
        LPIPSUnavailable: the backbone weights are not cached; nothing is downloaded at run time.
    """
    import lpips

    path = backbone_weights_path(net)
    if not path.is_file():
        raise LPIPSUnavailable(
            f"LPIPS needs the ImageNet weights of torchvision's {net} backbone at {path}: run "
            f"'monai-denoise lpips-weights --net {net}' once on a machine with network access (or copy {path.name} "
            f"from {_backbone_weights(net).url} there, or set TORCH_HOME to a folder whose hub/checkpoints/ holds "
            "it); nothing is downloaded at run time")
    return lpips.LPIPS(net=net, pretrained=True, verbose=False).eval()


class LPIPSMetric:
    """Per-image LPIPS distance between single-channel images in [0, 1] (lower is more similar).

    Grayscale images are replicated to 3 channels and mapped to [-1, 1], as LPIPS expects.

    Args:
        model: an LPIPS-like module taking two ``(B, 3, H, W)`` tensors in [-1, 1] and returning
            ``(B, 1, 1, 1)`` distances; default :func:`load_lpips_model` with the AlexNet backbone.
        device: where the model runs. Default CPU.
    """

    def __init__(self, model: nn.Module | None = None, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = (model if model is not None else load_lpips_model()).to(self.device).eval()

    @torch.no_grad()
    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``pred``, ``target``: ``(B, 1, H, W)`` in [0, 1] (``pred`` is clamped); returns ``(B,)``."""
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 1:
            raise ValueError(f"LPIPS expects two (B, 1, H, W) tensors, got {tuple(pred.shape)} and {tuple(target.shape)}")

        def to_rgb(x: torch.Tensor) -> torch.Tensor:
            return (x.clamp(0.0, 1.0) * 2.0 - 1.0).repeat(1, 3, 1, 1).to(self.device)

        return self.model(to_rgb(pred), to_rgb(target)).reshape(-1).cpu()
