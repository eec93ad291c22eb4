"""Speed of the bundles on this machine's CPU: achieved FLOP/s, framework overhead, data loading, time per slice.

``python -m benchmarks.speed --data runs/demo/data --output runs/bench [--bundles ...] [--steps 15] [--compile]``

For each bundle it measures, all on the CPU with the same torch threads:

1. training FLOP/s: one step of the bundle's network, loss and optimizer on preloaded random patches of the
   bundle's patch size and batch size, against a plain 3x3 convolution (64 -> 64 channels) forward + backward;
2. inference FLOP/s: eval-mode, no-grad forward passes on 8 random slices of the bundle's ``roi_size``
   (192x192; the VAE's 64x64 window), against the convolution's forward pass; both again with the network in
   channels_last (NHWC) memory format, as a speed ratio; with ``--compile`` also the training step with the
   network under ``torch.compile`` (in the bundle's own memory format) as a speed ratio over eager, and the
   seconds its first step takes to compile, caches off (``configs/speed/compile.json`` turns it on in a
   bundle's trainer);
3. framework overhead: the bundle's Ignite ``SupervisedTrainer`` from ``train.json`` (handlers as configured,
   validation off) against a bare loop over the same DataLoader, network, loss and optimizer;
4. data loading share: the bare loop's time spent waiting for the DataLoader;
5. seconds per test slice with the bundle's validation inferer, next to BM3D and non-local means.

FLOPs are those of convolutions and matrix products as counted by ``torch.utils.flop_counter.FlopCounterMode``
(forward and backward for training). Figures are printed as one Markdown table and written to
``OUTPUT/speed.csv`` (one row per bundle) and ``OUTPUT/speed.md``; no target is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import count
from pathlib import Path

import ignite
import monai
import pandas as pd
import torch
from ignite.engine import Engine, Events
from monai.bundle import ConfigParser, ConfigWorkflow
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from monai_denoise.baselines import bm3d_denoise, nl_means
from monai_denoise.bundle import BUNDLES
from monai_denoise.reports import markdown_table, write_csv, write_text
from monai_denoise.workflows import bundle_dir, config_files, denoise, network_input, noisy_set, parse

from .options import json_object, run_main

CPU = {"device": "$torch.device('cpu')", "amp": False}
"""Config overrides that keep every bundle on the CPU, where the reference convolution and baselines run."""
SIGMA = 0.05
INFER_BATCH = 8
BASELINE_SLICES = 3
CONV_SHAPE = (64, 64, 64, 64)
GIGA = 1e9


@dataclass
class Reference:
    """The figures every bundle is compared with (FLOP/s and seconds per slice)."""

    conv_train_flops: float
    conv_forward_flops: float
    bm3d_seconds: float
    nlm_seconds: float


@dataclass
class BundleResult:
    """One bundle's figures (one CSV row)."""

    bundle: str
    train_shape: str
    train_gflop_per_step: float
    train_gflops: float
    train_of_conv: float
    infer_shape: str
    infer_gflop_per_batch: float
    infer_gflops: float
    infer_of_conv: float
    train_nhwc_over_nchw: float
    infer_nhwc_over_nchw: float
    compiled_train_speedup: float
    compile_seconds: float
    ignite_seconds: float
    bare_seconds: float
    ignite_over_bare: float
    data_wait_share: float
    seconds_per_slice: float
    bm3d_seconds_per_slice: float
    nlm_seconds_per_slice: float
    speedup_over_bm3d: float
    conv_train_gflops: float
    conv_forward_gflops: float


def count_flops(call: Callable[[], object]) -> int:
    """FLOPs of one ``call()`` (convolutions and matrix products, backward included if ``call`` runs it)."""
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def time_calls(call: Callable[[], object], warmup: int, repeats: int) -> float:
    """Seconds of ``repeats`` calls of ``call()`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return time.perf_counter() - start


def flop_rate(call: Callable[[], object], warmup: int, repeats: int) -> tuple[int, float]:
    """(FLOPs of one ``call()``, achieved FLOP/s over ``repeats`` timed calls)."""
    flops = count_flops(call)
    return flops, flops * repeats / time_calls(call, warmup, repeats)


def train_step(network: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, image: torch.Tensor,
               label: torch.Tensor) -> None:
    """One optimizer step on ``(image, label)``, as ``SupervisedTrainer`` takes it."""
    optimizer.zero_grad()
    loss_fn(network(image), label).backward()
    optimizer.step()


def conv_reference(warmup: int, repeats: int) -> tuple[float, float]:
    """(forward + backward, forward-only) FLOP/s of a 3x3 Conv2d 64 -> 64 on a ``CONV_SHAPE`` batch."""
    conv = nn.Conv2d(CONV_SHAPE[1], CONV_SHAPE[1], 3, padding=1)
    x = torch.rand(CONV_SHAPE, requires_grad=True)
    _, train = flop_rate(lambda: conv(x).sum().backward(), warmup, repeats)
    with torch.no_grad():
        _, forward = flop_rate(lambda: conv(x), warmup, repeats)
    return train, forward


def baseline_seconds(denoiser: Callable, slices: torch.Tensor) -> float:
    """Mean seconds per slice of ``denoiser(image, SIGMA)`` on ``BASELINE_SLICES`` slices, after a warm-up."""
    images = [s[0].numpy() for s in slices[:BASELINE_SLICES]]
    denoiser(images[0], SIGMA)
    start = time.perf_counter()
    for image in images:
        denoiser(image, SIGMA)
    return (time.perf_counter() - start) / len(images)


def noisy_test_slices(bundle: str, data: Path, overrides: dict) -> torch.Tensor:
    """``INFER_BATCH`` seeded noisy test slices ``(8, 1, H, W)`` (cycled if the test split has fewer)."""
    noisy, _, _ = noisy_set(parse(bundle, ["train", "evaluate"], dataset_dir=str(data), **CPU, **overrides))
    return noisy[torch.arange(INFER_BATCH) % len(noisy)]


def shape_text(shape: tuple[int, ...]) -> str:
    """``(64, 1, 64, 64)`` -> ``"64x1x64x64"``."""
    return "x".join(map(str, shape))


def training_setup(parser: ConfigParser, memory_format: torch.memory_format, compiled: bool = False
                   ) -> tuple[Callable[[], None], tuple[int, ...]]:
    """(one training step of the bundle's network, loss and optimizer on a preloaded random batch of its patch
    and batch size, the batch's shape); ``compiled``: the network under ``torch.compile`` (default False)."""
    network, loss_fn, optimizer = (parser.get_parsed_content(k) for k in ("network", "loss", "optimizer"))
    network.to(memory_format=memory_format).train()
    model = torch.compile(network) if compiled else network
    batch = parser.get_parsed_content("batch_size") * parser.get_parsed_content("patches_per_slice")
    label = torch.rand(batch, 1, *parser.get_parsed_content("patch_size"))
    image = network_input(parser, torch.rand_like(label))
    return lambda: train_step(model, loss_fn, optimizer, image, label), tuple(image.shape)


def synthetic_training(parser: ConfigParser, warmup: int, steps: int, memory_format: torch.memory_format
                       ) -> tuple[tuple[int, ...], int, float]:
    """(batch shape, FLOPs per step, FLOP/s) of training steps on one preloaded random batch."""
    step, shape = training_setup(parser, memory_format)
    return (shape, *flop_rate(step, warmup, steps))


def compiled_training(parser: ConfigParser, warmup: int, steps: int) -> tuple[float, float]:
    """(seconds of the first step, which compiles the network, seconds per step after ``warmup`` more) of the
    training step of :func:`synthetic_training` with the network under ``torch.compile``, in the bundle's own
    ``memory_format``. Each call starts from a reset compiler with its caches off, so the first step is a first
    compilation (not a cache hit, nor a recompilation of an earlier bundle's graph)."""
    torch._dynamo.reset()
    with torch._inductor.config.patch(force_disable_caches=True):
        step, _ = training_setup(parser, parser.get_parsed_content("memory_format"), compiled=True)
        first = time_calls(step, 0, 1)
        return first, time_calls(step, warmup, steps) / steps


@torch.no_grad()
def synthetic_inference(parser: ConfigParser, warmup: int, repeats: int, memory_format: torch.memory_format
                        ) -> tuple[tuple[int, ...], int, float]:
    """(batch shape, FLOPs per batch, FLOP/s) of eval-mode forward passes on ``INFER_BATCH`` random slices."""
    network = parser.get_parsed_content("network").eval().to(memory_format=memory_format)
    x = network_input(parser, torch.rand(INFER_BATCH, 1, *parser.get_parsed_content("roi_size")))
    return (tuple(x.shape), *flop_rate(lambda: network(x), warmup, repeats))


class IterationClock:
    """Ignite handler: times iterations ``warmup + 1`` to ``warmup + steps``, handlers included, then ends the run."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.first, self.last = warmup, warmup + steps
        self.start = self.seconds = 0.0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.iteration == self.first:
            self.start = time.perf_counter()
        elif engine.state.iteration == self.last:
            self.seconds = time.perf_counter() - self.start
            engine.terminate()


def ignite_training(bundle: str, data: Path, output: Path, overrides: dict, warmup: int,
                    steps: int) -> tuple[float, ConfigParser]:
    """(seconds of ``steps`` iterations of the bundle's ``train#trainer``, the workflow's parser).

    Validation is off (``val_interval`` past the last epoch); every other handler runs as configured, writing
    its logs and checkpoints under ``output``. Each epoch has at least one iteration, so ``warmup + steps``
    epochs always reach the last timed iteration.
    """
    configs = bundle_dir(bundle) / "configs"
    epochs = warmup + steps
    workflow = ConfigWorkflow(config_file=config_files(bundle, ["train"]), workflow_type="train",
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              bundle_root=str(bundle_dir(bundle)), dataset_dir=str(data), output_dir=str(output),
                              epochs=epochs, val_interval=epochs + 1, **CPU, **overrides)
    workflow.initialize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    clock = IterationClock(warmup, steps)
    clock.attach(trainer)
    trainer.run()
    return clock.seconds, workflow.parser


def bare_training(parser: ConfigParser, warmup: int, steps: int) -> tuple[float, float]:
    """(seconds, seconds waiting for batches) of ``steps`` plain PyTorch steps after ``warmup``.

    Uses the parser's own ``train#dataloader``, ``network``, ``loss`` and ``optimizer`` objects (those of the
    Ignite trainer when ``parser`` is its workflow's), starting a new pass over the DataLoader when one ends.
    """
    loader, network, loss_fn, optimizer = (parser.get_parsed_content(k)
                                           for k in ("train#dataloader", "network", "loss", "optimizer"))
    batches = (batch for _ in count() for batch in loader)
    network.train()
    start = wait = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            start, wait = time.perf_counter(), 0.0
        fetch = time.perf_counter()
        batch = next(batches)
        wait += time.perf_counter() - fetch
        train_step(network, loss_fn, optimizer, batch["image"], batch["label"])
    return time.perf_counter() - start, wait


def seconds_per_slice(parser: ConfigParser, slices: torch.Tensor, warmup: int, repeats: int) -> float:
    """Seconds per slice of the bundle's network and validation inferer on ``slices``, one batch at a time."""
    network = parser.get_parsed_content("network").eval()
    seconds = time_calls(lambda: denoise(parser, network, slices, chunk=INFER_BATCH), warmup, repeats)
    return seconds / (repeats * len(slices))


def benchmark_bundle(bundle: str, args: argparse.Namespace, reference: Reference,
                     slices: torch.Tensor) -> BundleResult:
    """All figures of one bundle."""
    print(f"\n=== {bundle} ===", flush=True)
    parser = parse(bundle, ["train"], dataset_dir=str(args.data), **CPU, **args.overrides)
    train_shape, train_flops, train_rate = synthetic_training(parser, args.warmup, args.steps, torch.contiguous_format)
    infer_shape, infer_flops, infer_rate = synthetic_inference(parser, args.warmup, args.repeats,
                                                               torch.contiguous_format)
    fresh = parse(bundle, ["train"], dataset_dir=str(args.data), **CPU, **args.overrides)
    _, _, train_rate_nhwc = synthetic_training(fresh, args.warmup, args.steps, torch.channels_last)
    _, _, infer_rate_nhwc = synthetic_inference(fresh, args.warmup, args.repeats, torch.channels_last)
    compile_seconds = compiled_speedup = float("nan")
    if args.compile:
        compile_parser = parse(bundle, ["train"], dataset_dir=str(args.data), **CPU, **args.overrides)
        eager_rate = train_rate_nhwc if compile_parser.get_parsed_content("memory_format") == torch.channels_last \
            else train_rate
        compile_seconds, compiled_step = compiled_training(compile_parser, args.warmup, args.steps)
        compiled_speedup = train_flops / eager_rate / compiled_step
    per_slice = seconds_per_slice(parser, slices, args.warmup, args.repeats)
    ignite_seconds, workflow_parser = ignite_training(bundle, args.data, args.output / "ignite" / bundle,
                                                      args.overrides, args.warmup, args.steps)
    bare_seconds, wait = bare_training(workflow_parser, args.warmup, args.steps)
    return BundleResult(
        bundle=bundle, train_shape=shape_text(train_shape), train_gflop_per_step=train_flops / GIGA,
        train_gflops=train_rate / GIGA, train_of_conv=train_rate / reference.conv_train_flops,
        infer_shape=shape_text(infer_shape), infer_gflop_per_batch=infer_flops / GIGA,
        infer_gflops=infer_rate / GIGA, infer_of_conv=infer_rate / reference.conv_forward_flops,
        train_nhwc_over_nchw=train_rate_nhwc / train_rate, infer_nhwc_over_nchw=infer_rate_nhwc / infer_rate,
        compiled_train_speedup=compiled_speedup, compile_seconds=compile_seconds,
        ignite_seconds=ignite_seconds, bare_seconds=bare_seconds, ignite_over_bare=ignite_seconds / bare_seconds,
        data_wait_share=wait / bare_seconds, seconds_per_slice=per_slice,
        bm3d_seconds_per_slice=reference.bm3d_seconds, nlm_seconds_per_slice=reference.nlm_seconds,
        speedup_over_bm3d=reference.bm3d_seconds / per_slice,
        conv_train_gflops=reference.conv_train_flops / GIGA, conv_forward_gflops=reference.conv_forward_flops / GIGA)


def cpu_model() -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` (the platform's processor string where there is none)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else os.uname().machine


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    gpu = torch.cuda.get_device_name(0) + " (not used)" if torch.cuda.is_available() else "none"
    return {"CPU": cpu_model(), "cores": str(os.cpu_count()), "torch threads": str(torch.get_num_threads()),
            "torch": torch.__version__, "MONAI": monai.__version__, "Ignite": ignite.__version__, "GPU": gpu}


def table(results: list[BundleResult], reference: Reference) -> pd.DataFrame:
    """The printed table: one row per bundle, then the convolution, BM3D and non-local means rows."""
    rows = [{"network": r.bundle, "train batch": r.train_shape, "train GFLOP/step": f"{r.train_gflop_per_step:.1f}",
             "train GFLOP/s": f"{r.train_gflops:.1f}", "train / conv": f"{r.train_of_conv:.2f}",
             "infer batch": r.infer_shape, "infer GFLOP/s": f"{r.infer_gflops:.1f}",
             "infer / conv fwd": f"{r.infer_of_conv:.2f}", "channels_last train / infer": (
                 f"{r.train_nhwc_over_nchw:.2f}x / {r.infer_nhwc_over_nchw:.2f}x"),
             "torch.compile train (compile s)": (f"{r.compiled_train_speedup:.2f}x ({r.compile_seconds:.0f} s)"
                                                 if math.isfinite(r.compiled_train_speedup) else "not run"),
             "Ignite s": f"{r.ignite_seconds:.2f}",
             "bare s": f"{r.bare_seconds:.2f}", "Ignite / bare": f"{r.ignite_over_bare:.3f}",
             "data wait": f"{r.data_wait_share:.1%}", "s / slice": f"{r.seconds_per_slice:.4f}",
             "speed-up vs BM3D": f"{r.speedup_over_bm3d:.1f}x"} for r in results]
    conv = {"network": "conv 3x3 64->64 (reference)", "train batch": shape_text(CONV_SHAPE),
            "train GFLOP/s": f"{reference.conv_train_flops / GIGA:.1f}", "train / conv": "1.00",
            "infer batch": shape_text(CONV_SHAPE), "infer GFLOP/s": f"{reference.conv_forward_flops / GIGA:.1f}",
            "infer / conv fwd": "1.00"}
    bm3d = {"network": f"BM3D (sigma {SIGMA})", "s / slice": f"{reference.bm3d_seconds:.4f}",
            "speed-up vs BM3D": "1.0x"}
    nlm = {"network": "non-local means", "s / slice": f"{reference.nlm_seconds:.4f}",
           "speed-up vs BM3D": f"{reference.bm3d_seconds / reference.nlm_seconds:.1f}x"}
    return pd.DataFrame(rows + [conv, bm3d, nlm], columns=list(rows[0])).fillna("")


def report(results: list[BundleResult], reference: Reference, args: argparse.Namespace,
           slice_shape: tuple[int, ...]) -> str:
    """The Markdown report: machine, settings, the table and what each column means."""
    about = ", ".join(f"{k} {v}" for k, v in machine().items())
    settings = (f"data `{args.data}`, {args.steps} timed training steps and {args.repeats} timed inference batches "
                f"after {args.warmup} warm-up ones, overrides {json.dumps(args.overrides)}")
    notes = [
        ("GFLOP: convolutions and matrix products counted by `torch.utils.flop_counter.FlopCounterMode` "
         "(training: forward + backward); normalisation, activations, pooling, the loss and the optimizer step "
         "are timed but not counted."),
        ("train: the bundle's network, loss and optimizer on one preloaded random batch of its patch size and "
         "batch size (slices x patches per slice); infer: eval mode, no grad, random slices of its `roi_size`."),
        (f"train / conv and infer / conv fwd: fraction of the CPU's throughput on a 3x3 Conv2d 64->64 "
         f"({shape_text(CONV_SHAPE)}, forward + backward or forward only), same process and threads."),
        ("channels_last train / infer: the same two measurements with the network's weights in channels_last "
         "(NHWC) memory format, as a speed ratio over the default layout (above 1: faster)."),
        ("torch.compile train: the training step with the network under `torch.compile` (default inductor "
         "backend, the bundle's own memory format), as a speed ratio over the same step in eager mode; in brackets "
         "the seconds its first step took, a first compilation (compiler reset, caches off) included (`--compile`; "
         "`configs/speed/compile.json` turns it on in a bundle's trainer)."),
        ("Ignite / bare: the bundle's `SupervisedTrainer` from `train.json` (handlers as configured, validation "
         "off) against a plain loop over the same DataLoader, network, loss and optimizer, same number of steps; "
         "data wait: the plain loop's share of time spent waiting for the next batch."),
        (f"s / slice: batches of {INFER_BATCH} noisy test slices ({shape_text(slice_shape)} each) through the "
         f"bundle's validation inferer (the VAE: sliding 64x64 windows), eval, no grad; BM3D (true sigma {SIGMA}) "
         f"and non-local means one slice at a time on {BASELINE_SLICES} of them."),
    ]
    return "\n\n".join([f"Machine: {about}.", f"Settings: {settings}.", markdown_table(table(results, reference)),
                        "\n".join(f"- {n}" for n in notes)]) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    cli = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    cli.add_argument("--data", type=Path, required=True, help="prepared dataset folder (with datalist.json)")
    cli.add_argument("--output", type=Path, required=True, help="folder for speed.csv, speed.md and trainer logs")
    cli.add_argument("--bundles", nargs="+", choices=list(BUNDLES), default=list(BUNDLES))
    cli.add_argument("--steps", type=int, default=15, help="timed training steps per loop (default 15)")
    cli.add_argument("--warmup", type=int, default=2, help="untimed steps or batches before each timing, >= 1")
    cli.add_argument("--repeats", type=int, default=3, help="timed inference batches (default 3)")
    cli.add_argument("--compile", action="store_true",
                     help="also time the training step under torch.compile (needs a C++ compiler; compiling "
                          "takes about half a minute per bundle)")
    cli.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    cli.add_argument("--overrides", type=json_object, default={},
                     help='JSON config overrides for every bundle, e.g. \'{"batch_size": 4}\'')
    args = cli.parse_args(argv)
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        cli.error("--warmup, --steps and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> list[BundleResult]:
    """Run the benchmark, print the table and write ``speed.csv`` and ``speed.md`` under ``--output``."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    slices = noisy_test_slices(args.bundles[0], args.data, args.overrides)
    reference = Reference(*conv_reference(args.warmup, args.steps), bm3d_seconds=baseline_seconds(bm3d_denoise, slices),
                          nlm_seconds=baseline_seconds(nl_means, slices))
    results = [benchmark_bundle(bundle, args, reference, slices) for bundle in args.bundles]
    write_csv(pd.DataFrame([asdict(r) for r in results]), args.output / "speed.csv")
    text = report(results, reference, args, tuple(slices.shape[2:]))
    write_text(text, args.output / "speed.md")
    print("\n" + text, flush=True)
    return results


if __name__ == "__main__":
    run_main(main, __spec__.name)
