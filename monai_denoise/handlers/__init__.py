from .loaders import ResumeCheckpointLoader, CheckedCheckpointLoader
from .metrics_table import MetricsTableWriter
from .progress import LossProgressBar, debug_only
from .resumable import TrainingCheckpoint, checkpoint_progress
from .snapshots import EpochSnapshots
from .weights import BestModelSaver, FinalModelSaver

__all__ = ["BestModelSaver", "EpochSnapshots", "FinalModelSaver", "LossProgressBar", "MetricsTableWriter",
           "ResumeCheckpointLoader", "TrainingCheckpoint", "CheckedCheckpointLoader", "checkpoint_progress", "debug_only"]
