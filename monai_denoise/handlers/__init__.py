from .completed import CompletedCheckpointSaver
from .metrics_table import MetricsTableWriter
from .progress import LossProgressBar
from .resumable import ResumableCheckpointSaver, ResumeCheckpointLoader
from .snapshots import EpochSnapshots

__all__ = ["CompletedCheckpointSaver", "EpochSnapshots", "LossProgressBar", "MetricsTableWriter", "ResumableCheckpointSaver",
           "ResumeCheckpointLoader"]
