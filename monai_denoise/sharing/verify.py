"""Verify a received bundle before running it: integrity, metadata, weights, network, and the code its configs run.

MONAI configs run Python: every ``$`` expression is evaluated, every ``_target_`` is imported and called, and
``%`` macros pull content from other files. MONAI has no allow-list, so :func:`verify_bundle` lists each of
them and flags those that reach code outside the allowed modules. Nothing is run before that scan: the
network is only built (to check it against its metadata and weights) when ``configs/inference.json`` and
``configs/metadata.json`` have nothing flagged, and the metadata schema is the local ``meta_schema.json``
(MONAI's ``verify_metadata`` downloads the schema only when the given file does not exist).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from monai.bundle import ConfigParser, verify_metadata, verify_net_in_out

from ..atomic import atomic_directory
from ..errors import DataError
from .code_scan import DEFAULT_ALLOW, CodeItem, scan_configs
from .package import (IMAGE_NAME, INFERENCE, MANIFEST, METADATA, SCHEMA, WEIGHTS, in_layout, is_image,
                      load_weights, sha256)

NET_FACTOR = 4
"""``n`` for metadata spatial shapes such as ``"16*n"``: the network check runs a 64x64 input."""


@dataclass(frozen=True)
class Check:
    """One verification step.

    Attributes:
        name: "manifest", "layout", "no_images", "metadata", "weights", "network" or "code".
        ok: whether it passed.
        detail: what was found; every problem names its file.
    """

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify_bundle`: every check and every code item of the configs."""

    name: str
    checks: tuple[Check, ...]
    code: tuple[CodeItem, ...]

    @property
    def flagged(self) -> tuple[CodeItem, ...]:
        """The code items that reach outside the allow-list."""
        return tuple(item for item in self.code if item.flagged)

    @property
    def ok(self) -> bool:
        """True when every check passed and no code item is flagged."""
        return all(check.ok for check in self.checks) and not self.flagged

    def to_text(self, all_code: bool = False) -> str:
        """A readable report: the checks, then the flagged code items (every code item if ``all_code``)."""
        lines = [f"bundle {self.name}: {'OK' if self.ok else 'FAILED'}"]
        lines += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        shown = self.code if all_code else self.flagged
        if shown:
            lines.append(f"code in the configs ({len(self.code)} items, {len(self.flagged)} flagged):")
        for item in shown:
            mark = f"FLAGGED ({item.problem})" if item.flagged else "allowed"
            lines.append(f"  {item.file} {item.key} [{item.kind}] {item.value!r}: {mark}")
        return "\n".join(lines)


def extract_bundle(archive: Path, destination: Path) -> Path:
    """Unpack the bundle zip ``archive`` into ``destination/<name>`` (atomically) and return that folder.

    Raises:
        DataError: not a zip, an entry with an absolute path or ``..``, or not exactly one top folder.
        FileExistsError: ``destination/<name>`` exists and is not empty.
    """
    try:
        opened = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{archive}: not a readable zip file: {err}") from err
    with opened:
        entries = opened.infolist()
        for entry in entries:
            parts = entry.filename.replace("\\", "/").split("/")
            if entry.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                raise DataError(f"{archive}: entry {entry.filename!r} has an absolute path or '..'; "
                                "refusing to extract")
        tops = {entry.filename.split("/")[0] for entry in entries}
        if len(tops) != 1 or any("/" not in entry.filename for entry in entries) or next(iter(tops)).startswith("."):
            raise DataError(f"{archive}: must unpack into exactly one bundle folder, found {sorted(tops)}")
        name = tops.pop()
        with atomic_directory(Path(destination) / name) as staging:
            for entry in entries:
                if not entry.is_dir():
                    target = staging / entry.filename.split("/", 1)[1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(opened.read(entry))
    return Path(destination) / name


def verify_bundle(path: Path, allow: tuple[str, ...] = DEFAULT_ALLOW) -> VerifyReport:
    """Verify a bundle zip or folder before it is run.

    A zip is checked (:func:`extract_bundle`) and unpacked into a temporary folder first. Checks, in the report:
    ``manifest`` (every file has the sha256 the manifest lists, none is unlisted or missing, name and version
    match metadata.json), ``layout`` (only the files a package holds), ``no_images`` (no NIfTI / DICOM / PNG file,
    no image file name in metadata.json), ``metadata`` (the local JSON schema through MONAI's ``verify_metadata``,
    offline; ``version`` listed in ``changelog``), ``weights`` (``torch.load(weights_only=True)``), ``network``
    (MONAI's ``verify_net_in_out`` on the CPU with a 64x64 input, then the weights load strictly into
    ``network_def`` of inference.json) and ``code`` (:func:`scan_configs`).

    Args:
        path: a bundle zip, or a bundle folder holding ``manifest.json``.
        allow: modules whose code the configs may use (prefixes of dotted names: "torch" allows
            "torch.optim.AdamW"). Default ("monai", "torch", "monai_denoise", "numpy").

    Returns:
        the report; ``report.ok`` is False on any failed check or flagged code item.
    """
    path = Path(path)
    if path.is_dir():
        return _verify_folder(path, tuple(allow))
    if not path.is_file():
        raise DataError(f"{path}: not found")
    with tempfile.TemporaryDirectory(prefix="bundle-verify-") as tmp:
        return _verify_folder(extract_bundle(path, Path(tmp)), tuple(allow))


def _verify_folder(folder: Path, allow: tuple[str, ...]) -> VerifyReport:
    contents = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    code = scan_configs(folder, allow)
    flagged = [item for item in code if item.flagged]
    weights, state = _check_weights(folder)
    checks = (_check_manifest(folder, contents), _check_layout(contents), _check_no_images(contents),
              _check_metadata(folder), weights, _check_network(folder, code, state),
              Check("code", not flagged, f"{len(code)} expressions, targets and macros in configs/*.json; "
                                         f"{len(flagged)} outside the allow-list {list(allow)}"))
    return VerifyReport(folder.name, checks, tuple(code))


def _check_manifest(folder: Path, contents: dict[str, bytes]) -> Check:
    if MANIFEST not in contents:
        return Check("manifest", False, f"{MANIFEST}: not found")
    try:
        manifest = json.loads(contents[MANIFEST])
        listed, name, version = dict(manifest["sha256"]), manifest["name"], manifest["version"]
    except (ValueError, TypeError, KeyError) as err:
        return Check("manifest", False, f"{MANIFEST}: not a manifest ({type(err).__name__}: {err})")
    problems = [f"{path}: not listed in {MANIFEST}" for path in contents if path != MANIFEST and path not in listed]
    problems += [f"{path}: listed in {MANIFEST} but missing" for path in listed if path not in contents]
    problems += [f"{path}: sha256 differs from {MANIFEST} (changed after packaging)" for path, data in contents.items()
                 if path in listed and listed[path] != sha256(data)]
    try:
        meta = json.loads(contents.get(METADATA, b"{}"))
    except ValueError:
        meta = {}
    if (meta.get("name", name), meta.get("version")) != (name, version):
        problems.append(f"{METADATA}: name / version {meta.get('name')} {meta.get('version')} differ from "
                        f"{MANIFEST}: {name} {version}")
    if folder.name != name:
        problems.append(f"{folder.name}/: the folder of bundle {name} must be named {name}")
    return Check("manifest", not problems, "; ".join(problems) or f"{len(listed)} files match their sha256")


def _check_layout(contents: dict[str, bytes]) -> Check:
    extra = [path for path in contents if not in_layout(path)]
    return Check("layout", not extra, f"not part of a bundle package: {', '.join(extra)}" if extra
                 else "configs/*.json, configs/logging.conf, docs/, LICENSE, models/model.pt, manifest.json only")


def _check_no_images(contents: dict[str, bytes]) -> Check:
    problems = [f"{path}: image file" for path, data in contents.items() if is_image(path, data)]
    names = IMAGE_NAME.findall(contents.get(METADATA, b"").decode(errors="replace"))
    problems += [f"{METADATA}: names image file {name}" for name in names]
    return Check("no_images", not problems, "; ".join(problems) or "no image file, no image file name in metadata")


def _check_metadata(folder: Path) -> Check:
    meta_file = folder / METADATA
    if not meta_file.is_file():
        return Check("metadata", False, f"{METADATA}: not found")
    if not SCHEMA.is_file():
        raise DataError(f"{SCHEMA}: the metadata schema is missing from this installation; reinstall monai-denoise")
    try:
        verify_metadata(meta_file=str(meta_file), filepath=str(SCHEMA), create_dir=False,
                        hash_val=sha256(SCHEMA.read_bytes()), hash_type="sha256")
    except ValueError as err:
        return Check("metadata", False, f"{METADATA}: {err}")
    meta = json.loads(meta_file.read_text())
    if meta["version"] not in meta.get("changelog", {}):
        return Check("metadata", False, f"{METADATA}: version {meta['version']} has no `changelog` entry")
    return Check("metadata", True, f"{METADATA}: valid against {SCHEMA.name}, version {meta['version']} in changelog")


def _check_weights(folder: Path) -> tuple[Check, dict | None]:
    try:
        state = load_weights(folder / WEIGHTS)
    except DataError as err:
        return Check("weights", False, str(err).replace(f"{folder}{os.sep}", "")), None
    values = sum(tensor.numel() for tensor in state.values())
    return Check("weights", True, f"{WEIGHTS}: {len(state)} tensors, {values} values, loaded with "
                                  "torch.load(weights_only=True)"), state


def _check_network(folder: Path, code: list[CodeItem], state: dict | None) -> Check:
    config = folder / INFERENCE
    if not config.is_file():
        return Check("network", False, f"{INFERENCE}: not found")
    used = _macro_closure(code, {INFERENCE, METADATA})
    unsafe = sorted({item.file for item in code if item.flagged and item.file in used})
    if unsafe:
        return Check("network", False, f"not run: {', '.join(unsafe)} has code outside the allow-list")
    try:
        verify_net_in_out(net_id="network_def", meta_file=str(folder / METADATA), config_file=str(config),
                          device="cpu", n=NET_FACTOR, bundle_root=str(folder))
        if state is not None:
            parser = ConfigParser()
            parser.read_config(str(config))
            parser["bundle_root"] = str(folder)
            parser.get_parsed_content("network_def").load_state_dict(state)
    except Exception as err:  # whatever the bundle's network raises is the check's result
        return Check("network", False, f"{INFERENCE}: network_def: {type(err).__name__}: {err}")
    fit = "; the weights load strictly into it" if state is not None else ""
    return Check("network", True, f"{INFERENCE}: network_def passes verify_net_in_out (CPU, n={NET_FACTOR}){fit}")


def _macro_closure(code: list[CodeItem], files: set[str]) -> set[str]:
    """``files`` and every config their ``%`` macros read, directly or through other macros."""
    found, pending = set(), list(files)
    while pending:
        file = pending.pop()
        if file not in found:
            found.add(file)
            pending += [ConfigParser.split_path_id(item.value[1:])[0] for item in code
                        if item.kind == "macro" and item.file == file]
    return found - {""}
