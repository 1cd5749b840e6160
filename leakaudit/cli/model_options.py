"""Options shared by ``run``, ``scan`` and ``gate``: models by name and a run configuration file.

``model_options`` adds ``--kind``, ``--backend``, ``--device``, ``--dtype``,
``--model-args`` (and ``--batch-size`` where the command has none) and ``--config``; the
command passes what it got to :func:`resolve` (``leakaudit.models.adhoc.resolve_models``) and
calls :func:`save_config` once it knows its output folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from leakaudit.types import KINDS

BACKEND_CHOICES = ("hf", "llamacpp", "openai", "lmeval")
DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp32")


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Eager: the file's values become this command's defaults; the command line still wins."""
    if not value:
        return value
    from leakaudit.cli.config import load_defaults

    known: set[str] = set()
    root = ctx.find_root().command
    for name in ("run", "scan", "gate", "audit", "filter"):
        cmd = getattr(root, "commands", {}).get(name)
        if cmd is not None and cmd is not ctx.command:
            known |= {o.lstrip("-") for p in cmd.params for o in getattr(p, "opts", [])}
            known |= {p.name for p in cmd.params if p.name}
    try:
        defaults = load_defaults(value, ctx.command, known=known)
    except Exception as exc:  # ConfigError: the group turns it into exit 2 with the message
        from leakaudit.errors import LeakauditError

        if isinstance(exc, LeakauditError):
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
        raise
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def model_options(*, batch_size: bool = True) -> Callable:
    """Decorator: the models-by-name options and ``--config``."""
    def deco(f: Callable) -> Callable:
        opts = [
            click.option("--config", "config", type=click.Path(exists=True, dir_okay=False), default=None, is_eager=True,
                         callback=_load_config, expose_value=True,
                         help="YAML file of settings keyed by option name (models, shots, scoring, thresholds...); the command line wins. "
                              "Written back to the output folder as config.yaml."),
            click.option("--kind", type=click.Choice(KINDS), default=None,
                         help="Kind of a model given by hub id, folder or .gguf when its config cannot tell (default: from config.json)."),
            click.option("--backend", type=click.Choice(BACKEND_CHOICES), default=None,
                         help="Backend for models given by hub id, folder or .gguf (default hf; llamacpp for .gguf when installed)."),
            click.option("--device", default=None, help="Device for the hf backend (cpu, cuda, cuda:1...; default: cuda when present)."),
            click.option("--dtype", type=click.Choice(DTYPE_CHOICES), default=None, help="Weights dtype for the hf backend (default auto: bf16 on a GPU; on a CPU with bf16 arithmetic bf16 with an fp32 head and an fp32 copy that scores close calls again; else fp32)."),
            click.option("--model-args", "model_args", default=None,
                         help="key=value,... keyword arguments for the models' backend (e.g. n_ctx=2048 for llamacpp, max_batch_tokens=4096 for hf)."),
        ]
        if batch_size:
            opts.append(click.option("--batch-size", "batch_size", type=click.IntRange(1), default=None,
                                     help="Questions per forward pass of the hf backend (default 16)."))
        for opt in reversed(opts):
            f = opt(f)
        return f
    return deco


def names(csv: str | None) -> list[str] | None:
    return [x.strip() for x in csv.split(",") if x.strip()] if csv else None


def resolve(zoo: Any, models_csv: str | None, *, kind: str | None, backend: str | None, device: str | None, dtype: str | None,
            batch_size: int | None, model_args: str | None, names_list: list[str] | None = None) -> tuple[Any, list[str] | None]:
    """(zoo with ad-hoc specs and overrides, model names) for the command's models."""
    from leakaudit.models.adhoc import resolve_models

    chosen = names_list if names_list is not None else names(models_csv)
    if chosen is None and (kind or backend):
        raise click.UsageError("--kind and --backend apply to models named with --models")
    return resolve_models(zoo, chosen, kind=kind, backend=backend, device=device, dtype=dtype, batch_size=batch_size,
                          model_args=model_args)


def save_config(folder: str | Path | None) -> Path | None:
    """Write the current command's settings into ``folder/config.yaml``."""
    if folder is None:
        return None
    from leakaudit.cli.config import write_config

    ctx = click.get_current_context()
    return write_config(folder, ctx.command.name, dict(ctx.params))


def model_names(models_opt: str | None, group: str | None, zoo) -> list[str]:
    """The models named by ``--models a,b`` and ``--zoo GROUP``, in order, without repeats."""
    from leakaudit.errors import LeakauditError

    chosen: list[str] = []
    if models_opt:
        chosen += [m.strip() for m in models_opt.split(",") if m.strip()]
    if group:
        chosen += [s.name for s in zoo.group(group)]
    if not chosen:
        raise LeakauditError("say which models to run: --models a,b or --zoo GROUP (see `leakaudit models`)")
    return list(dict.fromkeys(chosen))  # keep order, drop repeats


__all__ = ["model_names", "model_options", "names", "resolve", "save_config"]
