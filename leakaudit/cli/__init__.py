"""The ``leakaudit`` command: a thin click layer over the Python API.

Each submodule owns one stage's commands and exposes ``COMMANDS``; errors that are the
user's to fix (``LeakauditError``, or an ``OSError`` on a path they gave, such as an output
file inside a file) print one clear line and exit with status 2. Any other
exception is a bug or an environment fault: it also prints one line (the traceback only
with ``--log-level debug`` or ``LEAKAUDIT_DEBUG=1``) and exits 2, never 1, since exit 1
means "a threshold failed" to the CI gate.
"""
from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback

import click

from leakaudit.cli.console import LOG_LEVELS, configure_output
from leakaudit.data.textsafe import clean_message
from leakaudit.errors import LeakauditError
from leakaudit.version import __version__

_MODULES = ("data", "models", "audit", "report", "regen", "signals", "store", "probe", "compare")
DEBUG_ENV = "LEAKAUDIT_DEBUG"


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LeakauditError as exc:
            click.echo(f"error: {clean_message(exc)}", err=True)
            sys.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:
            if exc.filename is None:  # not about a path the user gave: a bug or an environment fault
                self._unexpected(f"{type(exc).__name__}: {exc}")
            # a path given on the command line that cannot be written or read (a folder on it is a
            # file, no permission, a disk full): name it and what the system said, in one line
            hint = {errno.ENOTDIR: " (a folder on this path is a file)", errno.EEXIST: " (a folder is needed here, but this is a file)"}.get(exc.errno, "")
            click.echo(f"error: {clean_message(exc.filename)}: {exc.strerror or type(exc).__name__}{hint}", err=True)
            sys.exit(2)
        except RecursionError:
            self._unexpected("input nested too deeply to process (RecursionError)")
        except MemoryError:
            self._unexpected("out of memory (MemoryError); use --limit or a smaller input")
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback, exit 2
            self._unexpected(f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _unexpected(message: str) -> None:
        if _debug():
            traceback.print_exc()
        click.echo(f"error: unexpected failure: {clean_message(message)}", err=True)
        if not _debug():
            click.echo(f"(this is a bug or an environment fault; rerun with --log-level debug or {DEBUG_ENV}=1 for the traceback)", err=True)
        sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, "--version", "-V", prog_name="leakaudit")
@click.option("--quiet", "-q", is_flag=True, help="Only the result lines: no tables, no progress bars, errors only in the log.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default=None,
              help="Log level on stderr (default warning; error with --quiet). debug also shows third-party warnings and loading bars, "
                   "and the traceback of an unexpected failure.")
@click.option("--allow-remote-code", is_flag=True,
              help="Let zoo models with trust_remote_code (and a pinned revision) run their hub repository's Python code.")
@click.option("--revision", default=None, metavar="SHA",
              help="Hub revision (commit sha) of the benchmark dataset to load; the adapters' default is the moving 'main'.")
@click.option("--long-prompts", type=click.Choice(["truncate", "skip"]), default=None,
              help="For every command that runs models (run, scan, gate): a prompt over a model's max_prompt_tokens is cut or skipped [default: truncate].")
def main(quiet: bool, log_level: str | None, allow_remote_code: bool, revision: str | None, long_prompts: str | None) -> None:
    """Audit multimodal benchmarks for data leakage and vision dependency."""
    level = (log_level or ("error" if quiet else "warning")).lower()
    configure_output(quiet, level)
    if level == "debug":
        os.environ[DEBUG_ENV] = "1"
    if allow_remote_code:
        from leakaudit.models.zoo import ALLOW_REMOTE_CODE_ENV

        os.environ[ALLOW_REMOTE_CODE_ENV] = "1"
    if revision:
        from leakaudit.data.io import HUB_REVISION_ENV

        os.environ[HUB_REVISION_ENV] = revision
    if long_prompts:
        from leakaudit.data.prompt_limits import LONG_PROMPTS_ENV

        os.environ[LONG_PROMPTS_ENV] = long_prompts


for _mod in _MODULES:
    for _cmd in importlib.import_module(f"{__name__}.{_mod}").COMMANDS:
        main.add_command(_cmd)
