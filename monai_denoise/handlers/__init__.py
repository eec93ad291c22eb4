from .metrics_table import MetricsTableWriter
from .resumable import ResumableCheckpointSaver, ResumeCheckpointLoader

__all__ = ["MetricsTableWriter", "ResumableCheckpointSaver", "ResumeCheckpointLoader"]
