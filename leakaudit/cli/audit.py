"""``leakaudit audit | filter | scan | import | gate``: the audit stage's commands."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from leakaudit.cli.console import quiet, show_progress
from leakaudit.cli.model_options import resolve, save_config
from leakaudit.cli.options import (base_llm_option, blind_option, comma_list, engine_options, json_option, model_options, models_option,
                                   no_progress_option, out_option, scoring_option, shots_option, zoo_options)
from leakaudit.cli.signal_opts import signal_options
from leakaudit.errors import LeakauditError
from leakaudit.types import CONDITIONS, IMPORT_FORMATS


# -- shared rendering ------------------------------------------------------------------
def _fmt(value: Any, lo: Any = None, hi: Any = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.1f}"
    if lo is not None and hi is not None and not (isinstance(lo, float) and math.isnan(lo)):
        text += f" [{lo:.1f}, {hi:.1f}]"
    return text


METRIC_COLUMNS = ("S_v", "S_wv", "S_t", "MG", "ML")
#: printed under the table: what the abbreviations mean
METRICS_LEGEND = ("S_v: LVLM with images; S_wv: LVLM without images; S_t: text-only score of the LLM (for an LVLM, "
                  "of its base LLM); MG = S_v - S_wv; ML = max(0, S_wv - S_t); in brackets or below: 95% bootstrap interval.")


def _metric_rows(result, category: bool) -> list[dict[str, Any]]:
    from leakaudit.audit import AVERAGE

    m = result.metrics
    rows = m if category else m[m["category"].isna()]
    avg = result.averages
    if not avg.empty:
        avg = avg if category else avg[avg["category"].isna()]
    frames = [rows.sort_values(["benchmark", "kind", "model"], kind="stable")]
    if not avg.empty:
        frames.append(avg)
    out = []
    for frame in frames:
        for r in frame.to_dict(orient="records"):
            r = dict(r)
            r["_average"] = r["model"] == AVERAGE
            r["_name"] = "average (LVLMs)" if r["_average"] else str(r["model"])
            out.append(r)
    return out


def metrics_table(result, *, category: bool = False, intervals: bool = True, width: int | None = None):
    """A rich table of the whole-benchmark metrics (per category when ``category``).

    Every model name is shown in full. When the one-line layout (value and interval side by
    side, kind and base LLM columns) is wider than ``width`` columns, the stacked layout is
    used: the interval under each value and the kind / base LLM under the model name, which
    fits 80 columns for names up to 30 characters (longer ones wrap, never cut).
    """
    wide = _metrics_table(result, category=category, intervals=intervals, stacked=False)
    if width is None:
        return wide
    from rich.console import Console

    probe = Console(width=10_000, file=open(os.devnull, "w"))  # noqa: SIM115 - measuring only
    if probe.measure(wide).maximum <= width:
        return wide
    return _metrics_table(result, category=category, intervals=intervals, stacked=True)


def _metrics_table(result, *, category: bool, intervals: bool, stacked: bool):
    from rich import box
    from rich.table import Table

    s = result.summary.get("settings", {})
    m = result.metrics
    benches = sorted(set(m["benchmark"].dropna())) if "benchmark" in m else []
    one = len(benches) == 1  # one benchmark: named in the title, not repeated on every row
    title = (f"{benches[0]}: " if one else "") + f"MMStar metrics (%, 95% bootstrap interval), S_t at {s.get('text_shots', 0)}-shot"
    title += ", circular" if s.get("circular") else ""
    rows = _metric_rows(result, category)
    name_width = max([len(r["_name"]) for r in rows] + [5])
    if stacked:
        # one space between columns (left padding only): 5 metric columns of 9-10 characters
        # leave 30 for the model name at 80 columns
        table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False)
        lead = ([] if one else ["benchmark"]) + (["category"] if category else [])
        for c in lead:
            table.add_column(c, overflow="fold")
        table.add_column("model", min_width=min(name_width, 30), overflow="fold")
        for c in METRIC_COLUMNS:
            table.add_column(c, justify="right", no_wrap=True)
    else:
        table = Table(title=title)
        cols = ([] if one else ["benchmark"]) + (["category"] if category else []) + ["model", "kind", "base LLM", *METRIC_COLUMNS]
        for c in cols:
            numeric = c in METRIC_COLUMNS
            table.add_column(c, justify="right" if numeric else "left", no_wrap=numeric or c == "model",
                             min_width=name_width if c == "model" else None)
    previous_kind = None
    for r in rows:
        cat = r.get("category")
        cells = ([] if one else [str(r["benchmark"])]) + ([str(cat) if isinstance(cat, str) else "(all)"] if category else [])
        base = r.get("base_llm")
        base = base if isinstance(base, str) else ""
        kind = str(r.get("kind") or "")
        if stacked:
            if r["_average"]:
                sub = "mean of the LVLMs"
            elif kind == "lvlm":
                sub = f"base: {base}" if base else "LVLM, no base LLM"
            else:
                sub = "LLM, text only"
            group = "avg" if r["_average"] else kind
            if previous_kind is not None and group != previous_kind:
                table.add_section()
            previous_kind = group
            cells.append(f"{r['_name']}\n[dim]{_escape(sub)}[/dim]" if sub else r["_name"])
            for name in METRIC_COLUMNS:
                value = _fmt(r.get(name))
                lo, hi = r.get(f"{name}_lo"), r.get(f"{name}_hi")
                if intervals and value != "-" and lo is not None and not (isinstance(lo, float) and math.isnan(lo)):
                    value += f"\n[dim]{lo:.1f}–{hi:.1f}[/dim]"
                cells.append(value)
        else:
            cells += [r["_name"], kind, base]
            for name in METRIC_COLUMNS:
                cells.append(_fmt(r.get(name), r.get(f"{name}_lo") if intervals else None, r.get(f"{name}_hi") if intervals else None))
        table.add_row(*cells)
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_metrics(console, result, *, category: bool = False) -> None:
    """The metrics table at the console's width, then the legend of its abbreviations."""
    console.print(metrics_table(result, category=category, width=console.width))
    console.print(METRICS_LEGEND, markup=False, highlight=False, style="dim")


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
    elif summary.get("verdict_reason"):
        out.append(f"verdict: none: {summary['verdict_reason']}")
    if summary.get("signals"):
        from leakaudit.audit.signals import report_rows

        rows = report_rows(summary)
        if rows:
            out.append("signals: " + "; ".join(f"{name} {value}" for name, value in rows))
    panel = {} if summary.get("verdict_reason") else summary.get("panel") or {}  # no panel: the verdict line says so
    if panel.get("text"):
        out.append(panel["text"])
    if panel.get("warning"):
        out.append(f"warning: {panel['warning']}")
    from leakaudit.audit.filter import random_lines

    out += random_lines((summary.get("filter") or {}).get("vs_random") or {})
    for note in summary.get("notes", []):
        out.append(f"note: {note}")
    return out


def given(**params: Any) -> dict[str, Any]:
    """The settings whose flags were given on the command line (``setting=("param", value)``), others None.

    A flag left at its default must not override what the run folder recorded.
    """
    from click.core import ParameterSource

    ctx = click.get_current_context()
    out = {}
    for setting, (param, value) in params.items():
        src = ctx.get_parameter_source(param)
        out[setting] = value if src in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT) else None
    return out


def echo_overrides(lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)


def _base_llm_map(pairs: str | tuple[str, ...] | None) -> dict[str, str]:
    out = {}
    items = [pairs] if isinstance(pairs, str) else list(pairs or ())
    for p in [x for item in items for x in (comma_list(item) or [])]:
        if "=" not in p:
            raise LeakauditError(f"--base-llm expects LVLM=LLM, got {p!r}")
        lvlm, llm = p.split("=", 1)
        out[lvlm.strip()] = llm.strip()
    return out


def _names(csv: str | None) -> list[str] | None:
    return comma_list(csv)


def _zoo_panel(zoo_group: str | None, zoo_path: str | None, inspectors: list[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """(inspectors, lvlms) of ``--zoo NAME`` for commands that read stored answers: the group's LLMs and LVLMs.

    ``--inspectors`` still wins for the LLMs; no ``--zoo``: (inspectors, None), the recorded panel.
    """
    if not zoo_group:
        return inspectors, None
    from leakaudit.workflows.pipeline import load_zoo

    specs = load_zoo(zoo_path).group(zoo_group)
    llms = [s.name for s in specs if s.kind == "llm"]
    lvlms = [s.name for s in specs if s.kind == "lvlm"]
    return (inspectors if inspectors is not None else (llms or None)), (lvlms or None)


def audited_benchmark(run_dir: str, name: str | None, path: str | None) -> Any:
    """The benchmark a store's answers belong to, loaded (``name``, else the store's only one)."""
    from leakaudit.answers.store import AnswerStore, resolve_store
    from leakaudit.data.benchmark import load_benchmark

    if name is None:
        with AnswerStore(resolve_store(run_dir), read_only=True) as store:
            names = sorted(set(store.samples()["benchmark"])) if store.count() else []
        if len(names) != 1:
            raise LeakauditError(f"{run_dir}: the store holds {len(names)} benchmarks ({', '.join(names) or 'none'}); "
                                 "name the one to load with --benchmark")
        name = names[0]
    return load_benchmark(name, path=path)


# -- audit -------------------------------------------------------------------------------
@click.command("audit")
@click.option("--run-dir", type=click.Path(), required=True, help="Folder of the answer store (answers.sqlite).")
@click.option("--benchmark", default=None, help="Only this benchmark's answers (default: all in the store; an option, not an argument, since it filters).")
@json_option("Print one JSON object (metrics rows in percent, null where not run).")
@shots_option(help="Shot setting of S_t: 0 as in MMStar's tables, 2 as its filter (MMStar issue #6). Default: the run's recorded setting.",
              show_default=True)
@click.option("--circular/--no-circular", default=False, help="Credit a question only if every rotation of its options is right.")
@click.option("--k", type=click.IntRange(0), default=None, help="Text-answerable above k LLM hits (with --n: above floor(N*k/n)). Default: MMStar's 2 of 8.")
@click.option("--n", type=click.IntRange(1), default=None, help="Ratio denominator for --k.")
@click.option("--n-boot", type=click.IntRange(0), default=1000, show_default=True, help="Bootstrap resamples for the 95% intervals (0: none).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@zoo_options(group_help="Zoo group or model name: its LLMs are the inspectors, its LVLMs the audited vision models (default: the recorded panel).")
@base_llm_option()
@scoring_option(help="Only answers of this scoring mode.")
@out_option("out_dir", help="Also write summary.json, metrics.csv, samples.csv/parquet here.")
@click.option("--by-category", is_flag=True, help="Table per capability too.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores "
                   "(default: the run's recorded setting, else 0.5; 0: every hit, as MMStar).")
@click.option("--inspectors", default=None, help="Comma-separated LLMs whose text-only hits count as evidence "
              "(default: the run's recorded panel, else every LLM with real weights in the store, one per set of weights).")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None,
              help="Local copy of the benchmark: it is loaded, so the probe and the --signals run on its questions.")
@signal_options()
@no_progress_option("No progress bar (the probe's fits, with a loaded benchmark).")
def audit_cmd(run_dir, benchmark, as_json, shots, circular, k, n, n_boot, seed, zoo_group, zoo_path, base_llm, scoring, out_dir, by_category,
              min_confidence, inspectors, bench_path, extra_signals, signal_thresholds, no_progress) -> None:
    """MMStar's S_v, S_wv, S_t, MG and ML per model, benchmark and capability, from RUN_DIR's answers.

    The probe and the model-based signals (--signals) need the questions themselves: give
    --path, or --signals alone to load the benchmark the store holds by its name.
    """
    from leakaudit.answers.settings import resolve
    from leakaudit.workflows.pipeline import audit_run

    panel, lvlms = _zoo_panel(zoo_group, zoo_path, _names(inspectors))
    settings, lines = resolve(run_dir, **given(shots=("shots", shots), circular=("circular", circular), k=("k", k), n=("n", n),
                                               n_boot=("n_boot", n_boot), seed=("seed", seed), min_confidence=("min_confidence", min_confidence),
                                               inspectors=("zoo_group" if zoo_group and not inspectors else "inspectors", panel),
                                               lvlms=("zoo_group", lvlms),
                                               base_llms=("base_llm", _base_llm_map(base_llm) or None),
                                               extra_signals=("extra_signals", extra_signals),
                                               signal_thresholds=("signal_thresholds", signal_thresholds)))
    echo_overrides(lines)
    bench = audited_benchmark(run_dir, benchmark, bench_path) if (extra_signals or bench_path) else benchmark
    # metrics need no panel: without inspectors the summary says why there is no verdict (exit 0)
    result = audit_run(run_dir, settings, benchmark=bench, zoo=zoo_path, scoring=scoring, overrides=lines,
                       progress=show_progress(no_progress, as_json))
    if out_dir:
        result.save(out_dir)
    if as_json:
        doc = result.to_json()
        click.echo(json.dumps(doc, ensure_ascii=False, allow_nan=False))
        return
    from leakaudit.cli.console import make_console

    console = make_console()
    if not quiet():
        print_metrics(console, result, category=by_category)
    for line in summary_lines(result.summary):
        console.print(line, markup=False, highlight=False)
    asked = [name for name in settings.extra_signals or [] if (result.summary.get("signals") or {}).get(name, {}).get("share") is not None]
    if asked:
        console.print(f"signals {', '.join(asked)} asked models again (image-ablation answers are kept in the store for reruns)",
                      markup=False, highlight=False)
    else:
        console.print("audit reads stored answers only: no model call made", markup=False, highlight=False)
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
@shots_option(help="Prefer text-only answers of this shot setting (default: the run's recorded one).", show_default=True)
@click.option("--circular/--no-circular", default=False, help="Count a text-only hit only if every rotation was right.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores "
                   "(default: the run's recorded setting, else 0.5; 0: every hit, as MMStar).")
@zoo_options(group_help="Zoo group or model name: its LLMs are the inspectors, its LVLMs the vision models (default: the recorded panel).")
@out_option("out_dir", required=True, help="Folder for the kept questions and removed.csv.")
@click.option("--inspectors", default=None, help="Comma-separated LLMs whose text-only hits count as evidence (default: every LLM with live text-only answers; imported runs count only when named here).")
@click.option("--no-images", is_flag=True, help="Read image fields as metadata, never open them (question files published without images; text-only runs and imports).")
@json_option("Print one JSON object: kept and input counts, the kept file, removal reasons with counts.")
@base_llm_option()
@no_progress_option("No progress bar (the probe's fits).")
def filter_(bench, run_dir, bench_path, split, k, n, drop_blind, balance, shots, circular, min_confidence, zoo_group, zoo_path, out_dir,
            inspectors, no_images, as_json, base_llm, no_progress) -> None:
    """Write BENCH without its text-answerable questions (MMStar's filter), in its own format, plus removed.csv."""
    from dataclasses import replace

    from leakaudit.answers.settings import resolve
    from leakaudit.audit.filter import filter_benchmark
    from leakaudit.cli.console import make_console
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.workflows.pipeline import audit_run

    panel, lvlms = _zoo_panel(zoo_group, zoo_path, _names(inspectors))
    settings, lines = resolve(run_dir, **given(shots=("shots", shots), circular=("circular", circular), k=("k", k), n=("n", n),
                                               min_confidence=("min_confidence", min_confidence),
                                               inspectors=("zoo_group" if zoo_group and not inspectors else "inspectors", panel),
                                               lvlms=("zoo_group", lvlms),
                                               remove_signals=("drop_blind", ["blind-hits"] if drop_blind else None),
                                               balance=("balance", balance or None),
                                               base_llms=("base_llm", _base_llm_map(base_llm) or None)))
    echo_overrides(lines)
    bench_obj = load_benchmark(bench, path=bench_path, split=split, no_images=no_images)
    result = audit_run(run_dir, replace(settings, n_boot=0), benchmark=bench_obj, zoo=zoo_path, overrides=lines, require_inspectors=True,
                       progress=show_progress(no_progress, as_json))
    fres = filter_benchmark(bench_obj, result, settings=settings)
    data_file = fres.write(out_dir)
    if as_json:
        click.echo(json.dumps({"benchmark": bench_obj.name, "n_input": len(bench_obj), "n_kept": len(fres.kept), "kept_file": str(data_file),
                               "removed_csv": str(Path(out_dir) / "removed.csv"), "removed": dict(fres.reason_counts()),
                               "vs_random": fres.vs_random, "overridden": lines}, ensure_ascii=False, allow_nan=False))
        return
    console = make_console()
    console.print(f"kept {len(fres.kept)} of {len(bench_obj)} questions -> {data_file}", markup=False, highlight=False)
    for reason, count in fres.reason_counts().items():
        console.print(f"  removed {count}: {reason}", markup=False, highlight=False)
    from leakaudit.audit.filter import random_lines

    for line in random_lines(fres.vs_random):
        console.print(line, markup=False, highlight=False)
    console.print(f"manifest: {Path(out_dir) / 'removed.csv'}", markup=False, highlight=False)


# -- scan --------------------------------------------------------------------------------
@click.command("scan")
@click.argument("bench")
@zoo_options(group_help="Zoo group or model (default: tiny for demo, else MMStar's 8 LLM inspectors + 16 LVLMs).")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None, help="Local copy of the benchmark (file or folder).")
@click.option("--split", default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
@out_option("out_dir", help="Report folder (default reports/<bench>/: a rerun reuses its stored answers; an earlier audit.pdf is kept as audit-<time>.pdf).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help="Answer store to use (default OUT/run).")
@shots_option(None, help="Few-shot demonstrations for the text-only LLMs (default 0; MMStar's filter used 2).")
@scoring_option(help="Answer scoring (default cloze: no letter bias).")
@click.option("--circular/--no-circular", default=None, help="Ask every rotation of the options; a question counts only if all are right.")
@click.option("--k", type=click.IntRange(0), default=None, help="Filter/label threshold: more than k text-only hits is text-answerable (with --n: floor(N*k/n)).")
@click.option("--n", type=click.IntRange(1), default=None, help="Ratio denominator for --k.")
@click.option("--drop-blind", is_flag=True, help="Filter also drops questions a vision model answers without the image.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores (default 0.5; 0: every hit, as MMStar).")
@click.option("--balance", is_flag=True, help="Filter keeps the same number of questions per capability.")
@click.option("--n-boot", type=click.IntRange(0), default=1000, show_default=True)
@click.option("--no-report", is_flag=True, help="Skip the PDF.")
@no_progress_option("No progress bars (model runs, the probe's fits).")
@json_option("Print one JSON object (metrics, averages, summary, where the files went).")
@click.option("--no-images", is_flag=True, help="Read image fields as metadata, never open them (only the text-only LLMs run; vision models are skipped with the reason).")
@models_option(help="Comma-separated models instead of a zoo group: zoo names, hub ids (org/name), local folders or .gguf files.")
@model_options()
@engine_options("scan")
@signal_options()
@base_llm_option()
def scan_cmd(bench, zoo_group, zoo_path, bench_path, split, limit, out_dir, run_dir, shots, scoring, circular, k, n, drop_blind,
             min_confidence, balance, n_boot, no_report, no_progress, as_json, no_images, models_opt, config, kind, backend, device,
             dtype, model_args, batch_size, extra_signals=None, signal_thresholds=None, base_llm=None) -> None:
    """Audit BENCH end to end: run the missing answers, compute MG/ML, label and filter questions, write a report folder."""
    from leakaudit.cli.console import make_console
    from leakaudit.models.zoo import load_zoo
    from leakaudit.workflows import scan as scan_mod

    zoo_obj, models = resolve(load_zoo(zoo_path), models_opt, kind=kind, backend=backend, device=device, dtype=dtype,
                              batch_size=batch_size, model_args=model_args)
    if no_images:
        from leakaudit.data.benchmark import load_benchmark

        bench = load_benchmark(bench, path=bench_path, split=split, limit=None if shots else limit, no_images=True)
    res = scan_mod.scan(
        bench, zoo_group=zoo_group, zoo=zoo_obj, models=models, path=bench_path, split=split, limit=limit, out=out_dir, run_dir=run_dir,
        shots=shots, scoring=scoring, circular=circular, k=k, n=n, drop_blind=drop_blind or None, balance=balance or None,
        min_confidence=min_confidence, n_boot=given(n_boot=("n_boot", n_boot))["n_boot"], progress=show_progress(no_progress),
        report=not no_report, extra_signals=extra_signals, signal_thresholds=signal_thresholds,
        base_llms=_base_llm_map(base_llm) or None,
    )
    if as_json:  # override lines went to the log (stderr) while the scan ran
        doc = res.audit.to_json()
        doc["scan"] = {"out_dir": str(res.out_dir), "run_dir": str(res.run_dir), "kept_file": str(res.kept_file) if res.kept_file else None,
                       "report_pdf": str(res.report_pdf) if res.report_pdf else None,
                       "n_kept": len(res.filter.kept) if res.filter else None, "n_input": len(res.filter.benchmark) if res.filter else None}
        click.echo(json.dumps(doc, ensure_ascii=False, allow_nan=False))
        return
    console = make_console()
    if not quiet():
        print_metrics(console, res.audit)
    for line in summary_lines(res.audit.summary):
        console.print(line, markup=False, highlight=False)
    console.print(res.calls_message(), markup=False, highlight=False)
    save_config(res.out_dir)
    if res.filter is not None:
        console.print(f"kept {len(res.filter.kept)} of {len(res.filter.benchmark)} questions -> {res.kept_file}", markup=False, highlight=False)
    else:  # the verdict line above says why there is no panel
        console.print("no kept questions written: without a panel the filter would keep questions nobody checked",
                      markup=False, highlight=False)
    console.print(f"report folder: {res.out_dir}" + (f" (PDF: {res.report_pdf})" if res.report_pdf else "") + f" in {res.seconds:.0f} s",
                  markup=False, highlight=False)


# -- import --------------------------------------------------------------------------------
@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS), required=True,
              help="vlmevalkit: xlsx/tsv/csv/parquet with a prediction column; lm-eval: --log_samples JSON Lines; mathvista: output_*.json; "
                   "mmmu-pro: output/*.jsonl; scienceqa: results/*/*.json (pid -> option index).")
@click.option("--model", required=True, help="Name to store the answers under (a zoo name when it has one).")
@click.option("--condition", type=click.Choice(CONDITIONS), required=True)
@click.option("--benchmark", "bench", required=True, help="Benchmark the predictions are for (adapter name or path).")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None, help="Local copy of the benchmark (a VLMEvalKit xlsx can be the prediction file itself).")
@click.option("--split", default=None, help="Split of a question file that holds several (ScienceQA's problems.json).")
@click.option("--run-dir", type=click.Path(file_okay=False), required=True, help="Answer store to import into.")
@click.option("--shots", type=click.IntRange(0, 8), default=0, show_default=True, help="Few-shot setting the predictions were made with.")
@blind_option(help="What the blind run showed instead of the image (for --condition blind).")
@click.option("--id-column", default=None, help="Column (lm-eval: doc field) holding the question id (default: the format's, e.g. index, pid, id).")
@click.option("--prediction-column", default=None, help="Column holding the answer (default: the format's, e.g. prediction, response).")
@click.option("--verdict-column", default="auto", show_default=True,
              help="Column of published verdicts taken as they are (true_false, if_right); auto: the format's own when present "
                   "(mathvista: true_false); none: score the predictions here.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="A row whose id or question text matches no question stops the import (raise) or is skipped and listed (skip).")
@click.option("--no-images", is_flag=True, help="Read image fields as metadata, never open them (question files published without images; text-only runs and imports).")
@json_option("Print the import summary as one JSON object (counts, accuracy, skipped rows, accuracy by category).")
def import_(file, fmt, model, condition, bench, bench_path, split, run_dir, shots, blind, id_column, prediction_column,
            verdict_column, on_error, no_images, as_json) -> None:
    """Store published predictions (VLMEvalKit, lm-eval, MathVista, MMMU-Pro, ScienceQA) as answers, for the audit."""
    from rich.table import Table

    from leakaudit.answers.imports import import_predictions
    from leakaudit.answers.settings import AuditSettings, record
    from leakaudit.cli.console import make_console

    summary = import_predictions(file, format=fmt, model=model, condition=condition, benchmark=bench, path=bench_path,
                                 split=split, run_dir=run_dir, shots=shots, blind_mode=blind, id_column=id_column,
                                 prediction_column=prediction_column, verdict_column=verdict_column, on_error=on_error,
                                 no_images=no_images)
    if AuditSettings.load(run_dir) is None:  # the first writer records how the answers were made; a scan's panel stays
        record(run_dir, shots=shots)
    if as_json:
        acc = summary.accuracy
        click.echo(json.dumps({
            "file": str(summary.file), "format": summary.format, "model": summary.model, "condition": summary.condition,
            "benchmark": summary.benchmark, "run_dir": str(summary.run_dir), "n_rows": summary.n_rows, "n_matched": summary.n_matched,
            "n_stored": summary.n_stored, "n_existing": summary.n_existing, "n_empty": summary.n_empty, "n_refused": summary.n_refused,
            "accuracy": None if acc != acc else acc, "verdict_column": summary.verdict_column,
            "unmatched_ids": list(summary.unmatched_ids), "mismatched_ids": list(summary.mismatched_ids), "notes": list(summary.notes),
            "by_category": [{"category": str(r.category), "n": int(r.n), "accuracy": float(r.accuracy)}
                            for r in summary.by_category.itertuples(index=False)],
        }, ensure_ascii=False, allow_nan=False))
        return
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
@click.option("--min-mg", type=float, default=None,
              help="Smallest allowed multi-modal gain (points) of EACH vision model with real weights (random-weight test models never count).")
@click.option("--max-leaked", type=click.FloatRange(0, 1), default=None, help="Largest allowed share of leaked questions.")
@zoo_options("tiny", group_help="Zoo group (or model) that audits the submission.", show_default=True)
@out_option("out_dir", required=True, help="Folder for verdict.json, junit.xml, summary.md.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help="Answer store (default OUT/run; reuse it to skip re-runs).")
@shots_option(None, help="Few-shot demonstrations for the text-only LLMs (default: recorded, else 0).")
@scoring_option(help="Answer scoring (default: recorded, else cloze).")
@click.option("--circular/--no-circular", default=None)
@click.option("--k", type=click.IntRange(0), default=None)
@click.option("--n", type=click.IntRange(1), default=None)
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="A text-only hit counts as evidence only with at least this softmax share of the option scores (default 0.5; 0: every hit, as MMStar).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions (the verdict says N of M).")
@json_option("Print verdict.json to stdout instead of the lines.")
@click.option("--no-images", is_flag=True, help="Read image fields as metadata, never open them (only the text-only LLMs run; vision models are skipped with the reason).")
@models_option(help="Comma-separated models instead of the zoo group: zoo names, hub ids (org/name), local folders or .gguf files.")
@model_options()
@engine_options("gate")
@signal_options()
@base_llm_option()
def gate_cmd(submission, max_text_answerable, min_mg, max_leaked, zoo_group, zoo_path, out_dir, run_dir, shots, scoring, circular, k, n,
             min_confidence, limit, as_json, no_images, models_opt, config, kind, backend, device, dtype, model_args, batch_size,
             extra_signals=None, signal_thresholds=None, base_llm=None) -> None:
    """CI gate for a benchmark SUBMISSION: exit 0 pass, 1 a threshold failed, 2 bad input or setup."""
    from leakaudit.models.zoo import load_zoo
    from leakaudit.workflows.gate import gate

    def resolve_models():  # inside the gate's guard: a bad zoo file or model is an error verdict, not a stale one
        return resolve(load_zoo(zoo_path), models_opt, kind=kind, backend=backend, device=device, dtype=dtype,
                       batch_size=batch_size, model_args=model_args)

    mta = given(m=("max_text_answerable", max_text_answerable))["m"]
    verdict = gate(submission, out=out_dir, max_text_answerable=mta, min_mg=min_mg, max_leaked=max_leaked,
                   zoo_group=zoo_group, resolve_models=resolve_models, run_dir=run_dir, shots=shots,
                   scoring=scoring, circular=circular, k=k, n=n, min_confidence=min_confidence, limit=limit, no_images=no_images,
                   extra_signals=extra_signals, signal_thresholds=signal_thresholds, base_llms=_base_llm_map(base_llm) or None)
    if as_json:
        click.echo(json.dumps(verdict.to_dict(), ensure_ascii=False, allow_nan=False))
        sys.exit(verdict.exit_code)
    if verdict.error:
        click.echo(f"error: {verdict.error['message']}", err=True)
    if verdict.coverage:
        click.echo(f"audited {verdict.coverage}")
    for line in (verdict.audit.summary.get("settings", {}).get("overridden") or []) if verdict.audit else []:
        click.echo(line, err=True)
    for c in verdict.checks:
        click.echo(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.message}")
    from leakaudit.audit.filter import random_lines

    for line in random_lines((verdict.audit.summary.get("vs_random") or {}) if verdict.audit else {}):
        click.echo(line)
    panel = (verdict.audit.summary.get("panel") or {}) if verdict.audit else {}
    if panel.get("text"):
        click.echo(panel["text"])
    if panel.get("warning"):
        click.echo(f"warning: {panel['warning']}")
    if verdict.runs:
        from leakaudit.workflows.pipeline import model_calls_message

        click.echo(model_calls_message(verdict.runs))
    save_config(out_dir)
    click.echo(f"gate: {verdict.status} (exit {verdict.exit_code}); details in {out_dir}")
    sys.exit(verdict.exit_code)


COMMANDS = [audit_cmd, filter_, scan_cmd, import_, gate_cmd]
