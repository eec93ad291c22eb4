"""Command-line option types and the command wrapper shared by the benchmarks."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from monai_denoise.console import data_error


def json_object(text: str) -> dict:
    """A JSON object from the command line (config overrides); argparse reports anything else as a usage error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of config overrides, got {text!r}")
    return value


def run_main(main: Callable[[], object], module: str) -> None:
    """Run a benchmark's ``main`` as a command: bad input (a ``DataError``, also where MONAI or Ignite wrapped it) ends
    it with one line on stderr naming the benchmark and the problem, and exit code 2, as ``monai-denoise`` commands
    end."""
    try:
        main()
    except Exception as err:
        found = data_error(err)
        if found is None:
            raise
        print(f"python -m {module}: error: {found}", file=sys.stderr)
        sys.exit(2)
