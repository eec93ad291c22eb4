from .ct_noise import LowDoseCTNoise, LowDoseCTNoised
from .intensity import FULL_SCALE, PercentileNormalize, PercentileNormalized, WindowNormalize, WindowNormalized, check_finite
from .noise import NOISE_TYPES, PoissonNoise, SyntheticNoise, SyntheticNoised, item_seed
from .radiograph import VIEWS, DigitallyReconstructedRadiograph
from .noise_level import (RECORRUPTIONS, NoiseLevel, NoiseLevelMap, NoiseLevelMapd, NoiseLeveld, estimate_noise_sigma,
                          estimate_series_sigma, poisson_gaussian_fit, saturation_bounds, scan_scale)
from .recorrupt import Recorrupt, Recorruptd
from .series import RandFrameSamplesd
from .simulated import SimulatedNoised
from .xray_noise import PoissonGaussianNoise, PoissonGaussianNoised

__all__ = ["FULL_SCALE", "RECORRUPTIONS", "VIEWS", "DigitallyReconstructedRadiograph", "LowDoseCTNoise", "LowDoseCTNoised", "NOISE_TYPES", "NoiseLevel", "NoiseLevelMap", "NoiseLevelMapd", "NoiseLeveld", "PercentileNormalize",
           "PercentileNormalized", "PoissonGaussianNoise", "PoissonGaussianNoised", "PoissonNoise", "RandFrameSamplesd", "Recorrupt", "Recorruptd", "SimulatedNoised", "SyntheticNoise", "SyntheticNoised",
           "WindowNormalize", "WindowNormalized", "check_finite", "estimate_noise_sigma", "estimate_series_sigma", "item_seed",
           "poisson_gaussian_fit", "saturation_bounds", "scan_scale"]
