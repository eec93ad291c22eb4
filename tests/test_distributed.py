"""The documented multi-GPU command, run on the CPU: two ``torchrun`` processes with gloo, one epoch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from conftest import UNET_BUNDLE, bundle_run_args

# Merged after multi_gpu_train.json: records the image files each rank's sampler gave it, then saves its
# final weights and process id to <output_dir>/rank<r>.pt.
PROBE = {
    "+imports": ["$import ignite", "$import os", "$import torch.distributed as dist"],
    "seen_images": "$[]",
    "+initialize": ["$@train#trainer.add_event_handler(ignite.engine.Events.EPOCH_STARTED, lambda engine, "
                    "seen=@seen_images: seen.extend(@train#dataset.data[i]['image'] for i in @train#sampler))"],
    "+run": ["$torch.save({'weights': @network.module.state_dict(), 'images': @seen_images, 'pid': os.getpid()}, "
             "@output_dir + '/rank' + str(dist.get_rank()) + '.pt')"],
}


def test_two_ranks_train_on_disjoint_data_and_end_identical(tiny_dataset, tmp_path):
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps(PROBE))
    configs = [UNET_BUNDLE / "configs" / "train.json", UNET_BUNDLE / "configs" / "multi_gpu_train.json", probe]
    output = tmp_path / "out"
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--standalone", "--nnodes=1", "--nproc_per_node=2",
               *bundle_run_args(configs, tiny_dataset, output)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [torch.load(output / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    seen = [set(rank["images"]) for rank in ranks]
    training = {str(tiny_dataset / item["image"])
                for item in json.loads((tiny_dataset / "datalist.json").read_text())["training"]}
    assert seen[0] and seen[1] and not seen[0] & seen[1], "DistributedSampler gives each rank its own slices"
    assert seen[0] | seen[1] == training

    weights = [rank["weights"] for rank in ranks]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0]), "DDP keeps ranks in sync"
    checkpoint = torch.load(output / "models" / "checkpoint_last.pt", weights_only=True)["model"]
    assert all(torch.equal(checkpoint[key], weights[0][key]) for key in weights[0])

    events = list((output / "logs").glob("events.out.tfevents.*"))
    writers = {int(path.name.split(".")[-2]) for path in events}  # ...tfevents.<time>.<host>.<pid>.<n>
    assert events and writers == {ranks[0]["pid"]}, "only rank 0 writes TensorBoard logs"
