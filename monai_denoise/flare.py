"""NVFlare components of the federated job (``monai_denoise.federated_job``); they need ``nvflare`` and
``monai-nvflare`` (``pip install -e .[federated]``)."""

from __future__ import annotations

from pathlib import Path

import torch
from monai.fl.utils.constants import ExtraItems
from monai_nvflare.client_algo_executor import ClientAlgoExecutor
from monai_nvflare.monai_bundle_persistor import MonaiBundlePersistor
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal

from .console import data_error
from .handlers.weights import save_atomically

MODEL_FILE = "model.pt"
"""The best global model as a plain state dict, beside NVFlare's ``best_FL_global_model.pt``: what a bundle's
``inference.json`` takes as ``--ckpt_path``."""


class BundleModelPersistor(MonaiBundlePersistor):
    """monai-nvflare's ``MonaiBundlePersistor`` that also writes the best global model (by the sites' validation
    PSNR, chosen by ``IntimeModelSelector``) as a plain state dict ``model.pt`` in the server's app folder."""

    def save_model_file(self, save_path: str) -> None:
        super().save_model_file(save_path)
        if save_path == self._best_ckpt_save_path:
            weights = self.persistence_manager.to_persistence_dict()["model"]
            save_atomically({name: torch.as_tensor(value) for name, value in weights.items()},
                            Path(save_path).parent / MODEL_FILE)


class SiteExecutor(ClientAlgoExecutor):
    """monai-nvflare's ``ClientAlgoExecutor`` that reports a site's bad input (a DataError, such as a missing data
    folder) as one error line and answers every task with an error, instead of a traceback per task; the server
    then aggregates the other sites' results."""

    def initialize(self, fl_ctx: FLContext) -> None:
        self.failure = None
        self.client_id = fl_ctx.get_identity_name()
        engine = fl_ctx.get_engine()
        self.client_algo = engine.get_component(self.client_algo_id)
        stats_sender = engine.get_component(self.stats_sender_id) if self.stats_sender_id else None
        extra = {ExtraItems.CLIENT_NAME: self.client_id, ExtraItems.APP_ROOT: fl_ctx.get_prop(FLContextKey.APP_ROOT),
                 ExtraItems.STATS_SENDER: stats_sender, ExtraItems.LOGGING_FILE: False}
        try:
            self.client_algo.initialize(extra=extra)
        except Exception as err:
            found = data_error(err)
            self.failure = str(found) if found is not None else f"client_algo initialize exception: {err}"
            if found is not None:
                self.log_error(fl_ctx, self.failure)
            else:
                self.log_exception(fl_ctx, self.failure)

    def execute(self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal) -> Shareable:
        if self.failure is not None:
            return make_reply(ReturnCode.EXECUTION_EXCEPTION)
        return super().execute(task_name, shareable, fl_ctx, abort_signal)
