"""The README is tested: every command and flag it shows exists, and every command has help.

A renamed or removed flag then fails here instead of in a user's terminal (the idea of
sqlite-utils' ``tests/test_docs.py``). Commands are read from the README's fenced code
blocks and from inline code that starts with ``leakaudit``; flags from those commands and
from inline code that starts with ``--``. Everything is checked against click's own view
of ``leakaudit.cli.main``.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from leakaudit.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
#: flags the README shows for tools other than leakaudit (``scripts/install.sh --test``)
#: flags of scripts/install.sh and scripts/*.py named in the prose (not leakaudit commands)
OTHER_TOOLS_FLAGS = {"--test", "--vllm", "--frames", "--labelled-only", "--signals", "--compare", "--sizes", "--jobs", "--n", "--threads", "--chunks", "--offset", "--modes", "--stages"}

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _words(line: str) -> list[str]:
    """Shell words of one command line; README table cells escape ``|`` as ``\\|``."""
    line = line.replace("\\|", "|").split(" # ")[0]
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def _command_lines(text: str) -> list[str]:
    """Every ``leakaudit ...`` invocation: lines of code blocks (continuations joined) and inline code."""
    lines: list[str] = []
    for block in _FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += joined.splitlines()
    outside = _FENCE.sub("", text)
    lines += [m for m in _INLINE.findall(outside) if m.startswith("leakaudit ")]
    found = []
    for line in lines:
        for part in re.split(r"&&|;", line):  # `bash scripts/install.sh && .venv/bin/leakaudit scan demo`
            words = _words(part.strip().lstrip("- ").removeprefix("run: "))
            if words and (words[0] == "leakaudit" or words[0].endswith("/leakaudit")):
                found.append(" ".join(shlex.quote(x) for x in words))
    return found


def _flags(words: list[str]) -> list[str]:
    out = []
    for w in words:
        w = w.strip("[]()")
        m = re.match(r"^(--[a-z][a-z0-9-]*|-[a-zA-Z])(?:=|$)", w)
        if m:
            out.append(m.group(1))
    return out


def _opts(cmd: click.Command) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        names.update(getattr(p, "opts", []))
        names.update(getattr(p, "secondary_opts", []))
    return names


def _all_opts() -> set[str]:
    out = set()
    for cmd in main.commands.values():
        out |= _opts(cmd)
    return out | _opts(main)


def _commands_in_readme() -> list[tuple[str, str, list[str]]]:
    """(line, command name or '', flags) per README invocation."""
    rows = []
    for line in _command_lines(_readme()):
        words = shlex.split(line)[1:]
        name = words[0] if words and not words[0].startswith("-") else ""
        rows.append((line, name, _flags(words[1:] if name else words)))
    return rows


def test_readme_shows_commands():
    """The parser finds the README's commands (so the checks below are not vacuous)."""
    names = {name for _, name, _ in _commands_in_readme()}
    assert {"scan", "run", "audit", "import", "filter", "report", "gate", "judge", "regenerate", "inspect", "benchmarks", "models"} <= names


@pytest.mark.parametrize("line,name,flags", _commands_in_readme(), ids=lambda v: v if isinstance(v, str) else None)
def test_readme_command_and_flags_exist(line, name, flags):
    if not name:  # `leakaudit --version`
        assert set(flags) <= _opts(main) | {"--version"}, line
        return
    assert name in main.commands, f"README shows `leakaudit {name}`, which is not a command: {line}"
    missing = [f for f in flags if f not in _opts(main.commands[name])]
    assert not missing, f"README shows {missing} for `leakaudit {name}`, which it does not have: {line}"


def test_readme_inline_flags_exist():
    """Flags named in the prose (`--circular`, `--min-confidence P`) belong to some command."""
    known = _all_opts() | OTHER_TOOLS_FLAGS
    shown = {f for code in _INLINE.findall(_FENCE.sub("", _readme())) if code.startswith("--") for f in _flags(_words(code))}
    assert shown, "no inline flags found: the parser is broken"
    assert not sorted(shown - known), f"README names flags no command has: {sorted(shown - known)}"


def test_every_command_has_help():
    assert (main.help or "").strip()
    for name, cmd in main.commands.items():
        assert (cmd.help or cmd.short_help or "").strip(), f"`leakaudit {name}` has no help text"


def test_the_checker_catches_a_wrong_flag():
    """The check fails on a flag that does not exist (a test that cannot fail proves nothing)."""
    words = shlex.split("leakaudit scan demo --no-such-flag")[1:]
    assert "--no-such-flag" not in _opts(main.commands[words[0]]) and _flags(words[1:]) == ["--no-such-flag"]
