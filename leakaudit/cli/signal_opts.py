"""``--signals`` and ``--signal-threshold``: one decorator shared by scan and gate (issue 11)."""
from __future__ import annotations

from typing import Any, Callable

import click


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if not value:
        return None
    from leakaudit.audit.signals import get

    names = [v.strip() for v in value.split(",") if v.strip()]
    for name in names:
        try:
            get(name)
        except Exception as exc:  # an unknown name: a usage error naming the known ones
            raise click.BadParameter(str(exc)) from exc
    return names


def _thresholds(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for item in [v for v in (value or "").split(",") if v.strip()]:
        name, sep, num = item.partition("=")
        try:
            out[name.strip()] = float(num)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE, e.g. probe=0.2") from None
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE, e.g. probe=0.2")
    return out or None


def signal_options() -> Callable[[Any], Any]:
    """Add ``--signals NAME,...`` (model-based signals to compute) and ``--signal-threshold NAME=SHARE`` (gate checks)."""
    def deco(f: Any) -> Any:
        f = click.option("--signal-threshold", "signal_thresholds", default=None, callback=_thresholds,
                         help="Gate checks: largest allowed share of questions a signal flags, NAME=SHARE[,NAME=SHARE], e.g. probe=0.2.")(f)
        return click.option("--signals", "extra_signals", default=None, callback=_names,
                            help="Model-based signals to compute too, comma-separated (see `leakaudit signals`); the probe always runs.")(f)
    return deco
