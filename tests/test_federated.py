"""Federated averaging of the U-Net bundle over two simulated sites with MONAI FL's ``MonaiAlgo``."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import TINY, UNET_BUNDLE
from monai.fl.client import MonaiAlgo
from monai.fl.utils.constants import ExtraItems
from monai.networks.utils import get_state_dict

from monai_denoise.federated import Site, federated_average, simulate_fedavg

ROUNDS = 3


def test_federated_average_weights_by_samples_and_keeps_dtypes():
    updates = [({"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(10)}, 3),
               ({"w": torch.tensor([5.0, 6.0]), "n": torch.tensor(13)}, 1)]
    average = federated_average(updates)
    torch.testing.assert_close(average["w"], torch.tensor([2.0, 3.0]))
    assert average["n"].dtype == torch.int64 and average["n"].item() == 11  # 10.75 rounded
    with pytest.raises(ValueError):
        federated_average([])


def make_site(root, name, training, validation, bundle) -> Site:
    """A site folder with its own datalist (absolute paths) and an initialised ``MonaiAlgo`` client."""
    folder = root / name
    folder.mkdir()
    (folder / "datalist.json").write_text(json.dumps({"training": training, "validation": validation}))
    overrides = {"dataset_dir": str(folder), "output_dir": str(folder / "out"), **TINY}
    # evaluation on the site's validation list: train.json's evaluator (key metric val_psnr)
    client = MonaiAlgo(bundle_root=str(bundle), local_epochs=1, config_evaluate_filename="configs/train.json",
                       train_kwargs=dict(overrides), eval_kwargs=dict(overrides))  # MonaiAlgo adds a run_name to each
    client.initialize(extra={ExtraItems.CLIENT_NAME: name})
    return Site(client, len(training))


@pytest.mark.filterwarnings("ignore:executing the bundle config")  # MonaiAlgo's note on provisioned configs
def test_fedavg_over_two_sites_improves_the_global_model(tiny_dataset, tmp_path):
    bundle = tmp_path / UNET_BUNDLE.name
    shutil.copytree(UNET_BUNDLE, bundle, ignore=shutil.ignore_patterns("models", "logs", "eval"))
    datalist = json.loads((tiny_dataset / "datalist.json").read_text())
    absolute = {key: [{"image": str(tiny_dataset / item["image"])} for item in items]
                for key, items in datalist.items()}
    train, val = absolute["training"], absolute["validation"]
    cut, val_cut = 2 * len(train) // 3, len(val) // 2  # unequal sites, so the weighting matters
    sites = [make_site(tmp_path, "site_a", train[:cut], val[:val_cut], bundle),
             make_site(tmp_path, "site_b", train[cut:], val[val_cut:], bundle)]
    initial = get_state_dict(sites[0].client.trainer.network)  # the bundle's seeded, untrained network

    final, history = simulate_fedavg(sites, initial, rounds=ROUNDS)

    assert len(history) == ROUNDS + 1
    before, after = ([site["val_psnr"] for site in metrics] for metrics in (history[0], history[-1]))
    assert all(b < a for b, a in zip(before, after)), f"val PSNR per site before {before}, after {after}"
    local = [(get_state_dict(site.client.trainer.network), site.num_samples) for site in sites]
    expected = federated_average(local)
    for key, value in final.items():
        torch.testing.assert_close(value, expected[key], atol=1e-5, rtol=1e-5)
    assert not torch.equal(final["gate"], local[0][0]["gate"]), "the global model is not one site's model"
