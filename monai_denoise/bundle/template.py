"""Render a :class:`BundleSpec` into the MONAI bundle configs (train, evaluate, inference, metadata).

The rendered JSON is what users read and run; this module is its single source, so the bundles can
only differ where their specs do. ``monai-denoise bundle render`` writes them, ``--check`` compares.
"""

from __future__ import annotations

import inspect
import json
import re
from importlib.metadata import version
from pathlib import Path
from string import Template

from monai.bundle import ConfigParser

from ..data import NOISE_LEVEL_KEY, list_volumes
from ..metrics import METRICS
from .models import R2R_PAPER, BundleSpec

IMPORTS = ["$import torch", "$import monai", "$import monai_denoise"]
TRAINING_IMPORTS = ["$import numpy", "$import monai_denoise.handlers", "$import monai_denoise.runs"]


LIST_VOLUMES_DEFAULTS = {name: parameter.default for name, parameter in
                         inspect.signature(list_volumes).parameters.items() if name != "inputs"}
"""``monai_denoise.data.list_volumes``'s defaults (MRI's): a config renders only the arguments that differ."""

CHECK_TRAINING = ("$monai_denoise.runs.check_planned_run(@train#trainer, @dataset_dir + '/datalist.json', "
                  "@val_interval)")
"""Refuse a training run that would train nothing or never validate, before it starts."""

def _common(spec: BundleSpec) -> dict:
    """Keys shared by every config of a bundle (model-zoo names: bundle_root, device, dataset_dir, ...)."""
    return {
        "imports": IMPORTS,
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/data'",
        "output_dir": "@bundle_root",
        "ckpt_dir": "$@output_dir + '/models'",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "amp": "$torch.cuda.is_available()",
        "roi_size": list(spec.modality.roi_size),
        "network_def": spec.network_def,
        "memory_format": "$torch.channels_last",
        "network": "$@network_def.to(@device, memory_format=@memory_format)",
    }


def _load(keys: list[str], track_meta: bool = True) -> list[dict]:
    """Load 2D slices as float32 ``(1, H, W)``; ``track_meta=False`` gives plain tensors (no MetaTensor cost)."""
    return [
        {"_target_": "LoadImaged", "keys": keys, "reader": "monai_denoise.io.ScanReader", "dtype": "$numpy.float32"},
        {"_target_": "EnsureChannelFirstd", "keys": keys, "channel_dim": "no_channel"},
        {"_target_": "EnsureTyped", "keys": keys, "dtype": "$torch.float32", "track_meta": track_meta},
    ]


def _noise(section: str, seed: str | None) -> dict:
    """The noise that noise section ``section`` (a config reference) describes, whatever its ``type``, with per-item
    ``seed`` (a config reference, or None for fresh noise), so a noise profile may set any simulated noise."""
    return {"_target_": "monai_denoise.transforms.SimulatedNoised", "keys": "image", "label_key": "label",
            "noise": section, "seed": seed}


def _training_noise(spec: BundleSpec) -> list[dict]:
    """Fresh noise on every patch; a noise-level-conditioned network also gets the drawn sigma as a channel."""
    noise = _noise("@train_noise", None)
    if not spec.noise_level_map:
        return [noise]
    return [{**noise, "sigma_key": "noise_sigma"},
            {"_target_": "monai_denoise.transforms.NoiseLevelMapd", "keys": "image", "sigma_key": "noise_sigma"}]


def _conditioned(spec: BundleSpec, inferer: dict, noise_level: str) -> dict:
    """``inferer`` as it is, or wrapped to add the noise level map for a noise-level-conditioned network."""
    if not spec.noise_level_map:
        return inferer
    return {"_target_": "monai_denoise.inferers.NoiseLevelInferer", "inferer": inferer, "noise_level": noise_level}


def _resample(spec: BundleSpec) -> dict | None:
    """The bundle's ``resample`` section: the modality's (``Modality.resample``), unless the spec's overrides set it
    (None: the bundle trains without resampling)."""
    return spec.overrides.get("resample", spec.modality.resample)


def _resampling(spec: BundleSpec) -> list[dict]:
    """Training's random zoom of each clean slice with its pixel spacing (``_resample``)."""
    if not _resample(spec):
        return []
    return [{"_target_": "RandZoomd", "keys": "image", "prob": "@resample#prob", "min_zoom": "@resample#min_zoom",
             "max_zoom": "@resample#max_zoom", "mode": "bilinear", "padding_mode": "constant", "keep_size": True}]


def _ensembled(spec: BundleSpec, config: dict, inferer_id: str) -> dict:
    """``config`` as it is, or with its inferer at ``inferer_id`` averaged over ``self_ensemble`` symmetries (a key
    of its own, placed before the inferer's top-level key) where the bundle evaluates and infers so
    (``BundleSpec.self_ensemble``)."""
    if spec.self_ensemble == 1:
        return config
    *path, last = inferer_id.split("#")
    parent = config
    for key in path:
        parent = parent[key]
    parent[last] = {"_target_": "monai_denoise.inferers.DihedralEnsembleInferer", "inferer": parent[last],
                    "symmetries": "@self_ensemble"}
    top = inferer_id.split("#")[0]
    ensembled = {}
    for key, value in config.items():
        if key == top:
            ensembled["self_ensemble"] = spec.self_ensemble
        ensembled[key] = value
    return ensembled


def _datalist(key: str, **options) -> dict:
    return {"_target_": "monai_denoise.data.load_datalist", "path": "$@dataset_dir + '/datalist.json'",
            "key": key, "base_dir": "@dataset_dir", **options}


def _metrics(prefix: str) -> tuple[dict, dict]:
    pairs = "$monai.handlers.from_engine(['pred', 'label'])"
    (key, first), *others = METRICS.items()
    return ({prefix + key: first.handler_config(pairs)},
            {prefix + name: metric.handler_config(pairs) for name, metric in others})


def _evaluation_section(spec: BundleSpec, data_key: str, metric_prefix: str, handlers: dict,
                        levels: str | None = None) -> dict:
    """The ``validate`` section: seeded noisy slices -> network -> clamp to [0, 1] (and the clean slices where the
    modality's can leave it) -> metrics. ``levels`` (a config reference to a list of noise levels): every slice at
    each level instead of the noise section's one."""
    key_metric, additional = _metrics(metric_prefix)
    clipped = ["pred", "label"] if spec.modality.clip_labels else "pred"
    noise, data = _noise("@noise", "@noise#seed"), _datalist(data_key)
    if levels:
        noise["level_key"] = NOISE_LEVEL_KEY
        data = {"_target_": "monai_denoise.data.at_levels", "items": data, "levels": levels}
    return {
        "preprocessing": {"_target_": "Compose", "transforms": _load(["image"]) + [noise]},
        "dataset": {"_target_": "CacheDataset", "data": data,
                    "transform": "@validate#preprocessing", "cache_rate": 1.0, "num_workers": 0},
        "dataloader": {"_target_": "DataLoader", "dataset": "@validate#dataset", "batch_size": 8,
                       "shuffle": False, "num_workers": 0},
        "inferer": _conditioned(spec, {"_target_": "SimpleInferer"}, "@noise#sigma"),
        "postprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "ThresholdIntensityd", "keys": clipped, "threshold": 0.0, "above": True, "cval": 0.0},
            {"_target_": "ThresholdIntensityd", "keys": clipped, "threshold": 1.0, "above": False, "cval": 1.0},
        ]},
        "key_metric": key_metric,
        "additional_metrics": additional,
        "handlers": list(handlers.values()),
        "evaluator": {"_target_": "SupervisedEvaluator", "device": "@device", "val_data_loader": "@validate#dataloader",
                      "network": "@network", "inferer": "@validate#inferer", "postprocessing": "@validate#postprocessing",
                      "key_val_metric": "@validate#key_metric", "additional_metrics": "@validate#additional_metrics",
                      "val_handlers": "@validate#handlers", "amp": "@amp"},
    }


def train_config(spec: BundleSpec) -> dict:
    """``train.json``: SupervisedTrainer on random noisy patches, validation every ``val_interval`` epochs."""
    train_handlers = {
        "lr_schedule": {"_target_": "LrScheduleHandler", "lr_scheduler": "@lr_scheduler", "print_lr": False},
        "validation": {"_target_": "ValidationHandler", "validator": "@validate#evaluator", "interval": "@val_interval",
                       "epoch_level": True},
        "stats": {"_target_": "StatsHandler", "_disabled_": "$not @rank_zero", "tag_name": "train_loss",
                  "iteration_log": "$monai_denoise.handlers.debug_only",
                  "output_transform": "$monai.handlers.from_engine(['loss'], first=True)"},
        "tensorboard": {"_target_": "TensorBoardStatsHandler", "_disabled_": "$not @rank_zero", "log_dir": "@log_dir",
                        "tag_name": "train_loss",
                        "output_transform": "$monai.handlers.from_engine(['loss'], first=True)"},
        "progress_bar": {"_target_": "monai_denoise.handlers.LossProgressBar", "_disabled_": "$not @rank_zero"},
        "checkpoint": {"_target_": "monai_denoise.handlers.TrainingCheckpoint", "_disabled_": "$not @rank_zero",
                       "save_dir": "@ckpt_dir", "save_dict": "@resume_state"},
        "resume": {"_target_": "monai_denoise.handlers.ResumeCheckpointLoader", "_disabled_": "$not @resume",
                   "load_path": "@resume_from", "map_location": "@device", "load_dict": "@resume_state"},
        "snapshots": {"_target_": "monai_denoise.handlers.EpochSnapshots", "_disabled_": "$not (@rank_zero and @snapshot_epochs)",
                      "save_dir": "@ckpt_dir", "network": "@network", "epochs": "@snapshot_epochs"},
        "finetune": {"_target_": "monai_denoise.handlers.CheckedCheckpointLoader", "_disabled_": "$not @finetune_from", "load_path": "@finetune_from",
                     "load_dict": {"model": "@network"}, "option": "finetune_from", "map_location": "@device"},
    }
    validate_handlers = {
        "stats": {"_target_": "StatsHandler", "_disabled_": "$not @rank_zero", "iteration_log": False},
        "tensorboard": {"_target_": "TensorBoardStatsHandler", "_disabled_": "$not @rank_zero", "log_dir": "@log_dir",
                        "iteration_log": False},
        "images": {"_target_": "TensorBoardImageHandler", "_disabled_": "$not @rank_zero", "log_dir": "@log_dir",
                   "batch_transform": "$monai.handlers.from_engine(['image', 'label'])",
                   "output_transform": "$monai.handlers.from_engine(['pred'])", "max_channels": 1},
        "best_checkpoint": "@best_model",
    }
    patch = "@patch_size"
    return {
        **_common(spec),
        "imports": IMPORTS + TRAINING_IMPORTS,
        "noise": spec.modality.noise,
        "log_dir": "$@output_dir + '/logs'",
        "epochs": 100,
        "val_interval": 1,
        **({"val_levels": spec.overrides["val_levels"]} if "val_levels" in spec.overrides else {}),
        "learning_rate": 0.002,
        "batch_size": 16,
        "patch_size": [64, 64],
        "patches_per_slice": 4,
        "num_workers": 2,
        "seed": 0,
        "resume": False,
        "resume_from": "$@ckpt_dir + '/checkpoint_last.pt'",
        "finetune_from": "",
        "snapshot_epochs": [],
        "rank_zero": True,
        "train_slices": None,
        "best_model": {"_target_": "monai_denoise.handlers.BestModelSaver", "save_dir": "@ckpt_dir",
                       "network": "@network", "filename": "model.pt", "enabled": "@rank_zero"},
        "resume_state": {"model": "@network", "optimizer": "@optimizer", "lr_scheduler": "@lr_scheduler",
                         "best_model": "@best_model"},
        "train_noise": {key: f"@noise#{key}" for key in spec.modality.noise if key != "seed"},
        **({"zoom_out": {"prob": 0.5, "min_zoom": 0.5}} if spec.modality.zoom_out else {}),
        **({"resample": _resample(spec)} if _resample(spec) else {}),
        "loss": {"_target_": "torch.nn.MSELoss"},
        "optimizer": {"_target_": "torch.optim.AdamW", "params": "$@network.parameters()", "lr": "@learning_rate",
                      "weight_decay": 0.0001},
        "lr_scheduler": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "optimizer": "@optimizer",
                         "T_max": "@epochs", "eta_min": "$@learning_rate * 0.01"},
        "train": {
            "preprocessing": {"_target_": "Compose", "transforms": _load(["image"], track_meta=spec.modality.noise_model.reads_meta) + [
                {"_target_": "RandFlipd", "keys": "image", "prob": 0.5, "spatial_axis": 0},
                {"_target_": "RandFlipd", "keys": "image", "prob": 0.5, "spatial_axis": 1},
                {"_target_": "RandRotate90d", "keys": "image", "prob": 0.5},
                *([{"_target_": "RandZoomd", "keys": "image", "prob": "@zoom_out#prob",
                    "min_zoom": "@zoom_out#min_zoom", "max_zoom": 1.0, "mode": "area", "padding_mode": "constant",
                    "keep_size": True}] if spec.modality.zoom_out else []),
                *_resampling(spec),
                *_training_noise(spec),
                {"_target_": "RandSpatialCropSamplesd", "keys": ["image", "label"], "roi_size": patch,
                 "num_samples": "@patches_per_slice", "random_size": False},
                {"_target_": "EnsureTyped", "keys": ["image", "label"], "track_meta": False},
            ]},
            "dataset": {"_target_": "CacheDataset", "data": _datalist("training", max_items="@train_slices"),
                        "transform": "@train#preprocessing", "cache_rate": 1.0, "num_workers": 0},
            "dataloader": {"_target_": "DataLoader", "dataset": "@train#dataset", "batch_size": "@batch_size",
                           "shuffle": True, "num_workers": "@num_workers",
                           "drop_last": "$len(@train#dataset) >= @batch_size",
                           "persistent_workers": "$@num_workers > 0"},
            "inferer": {"_target_": "SimpleInferer"},
            "postprocessing": None,
            "handlers": list(train_handlers.values()),
            "trainer": {"_target_": "SupervisedTrainer", "max_epochs": "@epochs", "device": "@device",
                        "train_data_loader": "@train#dataloader", "network": "@network", "loss_function": "@loss",
                        "optimizer": "@optimizer", "inferer": "@train#inferer", "amp": "@amp",
                        "train_handlers": "@train#handlers", "optim_set_to_none": True},
        },
        "validate": _evaluation_section(spec, "validation", "val_", validate_handlers,
                                        "@val_levels" if "val_levels" in spec.overrides else None),
        "initialize": ["$monai.utils.set_determinism(seed=@seed)"],
        "run": [CHECK_TRAINING, "$@train#trainer.run()"],
    }


def evaluate_config(spec: BundleSpec) -> dict:
    """``evaluate.json``: the test split with seeded noise, per-image metrics to ``metrics/test_metrics.csv``, scoring
    the weights at ``ckpt_path`` (default: ``models/model.pt`` of ``output_dir``, where ``train.json`` writes them).

    Runs alone or merged after ``train.json`` (it replaces the ``validate`` section).
    """
    handlers = {
        "load_model": {"_target_": "monai_denoise.handlers.CheckedCheckpointLoader", "load_path": "@ckpt_path",
                       "load_dict": {"model": "@network"}, "map_location": "@device"},
        "stats": {"_target_": "StatsHandler", "iteration_log": False},
        "metrics_table": {"_target_": "monai_denoise.handlers.MetricsTableWriter",
                          "output_path": "$@output_dir + '/metrics/test_metrics.csv'"},
    }
    config = {**_common(spec), "ckpt_path": "$@ckpt_dir + '/model.pt'", "noise": spec.modality.noise,
              "validate": _evaluation_section(spec, "test", "", handlers),
              "initialize": ["$monai.utils.set_determinism(seed=0)"], "run": ["$@validate#evaluator.run()"]}
    return _ensembled(spec, config, "validate#inferer")


def _scans(spec: BundleSpec) -> dict:
    """The user's scans, as ``inference.json`` and ``adapt.json`` read them: every NIfTI volume or 4D series and
    every DICOM series (a folder) in ``dataset_dir``, loaded as ``(T, X, Y, Z)`` (T = 1 for a volume), RAS-oriented
    and mapped to [0, 1] by the modality's intensity mapping."""
    modality = spec.modality
    intensity = modality.intensity
    listing = {"dicom_series": modality.dicom_series, "dicom_files_alone": modality.dicom_files_alone,
               "pictures": modality.pictures,
               "dicom_modalities": list(modality.dicom_modalities) if modality.dicom_files_alone else None}
    reader = "monai_denoise.io.ScanReader"
    if modality.dicom_files_alone:  # single DICOM files are read alone: the reader checks their Modality
        reader = {"_target_": reader, "dicom_modalities": list(modality.dicom_modalities)}
    return {
        "imports": IMPORTS + ["$import numpy"],
        "ckpt_path": "$@bundle_root + '/models/model.pt'",
        **modality.intensity_keys,
        "data": {"_target_": "monai_denoise.data.list_volumes", "inputs": "@dataset_dir",
                 **{k: v for k, v in listing.items() if v != LIST_VOLUMES_DEFAULTS[k]}},
        "loading": [
            {"_target_": "LoadImaged", "keys": "image", "reader": reader, "dtype": "$numpy.float32"},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS", "labels": None},
            {"_target_": intensity["_target_"], "keys": "image",
             **{k: v for k, v in intensity.items() if k != "_target_"}},
        ],
    }


def inference_config(spec: BundleSpec) -> dict:
    """``inference.json``: every NIfTI volume, 4D series or DICOM series in ``dataset_dir`` -> denoised in
    ``output_dir``, within the input's value range, in its format and data type (``monai_denoise.io.SaveLikeSourced``):
    NIfTI in, NIfTI out (``output_dtype``: ``"input"`` or a numpy type name such as ``"float32"``); DICOM in, a
    derived DICOM series out that records the bundle, its version and settings (``output_format``: ``"source"``, or
    ``"nifti"`` for NIfTI)."""
    settings = {**({"self_ensemble": "@self_ensemble"} if spec.self_ensemble > 1 else {}),
                **({"noise_level": "@noise_level"} if spec.noise_level_map else {})}
    config = {
        **_common(spec),
        **_scans(spec),
        "output_dir": "$@bundle_root + '/eval'",
        "output_dtype": "input",
        "output_format": "source",
        "slice_axis": 2,
        "preprocessing": {"_target_": "Compose", "transforms": "@loading"},
        "dataset": {"_target_": "Dataset", "data": "@data", "transform": "@preprocessing"},
        "dataloader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": 1, "shuffle": False,
                       "num_workers": 0},
        **({"noise_level": "estimate"} if spec.noise_level_map else {}),
        "inferer": _conditioned(spec, {"_target_": "monai_denoise.inferers.FramewiseSliceInferer",
                                       "spatial_dim": "@slice_axis", "roi_size": "@roi_size", "sw_batch_size": 8,
                                       "overlap": 0.25, "mode": "gaussian", "window_multiple": 16}, "@noise_level"),
        "postprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image",
             "nearest_interp": False, "to_tensor": True},
            {"_target_": "monai_denoise.io.SaveLikeSourced", "keys": "pred", "output_dir": "@output_dir",
             "output_dtype": "@output_dtype", "output_format": "@output_format",
             "derivation": {"bundle": spec.name, "version": spec.version, "settings": settings}},
        ]},
        "handlers": [
            {"_target_": "monai_denoise.handlers.CheckedCheckpointLoader", "load_path": "@ckpt_path", "load_dict": {"model": "@network"},
             "map_location": "@device"},
            {"_target_": "StatsHandler", "iteration_log": False},
        ],
        "evaluator": {"_target_": "SupervisedEvaluator", "device": "@device", "val_data_loader": "@dataloader",
                      "network": "@network", "inferer": "@inferer", "postprocessing": "@postprocessing",
                      "val_handlers": "@handlers", "amp": "@amp"},
        "initialize": ["$monai.utils.set_determinism(seed=0)"],
        "run": ["$@evaluator.run()"],
    }
    return _ensembled(spec, config, "inferer")


def adapt_config(spec: BundleSpec) -> dict:
    """``adapt.json``: fine-tune the weights on the user's own noisy scans, without clean images.

    Recorrupted-to-Recorrupted training (``Recorruptd``, Pang et al. 2021) on random square patches of axial
    slices (axis 2, ``inference.json``'s default ``slice_axis``) of every volume and frame in ``dataset_dir``,
    read and normalised as ``inference.json`` reads them, starting from
    ``ckpt_path``; the noise sigma is ``noise_level`` on the normalised scale or estimated from each scan over
    every block (no refinement over bright ones: recorrupted pairs with an overestimated sigma teach the network
    to invert noise, an underestimate only leaves some).
    Writes ``output_dir/models/model.pt``, which ``inference.json`` then takes as its ``ckpt_path``.

    The recorrupted pairs follow the modality's noise (``NoiseModel.recorruption``: white, per patch or signal
    dependent). Where they were measured to mislead (``Modality.adaptation_refused``), ``run`` stops first with that
    line (a DataError, nothing read or written); ``--adaptation_refused ''`` runs it anyway, as the benchmark does.
    """
    chosen = {"recorruption": "@recorruption"}
    pairs = [
        {"_target_": "monai_denoise.transforms.NoiseLeveld", "keys": "image", "sigma_key": "noise_sigma",
         "noise_level": "@noise_level", "iterations": 0, **chosen},
        {"_target_": "monai_denoise.transforms.RandFrameSamplesd", "keys": "image",
         "num_samples": "@adaptation#patches_per_volume"},
        {"_target_": "SpatialPadd", "keys": "image", "spatial_size": "$[@adaptation#patch_size] * 2 + [1]"},
        {"_target_": "RandSpatialCropd", "keys": "image", "roi_size": "$[@adaptation#patch_size] * 2 + [1]",
         "random_size": False},
        {"_target_": "SqueezeDimd", "keys": "image", "dim": 3},
        {"_target_": "RandFlipd", "keys": "image", "prob": 0.5, "spatial_axis": 0},
        {"_target_": "RandFlipd", "keys": "image", "prob": 0.5, "spatial_axis": 1},
        {"_target_": "RandRotate90d", "keys": "image", "prob": 0.5},
        {"_target_": "monai_denoise.transforms.Recorruptd", "keys": "image", "label_key": "label",
         "sigma_key": "noise_sigma", "alpha": "@adaptation#alpha", **chosen},
        *([{"_target_": "monai_denoise.transforms.NoiseLevelMapd", "keys": "image", "sigma_key": "noise_sigma"}]
          if spec.noise_level_map else []),
        {"_target_": "EnsureTyped", "keys": ["image", "label"], "track_meta": False},
    ]
    handlers = {
        "load_model": {"_target_": "monai_denoise.handlers.CheckedCheckpointLoader", "load_path": "@ckpt_path", "load_dict": {"model": "@network"},
                       "map_location": "@device"},
        "lr_schedule": {"_target_": "LrScheduleHandler", "lr_scheduler": "@lr_scheduler", "epoch_level": False,
                        "print_lr": False},
        "tensorboard": {"_target_": "TensorBoardStatsHandler", "log_dir": "@log_dir", "tag_name": "adapt_loss",
                        "output_transform": "$monai.handlers.from_engine(['loss'], first=True)"},
        "progress_bar": {"_target_": "monai_denoise.handlers.LossProgressBar"},
        "checkpoint": {"_target_": "monai_denoise.handlers.TrainingCheckpoint", "save_dir": "@ckpt_dir",
                       "save_dict": "@resume_state", "every_iterations": "@adaptation#checkpoint_every"},
        "resume": {"_target_": "monai_denoise.handlers.ResumeCheckpointLoader", "_disabled_": "$not @resume",
                   "load_path": "@resume_from", "map_location": "@device", "load_dict": "@resume_state"},
        "save_model": {"_target_": "monai_denoise.handlers.FinalModelSaver", "save_dir": "@ckpt_dir",
                       "network": "@network", "filename": "model.pt"},
    }
    return {
        **_common(spec),
        **_scans(spec),
        "imports": IMPORTS + TRAINING_IMPORTS,
        "output_dir": "$@bundle_root + '/adapted'",
        "log_dir": "$@output_dir + '/logs'",
        "noise_level": "estimate",
        "recorruption": spec.modality.noise_model.recorruption,
        **({"adaptation_refused": spec.modality.adaptation_refused} if spec.modality.adaptation_refused else {}),
        "adaptation": {"iterations": 400, "learning_rate": 0.0003, "alpha": 0.5, "patch_size": 64,
                       "patches_per_volume": 8, "volumes_per_batch": 1, "checkpoint_every": 50},
        "seed": 0,
        "resume": False,
        "resume_from": "$@ckpt_dir + '/checkpoint_last.pt'",
        "resume_state": {"model": "@network", "optimizer": "@optimizer", "lr_scheduler": "@lr_scheduler"},
        "loss": {"_target_": "torch.nn.MSELoss"},
        "optimizer": {"_target_": "torch.optim.Adam", "params": "$@network.parameters()", "lr": "@adaptation#learning_rate"},
        "lr_scheduler": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "optimizer": "@optimizer",
                         "T_max": "@adaptation#iterations"},
        "adapt": {
            "preprocessing": {"_target_": "Compose", "transforms": "$@loading + @adapt#pairs"},
            "pairs": pairs,
            "dataset": {"_target_": "CacheDataset", "data": "@data", "transform": "@adapt#preprocessing",
                        "cache_rate": 1.0, "copy_cache": False, "num_workers": 0},
            "dataloader": {"_target_": "DataLoader", "dataset": "@adapt#dataset", "batch_size": "@adaptation#volumes_per_batch",
                           "shuffle": True, "num_workers": 0},
            "trainer": {"_target_": "SupervisedTrainer", "max_epochs": 1, "epoch_length": "@adaptation#iterations",
                        "device": "@device", "train_data_loader": "@adapt#dataloader", "network": "@network",
                        "loss_function": "@loss", "optimizer": "@optimizer", "amp": "@amp",
                        "train_handlers": list(handlers.values()), "optim_set_to_none": True},
        },
        "initialize": ["$monai.utils.set_determinism(seed=@seed)"],
        "run": [*(["$monai_denoise.runs.refuse_adaptation(@adaptation_refused)"]
                  if spec.modality.adaptation_refused else []),
                "$monai_denoise.runs.check_planned_run(@adapt#trainer, @dataset_dir)", "$@adapt#trainer.run()"],
    }


def multi_gpu_config() -> dict:
    """``multi_gpu_train.json``: DDP over ``torchrun`` processes, merged after ``train.json``.

    Each rank trains on its own share of the slices (DistributedSampler) and runs the learning-rate
    schedule, checkpoint loading and validation (metrics are gathered across ranks). ``rank_zero`` is
    true on rank 0 only, which disables every handler that writes (logs, checkpoints, progress) on the
    other ranks before it is built.
    """
    return {
        "imports": IMPORTS + TRAINING_IMPORTS + ["$import monai_denoise.distributed"],
        "device": "$monai_denoise.distributed.local_device()",
        "rank_zero": "$torch.distributed.get_rank() == 0",
        "network": {"_target_": "torch.nn.parallel.DistributedDataParallel",
                    "module": "$@network_def.to(@device, memory_format=@memory_format)",
                    "device_ids": "$[@device] if torch.cuda.is_available() else None"},
        "train#sampler": {"_target_": "DistributedSampler", "dataset": "@train#dataset", "even_divisible": True,
                          "shuffle": True},
        "train#dataloader#sampler": "@train#sampler",
        "train#dataloader#shuffle": False,
        "initialize": ["$monai_denoise.distributed.init_distributed()",
                       "$monai.utils.set_determinism(seed=@seed + torch.distributed.get_rank())"],
        "run": [CHECK_TRAINING, "$@train#trainer.run()"],
        "finalize": ["$torch.distributed.is_initialized() and torch.distributed.destroy_process_group()"],
    }


def _input_channels(spec: BundleSpec) -> dict:
    """The network's input channels: the noisy slice, and for a conditioned network its noise level map."""
    if not spec.noise_level_map:
        return {"num_channels": 1, "channel_def": {"0": "noisy image"}}
    return {"num_channels": 2, "channel_def": {
        "0": "noisy image",
        "1": "noise level map: the noise standard deviation on the normalised scale in every pixel (added by "
             "the inferer from noise_level: a given sigma, or estimated from the scan)"}}


def metadata(spec: BundleSpec) -> dict:
    """``metadata.json`` with every key the MONAI bundle spec requires."""
    versions = {name: version(name) for name in ("nibabel", "pytorch-ignite", "tensorboard", "monai-denoise")}
    modality = spec.modality
    image = {"type": "image", "format": modality.image_format, "modality": "/".join(modality.dicom_modalities),
             "num_channels": 1,
             "spatial_shape": list(spec.spatial_shape), "dtype": "float32", "value_range": [0, 1], "is_patch_data": False}
    return {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json",
        "version": spec.version,
        "changelog": spec.changelog,
        "monai_version": version("monai"),
        "pytorch_version": version("torch").split("+")[0],
        "numpy_version": version("numpy"),
        "required_packages_version": versions,
        "supported_apps": {},
        "name": spec.name,
        "task": f"{modality.title} denoising",
        "description": f"{spec.title}. {modality.description}",
        "authors": "monai-denoise contributors",
        "copyright": "Copyright (c) monai-denoise contributors",
        "data_source": modality.data_source,
        "data_type": modality.data_type,
        "dicom_modalities": list(modality.dicom_modalities),
        "image_classes": modality.image_classes,
        "label_classes": "the clean slice (training target)",
        "pred_classes": "the denoised slice, same shape and range",
        "intended_use": modality.intended_use,
        "references": [*spec.references, R2R_PAPER],
        "network_data_format": {
            "inputs": {"image": {**image, **_input_channels(spec)}},
            "outputs": {"pred": {**image, "channel_def": {"0": "denoised image"}}},
        },
    }


def _parent(config: dict, path: str) -> dict | None:
    """The dictionary that holds the last key of ``path`` (``"a#b#c"``: ``config["a"]["b"]``), or None."""
    node = config
    for key in path.split("#")[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def apply_overrides(config: dict, overrides: dict) -> dict:
    """Set each key of ``overrides`` in ``config`` where it belongs: ``"a#b#c"`` where ``"a#b"`` exists, a top-level
    key where the config has it or refers to it (``@key``, possibly in the value of another override it takes)."""
    used: list[str] = []
    while True:
        text = json.dumps([config] + [overrides[path] for path in used])
        found = [path for path in overrides if path not in used and (
            _parent(config, path) is not None if "#" in path
            else path in config or re.search(f"@{path}(?!\\w)", text))]
        if not found:
            break
        used += found
    for path in (p for p in overrides if p in used):
        _parent(config, path)[path.split("#")[-1]] = overrides[path]
    return config


def parameter_count(train: dict) -> int:
    """Parameters of the ``network_def`` of a rendered ``train.json`` content (references resolved)."""
    network = ConfigParser(train).get_parsed_content("network_def")
    return sum(p.numel() for p in network.parameters())


def _noise_values(train: dict) -> dict[str, str]:
    """``noise_KEY``, ``train_noise_KEY`` and ``val_levels`` of a rendered ``train.json`` as README text (references
    resolved, a range as "LOW to HIGH", levels separated by commas)."""
    def text(value) -> str:
        if isinstance(value, str) and value.startswith("@noise#"):
            value = train["noise"][value.split("#", 1)[1]]
        if isinstance(value, (list, tuple)):
            return " to ".join(text(v) for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    values = {f"{section}_{key}": text(value) for section in ("noise", "train_noise")
              for key, value in train.get(section, {}).items()}
    return {**values, "val_levels": ", ".join(text(level) for level in train.get("val_levels") or [])}


def _resampling_doc(spec: BundleSpec) -> str:
    """The docs' sentence on the training's resampling, where the modality has one (``${resampling}``)."""
    if not spec.modality.resample:
        return ""
    if not _resample(spec):
        return " No zoom: this network trains on the slices' own pixel grid (see Measured)."
    return ("\n  Before its noise, each clean slice is zoomed, with probability `resample#prob`, by a factor from\n"
            "  `resample#min_zoom` to `resample#max_zoom`, with its pixel spacing: the same anatomy on a coarser or\n"
            "  finer pixel grid, as a scan with a larger or smaller field of view, so the noise keeps its physical\n"
            "  scale and the network sees pixel sizes from two thirds to twice the sample's.")


def _ensemble_doc(spec: BundleSpec) -> str:
    """The docs' paragraph on the self-ensemble of evaluation and inference, where the bundle has one."""
    if spec.self_ensemble == 1:
        return ""
    return (f"\n\nEvaluation and inference average the network over {spec.self_ensemble} flips and quarter turns of "
            f"every window\n(`self_ensemble`: {spec.self_ensemble}, `monai_denoise.inferers.DihedralEnsembleInferer`), "
            "which gains 0.1 to\n0.3 dB; `--self_ensemble 1` runs the plain network, "
            f"{spec.self_ensemble} times faster (2 and 4 lie\nbetween). Validation during training runs the plain "
            "network.")


def render(spec: BundleSpec) -> dict[str, str]:
    """Relative path -> file text for every generated file of the bundle."""
    configs = {name: apply_overrides(build(spec), spec.overrides) for name, build in
               (("train", train_config), ("evaluate", evaluate_config), ("inference", inference_config),
                ("adapt", adapt_config))}
    parameters = f"{parameter_count(configs['train']) / 1e6:.2f} M"
    configs.update(multi_gpu_train=multi_gpu_config(), metadata=metadata(spec))
    files = {f"configs/{name}.json": json.dumps(content, indent=4) + "\n" for name, content in configs.items()}
    shapes = ("Input `(B, 2, H, W)`: the noisy slice and its noise level\nmap; output `(B, 1, H, W)`; intensities in "
              "[0, 1]." if spec.noise_level_map else "Input and output: `(B, 1, H, W)` with intensities\nin [0, 1].")
    window_multiple = "#".join(["inferer"] * (1 + spec.noise_level_map + (spec.self_ensemble > 1)) + ["window_multiple"])
    modality, values = spec.modality, {"window_multiple": window_multiple, "resampling": _resampling_doc(spec),
                                       **_noise_values(configs["train"])}
    docs = {field: Template(getattr(modality, f"doc_{field}")).substitute(values)
            for field in ("intro", "data", "inference", "adaptation")}
    files["docs/README.md"] = Template((Path(__file__).parent / "README.template.md").read_text()).substitute(
        name=spec.name, title=spec.title, model=spec.model_doc, parameters=parameters, measured=spec.measured,
        shapes=shapes, ensemble=_ensemble_doc(spec), **docs)
    files["configs/logging.conf"] = (Path(__file__).parent / "logging.conf").read_text()
    files["LICENSE"] = (Path(__file__).parent / "LICENSE").read_text()
    return files


def write_bundle(spec: BundleSpec, root: str | Path) -> list[Path]:
    """Write the generated files of ``spec`` under ``root/spec.name`` that are missing or differ (an unchanged file
    is left alone, so a run reading the bundle meanwhile never sees it half-written); return the paths written."""
    written = []
    for relative, text in render(spec).items():
        path = Path(root) / spec.name / relative
        if path.is_file() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def stale_files(spec: BundleSpec, root: str | Path) -> list[str]:
    """Generated files of ``spec`` under ``root`` that are missing or differ from the template."""
    return [relative for relative, text in render(spec).items()
            if not (Path(root) / spec.name / relative).is_file()
            or (Path(root) / spec.name / relative).read_text() != text]
