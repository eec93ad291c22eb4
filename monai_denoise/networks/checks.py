"""Argument checks shared by the networks' constructors."""

from __future__ import annotations

from collections.abc import Sequence


def check_network_args(spatial_dims: int, **sizes: int | Sequence[int]) -> None:
    """Raise ValueError unless ``spatial_dims`` is 2 or 3 and every size is a positive integer.

    A sequence size (e.g. ``channels=(32, 64)``) must be non-empty with positive entries.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    for name, value in sizes.items():
        values = tuple(value) if isinstance(value, Sequence) else (value,)
        if not values:
            raise ValueError(f"{name} must name at least one scale, got an empty sequence.")
        if min(values) < 1:
            raise ValueError(f"{name} must be positive, got {value}.")
