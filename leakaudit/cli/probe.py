"""``leakaudit probe``: the model-free blind probe (see ``leakaudit.audit.signals.probe``)."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from leakaudit.audit.signals.probe import DEFAULT_FOLDS, DEFAULT_PERMUTATIONS
from leakaudit.audit.signals.probe import probe as run_probe
from leakaudit.cli.console import make_console, show_progress
from leakaudit.cli.options import no_progress_option
from leakaudit.data.benchmark import load_benchmark


@click.command("probe")
@click.argument("bench")
@click.option("--path", type=click.Path(exists=True, path_type=Path), help="Local copy (file or folder) of an adapter's benchmark instead of the hub.")
@click.option("--split", default=None, help="Split to load (adapter default if omitted).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Read only the first N samples.")
@click.option("--folds", type=int, default=DEFAULT_FOLDS, show_default=True, help="Number of cross-validation folds (questions with identical text share a fold).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the fold assignment and the permutations.")
@click.option("--permutations", type=click.IntRange(0), default=DEFAULT_PERMUTATIONS, show_default=True,
              help="Label permutations of the null (gold letters shuffled, folds kept); 0: no null.")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="Threads that run the fits (default: the usable cores, at most 8); the result does not depend on it.")
@no_progress_option()
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the per-question table (.csv or .parquet).")
def probe(bench: str, path: Path | None, split: str | None, limit: int | None, folds: int, seed: int, permutations: int, jobs: int | None,
          no_progress: bool, as_json: bool, out: Path | None) -> None:
    """Predict each answer of BENCH from its wording alone (no model, no image), out of fold.

    Accuracy above the permutation null (and the majority letter) means the question and
    option text give answers away; above chance alone may only be a letter prior.
    """
    loaded = load_benchmark(bench, path=path, split=split, limit=limit)
    if out is not None:  # a bad output path fails before the fits, not after them
        out.parent.mkdir(parents=True, exist_ok=True)
    res = run_probe(loaded, folds=folds, seed=seed, permutations=permutations, jobs=jobs,
                    progress=show_progress(no_progress, as_json))
    if out is not None:
        if out.suffix == ".parquet":
            res.samples.to_parquet(out, index=False)
        else:
            res.samples.to_csv(out, index=False)
    if as_json:
        click.echo(json.dumps(res.to_json(), ensure_ascii=False, default=str))
        return
    s = res.summary
    t = Table(title=f"{s['benchmark']}: blind probe ({s['folds']}-fold, seed {s['seed']})")
    cols = ["questions", "probe accuracy", "95% CI (Wilson)", "chance", "majority letter"]
    row = [str(s["n"]), f"{s['accuracy']:.1%}", f"[{s['ci'][0]:.1%}, {s['ci'][1]:.1%}]", f"{s['chance']:.1%}",
           f"{s['majority_letter']} {s['majority_letter_accuracy']:.1%}"]
    if "permutation_p" in s:
        lo, hi = s["null_accuracy_range"]
        cols += ["null (perm.)", "p vs null"]
        row += [f"{s['null_accuracy']:.1%} [{lo:.1%}, {hi:.1%}]", f"{s['permutation_p']:.2g} ({s['permutations']})"]
    cols.append("flagged")
    row.append(str(s["n_flagged"]))
    for col in cols:
        t.add_column(col, justify="right")
    t.add_row(*row)
    con = make_console()
    con.print(t)
    if s["n_open_skipped"]:
        con.print(f"{s['n_open_skipped']} open question(s) skipped (no options to choose from)")
    if "permutation_p" in s:
        con.print(f"excess over the null: {100 * s['excess_over_null']:+.1f} points; over the majority letter: "
                  f"{100 * s['majority_baseline']['excess']:+.1f} points; p vs chance {s['p_value_vs_chance']:.2g} "
                  "(chance ignores the letter prior)", markup=False, highlight=False)
    if out is not None:
        con.print(f"per-question table -> {out}")


COMMANDS = [probe]
