"""The flags every command shares, declared once (issue 10, item 6).

One flag means one thing in every command:

- ``-o/--out``: where the command writes its file or folder;
- ``--zoo``: a zoo group or zoo model name; ``--zoo-file``: the zoo YAML;
- ``--shots``, ``--blind``, ``--scoring``: the audit's words, choices from ``leakaudit.types`` and
  defaults from ``leakaudit.answers.settings.AuditSettings``;
- ``--models`` (and other model lists): one comma-separated list, never a repeated option;
- ``--json``: one JSON document on stdout, for every command that reports something.

Old spellings (``--text-shots``, ``--blind-mode``, ``--group``, ``--skipped-out``, ``--zoo FILE.yaml``)
still parse as hidden, deprecated aliases so scripts keep working; help and README show only the new ones.
``model_options`` and ``engine_options`` (models by name, run configuration, engines) are re-exported
from here so a command takes all its shared flags from one module.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import click

from leakaudit.answers.settings import AuditSettings
from leakaudit.cli.engine_opts import engine_options
from leakaudit.cli.model_options import model_options
from leakaudit.types import BLIND_MODES, SCORINGS

_DEFAULTS = AuditSettings()


class AliasedOption(click.Option):
    """A click option whose deprecated spellings parse but are left out of ``--help``."""

    def __init__(self, *args: Any, hidden_aliases: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = tuple(hidden_aliases)

    def get_help_record(self, ctx: click.Context):
        saved = self.opts
        self.opts = [o for o in saved if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = saved


def _option(*decls: str, hidden: tuple[str, ...] | bool = (), **kwargs: Any) -> Callable:
    if hidden is True:
        return click.option(*decls, hidden=True, **kwargs)
    if hidden:
        return click.option(*decls, cls=AliasedOption, hidden_aliases=hidden, **kwargs)
    return click.option(*decls, **kwargs)


# -- outputs ---------------------------------------------------------------------------
def out_option(dest: str = "out", *, file: bool = False, required: bool = False, default: Any = None, help: str,
               aliases: tuple[str, ...] = (), path_type: type | None = None, show_default: bool = False) -> Callable:
    """``-o/--out``: the command's output file (``file=True``) or folder."""
    ptype = click.Path(dir_okay=False, path_type=path_type) if file else click.Path(file_okay=False, path_type=path_type)
    return _option("-o", "--out", *aliases, dest, hidden=aliases, type=ptype, required=required, default=default,
                   show_default=show_default, help=help)


def json_option(help: str = "Print one JSON object on stdout instead of the lines.") -> Callable:
    """``--json``: the command's report as one JSON document on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def no_progress_option(help: str = "No progress bar.") -> Callable:
    """``--no-progress``: no bars on stderr (``leakaudit.cli.console.show_progress`` decides with it)."""
    return click.option("--no-progress", "no_progress", is_flag=True, help=help)


# -- the zoo -----------------------------------------------------------------------------
def _looks_like_file(value: str) -> bool:
    return value.lower().endswith((".yaml", ".yml")) or Path(value).is_file()


def zoo_options(default_group: str | None = None, *, group_help: str | None = None, show_default: bool = False) -> Callable:
    """``--zoo NAME`` (group or model of the zoo) and ``--zoo-file FILE`` (the zoo YAML).

    The callback gets ``zoo_group`` and ``zoo_path``. ``--zoo some.yaml`` (the old meaning in
    audit, filter, run, report, models, judge and regenerate) still works: it is taken as
    ``--zoo-file`` with a deprecation note on stderr. ``--group`` is a hidden alias of ``--zoo``.
    """
    def deco(fn: Callable) -> Callable:
        @_option("--zoo", "zoo_group", default=default_group, show_default=show_default,
                 metavar="NAME", help=group_help or "Zoo group or zoo model name (see `leakaudit models`).")
        @_option("--zoo-file", "zoo_path", type=click.Path(dir_okay=False), default=None,
                 help="Zoo YAML (default: $LEAKAUDIT_ZOO or the bundled model_zoo.yaml).")
        @_option("--group", "group_alias", default=None, hidden=True, help="Deprecated spelling of --zoo NAME.")
        @functools.wraps(fn)
        def wrapper(*args: Any, zoo_group: str | None, zoo_path: str | None, group_alias: str | None, **kw: Any):
            zoo_group, zoo_path = split_zoo(zoo_group, zoo_path)
            if group_alias:
                zoo_group = group_alias
            return fn(*args, zoo_group=zoo_group, zoo_path=zoo_path, **kw)

        return wrapper

    return deco


def zoo_file_option() -> Callable:
    """``--zoo-file`` alone, for commands that name their models one by one (``judge``); ``--zoo`` stays a hidden alias."""
    return _option("--zoo-file", "--zoo", "zoo_path", hidden=("--zoo",), type=click.Path(dir_okay=False), default=None,
                   help="Zoo YAML (default: $LEAKAUDIT_ZOO or the bundled model_zoo.yaml).")


def split_zoo(zoo_group: str | None, zoo_path: str | None) -> tuple[str | None, str | None]:
    """(group, file): a YAML file given to ``--zoo`` moves to ``--zoo-file`` (deprecated spelling)."""
    if zoo_group and zoo_path is None and _looks_like_file(zoo_group):
        ctx = click.get_current_context(silent=True)
        default = ctx.lookup_default("zoo_group") if ctx is not None else None
        click.echo(f"note: --zoo {zoo_group} is a file: use --zoo-file for the zoo YAML (--zoo takes a group or model name)", err=True)
        return (default if isinstance(default, str) and not _looks_like_file(default) else None), zoo_group
    return zoo_group, zoo_path


# -- the audit's words -------------------------------------------------------------------
def shots_option(default: int | None = _DEFAULTS.shots, *, help: str, show_default: bool = False) -> Callable:
    """``--shots`` (few-shot demonstrations); ``--text-shots`` is its deprecated alias."""
    return _option("--shots", "--text-shots", "shots", hidden=("--text-shots",), type=click.IntRange(0, 8), default=default,
                   show_default=show_default, help=help)


def blind_option(default: str | None = "drop", *, help: str = "What a blind run shows instead of the image.",
                 show_default: bool = True) -> Callable:
    """``--blind`` (drop / grey / noise); ``--blind-mode`` is its deprecated alias."""
    return _option("--blind", "--blind-mode", "blind", hidden=("--blind-mode",), type=click.Choice(BLIND_MODES), default=default,
                   show_default=show_default, help=help)


def scoring_option(default: str | None = None, *, help: str, show_default: bool = False) -> Callable:
    """``--scoring`` with the choices of ``leakaudit.types.SCORINGS``."""
    return click.option("--scoring", type=click.Choice(SCORINGS), default=default, show_default=show_default, help=help)


# -- model lists ---------------------------------------------------------------------------
def comma_list(value: str | None) -> list[str] | None:
    """``a, b,c`` -> ``["a", "b", "c"]``; None when empty."""
    if value is None:
        return None
    out = [x.strip() for x in str(value).split(",") if x.strip()]
    return out or None


def models_option(dest: str = "models_opt", *, help: str, name: str = "--models", default: str | None = None,
                  aliases: tuple[str, ...] = (), show_default: bool = False) -> Callable:
    """A comma-separated list of models (one option, never repeated); the callback gets the raw string."""
    return _option(name, *aliases, dest, hidden=aliases, default=default, show_default=show_default, metavar="A,B,...", help=help)


def base_llm_option() -> Callable:
    """``--base-llm LVLM=LLM,...``: base LLMs of models the zoo does not know, one comma list."""
    return click.option("--base-llm", "base_llm", default=None, metavar="LVLM=LLM,...",
                        help="Base LLM of vision models the zoo does not know, as a comma list of LVLM=LLM.")


__all__ = [
    "AliasedOption",
    "base_llm_option",
    "blind_option",
    "comma_list",
    "engine_options",
    "json_option",
    "model_options",
    "models_option",
    "out_option",
    "scoring_option",
    "shots_option",
    "split_zoo",
    "zoo_file_option",
    "zoo_options",
]
