"""``leakaudit store check|repair``: diagnose and salvage a damaged answer store."""
from __future__ import annotations

import json
import sys

import click

from leakaudit.cli.options import json_option


@click.group("store")
def store() -> None:
    """Check or repair a run folder's answer store (answers.sqlite)."""


@store.command("check")
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(run_dir: str, as_json: bool) -> None:
    """Report damage in RUN_DIR's store without changing it (exit 0 healthy, 2 damaged)."""
    from leakaudit.answers.store_tools import check_store

    report = check_store(run_dir)
    if as_json:
        click.echo(json.dumps(report))
    else:
        counts = ", ".join(f"{v} {k}" for k, v in report["counts"].items())
        click.echo(f"{report['file']}: {'ok' if report['ok'] else 'DAMAGED'}" + (f" ({counts})" if counts else ""))
        for p in report["problems"]:
            click.echo(f"  - {p}")
        if not report["ok"]:
            click.echo(f"salvage the readable answers with: leakaudit store repair {run_dir}")
    sys.exit(0 if report["ok"] else 2)


@store.command("repair")
@click.argument("run_dir", type=click.Path(exists=True))
@json_option("Print the repair report (answers kept and lost, cells cleared, the files) as one JSON object.")
def repair(run_dir: str, as_json: bool) -> None:
    """Copy every readable answer of RUN_DIR's store into a new file; the old one is kept, renamed."""
    from leakaudit.answers.store_tools import repair_store

    r = repair_store(run_dir)
    if as_json:
        click.echo(json.dumps(r, ensure_ascii=False, default=str))
        return
    for note in r["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo(f"salvaged {r['kept'].get('answers', 0)} answers ({r['lost'].get('answers', 0)} unreadable, "
               f"{r['json_cells_cleared']} bad JSON cell(s) cleared) into {r['file']}; the old file is {r['old_file']}")


COMMANDS = [store]
