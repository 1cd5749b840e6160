"""``leakaudit signals``: the kinds of evidence the audit computes (built-in and plugins)."""
from __future__ import annotations

import json

import click


@click.command("signals")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects (name, measures, null, validated, validated_on, needs, columns, label, ...).")
def signals_cmd(as_json: bool) -> None:
    """List the registered signals (entry point group leakaudit.signals): what each measures and what it needs."""
    from leakaudit.audit import signals

    sigs = signals.registered()
    if as_json:
        click.echo(json.dumps([s.info() for s in sigs], ensure_ascii=False))
        return
    from rich.table import Table

    from leakaudit.cli.console import make_console

    table = Table(title="registered signals (entry point group leakaudit.signals)")
    for col in ("name", "needs", "label", "removal", "measures", "null", "validated"):
        table.add_column(col, overflow="fold")
    for s in sigs:
        removal = (s.removal_reason or "") + ("" if s.removes_by_default or not s.removal_reason else " (opt-in)")
        info = s.info()
        validated = f"on {info['validated_on']}" if info["validated"] else f"no: {info['unvalidated_reason'] or 'not yet'}"
        table.add_row(s.name, ", ".join(s.needs) or "(benchmark only)", s.label or "", removal, s.description, s.null, validated)
    make_console().print(table)


COMMANDS = [signals_cmd]
