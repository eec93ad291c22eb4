"""Package a trained bundle into one zip that another site can verify and run.

The zip unpacks into one folder named like the bundle, as MONAI's bundle spec asks::

    <name>/configs/*.json, configs/logging.conf, docs/..., LICENSE, models/model.pt, manifest.json

``manifest.json`` holds the bundle's name and version, the sha256 of every other file and the versions of
the packages it was made with. Nothing else of the bundle folder goes in (no logs, evaluation outputs,
training checkpoints, dotfiles), and no image: training data must not leave in a bundle.

A name and version stand for one set of weights, everywhere. Without ``version``, a package is the bundle's
own version of ``configs/metadata.json`` and must carry that version's weights: those ``releases.json`` in the
bundle records for it, else the bundle's own ``models/model.pt``; the release is recorded in the bundle's
``releases.json`` (the project's release history). A site releases weights of its own with ``version`` (above
the bundle's) and ``changelog``, and ``site`` names the package after it (``<name>_<site>``); the bundle folder
is then only read, the new version, changelog entry and site go into the package's ``metadata.json``, and the
release is recorded beside the zip in ``<package name>.releases.json`` (or in the ``releases`` file given),
which refuses other weights under a version already released there.
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
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
IMAGE_NAME = re.compile(r"[\w-]+\.(?:nii\.gz|nii|dcm|png)\b", re.IGNORECASE)
"""An image file name in text (metadata must name no training file)."""


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


def semver_key(version: str) -> tuple:
    """Sort key of the semantic version ``version`` by semver.org precedence (build metadata ignored)."""
    match = SEMVER.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not a semantic version")
    core = tuple(int(part) for part in match.group(1, 2, 3))
    if match.group(4) is None:
        return (*core, 1, ())
    return (*core, 0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in match.group(4).split(".")))


def read_releases(record_file: Path) -> dict[str, str]:
    """The release record in ``record_file`` (version -> sha256 of model.pt); empty if there is none yet."""
    releases = read_json(record_file) if record_file.exists() else {}
    if not isinstance(releases, dict) or not all(isinstance(v, str) for v in releases.values()):
        raise DataError(f"{record_file}: not a release record (a JSON object mapping version to sha256)")
    return releases


def check_release(record_file: Path, name: str, version: str, digest: str) -> dict[str, str]:
    """The release record (version -> sha256 of model.pt) with ``version`` added.

    DataError if ``version`` was already released there with other weights: changed weights need a new version.
    """
    releases = read_releases(record_file)
    released = releases.get(version)
    if released is not None and released != digest:
        raise DataError(
            f"{record_file}: {name} version {version} was released with other weights (model.pt sha256 "
            f"{released[:12]}..., now {digest[:12]}...); release them under a new --version with a --changelog "
            "line")
    return {**releases, version: digest}


def released_weights(bundle_dir: Path, version: str) -> tuple[str, Path] | None:
    """(sha256, source) of the weights of the bundle's ``version``: the entry of ``bundle_dir/releases.json``,
    else the bundle's own ``models/model.pt``; None for a bundle with neither (never packaged, no weights)."""
    record_file = bundle_dir / RELEASES
    released = read_releases(record_file).get(version)
    if released is not None:
        return released, record_file
    shipped = bundle_dir / WEIGHTS
    return (sha256(shipped.read_bytes()), shipped) if shipped.is_file() else None


def release_metadata(meta: dict, version: str | None, changelog: str | None, site: str | None) -> dict:
    """``meta`` as a site's release: ``version`` with its ``changelog`` line added, and with ``site`` the
    name ``<name>_<site>``, the site in ``site`` and ``authors``; ``derived_from`` names the bundle version
    whose configs the package holds. ``meta`` itself is not changed."""
    meta = dict(meta)
    meta["derived_from"] = f"{meta['name']} {meta['version']}"
    if version is not None:
        meta["changelog"] = {version: changelog, **meta["changelog"]}
        meta["version"] = version
    if site is not None:
        meta["name"] = f"{meta['name']}_{site}"
        meta["site"] = site
        meta["authors"] = f"{site} (weights); {meta.get('authors', '')} (bundle)"
    return meta


def release_record(bundle_dir: Path, output_zip: Path, name: str, derived: bool,
                   releases: Path | None = None) -> Path:
    """Where a package's release is recorded: ``releases`` if given; for a site's release (``derived``: a new
    version or a site name) ``<name>.releases.json`` beside ``output_zip``; else the bundle's ``releases.json``."""
    if releases is not None:
        return Path(releases)
    return Path(output_zip).parent / f"{name}.{RELEASES}" if derived else Path(bundle_dir) / RELEASES


def check_site_release(base_version: str, version: str | None, changelog: str | None, site: str | None) -> None:
    """DataError unless ``version`` / ``changelog`` / ``site`` describe a new release of the bundle's weights:
    both or neither of ``version`` and ``changelog``, ``version`` semver and above ``base_version``, a
    changelog line that names no image file, a site name fit for a folder name."""
    if (version is None) != (changelog is None):
        given, missing = ("--version", "--changelog") if changelog is None else ("--changelog", "--version")
        raise DataError(f"{given} needs {missing}: a new version of the weights needs its changelog line")
    if site is not None and not SITE_NAME.match(site):
        raise DataError(f"--site {site!r}: use letters, digits, '_' and '-' only (it becomes part of the "
                        "bundle's folder name)")
    if version is None:
        return
    if not SEMVER.match(version):
        raise DataError(f"--version {version!r}: not a semantic version such as 1.0.0")
    if semver_key(version) <= semver_key(base_version):
        raise DataError(f"--version {version}: must be above the bundle's version {base_version} (without new "
                        "weights, leave --version out)")
    if not changelog.strip():
        raise DataError("--changelog: empty; say what changed in these weights")
    named = IMAGE_NAME.findall(changelog)
    if named:
        raise DataError(f"--changelog: names image file {named[0]}; metadata must name no training file")


def package_bundle(bundle_dir: Path, output_zip: Path, weights: Path | None = None, *, version: str | None = None,
                   changelog: str | None = None, site: str | None = None, releases: Path | None = None) -> dict:
    """Write the shareable zip of ``bundle_dir`` to ``output_zip`` (atomically) and return its manifest.

    Args:
        bundle_dir: the bundle folder (``configs/metadata.json``, ``LICENSE``, ...); only read, except that a
            package of the bundle's own version is recorded in its ``releases.json``.
        output_zip: the zip to write; it unpacks into ``<name>/``, ``name`` from metadata.json (default: the
            folder's name), ``<name>_<site>`` with ``site``.
        weights: the network weights to ship as ``models/model.pt``. Default None: ``bundle_dir/models/model.pt``.
        version: release the weights as this version (semver, above the bundle's); needs ``changelog``. The
            package's ``metadata.json`` gets the version and the changelog line.
        changelog: the changelog line of ``version``.
        site: the releasing site: the package is named ``<name>_<site>`` and its metadata names the site.
        releases: the release record to check and update (version -> model.pt sha256). Default: the bundle's
            ``releases.json`` for its own version, ``<package name>.releases.json`` beside ``output_zip`` for a
            site's release (``version`` or ``site``).

    Returns:
        the manifest: ``name``, ``version``, ``sha256`` (relative path -> hex digest of every file but the
        manifest) and ``packages`` (distribution -> installed version).

    Raises:
        DataError: no weights, weights that are not a state dict, metadata without a semver ``version`` listed in
            ``changelog``, no ``LICENSE``, an image file among the files, weights other than those of the
            bundle's version without a new ``version``, a bad ``version`` / ``changelog`` / ``site``, or a version
            the release record lists with other weights.
    """
    bundle_dir = Path(bundle_dir)
    meta_file = bundle_dir / METADATA
    meta = read_json(meta_file)
    if not isinstance(meta, dict):
        raise DataError(f"{meta_file}: not a JSON object")
    base_version = check_version(meta, meta_file)
    base_name = meta.get("name") or bundle_dir.name
    if not isinstance(base_name, str) or not BUNDLE_NAME.match(base_name):
        raise DataError(f"{meta_file}: name {base_name!r} cannot be a folder name")
    check_site_release(base_version, version, changelog, site)
    weights = Path(weights) if weights is not None else bundle_dir / WEIGHTS
    if not weights.is_file():
        raise DataError(f"{weights}: no weights to package; train the bundle or pass the weights file")
    network_with_weights(bundle_dir, weights)
    files = bundle_files(bundle_dir)
    if "LICENSE" not in files:
        raise DataError(f"{bundle_dir / 'LICENSE'}: not found; a bundle must carry its license")
    contents = {relative: path.read_bytes() for relative, path in files.items()}
    contents[WEIGHTS] = weights.read_bytes()
    digest = sha256(contents[WEIGHTS])
    if version is None:
        released = released_weights(bundle_dir, base_version)
        if released is not None and released[0] != digest:
            raise DataError(
                f"{weights}: {base_name} version {base_version} was released with other weights (model.pt sha256 "
                f"{released[0][:12]}... in {released[1]}, these {digest[:12]}...); to release these, pass "
                f"--version X.Y.Z (above {base_version}) and --changelog TEXT, and --site NAME to name the "
                "package after your site")
    derived = version is not None or site is not None
    if derived:
        meta = release_metadata({**meta, "name": base_name}, version, changelog, site)
        contents[METADATA] = (json.dumps(meta, indent=4) + "\n").encode()
    name, version = meta.get("name") or base_name, meta["version"]
    images = [relative for relative, data in contents.items() if is_image(relative, data)]
    if images:
        raise DataError(f"{bundle_dir}: image files must not leave in a bundle: {', '.join(images)}")
    hashes = {relative: sha256(data) for relative, data in sorted(contents.items())}
    record_file = release_record(bundle_dir, output_zip, name, derived, releases)
    recorded = read_releases(record_file)
    updated = check_release(record_file, name, version, digest)
    manifest = {"name": name, "version": version, "sha256": hashes, "packages": package_versions()}
    contents[MANIFEST] = (json.dumps(manifest, indent=4) + "\n").encode()
    with atomic_path(output_zip, suffix=".zip") as partial:
        with zipfile.ZipFile(partial, "w") as archive:
            for relative, data in contents.items():
                info = zipfile.ZipInfo(f"{name}/{relative}", date_time=ZIP_DATE)
                info.external_attr = 0o644 << 16
                archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    if updated != recorded:
        with atomic_path(record_file, suffix=".json") as partial:
            partial.write_text(json.dumps(updated, indent=4) + "\n")
    return manifest
