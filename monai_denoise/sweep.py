"""Bayesian hyperparameter sweeps of a bundle: Optuna's seeded TPE sampler proposes config overrides.

A search space is a JSON file (``configs/sweeps/*.json``)::

    {"bundle": "mri_denoising_unet", "metric": "val_psnr", "direction": "maximize",
     "params": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true},
                "epochs": {"type": "int", "low": 5, "high": 40},
                "batch_size": {"type": "categorical", "choices": [8, 16, 32]}}}

Parameter names are config ids of the bundle's ``train.json`` (nested ids with ``#``, e.g.
``"network_def#backbone#num_res_units"``). Types: ``float`` (``low``, ``high``, ``log``), ``int`` (``low``,
``high``, ``step`` or ``log``) and ``categorical`` (``choices``: numbers, strings, booleans or null).
``metric`` (default ``"val_psnr"``) must be the key metric of the bundle's validation evaluator;
``direction`` (default ``"maximize"``) is ``"maximize"`` or ``"minimize"``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,  # noqa: E402
                                  IntDistribution)
from optuna.trial import TrialState  # noqa: E402

from .atomic import atomic_path  # noqa: E402
from .errors import DataError  # noqa: E402
from .reports import save_figure, write_text  # noqa: E402
from .workflows import parse, train_bundle  # noqa: E402

logger = logging.getLogger(__name__)

SPACE_KEYS = {"bundle", "metric", "direction", "params"}
PARAM_KEYS = {"float": {"type", "low", "high", "log"}, "int": {"type", "low", "high", "step", "log"},
              "categorical": {"type", "choices"}}


def _number(value, integer: bool) -> bool:
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)


def _check_param(name: str, spec, where: str) -> None:
    where = f"{where}: params.{name}"
    if not isinstance(spec, dict):
        raise DataError(f"{where}: expected an object with a 'type', got {spec!r}")
    kind = spec.get("type")
    if kind not in PARAM_KEYS:
        raise DataError(f"{where}: unknown type {kind!r} (expected one of {sorted(PARAM_KEYS)})")
    unknown = set(spec) - PARAM_KEYS[kind]
    if unknown:
        raise DataError(f"{where}: unknown keys {sorted(unknown)} for type {kind!r} "
                        f"(allowed: {sorted(PARAM_KEYS[kind])})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise DataError(f"{where}: 'choices' must be a non-empty list")
        if any(c is not None and not isinstance(c, (bool, int, float, str)) for c in choices):
            raise DataError(f"{where}: choices must be numbers, strings, booleans or null, got {choices!r}")
        return
    integer = kind == "int"
    for key in ("low", "high"):
        if not _number(spec.get(key), integer):
            expected = "an integer" if integer else "a number"
            raise DataError(f"{where}: '{key}' must be {expected}, got {spec.get(key)!r}")
    if spec["low"] >= spec["high"]:
        raise DataError(f"{where}: low ({spec['low']}) must be less than high ({spec['high']})")
    if not isinstance(spec.get("log", False), bool):
        raise DataError(f"{where}: 'log' must be true or false, got {spec['log']!r}")
    if spec.get("log") and spec["low"] <= 0:
        raise DataError(f"{where}: a log scale needs low > 0, got {spec['low']}")
    if "step" in spec:
        if not _number(spec["step"], True) or spec["step"] < 1:
            raise DataError(f"{where}: 'step' must be a positive integer, got {spec['step']!r}")
        if spec.get("log") and spec["step"] != 1:
            raise DataError(f"{where}: 'step' cannot be combined with a log scale")


def check_search_space(space, source: str = "search space") -> dict:
    """Validate a search space (see the module docstring) and return it with ``metric`` and ``direction`` filled in.

    ``source`` names the space in error messages (e.g. its file). Checks the keys and every parameter, that the
    bundle exists, that every parameter is a config id of its ``train.json`` and that ``metric`` is the key metric
    of its validation evaluator; DataError otherwise.
    """
    if not isinstance(space, dict):
        raise DataError(f"{source}: expected a JSON object, got {type(space).__name__}")
    for key in ("bundle", "params"):
        if key not in space:
            raise DataError(f"{source}: missing {key!r}")
    unknown = set(space) - SPACE_KEYS
    if unknown:
        raise DataError(f"{source}: unknown keys {sorted(unknown)} (allowed: {sorted(SPACE_KEYS)})")
    space = {**space, "metric": space.get("metric", "val_psnr"), "direction": space.get("direction", "maximize")}
    if space["direction"] not in ("maximize", "minimize"):
        raise DataError(f"{source}: direction must be 'maximize' or 'minimize', got {space['direction']!r}")
    if not isinstance(space["params"], dict) or not space["params"]:
        raise DataError(f"{source}: 'params' must be a non-empty object of parameter name -> range")
    for name, spec in space["params"].items():
        _check_param(name, spec, source)
    try:
        parser = parse(space["bundle"], ["train"])
    except DataError as err:
        raise DataError(f"{source}: {err}") from None
    missing = [name for name in space["params"] if name not in parser]
    if missing:
        raise DataError(f"{source}: {missing} are not config ids of {space['bundle']}'s train.json")
    key_metrics = list(parser["validate#key_metric"])
    if space["metric"] not in key_metrics:
        raise DataError(f"{source}: metric {space['metric']!r} is not the key metric of {space['bundle']}'s "
                        f"validation evaluator ({key_metrics})")
    return space


def load_search_space(path: str | Path) -> dict:
    """Read and validate a search-space JSON file (:func:`check_search_space`); DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: search space not found")
    try:
        space = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    return check_search_space(space, str(path))


def distributions(space: dict) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every parameter of a validated ``space``, in the file's order."""
    result = {}
    for name, spec in space["params"].items():
        if spec["type"] == "categorical":
            result[name] = CategoricalDistribution(spec["choices"])
        elif spec["type"] == "float":
            result[name] = FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False))
        else:
            result[name] = IntDistribution(spec["low"], spec["high"], log=spec.get("log", False),
                                           step=spec.get("step", 1))
    return result


def _best_metric(workflow) -> float:
    """The best value of the key metric that the workflow's validation evaluator saw."""
    state = workflow.evaluator.state
    if state.best_metric_epoch < 1:
        raise RuntimeError("the validation evaluator never ran (val_interval larger than epochs?)")
    value = float(state.best_metric)
    if not math.isfinite(value):
        raise RuntimeError(f"{state.key_metric_name} is not finite ({value})")
    return value


def _trial_dir(output: Path, number: int) -> Path:
    return output / "trials" / f"trial_{number:03d}"


def _trial_params(output: Path, number: int, space_distributions: dict[str, BaseDistribution]) -> dict | None:
    """The parameters trial ``number`` was proposed (its ``trial.json``, exact JSON values), or None if it has none.

    Raises:
        DataError: a record that is unreadable or from another search space (other names, values outside it).
    """
    record = _trial_dir(output, number) / "trial.json"
    if not record.is_file():
        return None
    try:
        params = json.loads(record.read_text())["params"]
        if set(params) != set(space_distributions):
            raise ValueError(f"parameters {sorted(params)}, the search space has {sorted(space_distributions)}")
        optuna.trial.create_trial(params=params, distributions=space_distributions, value=0.0)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
        raise DataError(f"{record}: not a trial of this sweep ({err}); give another --output") from err
    return params


def _previous_trials(output: Path, metric: str, space_distributions: dict[str, BaseDistribution]) -> list[dict]:
    """The trials an interrupted sweep in ``output`` finished (``trials.csv``, parameters from each ``trial.json``)."""
    table = output / "trials.csv"
    if not table.is_file():
        return []
    try:
        rows = pd.read_csv(table, keep_default_na=False).to_dict("records")
        for number, row in enumerate(rows):
            if row["number"] != number or row["state"] not in ("complete", "failed"):
                raise ValueError(f"row {number} is not trial {number}, complete or failed")
            row[metric] = float(row[metric]) if row["state"] == "complete" else math.nan
    except (ValueError, KeyError, pd.errors.ParserError) as err:
        raise DataError(f"{table}: not the trial table of this sweep ({err}); give another --output") from err
    for row in rows:
        params = _trial_params(output, row["number"], space_distributions)
        if params is None:
            raise DataError(f"{_trial_dir(output, row['number']) / 'trial.json'}: missing; give another --output")
        row.update(params)
    return rows


def _write_table(rows: list[dict], path: Path) -> pd.DataFrame:
    """The trials as a table, also written to ``path`` atomically at full precision (sampled values reusable)."""
    table = pd.DataFrame(rows)
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table


def plot_sweep(table: pd.DataFrame, metric: str, direction: str, path: str | Path) -> None:
    """The metric of every completed trial and the running best against the trial number; failed trials as x."""
    done = table[table.state == "complete"]
    best = done[metric].cummax() if direction == "maximize" else done[metric].cummin()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(done.number, done[metric], "o", label="trial")
    ax.step(done.number, best, where="post", color="tab:orange", label="running best")
    failed = table[table.state == "failed"].number
    if len(failed):
        ax.plot(failed, [0.03] * len(failed), "x", color="tab:red", transform=ax.get_xaxis_transform(),
                label="failed")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="trial", ylabel=metric, title=f"Sweep: {metric} ({direction})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run_sweep(space: dict, data_dir: Path, output: Path, trials: int, seed: int = 0,
              overrides: dict | None = None) -> pd.DataFrame:
    """Train ``space["bundle"]`` ``trials`` times with parameters proposed by a TPE sampler seeded with ``seed``.

    Trial ``n`` trains in ``output/trials/trial_{n:03d}`` with ``overrides`` (fixed config ids and values, e.g.
    ``{"epochs": 1}``; they may not name a swept parameter) and the sampled parameters; its value is the best
    value of the key metric (``space["metric"]``) over the validation runs. A trial that raises is recorded as
    failed, with its error, and the sweep goes on; DataError if every trial fails.

    Writes ``output/trials/trial_{n:03d}/trial.json`` (the proposed parameters) before trial ``n`` trains and
    ``output/trials.csv`` after every trial (columns number, each parameter, the metric, seconds, state
    ``complete`` or ``failed``, error). Run again on the same ``output`` after an interruption, the sweep
    keeps its finished trials (told to the sampler again), resumes the interrupted trial from its last
    completed epoch with the parameters it had, and proposes the rest up to ``trials``; then it writes
    ``output/best.json`` (bundle, metric, direction, value, trial, params, seed) and ``output/sweep.png``.
    Returns the trials table.
    """
    space = check_search_space(space)
    overrides = overrides or {}
    both = sorted(set(overrides) & set(space["params"]))
    if both:
        raise DataError(f"overrides {both} are also swept parameters of the search space; drop one of them")
    if trials < 1:
        raise DataError(f"trials must be at least 1, got {trials}")
    if not (Path(data_dir) / "datalist.json").is_file():
        raise DataError(f"{Path(data_dir) / 'datalist.json'}: datalist not found (run monai-denoise prepare first)")
    output = Path(output)
    metric = space["metric"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=space["direction"], sampler=optuna.samplers.TPESampler(seed=seed))
    space_distributions = distributions(space)
    rows = _previous_trials(output, metric, space_distributions)
    for row in rows:
        params = {name: row[name] for name in space_distributions}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=space_distributions,
            **({"value": row[metric]} if row["state"] == "complete" else {"state": TrialState.FAIL})))
    if rows:
        print(f"continuing the sweep in {output}: {len(rows)} of {trials} trials done", flush=True)
    table = pd.DataFrame(rows)
    for _ in range(trials - len(rows)):
        interrupted = _trial_params(output, len(rows), space_distributions)
        if interrupted is not None:
            study.enqueue_trial(interrupted)
        trial = study.ask(space_distributions)
        trial_dir = _trial_dir(output, trial.number)
        write_text(json.dumps({"params": trial.params}, indent=2) + "\n", trial_dir / "trial.json")
        row = {"number": trial.number, **trial.params, metric: math.nan}
        start = time.perf_counter()
        try:
            workflow = train_bundle(space["bundle"], trial_dir, dataset_dir=str(data_dir), **overrides, **trial.params)
            row[metric] = _best_metric(workflow)
        except Exception as err:  # a failed trial is recorded and the sweep goes on
            logger.warning("sweep trial %d failed", trial.number, exc_info=True)
            study.tell(trial, state=TrialState.FAIL)
            row.update(seconds=time.perf_counter() - start, state="failed",
                       error=" ".join(f"{type(err).__name__}: {err}".split()))
        else:
            study.tell(trial, row[metric])
            row.update(seconds=time.perf_counter() - start, state="complete", error="")
        rows.append(row)
        table = _write_table(rows, output / "trials.csv")

    if not (table.state == "complete").any():
        raise DataError(f"{output / 'trials.csv'}: all {trials} trials failed; first error: {table.error.iloc[0]}")
    best = study.best_trial
    summary = {"bundle": space["bundle"], "metric": metric, "direction": space["direction"], "value": best.value,
               "trial": best.number, "params": best.params, "seed": seed}
    write_text(json.dumps(summary, indent=2) + "\n", output / "best.json")
    plot_sweep(table, metric, space["direction"], output / "sweep.png")
    return table
