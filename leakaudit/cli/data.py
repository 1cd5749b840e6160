"""``leakaudit benchmarks`` and ``leakaudit inspect``: what can be loaded and what a benchmark holds."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from leakaudit import registry
from leakaudit.cli.console import make_console
from leakaudit.cli.options import json_option, out_option  # noqa: E402 - the shared flags
from leakaudit.data.benchmark import load_benchmark
from leakaudit.data.inspect import inspect_benchmark
from leakaudit.errors import ON_ERRORS


@click.command("benchmarks")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list instead of a table.")
def benchmarks(as_json: bool) -> None:
    """List the benchmark adapters (built-ins and plugins) with their hub datasets."""
    rows = []
    for name in registry.benchmarks.names():
        try:
            info = registry.benchmarks.get(name)().describe()
            info["name"] = name
        except Exception as exc:  # a broken plugin must not hide the others
            info = {"name": name, "hub_id": None, "hub_split": None, "description": f"(cannot load: {type(exc).__name__}: {exc})"}
        rows.append(info)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="leakaudit benchmarks")
    for col in ("name", "hub dataset", "split", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r.get("hub_id") or "-", r.get("hub_split") or "-", r.get("description") or "")
    make_console().print(table)


def _safe(value: object, limit: int = 300) -> str:
    """Submitted text for the terminal: no control characters or ANSI escapes, no rich markup."""
    from rich.markup import escape

    from leakaudit.data.textsafe import clean_message

    return escape(clean_message(value, limit))


def _table(title: str, counts: dict, total: int) -> Table:
    t = Table(title=title)
    t.add_column("value", overflow="fold")
    t.add_column("count", justify="right")
    t.add_column("share", justify="right")
    for k, v in counts.items():
        t.add_row(_safe(k), str(v), f"{v / total:.1%}" if total else "-")
    return t


@click.command("inspect")
@click.argument("bench")
@click.option("--path", type=click.Path(exists=True, path_type=Path), help="Local copy (file or folder) of an adapter's benchmark instead of the hub.")
@json_option("Print exactly one JSON object on stdout.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Read only the first N samples.")
@click.option("--on-error", type=click.Choice(ON_ERRORS), default="raise", show_default=True, help="Stop at the first bad row, or skip bad rows and list them.")
@out_option("skipped_out", file=True, path_type=Path, aliases=("--skipped-out",),
            help="Where --on-error skip writes the skipped rows [default: skipped_rows.csv].")
@click.option("--split", default=None, help="Split to read from a file that holds several (ScienceQA's problems.json; default: the adapter's).")
@click.option("--no-images", is_flag=True, help="Read image fields as metadata, never open them (question files published without images; text-only runs and imports).")
def inspect(bench: str, path: Path | None, as_json: bool, limit: int | None, on_error: str, skipped_out: Path | None, split: str | None,
            no_images: bool) -> None:
    """Counts and problems of BENCH (an adapter name, or a path to a submission file/folder)."""
    loaded = load_benchmark(bench, path=path, limit=limit, on_error=on_error, split=split, no_images=no_images)
    stats = inspect_benchmark(loaded, on_error=on_error)
    err = make_console(stderr=True)
    if on_error == "skip" and len(loaded.skipped):
        out = loaded.skipped.write(skipped_out or Path("skipped_rows.csv"))
        stats["skipped_rows_file"] = str(out)
        err.print(f"{len(loaded.skipped)} row(s) skipped; list written to {out}")
    if as_json:
        click.echo(json.dumps(stats, ensure_ascii=False, default=str))
        return
    con = make_console()
    n = stats["n_samples"]
    con.print(f"[bold]{_safe(stats['benchmark'])}[/bold] from {_safe(stats['source'])} ({stats['format']}): {n} samples, "
              f"{stats['n_multiple_choice']} multiple-choice, {stats['n_open']} open, {stats['n_without_image']} without image, {stats['n_skipped']} skipped")
    con.print(_table("samples per category", stats["by_category"], n))
    if set(stats["by_l2_category"]) != {"(none)"}:
        con.print(_table("samples per l2 category", stats["by_l2_category"], n))
    con.print(_table("options per question (0 = open)", stats["option_counts"], n))
    con.print(_table("answer letters", stats["answer_letters"], stats["n_multiple_choice"]))
    con.print(_table("images per sample", stats["images_per_sample"], n))
    problems = Table(title="problems found")
    problems.add_column("kind")
    problems.add_column("count", justify="right")
    problems.add_column("details", overflow="fold")
    problems.add_column("example ids", overflow="fold")
    for p in stats["problems"]:
        problems.add_row(p["kind"], str(p["count"]), _safe(p["message"], 1000), _safe(", ".join(p["ids"][:5])))
    if stats["problems"]:
        con.print(problems)
    else:
        con.print("no problems found")


COMMANDS = [benchmarks, inspect]
