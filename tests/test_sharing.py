"""Sharing a trained bundle: package at one site, verify and run at another, export to TorchScript."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import REPO, TINY, UNET_BUNDLE, phantom, write_nifti
from monai.bundle import ConfigParser, ConfigWorkflow

from monai_denoise.bundle import BUNDLES
from monai_denoise.cli import main
from monai_denoise.errors import DataError
from monai_denoise.sharing import (export_bundle, extract_bundle, package_bundle, scan_configs,
                                   verify_bundle)

VERSION = BUNDLES[UNET_BUNDLE.name].version
"""The version a site's copy of the U-Net bundle starts from."""
NEXT = "{}.{}.0".format(*(int(part) + (i == 1) for i, part in enumerate(VERSION.split(".")[:2])))
"""The version a site bumps to when it retrains."""
AFTER_NEXT = "{}.{}.0".format(*(int(part) + 2 * (i == 1) for i, part in enumerate(VERSION.split(".")[:2])))
ADAPT_TINY = {"adaptation#iterations": 2, "adaptation#patch_size": 32, "adaptation#patches_per_volume": 2}
PACKAGED = {"LICENSE", "configs/train.json", "configs/evaluate.json", "configs/inference.json", "configs/adapt.json",
            "configs/multi_gpu_train.json", "configs/metadata.json", "configs/logging.conf", "docs/README.md",
            "models/model.pt", "manifest.json"}



@pytest.fixture
def offline(monkeypatch):
    """Any network (IP) connection fails the test; local Unix sockets (DataLoader workers) still work."""
    connect = socket.socket.connect

    def refuse(sock, *args, **kwargs):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError("network access")
        return connect(sock, *args, **kwargs)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def bundle(trained_bundle, tmp_path) -> Path:
    """A private copy of the trained U-Net bundle, its weights in models/, with working clutter that must not ship.

    The project's release record stays behind: the site releases its own weights.
    """
    source, output = trained_bundle
    bundle = tmp_path / "site_a" / source.name
    shutil.copytree(source, bundle, ignore=shutil.ignore_patterns("releases.json"))
    (bundle / "models").mkdir(exist_ok=True)
    for name in ("model.pt", "checkpoint_last.pt"):
        shutil.copy(output / "models" / name, bundle / "models" / name)
    for name, text in {"logs/events.out.tfevents.1": "x", "metrics/test_metrics.csv": "image,psnr\n",
                       ".env": "TOKEN=1", "configs/.draft.json": "{}", "docs/.notes.md": "private"}.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(text)
    write_nifti(bundle / "eval" / "denoised.nii.gz", phantom((8, 8, 2), seed=1))
    return bundle


@pytest.fixture
def packaged(bundle, tmp_path) -> tuple[Path, Path, dict]:
    """(bundle, zip, manifest) after packaging the bundle once."""
    archive = tmp_path / "shared" / "unet.zip"
    return bundle, archive, package_bundle(bundle, archive)


def flagged(report) -> dict:
    return {(item.file, item.key): item.value for item in report.flagged}


def test_package_holds_one_folder_with_a_complete_manifest(packaged):
    bundle, archive, manifest = packaged
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert {name.split("/", 1)[0] for name in names} == {bundle.name}
        files = {name.split("/", 1)[1]: zf.read(name) for name in names}
    assert set(files) == PACKAGED, "no logs, metrics, eval outputs, training checkpoints or dotfiles"
    assert json.loads(files["manifest.json"]) == manifest
    assert manifest["sha256"] == {path: hashlib.sha256(data).hexdigest()
                                  for path, data in files.items() if path != "manifest.json"}
    assert files["models/model.pt"] == (bundle / "models" / "model.pt").read_bytes()
    assert (manifest["name"], manifest["version"]) == (bundle.name, VERSION)
    assert manifest["packages"] == {name: version(name) for name in
                                    ("monai", "torch", "numpy", "nibabel", "pytorch-ignite", "monai-denoise")}
    releases = json.loads((bundle / "releases.json").read_text())
    assert releases == {VERSION: manifest["sha256"]["models/model.pt"]}


def test_package_ships_no_image_and_no_training_file_name(packaged, tiny_dataset, tmp_path):
    bundle, archive, _ = packaged
    with zipfile.ZipFile(archive) as zf:
        assert not [n for n in zf.namelist() if n.endswith((".nii", ".nii.gz", ".dcm", ".png"))]
        metadata = zf.read(f"{bundle.name}/configs/metadata.json").decode()
    datalist = json.loads((tiny_dataset / "datalist.json").read_text())
    names = [Path(item["image"]).name for items in datalist.values() for item in items]
    assert len(names) > 10 and not [n for n in names if n in metadata or n.split(".")[0] in metadata]

    disguised = bundle / "docs" / "figure.dat"
    disguised.write_bytes((tiny_dataset / datalist["training"][0]["image"]).read_bytes())
    with pytest.raises(DataError, match="figure.dat"):
        package_bundle(bundle, tmp_path / "leak.zip")
    assert not (tmp_path / "leak.zip").exists()


def retrain(bundle: Path, path: Path, shift: float = 0.5) -> Path:
    """The bundle's weights changed as by retraining, saved to ``path``."""
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    state["gate"] = state["gate"] + shift
    torch.save(state, path)
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def packaged_metadata(archive: Path) -> dict:
    with zipfile.ZipFile(archive) as zf:
        return json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("/configs/metadata.json"))))


def test_package_refuses_changed_weights_under_the_bundle_version_and_says_what_to_pass(packaged, tmp_path):
    bundle, archive, _ = packaged
    retrained = retrain(bundle, tmp_path / "retrained.pt")
    before, bundle_files = archive.read_bytes(), files_of(bundle)
    with pytest.raises(DataError, match=rf"version {re.escape(VERSION)} was released with other weights .*"
                                        rf"pass --version X\.Y\.Z \(above {re.escape(VERSION)}\) and --changelog"):
        package_bundle(bundle, archive, weights=retrained)
    assert archive.read_bytes() == before, "a refused package leaves the previous one untouched"
    assert files_of(bundle) == bundle_files


def test_package_refuses_weights_other_than_the_shipped_ones_for_an_unrecorded_version(bundle, tmp_path):
    """A version not yet recorded in releases.json still stands for the weights the bundle ships."""
    retrained = retrain(bundle, tmp_path / "retrained.pt")
    with pytest.raises(DataError, match=rf"was released with other weights .* in {re.escape(str(bundle))}/models/"
                                        r"model\.pt.*--version"):
        package_bundle(bundle, tmp_path / "out.zip", weights=retrained)
    assert not (tmp_path / "out.zip").exists() and not (bundle / "releases.json").exists()


def test_a_site_releases_its_own_weights_without_changing_the_bundle(packaged, tmp_path, offline):
    bundle, _, first = packaged
    retrained = retrain(bundle, tmp_path / "retrained.pt")
    bundle_files = files_of(bundle)
    archive = tmp_path / "site_release" / "unet.zip"
    manifest = package_bundle(bundle, archive, weights=retrained, version=NEXT, changelog="retrained on site A",
                              site="site_a")

    name = f"{bundle.name}_site_a"
    digest = hashlib.sha256(retrained.read_bytes()).hexdigest()
    assert (manifest["name"], manifest["version"], manifest["sha256"]["models/model.pt"]) == (name, NEXT, digest)
    with zipfile.ZipFile(archive) as zf:
        assert {n.split("/", 1)[0] for n in zf.namelist()} == {name}
    meta, original = packaged_metadata(archive), json.loads((bundle / "configs" / "metadata.json").read_text())
    assert (meta["name"], meta["version"], meta["site"]) == (name, NEXT, "site_a")
    assert meta["changelog"] == {NEXT: "retrained on site A", **original["changelog"]}
    assert meta["authors"].startswith("site_a") and original["authors"] in meta["authors"]
    assert meta["derived_from"] == f"{bundle.name} {VERSION}"
    assert verify_bundle(archive).ok
    assert files_of(bundle) == bundle_files, "the bundle folder is only read: metadata, releases.json unchanged"
    record = archive.parent / f"{name}.releases.json"
    assert json.loads(record.read_text()) == {NEXT: digest}

    assert package_bundle(bundle, tmp_path / "site_release" / "again.zip", weights=retrained, version=NEXT,
                          changelog="retrained on site A", site="site_a")["version"] == NEXT, \
        "repackaging the same weights under the same version is allowed"
    before = archive.read_bytes()
    again = retrain(bundle, tmp_path / "retrained_again.pt", shift=1.0)
    with pytest.raises(DataError, match=rf"{re.escape(str(record))}: {name} version {NEXT} was released with "
                                        "other weights.*new --version"):
        package_bundle(bundle, archive, weights=again, version=NEXT, changelog="again", site="site_a")
    assert archive.read_bytes() == before
    package_bundle(bundle, archive, weights=again, version=AFTER_NEXT, changelog="again", site="site_a")
    assert json.loads(record.read_text()) == {NEXT: digest, AFTER_NEXT: hashlib.sha256(again.read_bytes()).hexdigest()}
    assert json.loads((bundle / "releases.json").read_text()) == {VERSION: first["sha256"]["models/model.pt"]}

    unnamed = package_bundle(bundle, tmp_path / "plain" / "unet.zip", weights=retrained, version=NEXT,
                             changelog="retrained")
    assert unnamed["name"] == bundle.name and "site" not in packaged_metadata(tmp_path / "plain" / "unet.zip")
    assert json.loads((tmp_path / "plain" / f"{bundle.name}.releases.json").read_text()) == {NEXT: digest}
    shared = tmp_path / "records" / "site_a.json"
    package_bundle(bundle, tmp_path / "elsewhere.zip", weights=retrained, version=NEXT, changelog="x",
                   releases=shared)
    with pytest.raises(DataError, match="was released with other weights"):
        package_bundle(bundle, tmp_path / "elsewhere" / "unet.zip", weights=again, version=NEXT, changelog="x",
                       releases=shared)


@pytest.mark.parametrize("options, expected", [
    ({"version": "NEXT"}, "--version needs --changelog"),
    ({"changelog": "retrained"}, "--changelog needs --version"),
    ({"version": "1.0", "changelog": "x"}, "not a semantic version"),
    ({"version": "VERSION", "changelog": "x"}, "must be above the bundle's version"),
    ({"version": "0.0.1", "changelog": "x"}, "must be above the bundle's version"),
    ({"version": "NEXT", "changelog": " "}, "--changelog: empty"),
    ({"version": "NEXT", "changelog": "retrained on sub-01_T1w.nii.gz"}, "names image file sub-01_T1w.nii.gz"),
    ({"site": "../elsewhere"}, "--site '../elsewhere': use letters"),
])
def test_package_refuses_bad_release_options(packaged, tmp_path, options, expected):
    bundle, _, _ = packaged
    bundle_files = files_of(bundle)
    options = {k: {"NEXT": NEXT, "VERSION": VERSION}.get(v, v) for k, v in options.items()}
    with pytest.raises(DataError, match=re.escape(expected)):
        package_bundle(bundle, tmp_path / "out" / "unet.zip", weights=retrain(bundle, tmp_path / "r.pt"), **options)
    assert not (tmp_path / "out").exists() and files_of(bundle) == bundle_files


def test_the_project_releases_new_weights_by_bumping_the_bundle(packaged, tmp_path):
    """The project's own flow: new version and changelog line in metadata.json, the weights in models/."""
    bundle, archive, manifest = packaged
    retrained = retrain(bundle, tmp_path / "retrained.pt")
    meta_file = bundle / "configs" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["version"] = NEXT
    meta_file.write_text(json.dumps(meta))
    shutil.copy(retrained, bundle / "models" / "model.pt")
    with pytest.raises(DataError, match=f"{NEXT} has no entry in `changelog`"):
        package_bundle(bundle, archive)
    meta["changelog"][NEXT] = "retrained"
    meta_file.write_text(json.dumps(meta))
    bumped = package_bundle(bundle, archive)
    assert bumped["version"] == NEXT
    assert bumped["sha256"]["models/model.pt"] == hashlib.sha256(retrained.read_bytes()).hexdigest()
    releases = json.loads((bundle / "releases.json").read_text())
    assert releases == {VERSION: manifest["sha256"]["models/model.pt"], NEXT: bumped["sha256"]["models/model.pt"]}
    assert package_bundle(bundle, tmp_path / "again.zip", weights=retrained)["version"] == NEXT, \
        "repackaging the same weights under the same version is allowed"


def unreleasable_version(bundle: Path) -> None:
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    meta["version"] = "1.0"
    meta["changelog"]["1.0"] = "not semver"
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))


def training_checkpoint(bundle: Path) -> Path:
    (bundle / "models" / "model.pt").unlink()
    return bundle / "models" / "checkpoint_last.pt"


def no_weights(bundle: Path) -> None:
    (bundle / "models" / "model.pt").unlink()


@pytest.mark.parametrize("break_bundle, expected", [
    (unreleasable_version, "not a semantic version"),
    (training_checkpoint, "not a state dict of tensors"),
    (no_weights, "no weights to package"),
])
def test_package_refuses_bad_version_and_weights(bundle, tmp_path, break_bundle, expected):
    weights = break_bundle(bundle)
    with pytest.raises(DataError, match=expected):
        package_bundle(bundle, tmp_path / "out.zip", weights=weights)
    assert not (tmp_path / "out.zip").exists() and not (bundle / "releases.json").exists()


def test_verify_passes_every_check_of_a_project_bundle(packaged, offline):
    _, archive, _ = packaged
    report = verify_bundle(archive)
    assert {check.name: check.ok for check in report.checks} == {
        "manifest": True, "layout": True, "no_images": True, "metadata": True, "weights": True, "network": True,
        "code": True}
    assert "weights load strictly" in dict((c.name, c.detail) for c in report.checks)["network"]
    assert flagged(report) == {} and report.ok
    assert len(report.code) > 100, "every expression and target of the configs is listed"
    assert "monai_denoise.distributed.init_distributed()" in report.to_text(all_code=True)


@pytest.mark.parametrize("name", sorted(p.name for p in UNET_BUNDLE.parent.iterdir() if (p / "configs").is_dir()))
def test_project_bundles_use_only_allowed_code(name):
    items = scan_configs(UNET_BUNDLE.parent / name)
    assert items and not [(i.file, i.key, i.value) for i in items if i.flagged]
    allowed = {i.value for i in items if not i.flagged}
    assert {"torch.optim.AdamW", "monai_denoise.handlers.MetricsTableWriter", "LoadImaged",
            "$monai_denoise.distributed.init_distributed()", "$@bundle_root + '/models/model.pt'"} <= allowed


def test_import_aliases_of_allowed_modules_are_allowed(tmp_path):
    (tmp_path / "configs").mkdir()
    config = {"imports": ["$import torch.distributed as dist", "$import os as system"],
              "rank": "$dist.get_rank() == 0", "escape": "$system.getcwd()"}
    (tmp_path / "configs" / "train.json").write_text(json.dumps(config))
    flagged_keys = {i.key for i in scan_configs(tmp_path) if i.flagged}
    assert flagged_keys == {"imports#1", "escape"}, "dist aliases torch.distributed; os stays outside the allow-list"


@pytest.mark.parametrize("value, problem", [
    ({"_target_": "torch.os.system", "command": "x"}, "is os, outside the allow-list"),
    ({"_target_": "exec", "source": "x"}, "not a MONAI component"),
    ("$monai.utils.optional_import('os')[0].system('x')", "which imports, loads or runs code"),
    ("$torch.load(@bundle_root + '/docs/x.pt', weights_only=False)", "torch.serialization.load"),
    ("$[c for c in ().__class__.__base__.__subclasses__()]", "uses __subclasses__"),
    ("$[f('x') for f in [eval]]", "eval: not an allowed builtin"),
    ("$import subprocess as sp", "subprocess: outside the allow-list"),
    ("$getattr(torch, 'o' + 's')", "getattr: not an allowed builtin"),
    ({"_target_": "NumpyReader", "allow_pickle": True}, "allow_pickle other than False"),
    ("%/etc/bundle.json::network_def", "not a configs/*.json file of this bundle"),
])
def test_scan_flags_escapes_from_the_allow_list(tmp_path, value, problem):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "x.json").write_text(json.dumps({"safe": "$torch.cuda.is_available()", "item": value}))
    items = scan_configs(tmp_path)
    assert [i.problem for i in items if i.key.startswith("safe")] == [""]
    found = [i for i in items if i.flagged]
    assert found and all(i.key.startswith("item") for i in found)
    assert any(problem in i.problem for i in found), [i.problem for i in found]


def test_verify_names_a_tampered_file(packaged, tmp_path):
    _, archive, _ = packaged
    received = extract_bundle(archive, tmp_path / "site_b")
    config = received / "configs" / "inference.json"
    config.write_bytes(config.read_bytes().replace(b'"overlap": 0.25', b'"overlap": 0.35'))
    (received / "docs" / "extra.md").write_text("added later")
    report = verify_bundle(received)
    manifest = dict((c.name, c) for c in report.checks)["manifest"]
    assert not report.ok and not manifest.ok
    assert "configs/inference.json: sha256 differs" in manifest.detail
    assert "docs/extra.md: not listed" in manifest.detail
    assert "configs/train.json" not in manifest.detail


def test_verify_flags_malicious_config_code_without_running_it(packaged, tmp_path):
    _, archive, _ = packaged
    received = extract_bundle(archive, tmp_path / "site_b")
    marker = tmp_path / "pwned"
    config = received / "configs" / "inference.json"
    content = json.loads(config.read_text())
    content["evaluator"]["val_handlers"] = {"_target_": "os.system", "command": f"touch {marker}"}
    content["postprocessing"]["transforms"].append(f"$__import__('os').system('touch {marker}')")
    config.write_text(json.dumps(content))
    report = verify_bundle(received)
    found = flagged(report)
    assert found[("configs/inference.json", "evaluator#val_handlers#_target_")] == "os.system"
    assert found[("configs/inference.json", "postprocessing#transforms#2")].startswith("$__import__")
    problems = {(i.file, i.key): i.problem for i in report.flagged}
    assert "__import__" in problems[("configs/inference.json", "postprocessing#transforms#2")]
    network = dict((c.name, c) for c in report.checks)["network"]
    assert not network.ok and network.detail.startswith("not run")
    assert not marker.exists()


def test_network_check_is_not_run_when_a_macro_reaches_flagged_code(packaged, tmp_path):
    _, archive, _ = packaged
    received = extract_bundle(archive, tmp_path / "site_b")
    marker = tmp_path / "pwned"
    for name, key, value in (("train", "evil", {"_target_": "os.system", "command": f"touch {marker}"}),
                             ("inference", "network_def", "%configs/train.json::evil")):
        config = received / "configs" / f"{name}.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), key: value}))
    report = verify_bundle(received)
    network = dict((c.name, c) for c in report.checks)["network"]
    assert network.detail == "not run: configs/train.json has code outside the allow-list"
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["../evil", "/tmp/evil", "mri_denoising_unet/../../evil"])
def test_verify_refuses_zip_entries_outside_the_folder(tmp_path, entry):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("mri_denoising_unet/LICENSE", "x")
        zf.writestr(entry, "x")
    with pytest.raises(DataError, match="absolute path or '..'"):
        verify_bundle(archive)
    assert not (tmp_path.parent / "evil").exists()


def test_export_matches_the_checkpoint_and_embeds_the_configs(packaged, tmp_path):
    bundle, _, _ = packaged
    exported = export_bundle(bundle)
    assert exported == bundle / "models" / "model.ts" and exported.is_file()
    extra = {"metadata.json": "", "inference.json": ""}
    module = torch.jit.load(str(exported), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["version"] == VERSION
    assert json.loads(extra["inference.json"])["network_def"]["backbone"]["_target_"] == "UNet"
    reference = network_with_weights(bundle)
    image = torch.rand(2, 1, 96, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(module(image), reference(image), atol=1e-5)
        assert not torch.allclose(module(image), image, atol=1e-5), "trained weights, not the untrained identity"


def test_export_vae_in_eval_mode(tmp_path):
    bundle = tmp_path / "mri_denoising_vae"
    shutil.copytree(UNET_BUNDLE.parent / bundle.name, bundle, ignore=shutil.ignore_patterns("models"))
    (bundle / "models").mkdir()
    torch.manual_seed(0)
    torch.save(network_with_weights(bundle, None).state_dict(), bundle / "models" / "model.pt")
    module = torch.jit.load(str(export_bundle(bundle, tmp_path / "vae.ts")))
    image = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        output = module(image)
        assert isinstance(output, torch.Tensor) and output.shape == image.shape
        assert torch.equal(output, module(image)), "eval mode decodes the posterior mean: deterministic"
        assert torch.allclose(output, network_with_weights(bundle)(image), atol=1e-5)


def test_export_gives_a_noise_map_network_its_two_input_channels(tmp_path):
    bundle = tmp_path / "mri_denoising_unet_noise_map"
    shutil.copytree(UNET_BUNDLE.parent / bundle.name, bundle)
    module = torch.jit.load(str(export_bundle(bundle, tmp_path / "noise_map.ts")))
    image = torch.rand(2, 1, 48, 40, generator=torch.Generator().manual_seed(2))
    conditioned = torch.cat([image, torch.full_like(image, 0.05)], dim=1)
    with torch.no_grad():
        output = module(conditioned)
        assert output.shape == image.shape
        assert torch.allclose(output, network_with_weights(bundle)(conditioned), atol=1e-5)


def test_export_refuses_weights_of_another_network(packaged, tmp_path):
    bundle, _, _ = packaged
    vae = tmp_path / "mri_denoising_vae"
    shutil.copytree(UNET_BUNDLE.parent / vae.name, vae, ignore=shutil.ignore_patterns("models"))
    (vae / "models").mkdir()
    shutil.copy(bundle / "models" / "model.pt", vae / "models" / "model.pt")
    with pytest.raises(DataError, match="does not fit network_def"):
        export_bundle(vae)
    assert not list((vae / "models").glob("model.ts*")) and not list((vae / "models").glob(".model.ts*"))


def test_received_bundle_verifies_denoises_and_finetunes_offline(packaged, tmp_path, tiny_dataset, offline):
    _, archive, _ = packaged
    received = extract_bundle(archive, tmp_path / "site_b")
    assert verify_bundle(received).ok
    volume = write_nifti(tmp_path / "scans" / "subject.nii.gz", phantom((40, 36, 6), seed=11),
                         np.diag([2.0, 2.0, 3.0, 1.0]))
    configs = received / "configs"
    workflow = ConfigWorkflow(config_file=str(configs / "inference.json"), workflow_type="infer",
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              bundle_root=str(received), dataset_dir=str(volume.parent),
                              output_dir=str(tmp_path / "denoised"), roi_size=TINY["roi_size"])
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    denoised = nib.load(str(tmp_path / "denoised" / "subject.nii.gz"))
    assert denoised.shape == (40, 36, 6) and np.isfinite(denoised.get_fdata()).all()

    finetune = ConfigWorkflow(config_file=str(configs / "train.json"), workflow_type="train",
                              meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                              bundle_root=str(received), dataset_dir=str(tiny_dataset),
                              output_dir=str(tmp_path / "local"), epochs=1,
                              finetune_from=str(received / "models" / "model.pt"), **TINY)
    finetune.initialize()
    finetune.run()
    finetune.finalize()
    assert (tmp_path / "local" / "models" / "model.pt").is_file()


def network_with_weights(bundle: Path, weights: Path | None = Path("models/model.pt")) -> torch.nn.Module:
    """network_def of the bundle's inference.json in eval mode, with ``bundle/weights`` loaded unless None."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    network = parser.get_parsed_content("network_def")
    if weights is not None:
        network.load_state_dict(torch.load(bundle / weights, weights_only=True))
    return network.eval()


def readme_commands(page: str) -> list[list[str]]:
    """The commands of the first bash block of the documentation page ``docs/<page>``, as argument lists
    (continuations joined, comments dropped)."""
    text = (REPO / "docs" / page).read_text()
    block = text.split("```bash\n", 1)[1].split("\n```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()
            if shlex.split(line, comments=True)]


def run_readme_command(args: list[str], variables: dict[str, str], capsys) -> str:
    """Run one README command in the current folder; its standard output. Training and adaptation are shortened
    by overrides appended to the command as written."""
    args = [re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], arg) for arg in args]
    if len(args) == 1 and re.fullmatch(r"\w+=\S+", args[0]):
        key, value = args[0].split("=", 1)
        variables[key] = value
        return ""
    if args[0] == "monai-denoise":
        code = main(args[1:])
        out, err = capsys.readouterr()
        assert code == 0, f"{shlex.join(args)}: exit {code}\n{out}{err}"
        return out
    if args[0] == "unzip" and shutil.which("unzip") is None:
        with zipfile.ZipFile(args[1]) as zf:
            zf.extractall(args[args.index("-d") + 1])
        return ""
    if args[:4] == ["python", "-m", "monai.bundle", "run"]:
        config = Path(args[args.index("--config_file") + 1]).name
        short = {"train.json": {"epochs": 1, **TINY}, "adapt.json": ADAPT_TINY}.get(config, {})
        args = [sys.executable, *args[1:]]
        for key, value in short.items():
            args += [f"--{key}", json.dumps(value, separators=(",", ":"))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, f"{shlex.join(args)}: exit {result.returncode}\n" + result.stderr[-3000:]
    return result.stdout


def test_readme_sharing_section_runs_as_written(trained_bundle, tiny_dataset, tmp_path, monkeypatch, capsys):
    """The README's sharing commands, in a folder laid out as after its training commands: a copy of the
    repository's bundle (with its releases.json and shipped weights), runs/unet/models/model.pt, scans, a
    prepared dataset."""
    _, output = trained_bundle
    monkeypatch.chdir(tmp_path)
    source = Path("bundles") / UNET_BUNDLE.name
    shutil.copytree(UNET_BUNDLE, source, ignore=shutil.ignore_patterns("logs", "eval", "adapted", "*.ts", ".*"))
    (Path("runs/unet/models")).mkdir(parents=True)
    weights = shutil.copy(output / "models" / "model.pt", "runs/unet/models/model.pt")
    write_nifti(Path("my_volumes") / "subject.nii.gz", phantom((40, 36, 6), seed=11))
    shutil.copytree(tiny_dataset, "local_data")
    bundle_files = files_of(source)

    commands = readme_commands("sharing.md")
    package = next(args for args in commands if args[:3] == ["monai-denoise", "bundle", "package"])
    option = dict(zip(package, package[1:]))
    site, version, changelog, archive = option["--site"], option["--version"], option["--changelog"], option["--output"]
    name = f"{UNET_BUNDLE.name}_{site}"

    old = [arg for i, arg in enumerate(package) if not {arg, package[i - 1]} & {"--site", "--version", "--changelog"}]
    assert main(old[1:]) == 2, "the command README showed before: other weights under the bundle's version"
    assert "pass --version X.Y.Z" in capsys.readouterr().err and not Path(archive).exists()

    variables: dict[str, str] = {}
    outputs = [run_readme_command(args, variables, capsys) for args in commands]
    assert f"{archive}: {name} {version}" in outputs[0] and f"{name}.releases.json" in outputs[0]
    assert "OK" in outputs[1].splitlines()[0]

    received = Path("received") / name
    meta = json.loads((received / "configs" / "metadata.json").read_text())
    original = json.loads((source / "configs" / "metadata.json").read_text())
    assert (meta["name"], meta["version"], meta["site"]) == (name, version, site)
    assert meta["changelog"] == {version: changelog, **original["changelog"]}
    assert meta["derived_from"] == f"{UNET_BUNDLE.name} {original['version']}"
    assert (received / "models" / "model.pt").read_bytes() == Path(weights).read_bytes()
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    assert json.loads(Path(f"{name}.releases.json").read_text()) == {version: digest}
    assert files_of(source) == bundle_files, "the repository's bundle is only read"
    assert Path("denoised/subject.nii.gz").is_file() and Path("adapted/models/model.pt").is_file()
    assert Path("local_run/models/model.pt").is_file() and (received / "models" / "model.ts").is_file()

    retrain(source, Path("runs/unet/models/model.pt"))
    assert main(package[1:]) == 2, "other weights under a version the site released are refused"
    assert f"{name} version {version} was released with other weights" in capsys.readouterr().err
