"""Bundle sources: the per-model specs and the template that renders them into MONAI bundles."""

from .models import BUNDLES, BundleSpec
from .template import render, stale_files, write_bundle

__all__ = ["BUNDLES", "BundleSpec", "render", "stale_files", "write_bundle"]
