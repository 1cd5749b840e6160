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
from .console import LOG_LEVELS, configure_output

_MODULES = ("data", "models", "audit", "report", "regen")


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LeakauditError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, "--version", "-V", prog_name="leakaudit")
@click.option("--quiet", "-q", is_flag=True, help="Only the result lines: no tables, no progress bars, errors only in the log.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default=None,
              help="Log level on stderr (default warning; error with --quiet). debug also shows third-party warnings and loading bars.")
def main(quiet: bool, log_level: str | None) -> None:
    """Audit multimodal benchmarks for data leakage and vision dependency."""
    configure_output(quiet, log_level or ("error" if quiet else "warning"))


for _mod in _MODULES:
    try:
        _m = importlib.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as exc:  # stage not present
        if exc.name != f"{__name__}.{_mod}":
            raise
        continue
    for _cmd in getattr(_m, "COMMANDS", ()):
        main.add_command(_cmd)
