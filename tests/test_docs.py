"""README and the pages under docs/ name only commands that exist: every command of a ``bash`` block, and every
inline ``monai-denoise ...`` or ``python -m ...`` command, is checked against the command line, the Makefile, the
importable modules and the files it names."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from monai_denoise.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def commands(page: Path) -> list[list[str]]:
    """Each command of ``page``: the lines of its bash blocks (continuations joined, comments and variable
    assignments dropped) and its inline code spans that start with ``monai-denoise`` or ``python -m``."""
    text = page.read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)\n```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and not re.fullmatch(r"\w+=\S*", words[0]):
                found.append(words)
    for span in re.findall(r"`((?:monai-denoise|python -m) [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
        found.append(span.split())
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


PLACEHOLDER = re.compile(r"[A-Z]|\.\.\.|^-")
"""A word that stands for something (``COMMAND``, ``benchmarks.NAME``, ``...``) or an option: the check stops there."""


def problem(words: list[str], root: Path = REPO) -> str | None:
    """Why ``words`` is not a command of this project or machine; None where it is. Config files are found from
    ``root`` (a bundle's own docs run from the bundle's folder)."""
    head = words[0]
    if head == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M)
        return None if words[1] in targets else f"no make target {words[1]!r}"
    if head == "monai-denoise":
        parser, path = build_parser(), ["monai-denoise"]
        for word in words[1:]:
            choices = subcommands(parser)
            if not choices or PLACEHOLDER.search(word):
                return None
            if word not in choices:
                return f"{' '.join(path)} has no sub-command {word!r} (it has {sorted(choices)})"
            parser, path = choices[word], [*path, word]
        return None if not subcommands(parser) or len(path) == 1 else f"{' '.join(path)} needs a sub-command"
    if head == "python" and words[1] == "-m":
        if PLACEHOLDER.search(words[2]):
            return None
        if importlib.util.find_spec(words[2]) is None:
            return f"no module {words[2]}"
        if words[2] == "monai.bundle" and "--config_file" in words:
            config = words[words.index("--config_file") + 1]
            if "$" not in config and not (root / config).is_file():
                return f"no config file {config}"
        return None
    return None if shutil.which(head) or (Path(sys.executable).parent / head).is_file() else f"no program {head!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_documented_command_exists(page, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    found = commands(page)
    results = REPO / "docs" / "results"
    root = REPO / "bundles" / page.parent.name if page.parent.parent == results else REPO
    bad = [f"{shlex.join(words)}: {why}" for words in found if (why := problem(words, root))]
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_command_that_does_not_exist():
    assert problem(["monai-denoise", "comapre", "--data", "x"]).startswith("monai-denoise has no sub-command")
    assert problem(["monai-denoise", "bundle"]) == "monai-denoise bundle needs a sub-command"
    assert problem(["python", "-m", "benchmarks.no_such_benchmark"]) == "no module benchmarks.no_such_benchmark"
    assert problem(["make", "deploy"]) == "no make target 'deploy'"
    assert problem(["monai-denoise", "bundle", "render", "--check"]) is None


def test_every_page_is_reachable_from_the_readme():
    readme = (REPO / "README.md").read_text()
    pages = {p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")}
    assert pages and all(f"]({page})" in readme for page in pages), pages
