from .metrics_table import MetricsTableWriter
from .resumable import ResumableCheckpointSaver, ResumeCheckpointLoader
from .snapshots import EpochSnapshots

__all__ = ["EpochSnapshots", "MetricsTableWriter", "ResumableCheckpointSaver", "ResumeCheckpointLoader"]
