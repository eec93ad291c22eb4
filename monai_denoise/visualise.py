"""Look inside trained denoisers: intermediate feature maps of any network, the latent space of the VAE."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from monai.transforms import CenterSpatialCrop  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from torch import nn  # noqa: E402

from .errors import DataError  # noqa: E402
from .networks import DenoisingVAE  # noqa: E402
from .reports import save_figure, write_csv  # noqa: E402
from .workflows import load_network, network_input, noisy_set, parse  # noqa: E402

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
DEFAULT_LAYERS = 6


def _device(network: nn.Module) -> torch.device:
    return next(network.parameters()).device


@torch.no_grad()
def _record_outputs(network: nn.Module, image: torch.Tensor, names: list[str],
                    max_channels: int) -> dict[str, tuple[torch.Tensor, tuple[int, ...]]]:
    """Run ``network`` in eval mode on ``image``; return name -> (first ``max_channels`` channels of the sample,
    full output shape) for each module of ``names`` that produced a tensor, in the order the modules first ran.

    The hooks are removed and the network's training mode restored afterwards, even on error.
    """
    modules = dict(network.named_modules())
    outputs = {}

    def recorder(name: str):
        def hook(module, args, output):
            if name not in outputs and isinstance(output, torch.Tensor):
                outputs[name] = (output[0, :max_channels].detach().float().cpu(), tuple(output.shape))
        return hook

    training = network.training
    handles = [modules[name].register_forward_hook(recorder(name)) for name in names]
    try:
        network.eval()
        network(image.to(_device(network)))
    finally:
        for handle in handles:
            handle.remove()
        network.train(training)
    return outputs


def feature_maps(network: nn.Module, image: torch.Tensor, path: str | Path, layers: list[str] | None = None,
                 max_channels: int = 8) -> list[str]:
    """Plot the outputs of intermediate layers of ``network`` for one slice, saved as PNG at ``path``.

    Args:
        network: any module taking ``(1, C, H, W)`` images (e.g. a bundle's ``network_def``).
        image: ``(1, C, H, W)`` network input, e.g. a noisy slice in [0, 1] (and its noise level map, the
            channels after the first, which is the one shown).
        path: the PNG to write.
        layers: module names (as in ``network.named_modules()``) whose outputs to show, each a
            ``(1, C, h, w)`` tensor. Default None: up to 6 convolution or transposed-convolution modules
            sampled evenly from all of them in the order they run.
        max_channels: the first ``max_channels`` channels of each output are shown. Default 8.

    The figure has one row per layer (its first channels, titled with the name and output shape) and the
    input in the first column. Returns the layer names shown, in forward order. Forward hooks are used and
    always removed; the network runs once in eval mode without gradients and its mode is restored.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise DataError(f"feature_maps: image must be (1, C, H, W), got {tuple(image.shape)}")
    if max_channels < 1:
        raise DataError(f"feature_maps: max_channels must be at least 1, got {max_channels}")
    modules = dict(network.named_modules())
    if layers is None:
        names = [name for name, module in modules.items() if isinstance(module, CONVOLUTIONS)]
        if not names:
            raise DataError(f"feature_maps: {type(network).__name__} has no convolution; name the layers to show")
    else:
        unknown = [name for name in layers if not name or name not in modules]
        if unknown:
            raise DataError(f"feature_maps: {unknown} are not submodules of {type(network).__name__} "
                            f"(e.g. {list(modules)[1:6]})")
        names = list(layers)
    outputs = _record_outputs(network, image, names, max_channels)
    if layers is None:
        ran = list(outputs)
        if not ran:
            raise DataError(f"feature_maps: no convolution of {type(network).__name__} ran; name the layers to show")
        picks = np.unique(np.linspace(0, len(ran) - 1, min(DEFAULT_LAYERS, len(ran))).round().astype(int))
        outputs = {ran[i]: outputs[ran[i]] for i in picks}
    else:
        for name in names:
            if name not in outputs or len(outputs[name][1]) != 4:
                shape = outputs[name][1] if name in outputs else "no tensor"
                raise DataError(f"feature_maps: layer {name!r} gave {shape}, not a (1, C, h, w) tensor")

    columns = 1 + max_channels
    fig, axes = plt.subplots(len(outputs), columns, figsize=(1.5 * columns, 1.7 * len(outputs)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    axes[0, 0].imshow(image[0, 0].detach().cpu().numpy().T, cmap="gray", origin="lower")
    axes[0, 0].set_title(f"input {tuple(image.shape)}", fontsize=8, loc="left")
    for row, (name, (maps, shape)) in zip(axes, outputs.items()):
        for ax, channel in zip(row[1:], maps):
            ax.imshow(channel.numpy().T, cmap="gray", origin="lower")
        row[1].set_title(f"{name} {shape}", fontsize=8, loc="left")
    save_figure(fig, path)
    return list(outputs)


def _mosaic(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """``(N, H, W)`` images tiled row by row in a near-square grid, first image top left, for
    ``imshow(origin="lower")``: each tile is transposed as :func:`monai_denoise.reports.plot_panels` shows a slice.
    Pixels between tiles are NaN."""
    n, height, width = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = np.full((rows * (width + gap) - gap, cols * (height + gap) - gap), np.nan)
    for i, image in enumerate(images):
        y = (rows - 1 - i // cols) * (width + gap)
        x = (i % cols) * (height + gap)
        canvas[y:y + width, x:x + height] = image.T
    return canvas


ACTIVE_UNIT_VARIANCE = 0.01
"""A latent unit is active when its posterior mean varies across images by more than this variance (Burda et al.,
Importance Weighted Autoencoders, ICLR 2016); a collapsed posterior has none."""

LATENT_WINDOW = [64, 64]
"""Size of the windows whose latent codes :func:`visualise_bundle` compares (centre crops of the slices)."""


def active_latent_channels(mu: torch.Tensor) -> int:
    """Latent channels of ``mu`` ``(N, C, h, w)`` whose elements are active on average over their positions."""
    return int((mu.double().var(dim=0).flatten(1).mean(1) > ACTIVE_UNIT_VARIANCE).sum())


@torch.no_grad()
def latent_space(vae: DenoisingVAE, noisy: torch.Tensor, labels: list[str], path: str | Path, samples: int = 16,
                 seed: int = 0) -> pd.DataFrame:
    """The VAE's latent space: a 2D PCA of posterior means and images decoded from random codes, saved as PNG.

    Args:
        vae: a :class:`monai_denoise.networks.DenoisingVAE`.
        noisy: ``(N, C, h, w)`` windows of one size (divisible by the VAE's total stride), N >= 2; centre-crop or
            tile larger slices first.
        labels: N labels (e.g. source volume or split) that colour the scatter plot.
        path: the PNG to write: the PCA scatter of the posterior means ``mu`` (each window's latent feature map,
            flattened) and a grid of ``samples`` windows decoded from codes ``z ~ N(0, I)`` of the same shape;
            the title counts the active latent channels (:func:`active_latent_channels`).
        samples: number of decoded random codes. Default 16.
        seed: seed of the torch generator that draws the random codes. Default 0.

    Returns a table with columns label, pc1, pc2 (the PCA coordinates of each window) and active_channels (the
    same count on every row). The VAE runs in eval mode without gradients and its mode is restored.
    """
    if noisy.ndim != 4 or len(noisy) < 2 or any(size % vae.total_stride for size in noisy.shape[2:]):
        raise DataError(f"latent_space: noisy must be (N, C, h, w) windows with N >= 2 and h, w divisible by "
                        f"{vae.total_stride}, got {tuple(noisy.shape)}")
    if len(labels) != len(noisy):
        raise DataError(f"latent_space: {len(labels)} labels for {len(noisy)} images")
    if samples < 1:
        raise DataError(f"latent_space: samples must be at least 1, got {samples}")
    device = _device(vae)
    training = vae.training
    try:
        vae.eval()
        mu = torch.cat([vae.encode(part.to(device))[0].cpu() for part in noisy.split(64)])
        codes = torch.randn(samples, *mu.shape[1:], generator=torch.Generator().manual_seed(seed))
        decoded = vae.decode(codes.to(device)).cpu()
    finally:
        vae.train(training)
    active = active_latent_channels(mu)
    pca = PCA(n_components=2, svd_solver="full")
    coords = pca.fit_transform(mu.flatten(1).double().numpy())
    table = pd.DataFrame({"label": list(labels), "pc1": coords[:, 0], "pc2": coords[:, 1], "active_channels": active})

    fig, (ax_pca, ax_samples) = plt.subplots(1, 2, figsize=(11, 5))
    for label, group in table.groupby("label", sort=False):
        ax_pca.scatter(group.pc1, group.pc2, s=14, alpha=0.8, label=str(label))
    variance = pca.explained_variance_ratio_ * 100
    ax_pca.set(xlabel=f"PC 1 ({variance[0]:.0f}% of variance)", ylabel=f"PC 2 ({variance[1]:.0f}% of variance)",
               title=f"Posterior means of {len(table)} windows ({active} of {mu.shape[1]} latent channels active)")
    ax_pca.grid(alpha=0.3)
    ax_pca.legend(fontsize=8)
    ax_samples.imshow(_mosaic(decoded[:, 0].clamp(0, 1).numpy()), cmap="gray", vmin=0, vmax=1, origin="lower")
    ax_samples.set_title(f"{samples} images decoded from z ~ N(0, I)")
    ax_samples.set_axis_off()
    save_figure(fig, path)
    return table


def _centre_crops(images: torch.Tensor, roi_size: list[int]) -> torch.Tensor:
    """``(N, 1, H, W)`` -> ``(N, 1, *roi_size)`` centre crops."""
    return torch.as_tensor(CenterSpatialCrop(roi_size)(images[:, 0]))[:, None]


def visualise_bundle(bundle: str, weights: Path, data_dir: Path, output: Path,
                     overrides: dict | None = None) -> dict[str, Path]:
    """Figures of a trained bundle network on the prepared data set ``data_dir``, written under ``output``.

    ``feature_maps.png`` (:func:`feature_maps`) for the middle seeded noisy test slice. For a
    :class:`DenoisingVAE` also ``latent_space.png`` and ``latent_space.csv`` (:func:`latent_space`) of the
    :data:`LATENT_WINDOW` centre crops of the noisy test and validation slices, labelled by split.
    ``weights``: a ``model.pt`` state dict; ``overrides``: config ids and values (e.g. ``{"roi_size": [32, 32]}``).
    Returns name -> path of the written files.
    """
    overrides = overrides or {}
    weights, data_dir, output = Path(weights), Path(data_dir), Path(output)
    if not weights.is_file():
        raise DataError(f"{weights}: weights not found")
    if not (data_dir / "datalist.json").is_file():
        raise DataError(f"{data_dir / 'datalist.json'}: datalist not found (run monai-denoise prepare first)")
    parser = parse(bundle, ["train", "evaluate"], dataset_dir=str(data_dir), **overrides)
    network = load_network(parser, weights)
    test, _, _ = noisy_set(parser)
    is_vae = isinstance(network, DenoisingVAE)
    middle = len(test) // 2
    written = {"feature_maps": output / "feature_maps.png"}
    feature_maps(network, network_input(parser, test[middle:middle + 1]), written["feature_maps"])
    if is_vae:
        validation, _, _ = noisy_set(parse(bundle, ["train"], dataset_dir=str(data_dir), **overrides))
        windows = torch.cat([_centre_crops(test, LATENT_WINDOW), _centre_crops(validation, LATENT_WINDOW)])
        labels = ["test"] * len(test) + ["validation"] * len(validation)
        written["latent_space"] = output / "latent_space.png"
        table = latent_space(network, windows, labels, written["latent_space"])
        written["latent_space_csv"] = output / "latent_space.csv"
        write_csv(table, written["latent_space_csv"])
    return written
