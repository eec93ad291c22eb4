from .intensity import PercentileNormalize, PercentileNormalized, check_finite
from .noise import NOISE_TYPES, PoissonNoise, SyntheticNoise, SyntheticNoised, item_seed
from .noise_level import NoiseLevelMap, NoiseLevelMapd, estimate_noise_sigma

__all__ = ["NOISE_TYPES", "NoiseLevelMap", "NoiseLevelMapd", "PercentileNormalize", "PercentileNormalized", "PoissonNoise",
           "SyntheticNoise", "SyntheticNoised", "check_finite", "estimate_noise_sigma", "item_seed"]
