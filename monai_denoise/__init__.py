"""monai-denoise: MONAI-based deep-learning denoisers for medical images."""

from pathlib import Path

from .console import install as _install_console

__version__ = "0.1.0"

BUNDLES_ROOT = Path(__file__).resolve().parent.parent / "bundles"
"""The repository's ``bundles/`` folder, one MONAI bundle per model."""

_install_console()
