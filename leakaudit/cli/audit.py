"""``leakaudit audit | filter | scan | import | gate``: the audit stage's commands."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import LeakauditError
from .engine_opts import engine_options


# -- shared rendering ------------------------------------------------------------------
def _fmt(value: Any, lo: Any = None, hi: Any = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.1f}"
    if lo is not None and hi is not None and not (isinstance(lo, float) and math.isnan(lo)):
        text += f" [{lo:.1f}, {hi:.1f}]"
    return text


def metrics_table(result, *, category: bool = False, intervals: bool = True):
    """A rich table of the whole-benchmark metrics (per category when ``category``)."""
    from rich.table import Table

    from ..audit import AVERAGE

    s = result.summary.get("settings", {})
    m = result.metrics
    benches = sorted(set(m["benchmark"].dropna())) if "benchmark" in m else []
    one = len(benches) == 1  # one benchmark: named in the title, not repeated on every row
    title = (f"{benches[0]}: " if one else "") + f"MMStar metrics (%, 95% bootstrap interval), S_t at {s.get('text_shots', 0)}-shot"
    title += ", circular" if s.get("circular") else ""
    table = Table(title=title)
    cols = ([] if one else ["benchmark"]) + (["category"] if category else []) + ["model", "kind", "base LLM", "S_v", "S_wv", "S_t", "MG", "ML"]
    for c in cols:
        numeric = c in ("S_v", "S_wv", "S_t", "MG", "ML")
        table.add_column(c, justify="right" if numeric else "left", no_wrap=numeric)
    rows = m if category else m[m["category"].isna()]
    avg = result.averages
    if not avg.empty:
        avg = avg if category else avg[avg["category"].isna()]
    frames = [rows.sort_values(["benchmark", "kind", "model"], kind="stable")]
    if not avg.empty:
        frames.append(avg)
    for frame in frames:
        for r in frame.to_dict(orient="records"):
            cat = r.get("category")
            cells = ([] if one else [str(r["benchmark"])]) + ([str(cat) if isinstance(cat, str) else "(all)"] if category else [])
            base = r.get("base_llm")
            cells += [r["model"] if r["model"] != AVERAGE else "average (LVLMs)", str(r.get("kind") or ""), base if isinstance(base, str) else ""]
            for name in ("S_v", "S_wv", "S_t", "MG", "ML"):
                cells.append(_fmt(r.get(name), r.get(f"{name}_lo") if intervals else None, r.get(f"{name}_hi") if intervals else None))
            table.add_row(*cells)
    return table


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The headline numbers as lines of text (shares, label quality, verdict, notes)."""
    def pct(x):
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"

    out = [
        f"questions: {summary.get('n_samples')} ({summary.get('n_audited')} audited); "
        f"text-answerable {pct(summary.get('share_text_answerable'))}, leaked {pct(summary.get('share_leaked'))}, "
        f"vision-dependent {pct(summary.get('share_vision_dependent'))}, kept {pct(summary.get('share_kept'))}",
        f"rule: {summary.get('settings', {}).get('rule')}",
    ]
    q = summary.get("label_quality")
    if q:
        out.append(
            f"vs ground-truth labels ({q['n_labelled']} questions): precision {q['precision']:.2f}, recall {q['recall']:.2f}, "
            f"F1 {q['f1']:.2f} (tp {q['tp']}, fp {q['fp']}, fn {q['fn']}, tn {q['tn']})"
        )
    v = summary.get("verdict") or {}
    if v.get("message"):
        out.append(f"verdict: {v.get('status')}: {v['message']}")
    for note in summary.get("notes", []):
        out.append(f"note: {note}")
    return out


def _base_llm_map(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise LeakauditError(f"--base-llm expects LVLM=LLM, got {p!r}")
        lvlm, llm = p.split("=", 1)
        out[lvlm.strip()] = llm.strip()
    return out


def _names(csv: str | None) -> list[str] | None:
    return [x.strip() for x in csv.split(",") if x.strip()] if csv else None


# -- audit -------------------------------------------------------------------------------
@click.command("audit")
@click.option("--run-dir", type=click.Path(), required=True, help="Folder of the answer store (answers.sqlite).")
@click.option("--benchmark", default=None, help="Only this benchmark's answers (default: all in the store).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (metrics rows in percent, null where not run).")
@click.option("--text-shots", type=click.IntRange(0, 8), default=0, show_default=True,
              help="Shot setting of S_t: 0 as in MMStar's tables, 2 as its filter (MMStar issue #6).")
@click.option("--circular", is_flag=True, help="Credit a question only if every rotation of its options is right.")
@click.option("--k", type=click.IntRange(0), default=None, help="Text-answerable above k LLM hits (with --n: above floor(N*k/n)). Default: MMStar's 2 of 8.")
@click.option("--n", type=click.IntRange(1), default=None, help="Ratio denominator for --k.")
@click.option("--n-boot", type=click.IntRange(0), default=1000, show_default=True, help="Bootstrap resamples for the 95% intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--zoo", "zoo_path", type=click.Path(dir_okay=False), default=None, help="Zoo YAML (gives each LVLM's base LLM).")
@click.option("--base-llm", "base_llm", multiple=True, help="LVLM=LLM: base LLM of a model the zoo does not know (repeatable).")
@click.option("--scoring", type=click.Choice(["letter", "cloze", "generate"]), default=None, help="Only answers of this scoring mode.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Also write summary.json, metrics.csv, samples.csv/parquet here.")
@click.option("--by-category", is_flag=True, help="Table per capability too.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores (default: every hit, as MMStar).")
@click.option("--inspectors", default=None, help="Comma-separated LLMs whose text-only hits count as evidence (default: every LLM in the store).")
def audit_cmd(run_dir, benchmark, as_json, text_shots, circular, k, n, n_boot, seed, zoo_path, base_llm, scoring, out_dir, by_category,
              min_confidence, inspectors) -> None:
    """MMStar's S_v, S_wv, S_t, MG and ML per model, benchmark and capability, from RUN_DIR's answers."""
    from ..audit import audit

    result = audit(run_dir, benchmark=benchmark, zoo=zoo_path, text_shots=text_shots, k=k, n=n, circular=circular,
                   n_boot=n_boot, seed=seed, base_llms=_base_llm_map(base_llm), scoring=scoring, inspectors=_names(inspectors),
                   min_confidence=min_confidence)
    if out_dir:
        result.save(out_dir)
    if as_json:
        doc = result.to_json()
        click.echo(json.dumps(doc, ensure_ascii=False, allow_nan=False))
        return
    from .console import make_console

    console = make_console()
    console.print(metrics_table(result, category=by_category))
    for line in summary_lines(result.summary):
        console.print(line, markup=False, highlight=False)
    if out_dir:
        console.print(f"written: {out_dir}", markup=False)


# -- filter ------------------------------------------------------------------------------
@click.command("filter")
@click.argument("bench")
@click.option("--run-dir", type=click.Path(), required=True, help="Answer store with the text-only (and blind) runs of BENCH.")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None, help="Local copy of the benchmark.")
@click.option("--split", default=None)
@click.option("--k", type=click.IntRange(0), default=None, help="Keep questions answered by at most k text-only LLMs (with --n: floor(N*k/n)). Default: MMStar's 2 of 8.")
@click.option("--n", type=click.IntRange(1), default=None, help="Ratio denominator for --k.")
@click.option("--drop-blind", is_flag=True, help="Also drop questions a vision model answers without the image.")
@click.option("--balance", is_flag=True, help="Equal number of questions per capability (deterministic).")
@click.option("--text-shots", type=click.IntRange(0, 8), default=0, show_default=True, help="Prefer text-only answers of this shot setting.")
@click.option("--circular", is_flag=True, help="Count a text-only hit only if every rotation was right.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores (default: every hit, as MMStar).")
@click.option("--zoo", "zoo_path", type=click.Path(dir_okay=False), default=None)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Folder for the kept questions and removed.csv.")
@click.option("--inspectors", default=None, help="Comma-separated LLMs whose text-only hits count as evidence (default: every LLM in the store).")
def filter_(bench, run_dir, bench_path, split, k, n, drop_blind, balance, text_shots, circular, min_confidence, zoo_path, out_dir,
            inspectors) -> None:
    """Write BENCH without its text-answerable questions (MMStar's filter), in its own format, plus removed.csv."""
    from .console import make_console

    from ..audit import audit
    from ..benchmark import load_benchmark
    from ..filter import filter_benchmark

    bench_obj = load_benchmark(bench, path=bench_path, split=split)
    result = audit(run_dir, benchmark=bench_obj, zoo=zoo_path, text_shots=text_shots, k=k, n=n, circular=circular, n_boot=0,
                   inspectors=_names(inspectors), min_confidence=min_confidence)
    fres = filter_benchmark(bench_obj, result, k=k, n=n, drop_blind=drop_blind, balance=balance)
    data_file = fres.write(out_dir)
    console = make_console()
    console.print(f"kept {len(fres.kept)} of {len(bench_obj)} questions -> {data_file}", markup=False, highlight=False)
    for reason, count in fres.reason_counts().items():
        console.print(f"  removed {count}: {reason}", markup=False, highlight=False)
    console.print(f"manifest: {Path(out_dir) / 'removed.csv'}", markup=False, highlight=False)


# -- scan --------------------------------------------------------------------------------
@click.command("scan")
@click.argument("bench")
@click.option("--zoo", "zoo_group", default=None, help="Zoo group or model (default: tiny for demo, else MMStar's 8 LLM inspectors + 16 LVLMs).")
@click.option("--zoo-file", "zoo_path", type=click.Path(dir_okay=False), default=None, help="Zoo YAML (default: $LEAKAUDIT_ZOO or the bundled one).")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None, help="Local copy of the benchmark (file or folder).")
@click.option("--split", default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Report folder (default reports/<bench>-<time>/).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help="Answer store to use (default OUT/run).")
@click.option("--shots", type=click.IntRange(0, 8), default=None, help="Few-shot demonstrations for the text-only LLMs (default 0; MMStar's filter used 2).")
@click.option("--scoring", type=click.Choice(["letter", "cloze", "generate"]), default=None, help="Answer scoring (default cloze: no letter bias).")
@click.option("--circular/--no-circular", default=None, help="Ask every rotation of the options; a question counts only if all are right.")
@click.option("--k", type=click.IntRange(0), default=None, help="Filter/label threshold: more than k text-only hits is text-answerable (with --n: floor(N*k/n)).")
@click.option("--n", type=click.IntRange(1), default=None, help="Ratio denominator for --k.")
@click.option("--drop-blind", is_flag=True, help="Filter also drops questions a vision model answers without the image.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores (default 0.5; 0: every hit, as MMStar).")
@click.option("--balance", is_flag=True, help="Filter keeps the same number of questions per capability.")
@click.option("--n-boot", type=click.IntRange(0), default=1000, show_default=True)
@click.option("--no-report", is_flag=True, help="Skip the PDF.")
@click.option("--no-progress", is_flag=True)
@engine_options("scan")
def scan_cmd(bench, zoo_group, zoo_path, bench_path, split, limit, out_dir, run_dir, shots, scoring, circular, k, n, drop_blind,
             min_confidence, balance, n_boot, no_report, no_progress) -> None:
    """Audit BENCH end to end: run the missing answers, compute MG/ML, label and filter questions, write a report folder."""
    from .console import make_console

    from .. import scan as scan_mod

    res = scan_mod.scan(
        bench, zoo_group=zoo_group, zoo=zoo_path, path=bench_path, split=split, limit=limit, out=out_dir, run_dir=run_dir,
        shots=scan_mod.DEFAULT_SHOTS if shots is None else shots, scoring=scoring or scan_mod.DEFAULT_SCORING,
        circular=scan_mod.DEFAULT_CIRCULAR if circular is None else circular, k=k, n=n, drop_blind=drop_blind, balance=balance,
        min_confidence=scan_mod.DEFAULT_MIN_CONFIDENCE if min_confidence is None else (min_confidence or None), n_boot=n_boot, progress=not no_progress, report=not no_report,
    )
    console = make_console()
    console.print(metrics_table(res.audit))
    for line in summary_lines(res.audit.summary):
        console.print(line, markup=False, highlight=False)
    console.print(f"kept {len(res.filter.kept)} of {len(res.filter.benchmark)} questions -> {res.kept_file}", markup=False, highlight=False)
    console.print(f"report folder: {res.out_dir}" + (f" (PDF: {res.report_pdf})" if res.report_pdf else "") + f" in {res.seconds:.0f} s",
                  markup=False, highlight=False)


# -- import --------------------------------------------------------------------------------
@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["vlmevalkit", "lm-eval", "mathvista"]), required=True,
              help="vlmevalkit: xlsx/tsv/csv/parquet with a prediction column; lm-eval: samples_*.jsonl; mathvista: output JSON.")
@click.option("--model", required=True, help="Name to store the answers under (a zoo name when it has one).")
@click.option("--condition", type=click.Choice(["vision", "blind", "text"]), required=True)
@click.option("--benchmark", "bench", required=True, help="Benchmark the predictions are for (adapter name or path).")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None, help="Local copy of the benchmark.")
@click.option("--split", default=None)
@click.option("--run-dir", type=click.Path(file_okay=False), required=True, help="Answer store to import into.")
@click.option("--shots", type=click.IntRange(0, 8), default=0, show_default=True, help="Few-shot setting the predictions were made with.")
@click.option("--blind-mode", type=click.Choice(["drop", "grey", "noise"]), default="drop", show_default=True)
def import_(file, fmt, model, condition, bench, bench_path, split, run_dir, shots, blind_mode) -> None:
    """Store published predictions (VLMEvalKit, lm-eval, MathVista) as answers, for the audit."""
    from .console import make_console
    from rich.table import Table

    from ..imports import import_predictions

    summary = import_predictions(file, format=fmt, model=model, condition=condition, benchmark=bench, path=bench_path,
                                 split=split, run_dir=run_dir, shots=shots, blind_mode=blind_mode)
    console = make_console()
    for line in summary.lines():
        console.print(line, markup=False, highlight=False)
    table = Table(title=f"{summary.model} on {summary.benchmark} ({summary.condition}) by category")
    table.add_column("category")
    table.add_column("n", justify="right")
    table.add_column("accuracy %", justify="right")
    for r in summary.by_category.itertuples(index=False):
        table.add_row(str(r.category), str(r.n), f"{r.accuracy:.1f}")
    console.print(table)


# -- gate --------------------------------------------------------------------------------
@click.command("gate")
@click.argument("submission", type=click.Path())
@click.option("--max-text-answerable", type=click.FloatRange(0, 1), default=0.10, show_default=True,
              help="Largest allowed share of questions text-only LLMs answer without the image.")
@click.option("--min-mg", type=float, default=None, help="Smallest allowed average multi-modal gain (points) of the vision models.")
@click.option("--max-leaked", type=click.FloatRange(0, 1), default=None, help="Largest allowed share of leaked questions.")
@click.option("--zoo", "zoo_group", default="tiny", show_default=True, help="Zoo group (or model) that audits the submission.")
@click.option("--zoo-file", "zoo_path", type=click.Path(dir_okay=False), default=None, help="Zoo YAML.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Folder for verdict.json, junit.xml, summary.md.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help="Answer store (default OUT/run; reuse it to skip re-runs).")
@click.option("--shots", type=click.IntRange(0, 8), default=None)
@click.option("--scoring", type=click.Choice(["letter", "cloze", "generate"]), default=None)
@click.option("--circular/--no-circular", default=None)
@click.option("--k", type=click.IntRange(0), default=None)
@click.option("--n", type=click.IntRange(1), default=None)
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores (default 0.5; 0: every hit, as MMStar).")
@click.option("--limit", type=click.IntRange(1), default=None)
@engine_options("gate")
def gate_cmd(submission, max_text_answerable, min_mg, max_leaked, zoo_group, zoo_path, out_dir, run_dir, shots, scoring, circular, k, n,
             min_confidence, limit) -> None:
    """CI gate for a benchmark SUBMISSION: exit 0 pass, 1 a threshold failed, 2 bad input or setup."""
    from ..gate import gate

    verdict = gate(submission, out=out_dir, max_text_answerable=max_text_answerable, min_mg=min_mg, max_leaked=max_leaked,
                   zoo_group=zoo_group, zoo=zoo_path, run_dir=run_dir, shots=shots, scoring=scoring, circular=circular,
                   k=k, n=n, min_confidence=min_confidence, limit=limit)
    if verdict.error:
        click.echo(f"error: {verdict.error['message']}", err=True)
    for c in verdict.checks:
        click.echo(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.message}")
    click.echo(f"gate: {verdict.status} (exit {verdict.exit_code}); details in {out_dir}")
    sys.exit(verdict.exit_code)


COMMANDS = [audit_cmd, filter_, scan_cmd, import_, gate_cmd]
