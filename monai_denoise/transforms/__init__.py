from .intensity import PercentileNormalize, PercentileNormalized, check_finite
from .noise import NOISE_TYPES, PoissonNoise, SyntheticNoise, SyntheticNoised, item_seed

__all__ = ["NOISE_TYPES", "PercentileNormalize", "PercentileNormalized", "PoissonNoise", "SyntheticNoise",
           "SyntheticNoised", "check_finite", "item_seed"]
