"""Scan the code a MONAI bundle's configs would run: ``$`` expressions, ``_target_`` values and ``%`` macros.

MONAI evaluates every ``$`` expression as Python, imports and calls every ``_target_`` and reads ``%`` macros from
other files, with no allow-list. :func:`scan_configs` lists each of them and flags those that reach code outside
the allowed modules, without running anything.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from monai.bundle import ComponentLocator, ConfigParser
from monai.bundle.reference_resolver import ReferenceResolver

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

REFS = ReferenceResolver._vars
"""The name MONAI puts in place of ``@id`` references before it evaluates an expression."""


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
