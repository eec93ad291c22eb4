"""Tables and figures of a run: metric summaries, noisy / denoised / clean panels, training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.ndimage import uniform_filter  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from .atomic import atomic_path  # noqa: E402


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV atomically (6 significant digits)."""
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def write_text(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def summarize(table: pd.DataFrame, metrics: tuple[str, ...] = ("psnr", "ssim", "mae", "mse")) -> pd.DataFrame:
    """Mean and standard deviation of each metric per ``method`` (rows in the order methods first appear)."""
    grouped = table.groupby("method", sort=False)[list(metrics)]
    summary = grouped.mean().add_suffix("_mean").join(grouped.std().add_suffix("_std"))
    return summary[[f"{m}_{s}" for m in metrics for s in ("mean", "std")]].reset_index()


def read_scalars(log_dir: str | Path) -> pd.DataFrame:
    """All TensorBoard scalars under ``log_dir``: columns tag, step, value and wall_time (seconds since the epoch)."""
    rows = []
    for events in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            rows += [{"tag": tag, "step": e.step, "value": e.value, "wall_time": e.wall_time}
                     for e in accumulator.Scalars(tag)]
    return pd.DataFrame(rows, columns=["tag", "step", "value", "wall_time"])


def plot_training_curves(scalars: pd.DataFrame, path: str | Path, iterations_per_epoch: int,
                         reference_psnr: dict[str, float] | None = None) -> None:
    """Training loss (mean per epoch) and validation PSNR per epoch, side by side, saved as PNG.

    ``reference_psnr`` draws horizontal lines (e.g. the noisy input) on the PSNR panel.
    """
    loss = scalars[scalars.tag == "train_loss"].copy()
    loss["epoch"] = (loss.step - 1) // iterations_per_epoch + 1
    loss = loss.groupby("epoch").value.mean()
    psnr = scalars[scalars.tag == "val_psnr"].set_index("step").value
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.semilogy(loss.index, loss.values)
    ax_loss.set(xlabel="epoch", ylabel="training loss (MSE)", title="Training loss")
    ax_psnr.plot(psnr.index, psnr.values, label="network")
    for name, value in (reference_psnr or {}).items():
        ax_psnr.axhline(value, linestyle="--", color="gray" if name == "noisy input" else "tab:orange", label=name)
    ax_psnr.set(xlabel="epoch", ylabel="PSNR (dB)", title="Validation PSNR")
    ax_psnr.legend()
    for ax in (ax_loss, ax_psnr):
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_panels(columns: dict[str, list], row_titles: list[str], path: str | Path) -> None:
    """A grid of 2D images: one column per ``columns`` entry (e.g. noisy, denoised, clean), one row per slice.

    Each value of ``columns`` is a list of ``(H, W)`` arrays in [0, 1], one per row; titles give PSNR where known.
    """
    rows = len(row_titles)
    fig, axes = plt.subplots(rows, len(columns), figsize=(3 * len(columns), 3 * rows), squeeze=False)
    for c, (title, images) in enumerate(columns.items()):
        for r, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(image.T, cmap="gray", vmin=0, vmax=1, origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=10)
            if c == 0:
                ax.set_ylabel(row_titles[r], fontsize=8)
    save_figure(fig, path)


def detail_box(clean: np.ndarray, fraction: float = 0.25) -> tuple[slice, slice]:
    """The square of side ``fraction`` of ``clean``'s ``(H, W)`` with the most structure (the largest mean local
    standard deviation), where a reader zooms in."""
    side = max(1, round(min(clean.shape) * fraction))
    local = np.sqrt(np.maximum(uniform_filter(clean ** 2, 5) - uniform_filter(clean, 5) ** 2, 0.0))
    score = uniform_filter(local, side, mode="constant")
    half = side // 2
    inner = score[half:clean.shape[0] - side + half + 1, half:clean.shape[1] - side + half + 1]
    top, left = np.unravel_index(np.argmax(inner), inner.shape)
    return slice(top, top + side), slice(left, left + side)


def plot_detail_panels(images: dict[str, np.ndarray], windows: tuple[tuple[str, float | None, float | None], ...],
                       path: str | Path, title: str) -> None:
    """Noisy, denoised and clean ``(H, W)`` images (``images``, the clean one last) as a reader judges them: the
    whole image in every display window of the modality (named on the figure), a zoomed detail in the first window
    (its place boxed in the first row), and each image's difference to the clean one on one symmetric scale."""
    names = list(images)
    clean = images[names[-1]]
    rows_, cols_ = detail_box(clean)
    spread = 3 * float(np.std(images[names[0]] - clean)) or 1.0
    fig, axes = plt.subplots(len(windows) + 2, len(names), figsize=(3.2 * len(names), 3.2 * (len(windows) + 2)),
                             squeeze=False)
    limits = [(float(np.percentile(clean, 1)) if low is None else low,
               float(np.percentile(clean, 99)) if high is None else high) for _, low, high in windows]
    for c, name in enumerate(names):
        image = images[name]
        for r, ((window, _, _), (low, high)) in enumerate(zip(windows, limits)):
            axes[r, c].imshow(image.T, cmap="gray", vmin=low, vmax=high, origin="lower")
            axes[r, c].set_title(f"{name}\n{window}" if r == 0 else window, fontsize=9)
            if r == 0:
                axes[r, c].add_patch(plt.Rectangle((rows_.start, cols_.start), rows_.stop - rows_.start,
                                                   cols_.stop - cols_.start, fill=False, color="tab:orange"))
        axes[-2, c].imshow(image[rows_, cols_].T, cmap="gray", vmin=limits[0][0], vmax=limits[0][1], origin="lower")
        axes[-2, c].set_title(f"detail, {windows[0][0]}", fontsize=9)
        if name == names[-1]:
            axes[-1, c].axis("off")
        else:
            axes[-1, c].imshow((image - clean).T, cmap="RdBu_r", vmin=-spread, vmax=spread, origin="lower")
            axes[-1, c].set_title(f"{name} - clean (±{spread:.3f})", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_validation_curves(curves: dict[str, pd.DataFrame], path: str | Path) -> None:
    """Validation MSE and PSNR against epoch for every model on one figure.

    ``curves``: model name -> scalars table (:func:`read_scalars`) with ``val_mse`` and ``val_psnr`` tags.
    """
    fig, (ax_mse, ax_psnr) = plt.subplots(1, 2, figsize=(11, 4))
    for name, scalars in curves.items():
        for ax, tag in ((ax_mse, "val_mse"), (ax_psnr, "val_psnr")):
            series = scalars[scalars.tag == tag]
            ax.plot(series.step, series.value, label=name)
    ax_mse.set_yscale("log")
    ax_mse.set(xlabel="epoch", ylabel="validation MSE", title="Validation MSE")
    ax_psnr.set(xlabel="epoch", ylabel="PSNR (dB)", title="Validation PSNR")
    for ax in (ax_mse, ax_psnr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_psnr_vs_noise(table: pd.DataFrame, path: str | Path, level: str = "noise_sigma",
                       label: str = "noise sigma (normalised intensity)") -> None:
    """Mean PSNR against the noise level for every method, one colour each.

    ``table``: columns method, ``level`` (the noise level: ``noise_sigma``, ``noise_i0``, ...), psnr and
    parameters (set for networks only): networks are drawn solid, classical methods dashed, the noisy input
    dotted grey. ``label``: the x axis label.
    """
    means = table.groupby(["method", level], sort=False).agg(psnr=("psnr", "mean"),
                                                             parameters=("parameters", "first"))
    colours = plt.get_cmap("tab20").colors
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for number, (method, rows) in enumerate(means.reset_index().groupby("method", sort=False)):
        if method == "noisy input":
            style = {"color": "gray", "linestyle": ":"}
        else:
            style = {"color": colours[number % len(colours)],
                     "linestyle": "-" if rows.parameters.notna().any() else "--"}
        ax.plot(rows[level], rows.psnr, marker="o", label=method, **style)
    ax.set(xlabel=label, ylabel="PSNR (dB)", title="PSNR against noise level")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    save_figure(fig, path)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (values printed as they are)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
