"""Package a trained bundle into one zip that another site can verify and run.

The zip unpacks into one folder named like the bundle, as MONAI's bundle spec asks::

    <name>/configs/*.json, configs/logging.conf, docs/..., LICENSE, models/model.pt, manifest.json

``manifest.json`` holds the bundle's name and version, the sha256 of every other file and the versions of
the packages it was made with. Nothing else of the bundle folder goes in (no logs, evaluation outputs,
training checkpoints, dotfiles), and no image: training data must not leave in a bundle.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import zipfile
import zlib
from collections.abc import Mapping
from importlib.metadata import version as package_version
from pathlib import Path

import torch
from monai.bundle import ConfigParser

from ..atomic import atomic_path
from ..errors import DataError

MANIFEST = "manifest.json"
RELEASES = "releases.json"
WEIGHTS = "models/model.pt"
METADATA = "configs/metadata.json"
INFERENCE = "configs/inference.json"
SCHEMA = Path(__file__).with_name("meta_schema.json")
SEMVER = re.compile(json.loads(SCHEMA.read_text())["properties"]["version"]["pattern"])
PACKAGES = ("monai", "torch", "numpy", "nibabel", "pytorch-ignite", "monai-denoise")
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".dcm", ".png")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
BUNDLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def in_layout(relative: str) -> bool:
    """Whether the POSIX path ``relative`` (inside the bundle folder) belongs in a package."""
    parts = tuple(relative.split("/"))
    if any(part.startswith(".") or not part for part in parts):
        return False
    if relative in ("LICENSE", "configs/logging.conf", WEIGHTS, MANIFEST):
        return True
    if len(parts) == 2 and parts[0] == "configs":
        return parts[1].endswith(".json")
    return len(parts) > 1 and parts[0] == "docs"


def is_image(name: str, data: bytes) -> bool:
    """Whether a file is a NIfTI, DICOM or PNG image, by its ``name`` or by its content ``data``.

    Content is recognised by the PNG signature, the DICOM ``DICM`` preamble, and the NIfTI-1 / NIfTI-2
    magic strings, also inside gzip (``.nii.gz`` renamed to anything).
    """
    if name.lower().endswith(IMAGE_SUFFIXES):
        return True
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 540)
        except zlib.error:
            return False
    return (data.startswith(b"\x89PNG\r\n\x1a\n") or data[128:132] == b"DICM"
            or data[344:348] in (b"n+1\0", b"ni1\0") or data[4:8] in (b"n+2\0", b"ni2\0"))


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_json(path: Path) -> object:
    """The JSON content of ``path``; DataError if it is missing or not JSON."""
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON: {err}") from err


def network_with_weights(bundle_dir: Path, weights: Path) -> torch.nn.Module:
    """``network_def`` of the bundle's ``configs/inference.json`` with ``weights`` loaded (see :func:`load_weights`).

    Raises:
        DataError: a missing config, weights that cannot be loaded, or weights of another network.
    """
    config_file = Path(bundle_dir) / INFERENCE
    if not config_file.is_file():
        raise DataError(f"{config_file}: not found")
    state = load_weights(weights)
    parser = ConfigParser()
    parser.read_config(str(config_file))
    parser["bundle_root"] = str(bundle_dir)
    network = parser.get_parsed_content("network_def")
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        first = " ".join(str(err).split())[:200]
        raise DataError(f"{weights}: does not fit network_def of {config_file} ({first}); these are another "
                        "network's weights") from err
    return network


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, loaded on the CPU with ``torch.load(..., weights_only=True)``.

    DataError if the file cannot be loaded that way or is not a non-empty mapping of names to tensors
    (a training checkpoint with optimizer state is refused: share the network weights only).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        reason = " ".join(str(err).split()).split("WeightsUnpickler error:")[-1].split(" Check the documentation")[0]
        raise DataError(f"{path}: cannot be loaded with torch.load(weights_only=True): {reason.strip()}") from err
    if not (isinstance(state, Mapping) and state
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        found = f"keys {', '.join(map(str, list(state)[:5]))}" if isinstance(state, Mapping) else type(state).__name__
        raise DataError(f"{path}: not a state dict of tensors (found {found}); share the network weights "
                        "(models/model.pt), not a training checkpoint")
    return dict(state)


def package_versions() -> dict[str, str]:
    """Installed version of each of :data:`PACKAGES`."""
    return {name: package_version(name) for name in PACKAGES}


def bundle_files(bundle_dir: Path) -> dict[str, Path]:
    """Relative POSIX path -> path of the files of ``bundle_dir`` that a package holds, weights excluded:
    ``LICENSE``, ``configs/*.json``, ``configs/logging.conf`` and ``docs/**``, dotfiles left out."""
    candidates = [bundle_dir / "LICENSE", *(bundle_dir / "configs").glob("*"), *(bundle_dir / "docs").rglob("*")]
    files = {}
    for path in sorted(candidates):
        relative = path.relative_to(bundle_dir).as_posix()
        if not in_layout(relative) or not path.is_file():
            continue
        if path.is_symlink():
            raise DataError(f"{path}: is a symbolic link; copy the file into the bundle")
        files[relative] = path
    return files


def check_version(meta: dict, meta_file: Path) -> str:
    """The bundle version of ``meta``; DataError unless it is semver and a key of ``changelog``."""
    version = meta.get("version")
    if not isinstance(version, str) or not SEMVER.match(version):
        raise DataError(f"{meta_file}: version {version!r} is not a semantic version such as 0.1.0")
    changelog = meta.get("changelog")
    if not isinstance(changelog, dict) or version not in changelog:
        raise DataError(f"{meta_file}: version {version} has no entry in `changelog`; add one")
    return version


def check_release(record_file: Path, version: str, digest: str) -> dict[str, str]:
    """The release record (version -> sha256 of model.pt) with ``version`` added.

    DataError if ``version`` was already released with other weights: changed weights need a new version.
    """
    releases = read_json(record_file) if record_file.exists() else {}
    if not isinstance(releases, dict) or not all(isinstance(v, str) for v in releases.values()):
        raise DataError(f"{record_file}: not a release record (a JSON object mapping version to sha256)")
    released = releases.get(version)
    if released is not None and released != digest:
        raise DataError(
            f"{record_file.parent / METADATA}: version {version} was released with other weights (model.pt sha256 "
            f"{released[:12]}..., now {digest[:12]}...); bump `version` and add a `changelog` entry for it")
    return {**releases, version: digest}


def package_bundle(bundle_dir: Path, output_zip: Path, weights: Path | None = None) -> dict:
    """Write the shareable zip of ``bundle_dir`` to ``output_zip`` (atomically) and return its manifest.

    Args:
        bundle_dir: the bundle folder (``configs/metadata.json``, ``LICENSE``, ...).
        output_zip: the zip to write; it unpacks into ``<name>/``, ``name`` from metadata.json (default: the
            folder's name).
        weights: the network weights to ship as ``models/model.pt``. Default None: ``bundle_dir/models/model.pt``.

    Returns:
        the manifest: ``name``, ``version``, ``sha256`` (relative path -> hex digest of every file but the
        manifest) and ``packages`` (distribution -> installed version).

    Raises:
        DataError: no weights, weights that are not a state dict, metadata without a semver ``version`` listed in
            ``changelog``, no ``LICENSE``, an image file among the files, or a version already released with other
            weights (``bundle_dir/releases.json`` records version -> model.pt sha256 for every package made).
    """
    bundle_dir = Path(bundle_dir)
    meta_file = bundle_dir / METADATA
    meta = read_json(meta_file)
    if not isinstance(meta, dict):
        raise DataError(f"{meta_file}: not a JSON object")
    version = check_version(meta, meta_file)
    name = meta.get("name") or bundle_dir.name
    if not isinstance(name, str) or not BUNDLE_NAME.match(name):
        raise DataError(f"{meta_file}: name {name!r} cannot be a folder name")
    weights = Path(weights) if weights is not None else bundle_dir / WEIGHTS
    if not weights.is_file():
        raise DataError(f"{weights}: no weights to package; train the bundle or pass the weights file")
    network_with_weights(bundle_dir, weights)
    files = bundle_files(bundle_dir)
    if "LICENSE" not in files:
        raise DataError(f"{bundle_dir / 'LICENSE'}: not found; a bundle must carry its license")
    contents = {relative: path.read_bytes() for relative, path in files.items()}
    contents[WEIGHTS] = weights.read_bytes()
    images = [relative for relative, data in contents.items() if is_image(relative, data)]
    if images:
        raise DataError(f"{bundle_dir}: image files must not leave in a bundle: {', '.join(images)}")
    hashes = {relative: sha256(data) for relative, data in sorted(contents.items())}
    releases = check_release(bundle_dir / RELEASES, version, hashes[WEIGHTS])
    manifest = {"name": name, "version": version, "sha256": hashes, "packages": package_versions()}
    contents[MANIFEST] = (json.dumps(manifest, indent=4) + "\n").encode()
    with atomic_path(output_zip, suffix=".zip") as partial:
        with zipfile.ZipFile(partial, "w") as archive:
            for relative, data in contents.items():
                info = zipfile.ZipInfo(f"{name}/{relative}", date_time=ZIP_DATE)
                info.external_attr = 0o644 << 16
                archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    with atomic_path(bundle_dir / RELEASES, suffix=".json") as partial:
        partial.write_text(json.dumps(releases, indent=4) + "\n")
    return manifest
