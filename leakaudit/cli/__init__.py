"""The ``leakaudit`` command: a thin click layer over the Python API.

Each submodule owns one stage's commands and exposes ``COMMANDS``; errors that are the
user's to fix (``LeakauditError``) print one clear line and exit with status 2.
"""
from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import LeakauditError

_MODULES = ("data", "models", "audit", "report", "regen", "compare")


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LeakauditError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="leakaudit")
def main() -> None:
    """Audit multimodal benchmarks for data leakage and vision dependency."""


for _mod in _MODULES:
    try:
        _m = importlib.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as exc:  # stage not present
        if exc.name != f"{__name__}.{_mod}":
            raise
        continue
    for _cmd in getattr(_m, "COMMANDS", ()):
        main.add_command(_cmd)
