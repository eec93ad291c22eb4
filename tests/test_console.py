"""What a user sees: one progress bar and one summary line per epoch, no chatter, where each file went."""

from __future__ import annotations

import logging
import subprocess
import sys

from conftest import TINY, UNET_BUNDLE
from monai.bundle import ConfigWorkflow
from monai.transforms import LoadImage
from test_bundle import workflow


def test_training_logs_epoch_summaries_and_per_iteration_lines_only_at_debug(tiny_dataset, tmp_path, capsys):
    """The bundle's logging.conf logs to stdout at INFO; StatsHandler's per-iteration lines need DEBUG."""
    options = {"dataset_dir": str(tiny_dataset), "output_dir": str(tmp_path / "out"), "epochs": 2, **TINY}
    run = workflow(UNET_BUNDLE, ["train"], "train", **options)
    run.run()
    per_epoch = run.trainer.state.epoch_length
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if "train_loss:" in line], "no per-iteration loss lines at INFO"
    summaries = [line.split(" - ")[-1] for line in lines if "mean loss" in line]
    assert [s.split(":")[0] for s in summaries] == ["epoch 1/2", "epoch 2/2"]
    assert all(f"over {per_epoch} iterations" in s for s in summaries)

    debug_conf = tmp_path / "logging.conf"
    debug_conf.write_text((UNET_BUNDLE / "configs" / "logging.conf").read_text().replace("level=INFO", "level=DEBUG"))
    stats, records = logging.getLogger("monai.handlers.StatsHandler"), Records()
    stats.addHandler(records)
    try:
        debug = ConfigWorkflow(config_file=str(UNET_BUNDLE / "configs" / "train.json"), workflow_type="train",
                               bundle_root=str(UNET_BUNDLE), logging_file=str(debug_conf),
                               **{**options, "output_dir": str(tmp_path / "debug"), "epochs": 1})
        debug.initialize()
        debug.run()
    finally:
        stats.removeHandler(records)
        logging.getLogger().setLevel(logging.INFO)
    assert len([m for m in records.messages if "train_loss:" in m]) == per_epoch


class Records(logging.Handler):
    """Keeps the messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_monai_warnings_no_user_can_act_on_are_silenced(caplog):
    with caplog.at_level(logging.INFO):
        LoadImage(reader="NibabelReader")
    assert not [r for r in caplog.records if "nvImageCodec" in r.getMessage()]
    # the warning filter as a user's run has it (pytest records every warning whatever the filters say)
    script = "import monai_denoise\nfrom monai.transforms import LoadImage\nLoadImage(reader='NibabelReader')"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "nvImageCodec" not in result.stderr + result.stdout
