"""Turn MRI volumes into paired, split slice datasets with a MONAI datalist and a manifest."""

from .prepare import PrepareConfig, prepare_dataset
from .sources import find_files, sample_volumes

__all__ = ["PrepareConfig", "find_files", "prepare_dataset", "sample_volumes"]
