"""Turn MRI volumes into paired, split slice datasets with a MONAI datalist and a manifest."""

from .prepare import PrepareConfig, prepare_dataset
from monai_denoise.files import find_files

from .sources import sample_volumes

__all__ = ["PrepareConfig", "find_files", "prepare_dataset", "sample_volumes"]
