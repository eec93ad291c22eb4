from .residual import ResidualDenoiser

__all__ = ["ResidualDenoiser"]
