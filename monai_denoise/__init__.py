"""monai-denoise: MONAI-based deep-learning denoisers for medical images."""

__version__ = "0.1.0"
