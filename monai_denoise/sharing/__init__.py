"""Share trained bundles between sites: package, verify on receipt, export to TorchScript."""

from .export import export_bundle
from .package import package_bundle
from .code_scan import DEFAULT_ALLOW, CodeItem, scan_configs
from .verify import Check, VerifyReport, extract_bundle, verify_bundle

__all__ = [
    "DEFAULT_ALLOW",
    "Check",
    "CodeItem",
    "VerifyReport",
    "export_bundle",
    "extract_bundle",
    "package_bundle",
    "scan_configs",
    "verify_bundle",
]
