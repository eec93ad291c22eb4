"""monai-denoise: MONAI-based deep-learning denoisers for medical images."""

from pathlib import Path

__version__ = "0.1.0"

BUNDLES_ROOT = Path(__file__).resolve().parent.parent / "bundles"
"""The repository's ``bundles/`` folder, one MONAI bundle per model."""
