from .intensity import PercentileNormalize, PercentileNormalized, check_finite
from .noise import NOISE_TYPES, PoissonNoise, SyntheticNoise, SyntheticNoised, item_seed
from .noise_level import NoiseLevel, NoiseLevelMap, NoiseLevelMapd, NoiseLeveld, estimate_noise_sigma, estimate_series_sigma
from .recorrupt import Recorrupt, Recorruptd
from .series import RandFrameSamplesd

__all__ = ["NOISE_TYPES", "NoiseLevel", "NoiseLevelMap", "NoiseLevelMapd", "NoiseLeveld", "PercentileNormalize",
           "PercentileNormalized", "PoissonNoise", "RandFrameSamplesd", "Recorrupt", "Recorruptd", "SyntheticNoise", "SyntheticNoised",
           "check_finite", "estimate_noise_sigma", "estimate_series_sigma", "item_seed"]
