"""Process-group set-up for bundles launched with ``torchrun`` (NCCL on GPUs, gloo on CPUs)."""

from __future__ import annotations

import os

import ignite.distributed as idist
import torch
import torch.distributed as dist


def local_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available (LOCAL_RANK set by torchrun, default 0), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def init_distributed() -> int:
    """Join the torchrun process group once (NCCL with CUDA, gloo without) and return this process's rank.

    Also makes Ignite adopt the group on every rank now: Ignite otherwise joins it lazily, with a
    collective call, inside the first checkpoint saver built, and only rank 0 builds one.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    idist.sync()
    if torch.cuda.is_available():
        torch.cuda.set_device(local_device())
    return dist.get_rank()
