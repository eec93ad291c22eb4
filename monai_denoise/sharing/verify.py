"""Verify a received bundle before running it: integrity, metadata, weights, network, and the code its configs run.

MONAI configs run Python: every ``$`` expression is evaluated, every ``_target_`` is imported and called, and
``%`` macros pull content from other files. MONAI has no allow-list, so :func:`verify_bundle` lists each of
them and flags those that reach code outside the allowed modules. Nothing is run before that scan: the
network is only built (to check it against its metadata and weights) when ``configs/inference.json`` and
``configs/metadata.json`` have nothing flagged, and the metadata schema is the local ``meta_schema.json``
(MONAI's ``verify_metadata`` downloads the schema only when the given file does not exist).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from monai.bundle import ComponentLocator, ConfigParser, verify_metadata, verify_net_in_out
from monai.bundle.reference_resolver import ReferenceResolver

from ..atomic import atomic_directory
from ..errors import DataError
from .package import INFERENCE, MANIFEST, METADATA, SCHEMA, WEIGHTS, in_layout, is_image, load_weights, sha256

DEFAULT_ALLOW = ("monai", "torch", "monai_denoise", "numpy")
DENIED = ("monai.apps.auto3dseg", "monai.apps.nnunet", "monai.auto3dseg", "monai.bundle",
          "monai.data.utils.pickle_operations", "monai.fl", "monai.utils.misc.run_cmd", "monai.utils.module",
          "numpy.ctypeslib", "numpy.load", "torch._classes", "torch._ops", "torch.hub", "torch.package",
          "torch.serialization", "torch.utils.cpp_extension")
"""Entry points inside allowed modules that import modules by name, run commands, or load code from files or
strings (``monai.utils.optional_import``, ``torch.load``, ``torch.ops.load_library``, ...): always flagged."""
SAFE_ARGUMENTS = {"weights_only": True, "allow_pickle": False}
"""Arguments that let MONAI or torch unpickle files (PersistentDataset, NumpyReader): any other value is flagged."""
CONFIG_GLOBALS = {"monai": "monai", "torch": "torch", "np": "numpy", "numpy": "numpy"}
"""The modules a MONAI ConfigParser provides to expressions without an import."""
SAFE_BUILTINS = frozenset({"abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance", "len",
                           "list", "max", "min", "range", "reversed", "round", "set", "slice", "sorted", "str", "sum",
                           "tuple", "type", "zip"})
SAFE_DUNDERS = frozenset({"__name__"})
NET_FACTOR = 4
"""``n`` for metadata spatial shapes such as ``"16*n"``: the network check runs a 64x64 input."""
REFS = ReferenceResolver._vars
"""The name MONAI puts in place of ``@id`` references before it evaluates an expression."""
IMAGE_NAME = re.compile(r"[\w-]+\.(?:nii\.gz|nii|dcm|png)\b", re.IGNORECASE)


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
class CodeItem:
    """A config value that runs code.

    Attributes:
        file: the config, relative to the bundle folder (``configs/train.json``).
        key: the MONAI id of the value (``train#handlers#4#_target_``).
        kind: "expression" (``$...``), "target" (``_target_``), "macro" (``%...``), "argument" (an unsafe
            ``weights_only`` / ``allow_pickle`` value) or "config" (a file that is not JSON).
        value: the text as written.
        problem: why it is flagged; empty when everything it uses is allowed.
    """

    file: str
    key: str
    kind: str
    value: str
    problem: str = ""

    @property
    def flagged(self) -> bool:
        """True when the item reaches outside the allow-list."""
        return bool(self.problem)


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


def scan_configs(folder: Path, allow: tuple[str, ...] = DEFAULT_ALLOW) -> list[CodeItem]:
    """Every ``$`` expression, ``_target_`` and ``%`` macro in ``folder/configs/*.json``, each judged, plus unsafe
    unpickling arguments.

    A ``_target_`` is allowed when it names an object of an allowed module: a bare name is looked up among MONAI
    components as MONAI does (``"UNet"`` -> ``monai.networks.nets.unet.UNet``), a ``@`` reference is allowed (the
    referenced item is scanned itself), a ``$`` value is judged as an expression. An expression is parsed with
    ``ast`` (``@id`` references replaced as MONAI does) and allowed when every name it loads is an allowed module
    or an alias of one (``import torch.distributed as dist`` anywhere in the configs makes ``dist`` one), a config
    reference, a name bound inside it (comprehension variable, lambda argument) or one of :data:`SAFE_BUILTINS`;
    dunder attributes other than ``__name__`` are flagged. Dotted names are also resolved: every module they pass
    through and the module defining the final class or function must be allowed (``torch.os.system`` is ``os``)
    and not in :data:`DENIED`. ``weights_only`` other than true and ``allow_pickle`` other than false are flagged
    wherever they appear (config keys or keyword arguments). A macro may only read another ``configs/*.json``.
    """
    folder = Path(folder)
    configs, items = {}, []
    for path in sorted((folder / "configs").glob("*.json")):
        relative = path.relative_to(folder).as_posix()
        try:
            configs[relative] = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            items.append(CodeItem(relative, "", "config", "", f"not valid JSON: {err}"))
    found = [(file, key, value) for file, config in configs.items() for key, value in _leaves(config)]
    aliases = dict(CONFIG_GLOBALS)
    for _, _, value in found:
        if isinstance(value, str) and value.startswith("$"):
            aliases.update(_import_aliases(value[1:]))
    locator = ComponentLocator()
    for file, key, value in found:
        name = key.split("#")[-1]
        if name in SAFE_ARGUMENTS and value is not SAFE_ARGUMENTS[name]:
            items.append(CodeItem(file, key, "argument", json.dumps(value), f"{name} other than "
                                  f"{SAFE_ARGUMENTS[name]} lets pickle run code from a file"))
        if not isinstance(value, str):
            continue
        is_target = name == "_target_"
        if value.startswith("$"):
            kind, problem = "target" if is_target else "expression", _expression_problem(value[1:], aliases, allow)
        elif is_target:
            kind, problem = "target", _target_problem(value, locator, allow)
        elif value.startswith("%"):
            kind, problem = "macro", _macro_problem(value[1:], configs)
        else:
            continue
        items.append(CodeItem(file, key, kind, value, problem))
    return items


def _leaves(node: object, key: str = ""):
    """(MONAI id, value) of every value of a config that is not a dict or a list."""
    if isinstance(node, dict):
        for name, child in node.items():
            yield from _leaves(child, f"{key}#{name}" if key else str(name))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _leaves(child, f"{key}#{index}" if key else str(index))
    else:
        yield key, node


def _parse(text: str) -> ast.Module | None:
    """The expression as MONAI evaluates it (``@id`` replaced by a reference lookup), parsed; None if invalid."""
    try:
        return ast.parse(ReferenceResolver.id_matcher.sub(REFS, ReferenceResolver.normalize_id(text)))
    except SyntaxError:
        return None


def _import_aliases(text: str) -> dict[str, str]:
    """Name -> module that an import expression binds (``import torch.distributed as dist``: dist)."""
    tree, aliases = _parse(text), {}
    for node in tree.body if tree else ():
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                aliases[name] = alias.name if alias.asname else name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
    return aliases


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for an attribute chain on a name, None for one on anything else (a call, a subscript)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


class _LoadedNames(ast.NodeVisitor):
    """The names and whole attribute chains an expression loads: ``a.b.c`` once, not also ``a.b`` and ``a``."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = _dotted(node)
        if chain is None:
            self.generic_visit(node)
        else:
            self.names.append(chain)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.append(node.id)


def _expression_problem(text: str, aliases: dict[str, str], allow: tuple[str, ...]) -> str:
    """Why the expression ``text`` (without ``$``) is flagged; empty if everything it uses is allowed."""
    tree = _parse(text)
    if tree is None:
        return "not valid Python"
    body = tree.body
    if not body or not (all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)
                        or (len(body) == 1 and isinstance(body[0], ast.Expr))):
        return "not a single expression or import statement"
    problems = []
    for node in body:
        if isinstance(node, ast.Import):
            problems += [_code_problem(alias.name, allow) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module or any(alias.name == "*" for alias in node.names):
                problems.append("relative or star import")
            else:
                problems += [_code_problem(f"{node.module}.{alias.name}", allow) for alias in node.names]
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    problems += [f"rebinds {name}" for name in sorted(bound) if name in aliases or hasattr(builtins, name)
                 or name == REFS]
    problems += [f"uses {n.attr}" for n in ast.walk(tree)
                 if isinstance(n, ast.Attribute) and _is_dunder(n.attr) and n.attr not in SAFE_DUNDERS]
    problems += [f"{n.arg} other than {SAFE_ARGUMENTS[n.arg]} lets pickle run code from a file" for n in ast.walk(tree)
                 if isinstance(n, ast.keyword) and n.arg in SAFE_ARGUMENTS
                 and not (isinstance(n.value, ast.Constant) and n.value.value is SAFE_ARGUMENTS[n.arg])]
    visitor = _LoadedNames()
    visitor.visit(tree)
    for name in visitor.names:
        root, _, rest = name.partition(".")
        if root == REFS or root in bound:
            continue
        if root in aliases:
            problems.append(_code_problem(".".join(filter(None, (aliases[root], rest))), allow))
        elif root not in SAFE_BUILTINS:
            problems.append(f"{root}: not an allowed builtin, an imported module or a config reference")
    return "; ".join(dict.fromkeys(p for p in problems if p))


def _target_problem(value: str, locator: ComponentLocator, allow: tuple[str, ...]) -> str:
    """Why the ``_target_`` ``value`` is flagged; empty if it names an allowed class or function."""
    if value.startswith("@"):
        return ""
    if "." not in value:
        module = locator.get_component_module_name(value)
        if module is None:
            return f"{value}: not a MONAI component (MONAI would look it up with pydoc.locate)"
        value = f"{module[0] if isinstance(module, list) else module}.{value}"
    return _code_problem(value, allow)


def _macro_problem(text: str, configs: dict) -> str:
    """Why the macro ``%text`` is flagged; empty if it reads the same config or another configs/*.json."""
    path, _ = ConfigParser.split_path_id(text)
    if not path or PurePosixPath(path).as_posix() in configs:
        return ""
    return f"reads {path}, which is not a configs/*.json file of this bundle"


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _matches(dotted: str, prefixes: tuple[str, ...]) -> bool:
    return any(dotted == prefix or dotted.startswith(prefix + ".") for prefix in prefixes)


@functools.lru_cache(maxsize=None)
def _code_problem(dotted: str, allow: tuple[str, ...]) -> str:
    """Why the module attribute ``dotted`` (``torch.optim.AdamW``) is flagged; empty if it is allowed.

    Importing the allowed modules is trusted; ``dotted`` is then resolved attribute by attribute.
    """
    parts = dotted.split(".")
    if any(_is_dunder(part) and part not in SAFE_DUNDERS for part in parts):
        return f"{dotted}: dunder attribute"
    if not _matches(dotted, allow):
        return f"{dotted}: outside the allow-list"
    if _matches(dotted, DENIED):
        return f"{dotted}: imports, loads or runs code"
    try:
        target = importlib.import_module(parts[0])
    except ImportError:
        return f"{dotted}: module {parts[0]} is not installed"
    for part in parts[1:]:
        if inspect.ismodule(target) and not hasattr(target, part):
            try:
                importlib.import_module(f"{target.__name__}.{part}")
            except ImportError:
                return f"{dotted}: {part} does not exist"
        if not hasattr(target, part):
            return f"{dotted}: {part} does not exist"
        target = getattr(target, part)
        if inspect.ismodule(target):
            where = target.__name__
        elif inspect.isclass(target) or inspect.isroutine(target):
            where = f"{target.__module__}.{target.__qualname__}" if target.__module__ else ""
        else:
            continue
        if where and not _matches(where, allow):
            return f"{dotted}: is {where}, outside the allow-list"
        if where and _matches(where, DENIED):
            return f"{dotted}: is {where}, which imports, loads or runs code"
    return ""


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
