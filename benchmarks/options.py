"""Command-line option types shared by the benchmarks."""

from __future__ import annotations

import argparse
import json


def json_object(text: str) -> dict:
    """A JSON object from the command line (config overrides); argparse reports anything else as a usage error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of config overrides, got {text!r}")
    return value
