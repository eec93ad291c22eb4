"""What a user sees on the console: library chatter silenced by logger name, a DataError as one line.

Bundle configs import ``monai_denoise`` (their ``imports``), so :func:`install` runs in every
``python -m monai.bundle run`` of a project bundle as well as in the ``monai-denoise`` command (again by
``monai_denoise.workflows`` once MONAI is imported). A
:class:`~monai_denoise.errors.DataError` raised anywhere underneath (MONAI wraps it in "Failed to
instantiate component ..." and transform errors; Ignite and MONAI's ``StatsHandler`` log it with its
traceback on the way out) then ends the process with the error's own line, ``error: <file>: <problem>``,
and exit code 1. Any other exception keeps its full traceback.
"""

from __future__ import annotations

import logging
import sys
import warnings
from types import TracebackType

from .errors import DataError

QUIET_LOGGERS = ("monai.data.nvimgcodec_pydicom_plugin",)
"""Loggers whose warnings no user can act on: MONAI's GPU DICOM decoder (nvImageCodec) is absent on CPU machines
and MONAI warns about it whenever a ``LoadImage`` is built."""

QUIET_WARNINGS = (r"NvImgCodecPydicomReader: nvImageCodec decoder plugin did not register",)

ENGINE_LOGGERS = ("ignite.engine.engine.SupervisedTrainer", "ignite.engine.engine.SupervisedEvaluator",
                  "ignite.engine.engine.Engine")
"""Loggers that log a run's exception before it propagates."""

STATS_LOGGER = "monai.handlers.StatsHandler"
"""MONAI's ``StatsHandler`` logs a run's exception with its traceback. MONAI sets this logger up (its own stdout
handler, no propagation) only if it does not exist yet, so it is filtered only once MONAI is imported."""


def data_error(error: BaseException | None) -> DataError | None:
    """The DataError that ``error`` is or was raised from (its ``__cause__`` / ``__context__`` chain), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DataError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class _SkipDataErrors(logging.Filter):
    """Drop log records about a DataError being raised: the error's own line says it once, at the end."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        return data_error(error) is None


def _excepthook(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    found = data_error(error)
    if found is None:
        sys.__excepthook__(kind, error, traceback)
        return
    sys.stdout.flush()
    print(f"error: {found}", file=sys.stderr)


def install() -> None:
    """Silence :data:`QUIET_LOGGERS` and :data:`QUIET_WARNINGS`, and report an uncaught DataError as one line."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    loggers = [logging.getLogger(name) for name in ENGINE_LOGGERS]
    get_logger = getattr(sys.modules.get("monai.apps.utils"), "get_logger", None)
    if get_logger is not None:
        loggers.append(get_logger(STATS_LOGGER))
    for logger in loggers:
        if not any(isinstance(f, _SkipDataErrors) for f in logger.filters):
            logger.addFilter(_SkipDataErrors())
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
