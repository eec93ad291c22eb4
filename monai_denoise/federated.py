"""Federated averaging (FedAvg) over MONAI FL clients: the site's client, and a one-process simulation.

In a real federation NVFlare runs a bundle on every site through :class:`SiteBundleAlgo` (MONAI's ``MonaiAlgo``
reading the site's own data folder) and its server aggregates the weights (``monai_denoise.federated_job`` writes
the job). :func:`simulate_fedavg` plays that server in one process for small experiments: it sends the global
weights to every site, lets each train locally, averages what comes back weighted by the site's number of
training slices, and evaluates the new global model on every site's validation data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from monai.fl.client import ClientAlgo, MonaiAlgo
from monai.fl.utils.constants import ExtraItems, WeightType
from monai.fl.utils.exchange_object import ExchangeObject

from .data import load_datalist
from .errors import DataError

DATA_DIR_VARIABLE = "MONAI_DENOISE_DATA_DIR"
"""The environment variable that tells a site where its prepared dataset is; ``MONAI_DENOISE_DATA_DIR_<SITE>``
(the site's name in capitals, other characters as ``_``: ``..._SITE_1`` for ``site-1``) takes precedence, so
several simulated sites can share one environment."""


def site_data_dir(site: str) -> Path:
    """The prepared dataset (``datalist.json`` with training and validation entries) of the site named ``site``.

    Raises:
        DataError: no variable set, a missing folder or datalist, or empty splits; the line names the site.
    """
    variable = f"{DATA_DIR_VARIABLE}_{re.sub(r'[^A-Z0-9]', '_', site.upper())}"
    folder = os.environ.get(variable) or os.environ.get(DATA_DIR_VARIABLE)
    if not folder:
        raise DataError(f"site {site}: no data folder; set {variable} or {DATA_DIR_VARIABLE} to the site's "
                        "prepared dataset (monai-denoise prepare)")
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"site {site}: {folder}: no such data folder; prepare the site's dataset there")
    try:
        for split in ("training", "validation"):
            load_datalist(folder / "datalist.json", split)
    except DataError as err:
        raise DataError(f"site {site}: {err}") from err
    return folder


class SiteBundleAlgo(MonaiAlgo):
    """MONAI FL's ``MonaiAlgo`` that trains on the site's own prepared dataset, found by :func:`site_data_dir` when
    NVFlare initialises it, so the job sent to every site names no site's data. Arguments as ``MonaiAlgo``'s."""

    def initialize(self, extra: dict | None = None) -> None:
        site = (extra or {}).get(ExtraItems.CLIENT_NAME, "noname")
        data = str(site_data_dir(site))
        self.train_kwargs = {**self.train_kwargs, "dataset_dir": data}
        self.eval_kwargs = {**self.eval_kwargs, "dataset_dir": data}
        super().initialize(extra)


class Site(NamedTuple):
    """One participant: its FL client (e.g. a ``MonaiAlgo``) and its number of training samples."""

    client: ClientAlgo
    num_samples: int


def federated_average(updates: Sequence[tuple[Mapping[str, torch.Tensor], int]]) -> dict[str, torch.Tensor]:
    """Mean of state dicts (or of weight differences), each weighted by its number of samples.

    Integer tensors (BatchNorm's ``num_batches_tracked``) are rounded back to their dtype.

    Raises:
        ValueError: no updates, or a total of samples that is not positive.
    """
    total = sum(count for _, count in updates)
    if not updates or total <= 0:
        raise ValueError(f"need updates with a positive total of samples, got {len(updates)} updates, {total} samples")
    average = {}
    for key, reference in updates[0][0].items():
        mean = sum(update[key].double() * count for update, count in updates) / total
        average[key] = (mean if reference.is_floating_point() else mean.round()).to(reference.dtype)
    return average


def fedavg_round(global_weights: Mapping[str, torch.Tensor], sites: Sequence[Site]) -> dict[str, torch.Tensor]:
    """Train every site from ``global_weights`` and return the weighted average as the new global weights.

    Sites may return full weights or weight differences (``MonaiAlgo``'s default), but all the same kind.
    """
    updates, kinds = [], set()
    for site in sites:
        site.client.train(ExchangeObject(weights=dict(global_weights), weight_type=WeightType.WEIGHTS))
        returned = site.client.get_weights()
        updates.append((returned.weights, site.num_samples))
        kinds.add(returned.weight_type)
    if len(kinds) != 1:
        raise ValueError(f"sites returned different kinds of weights: {sorted(map(str, kinds))}")
    average = federated_average(updates)
    if kinds == {WeightType.WEIGHT_DIFF}:
        return {key: global_weights[key] + average[key] for key in global_weights}
    return average


def evaluate_sites(global_weights: Mapping[str, torch.Tensor], sites: Sequence[Site]) -> list[dict]:
    """Each site's validation metrics (``{"val_psnr": ...}``) of the model with ``global_weights``."""
    return [dict(site.client.evaluate(ExchangeObject(weights=dict(global_weights))).metrics) for site in sites]


def simulate_fedavg(sites: Sequence[Site], global_weights: Mapping[str, torch.Tensor],
                    rounds: int) -> tuple[dict[str, torch.Tensor], list[list[dict]]]:
    """Run ``rounds`` rounds of FedAvg starting from ``global_weights`` (not modified).

    Returns:
        The final global weights, and the sites' validation metrics of the global model before the
        first round and after each round (``rounds + 1`` lists, one dict per site).
    """
    weights = {key: value.detach().cpu().clone() for key, value in global_weights.items()}
    history = [evaluate_sites(weights, sites)]
    for _ in range(rounds):
        weights = fedavg_round(weights, sites)
        history.append(evaluate_sites(weights, sites))
    return weights, history
