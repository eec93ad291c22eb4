"""NVFlare jobs that train a project bundle across hospitals: FedAvg over sites that keep their scans.

``monai-denoise federated job BUNDLE --sites N --rounds R --local-epochs E --output JOB`` writes a standard NVFlare
job folder, one app deployed to the server and every site::

    JOB/meta.json
    JOB/app/config/config_fed_server.json   ScatterAndGather + FedAvg (weight differences weighted by the
                                            sites' iterations), IntimeModelSelector on val_psnr,
                                            BundleModelPersistor (the global and the best global model)
    JOB/app/config/config_fed_client.json   ClientAlgoExecutor (monai-nvflare) around SiteBundleAlgo
                                            (MONAI FL's MonaiAlgo), optional privacy filters on what leaves
    JOB/app/config/BUNDLE/                  the bundle's configs, docs and licence (no data, no weights
                                            unless --initial-weights)

The job holds no site's path: each site reads its prepared dataset (``monai-denoise prepare``) from its own
environment (:func:`monai_denoise.federated.site_data_dir`), so the same folder runs in ``nvflare simulator`` and
deploys unchanged to a provisioned NVFlare server and sites.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .atomic import atomic_directory
from .errors import DataError
from .workflows import bundle_dir, load_network, parse

PRIVACY_FILTERS = {
    "none": [],
    "percentile": [{"path": "nvflare.app_common.filters.percentile_privacy.PercentilePrivacy",
                    "args": {"percentile": 10, "gamma": 0.01}}],
}
"""Filters applied to every training result before it leaves a site. ``percentile``: NVFlare's
``PercentilePrivacy`` (Shokri and Shmatikov 2015) sends only the weight differences above the 10th percentile of
their magnitude, each clipped to 0.01."""


def _server_config(bundle: str, sites: int, rounds: int) -> dict:
    return {
        "format_version": 2,
        "workflows": [{
            "id": "scatter_and_gather",
            "path": "nvflare.app_common.workflows.scatter_and_gather.ScatterAndGather",
            "args": {"min_clients": sites, "num_rounds": rounds, "start_round": 0, "wait_time_after_min_received": 0,
                     "aggregator_id": "aggregator", "persistor_id": "persistor",
                     "shareable_generator_id": "shareable_generator", "train_task_name": "train",
                     "train_timeout": 0, "ignore_result_error": True},
        }],
        "components": [
            {"id": "persistor", "path": "monai_denoise.flare.BundleModelPersistor",
             "args": {"bundle_root": f"config/{bundle}", "source_ckpt_filename": None}},
            {"id": "shareable_generator",
             "path": "nvflare.app_common.shareablegenerators.full_model_shareable_generator.FullModelShareableGenerator",
             "args": {}},
            {"id": "aggregator",
             "path": "nvflare.app_common.aggregators.intime_accumulate_model_aggregator."
                     "InTimeAccumulateWeightedAggregator",
             "args": {"expected_data_kind": "WEIGHT_DIFF"}},
            {"id": "model_selector", "path": "nvflare.app_common.widgets.intime_model_selector.IntimeModelSelector",
             "args": {"key_metric": "val_psnr"}},
        ],
    }


def _client_config(bundle: str, local_epochs: int, privacy: str, exclude_vars: str | None,
                   overrides: dict) -> dict:
    filters = list(PRIVACY_FILTERS[privacy])
    if exclude_vars:
        filters.append({"path": "nvflare.app_common.filters.exclude_vars.ExcludeVars",
                        "args": {"exclude_vars": exclude_vars}})
    return {
        "format_version": 2,
        "executors": [{
            "tasks": ["train", "submit_model", "validate"],
            "executor": {"id": "executor", "path": "monai_denoise.flare.SiteExecutor",
                         "args": {"client_algo_id": "client_algo", "key_metric": "val_psnr"}},
        }],
        "task_result_filters": [{"tasks": ["train"], "filters": filters}] if filters else [],
        "task_data_filters": [],
        "components": [{
            "id": "client_algo", "path": "monai_denoise.federated.SiteBundleAlgo",
            "args": {"bundle_root": f"config/{bundle}", "local_epochs": local_epochs,
                     "config_evaluate_filename": "configs/train.json", "train_kwargs": dict(overrides),
                     "eval_kwargs": dict(overrides)},
        }],
    }


def write_job(bundle: str, output: str | Path, sites: int, rounds: int, local_epochs: int, privacy: str = "none",
              exclude_vars: str | None = None, initial_weights: str | Path | None = None,
              overrides: dict | None = None, overwrite: bool = False) -> Path:
    """Write the NVFlare job folder that trains the project bundle ``bundle`` at ``sites`` sites.

    Args:
        bundle: a project bundle name, e.g. ``mri_denoising_unet``.
        output: the job folder, written in one step.
        sites: sites that train every round (``min_clients``), >= 1.
        rounds: FedAvg rounds, >= 1.
        local_epochs: epochs each site trains per round, >= 1.
        privacy: a key of :data:`PRIVACY_FILTERS`.
        exclude_vars: regular expression of weight names that never leave a site (NVFlare's ``ExcludeVars``).
        initial_weights: the global model of round 0 (a ``model.pt``); default the bundle network's initial weights.
        overrides: ``train.json`` settings for every site's training and validation (e.g. ``{"batch_size": 8}``).
        overwrite: replace an existing, non-empty ``output``.

    Raises:
        DataError: an unknown bundle or privacy option, counts below 1, missing, damaged or another network's
            initial weights.
    """
    source = bundle_dir(bundle)
    for name, value in (("sites", sites), ("rounds", rounds), ("local epochs", local_epochs)):
        if value < 1:
            raise DataError(f"{name} must be at least 1, got {value}")
    if privacy not in PRIVACY_FILTERS:
        raise DataError(f"privacy must be one of {sorted(PRIVACY_FILTERS)}, got {privacy!r}")
    if initial_weights is not None:
        if not Path(initial_weights).is_file():
            raise DataError(f"{initial_weights}: initial weights not found")
        load_network(parse(bundle, ["train"]), initial_weights)  # another network's or damaged: refused now
    server = _server_config(bundle, sites, rounds)
    if initial_weights is not None:
        server["components"][0]["args"]["source_ckpt_filename"] = "models/model.pt"
    meta = {"name": f"{bundle}_fedavg", "resource_spec": {}, "deploy_map": {"app": ["@ALL"]}, "min_clients": sites,
            "mandatory_clients": []}
    with atomic_directory(output, overwrite=overwrite) as staging:
        config = staging / "app" / "config"
        shutil.copytree(source, config / bundle, ignore=shutil.ignore_patterns("models", "logs", "eval", "adapted",
                                                                               "releases.json", "__pycache__"))
        if initial_weights is not None:
            (config / bundle / "models").mkdir()
            shutil.copy(initial_weights, config / bundle / "models" / "model.pt")
        (staging / "meta.json").write_text(json.dumps(meta, indent=4) + "\n")
        (config / "config_fed_server.json").write_text(json.dumps(server, indent=4) + "\n")
        (config / "config_fed_client.json").write_text(
            json.dumps(_client_config(bundle, local_epochs, privacy, exclude_vars, overrides or {}), indent=4) + "\n")
    return Path(output)
