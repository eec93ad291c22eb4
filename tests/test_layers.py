"""The package's layers: the readers that every bundle config names depend on nothing from dataset preparation."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "monai_denoise"
ENTRY_POINTS = {"cli.py", "demo.py"}
"""The command line and the demo sit above both ``monai_denoise`` and ``data_prep`` and may use both."""


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_only_the_entry_points_import_dataset_preparation():
    importers = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                 if any(name == "data_prep" or name.startswith("data_prep.") for name in imported(p))}
    assert importers <= ENTRY_POINTS, importers - ENTRY_POINTS
    for reader in ("io.py", "data.py", "dicom.py", "volumes.py", "files.py"):
        assert reader not in importers
