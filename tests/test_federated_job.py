"""The NVFlare job of ``monai-denoise federated job`` run in NVFlare's simulator: three sites, two rounds, on CPU.

Two sites hold different tiny synthetic datasets; the third site's data folder is missing. The job must complete
on the two good sites, improve the global model, leave a ``model.pt`` that ``inference.json`` reads, name the bad
site in one line, and keep every site's paths and file names out of the server's workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pytest
import torch
from conftest import REPO, TINY, phantom, write_nifti
from monai.bundle.scripts import run as bundle_run

from data_prep import PrepareConfig, prepare_dataset
from data_prep.sources import SourceVolume
from monai_denoise.cli import main
from monai_denoise.errors import DataError
from monai_denoise.federated import site_data_dir
from monai_denoise.federated_job import write_job
from monai_denoise.metrics import image_metrics
from monai_denoise.workflows import denoise, noisy_set, parse

BUNDLE = "mri_denoising_cae"
SECRET = "PATIENT^SECRET"


def site_dataset(root: Path, site: str, seeds: range) -> Path:
    """A prepared dataset from volumes named after the site, with a patient name in their NIfTI description."""
    volumes = []
    for seed in seeds:
        path = write_nifti(root / f"{site}_scans" / f"{site}_subject{seed}.nii.gz", phantom((32, 32, 6), seed=seed))
        image = nib.load(str(path))
        image.header["descrip"] = SECRET.encode()
        nib.save(image, str(path))
        volumes.append(SourceVolume(path))
    out = root / f"{site}_data"
    prepare_dataset(volumes, out, PrepareConfig(size=32, fractions=(0.5, 0.5, 0.0), command=["test"]))
    return out


def validation_psnr(weights: dict, data: Path) -> float:
    """Mean PSNR of the bundle's network with ``weights`` on a site's seeded noisy validation slices."""
    parser = parse(BUNDLE, ["train"], dataset_dir=str(data), **TINY)
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(weights)
    noisy, clean, _ = noisy_set(parser)
    return float(image_metrics(denoise(parser, network.eval(), noisy), clean)["psnr"].mean())


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("federation")
    sites = {"site-1": site_dataset(root, "site-1", range(0, 4)), "site-2": site_dataset(root, "site-2", range(10, 14))}
    torch.manual_seed(0)
    initial = root / "initial.pt"
    torch.save(parse(BUNDLE, ["train"]).get_parsed_content("network_def").state_dict(), initial)
    job = write_job(BUNDLE, root / "job", sites=3, rounds=2, local_epochs=1, initial_weights=initial, overrides=TINY)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MONAI_DENOISE_DATA_DIR_SITE_1": str(sites["site-1"]),
           "MONAI_DENOISE_DATA_DIR_SITE_2": str(sites["site-2"]),
           "MONAI_DENOISE_DATA_DIR_SITE_3": str(root / "site-3_data")}
    workspace = root / "workspace"
    nvflare = Path(sys.executable).parent / "nvflare"
    result = subprocess.run([str(nvflare), "simulator", str(job), "-w", str(workspace), "-n", "3", "-t", "3"],
                            capture_output=True, text=True, env=env, timeout=600)
    return {"root": root, "sites": sites, "initial": initial, "workspace": workspace, "result": result}


def test_the_simulated_federation_improves_the_global_model(simulated):
    result, server = simulated["result"], simulated["workspace"] / "server" / "simulate_job" / "app_server"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "aggregating 2 update(s) at round 1" in result.stdout + result.stderr
    initial = torch.load(simulated["initial"], weights_only=True)
    final = torch.load(server / "FL_global_model.pt", weights_only=True)["model"]
    for data in simulated["sites"].values():
        before, after = validation_psnr(initial, data), validation_psnr(final, data)
        assert after > before + 1.0, f"{data}: validation PSNR {before:.2f} dB at round 0, {after:.2f} after round 2"


def test_the_best_global_model_is_a_plain_model_pt_that_inference_reads(simulated, tmp_path):
    model = simulated["workspace"] / "server" / "simulate_job" / "app_server" / "model.pt"
    weights = torch.load(model, weights_only=True)
    assert set(weights) == set(torch.load(simulated["initial"], weights_only=True))
    scans = tmp_path / "scans"
    write_nifti(scans / "scan.nii.gz", phantom((32, 32, 4), seed=3))

    bundle = REPO / "bundles" / BUNDLE
    bundle_run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
               dataset_dir=str(scans), output_dir=str(tmp_path / "out"), ckpt_path=str(model), roi_size=[32, 32])

    assert nib.load(str(tmp_path / "out" / "scan.nii.gz")).shape == (32, 32, 4)


def test_a_site_without_data_is_named_in_one_line_and_the_others_go_on(simulated):
    output = simulated["result"].stdout + simulated["result"].stderr
    missing = simulated["root"] / "site-3_data"
    lines = [line for line in output.splitlines() if "site site-3:" in line]
    assert len(lines) == 1 and f"{missing}: no such data folder" in lines[0], lines
    assert "Ignore the result from site-3 at round 1" in output


def test_no_site_path_file_name_or_header_field_reaches_the_server(simulated):
    private = [str(folder) for folder in simulated["sites"].values()] + ["site-1_subject", "site-2_subject", SECRET,
                                                                         "_scans"]
    server = simulated["workspace"] / "server"
    for path in server.rglob("*"):
        if path.is_file() and path.suffix != ".pt":
            text = path.read_bytes().decode("utf-8", errors="replace")
            leaked = [item for item in private if item in text]
            assert not leaked, f"{path} holds {leaked}"


def test_site_data_dir_names_the_site_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MONAI_DENOISE_DATA_DIR", raising=False)
    monkeypatch.delenv("MONAI_DENOISE_DATA_DIR_SITE_7", raising=False)
    with pytest.raises(DataError, match="site site-7: no data folder; set MONAI_DENOISE_DATA_DIR_SITE_7"):
        site_data_dir("site-7")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MONAI_DENOISE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=f"site site-7: {tmp_path / 'empty' / 'datalist.json'}: datalist file not found"):
        site_data_dir("site-7")


def test_the_job_folder_is_nvflare_s_layout_with_the_privacy_filter_asked_for(tmp_path, capsys):
    code = main(["federated", "job", "mri_denoising_unet", "--sites", "2", "--rounds", "3", "--local-epochs", "2",
                 "--output", str(tmp_path / "job"), "--privacy", "percentile", "--exclude-vars", "norm"])

    assert code == 0 and "nvflare simulator" in capsys.readouterr().out
    meta = json.loads((tmp_path / "job" / "meta.json").read_text())
    assert meta["deploy_map"] == {"app": ["@ALL"]} and meta["min_clients"] == 2
    config = tmp_path / "job" / "app" / "config"
    server = json.loads((config / "config_fed_server.json").read_text())
    assert server["workflows"][0]["args"]["num_rounds"] == 3
    client = json.loads((config / "config_fed_client.json").read_text())
    filters = [f["path"].rsplit(".", 1)[-1] for f in client["task_result_filters"][0]["filters"]]
    assert filters == ["PercentilePrivacy", "ExcludeVars"]
    assert client["components"][0]["args"]["local_epochs"] == 2
    assert (config / "mri_denoising_unet" / "configs" / "train.json").is_file()
    assert not (config / "mri_denoising_unet" / "models").exists(), "no weights unless --initial-weights"


DRUNET_WEIGHTS = REPO / "bundles" / "mri_denoising_drunet" / "models" / "model.pt"
"""Another network's weights for the U-Net's job."""

@pytest.mark.parametrize("args, problem", [
    (["--sites", "0"], "sites must be at least 1, got 0"),
    (["--rounds", "0"], "rounds must be at least 1, got 0"),
    (["--initial-weights", "{tmp}/gone.pt"], "{tmp}/gone.pt: initial weights not found"),
    (["--initial-weights", "{drunet}"], "{drunet}: cannot load these weights"),
    (["--overrides", "[1"], "--overrides: not valid JSON"),
    (["--overrides", "[1]"], "--overrides: expected a JSON object"),
], ids=["no-sites", "no-rounds", "missing-weights", "another-network", "bad-json", "not-an-object"])
def test_federated_job_refuses_bad_options_and_writes_nothing(args, problem, tmp_path, capsys):
    base = {"--sites": "2", "--rounds": "1"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value.replace("{tmp}", str(tmp_path)).replace("{drunet}", str(DRUNET_WEIGHTS))
    options = [item for pair in base.items() for item in pair]

    code = main(["federated", "job", "mri_denoising_unet", *options, "--output", str(tmp_path / "job")])

    assert code == 2 and problem.replace("{tmp}", str(tmp_path)).replace("{drunet}", str(DRUNET_WEIGHTS)) in (
        capsys.readouterr().err)
    assert not (tmp_path / "job").exists()
