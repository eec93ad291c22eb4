"""Studies of the origin projects: training length (e.g. 10 / 100 / 1000 epochs) and training-set size."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .errors import DataError  # noqa: E402
from .evaluation import score_network, evaluation_set  # noqa: E402
from .reports import save_figure, plot_panels, read_scalars, write_csv  # noqa: E402
from .workflows import parse, train_bundle  # noqa: E402


def _check_at_least_one(what: str, values: list[int]) -> None:
    """Refuse a study that would train nothing, before anything is written."""
    if min(values) < 1:
        raise DataError(f"{what} must be at least 1, got {min(values)}; give 1 or more")


def training_length_study(bundle: str, data_dir: Path, output: Path, epochs: list[int],
                          extra: list[Path] = (), overrides: dict | None = None) -> pd.DataFrame:
    """Train once to ``max(epochs)`` with snapshots at ``epochs``; score each snapshot on the test split.

    Writes ``training_length.csv`` (epoch, test PSNR / SSIM / MAE / MSE), ``validation_mse.png``
    (validation MSE per epoch, snapshots marked) and ``training_length_panels.png`` (noisy, the
    denoised slice at each snapshot, clean).
    """
    overrides = overrides or {}
    epochs = sorted(set(epochs))
    _check_at_least_one("snapshot epochs", epochs)
    train_dir = output / "model"
    train_bundle(bundle, train_dir, extra, dataset_dir=str(data_dir), epochs=epochs[-1], snapshot_epochs=epochs,
                 **overrides)
    parser = parse(bundle, ["train", "evaluate"], extra, dataset_dir=str(data_dir), **overrides)
    test = evaluation_set(parser)
    names = test.names
    rows, panels = [], {"noisy input": test.noisy}
    for epoch in epochs:
        scored = score_network(parser, train_dir / "models" / f"model_epoch{epoch}.pt", test)
        rows.append({"epochs": epoch, **scored.mean()})
        panels[f"{epoch} epochs"] = scored.pred
    table = pd.DataFrame(rows)
    write_csv(table, output / "training_length.csv")

    scalars = read_scalars(train_dir / "logs")
    mse = scalars[scalars.tag == "val_mse"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(mse.step, mse.value)
    ax.plot(epochs, [mse.set_index("step").value.get(e) for e in epochs], "o", label="snapshots")
    ax.set(xscale="log" if epochs[-1] >= 100 else "linear", yscale="log", xlabel="epoch",
           ylabel="validation MSE", title=f"{bundle}: validation MSE")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, output / "validation_mse.png")
    picks = sorted({len(names) // 3, 2 * len(names) // 3})
    panels["clean"] = test.clean
    plot_panels({k: [v[i, 0].clamp(0, 1).numpy() for i in picks] for k, v in panels.items()},
                [names[i].replace(".nii.gz", "") for i in picks], output / "training_length_panels.png")
    return table


def dataset_size_study(bundle: str, data_dir: Path, output: Path, sizes: list[int], epochs: int,
                       extra: list[Path] = (), overrides: dict | None = None) -> pd.DataFrame:
    """Train the same bundle on ``n`` training slices (seeded subsets) for each ``n`` in ``sizes``.

    Every run has the same number of epochs and the same validation and test sets. Writes
    ``dataset_size.csv`` and ``dataset_size.png`` (test PSNR against ``n``).
    """
    overrides = overrides or {}
    _check_at_least_one("training-set sizes", sizes)
    _check_at_least_one("epochs", [epochs])
    parser = parse(bundle, ["train", "evaluate"], extra, dataset_dir=str(data_dir), **overrides)
    test = evaluation_set(parser)
    rows = []
    for n in sorted(set(sizes)):
        train_dir = output / f"n{n}"
        train_bundle(bundle, train_dir, extra, dataset_dir=str(data_dir), epochs=epochs, train_slices=n,
                     **overrides)
        rows.append({"training_slices": n, **score_network(parser, train_dir / "models" / "model.pt", test).mean()})
    table = pd.DataFrame(rows)
    write_csv(table, output / "dataset_size.csv")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(table.training_slices, table.psnr, marker="o")
    ax.set(xscale="log", xlabel="training slices", ylabel="test PSNR (dB)", title=f"{bundle}: training-set size")
    ax.grid(alpha=0.3)
    save_figure(fig, output / "dataset_size.png")
    return table
