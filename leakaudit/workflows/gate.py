"""The CI gate: refuse a benchmark submission whose questions are answerable without the image.

``gate(submission, ...)`` loads the submission (a file in the submission format), runs the
tiny (or any) zoo on it, audits it and checks thresholds. Exit codes for CI:
0 every check passed, 1 a threshold failed, 2 the input or setup is broken (a bad row, a
missing model). It always writes ``verdict.json``, ``junit.xml`` (one testcase per check)
and ``summary.md`` (appended to ``$GITHUB_STEP_SUMMARY`` when set), plus the audit files.
"""
from __future__ import annotations

import json
import math
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from leakaudit.answers.settings import AuditSettings
from leakaudit.audit import AuditResult, signals
from leakaudit.audit.signals.base import Check
from leakaudit.errors import DataError, LeakauditError
from leakaudit.models.backends.base import LM

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
DEFAULT_MAX_TEXT_ANSWERABLE = AuditSettings().max_text_answerable
DEFAULT_GATE_GROUP = "tiny"


@dataclass
class GateVerdict:
    status: str  # pass | fail | error
    exit_code: int
    submission: str
    checks: list[Check] = field(default_factory=list)
    error: dict[str, Any] | None = None
    out_dir: Path | None = None
    audit: AuditResult | None = None
    seconds: float = 0.0
    #: "N of M questions" when --limit audited only the first N
    coverage: str | None = None
    runs: list = field(default_factory=list)  # RunSummary per (model, condition)

    def to_dict(self) -> dict[str, Any]:
        from leakaudit.audit.result import jsonable
        from leakaudit.outputs import SCHEMA_VERSION
        from leakaudit.version import __version__

        return jsonable({
            "schema_version": SCHEMA_VERSION, "leakaudit_version": __version__, "status": self.status, "exit_code": self.exit_code, "submission": self.submission,
            "checks": [asdict(c) for c in self.checks], "error": self.error, "seconds": self.seconds,
            "coverage": self.coverage,
            "summary": {k: (self.audit.summary.get(k) if self.audit else None)
                        for k in ("n_samples", "n_audited", "share_text_answerable", "share_leaked", "mean_MG", "mean_ML", "settings",
                                  "panel", "signals", "vs_random")},
        })


# -- checks -------------------------------------------------------------------------------
def flagged_vs_random(result: AuditResult, seed: int = 0) -> dict[str, Any]:
    """The text-answerable questions the gate counts, removed, against as many removed at random (TsT's control)."""
    from leakaudit.audit.filter import compare_with_random

    ev = result.samples
    audited = ev[ev["label"] != "unknown"] if "label" in ev else ev
    if audited.empty:
        return {}
    return compare_with_random(audited, (audited["label"] == "text-answerable").to_numpy(), seed=seed)



def evaluate_checks(result: AuditResult, *, max_text_answerable: float | None = DEFAULT_MAX_TEXT_ANSWERABLE,
                    min_mg: float | None = None, max_leaked: float | None = None,
                    settings: AuditSettings | None = None) -> list[Check]:
    """The gate's thresholds applied to an audit (shares are fractions, MG in percentage points).

    Every registered signal with a threshold gives one check (text-answerable share, leaked
    share, third-party ones from ``settings.signal_thresholds``); ``min_mg`` is checked per
    real LVLM (each one's MG must reach it; random-weight models never count).
    """
    if settings is None:
        settings = AuditSettings(max_text_answerable=max_text_answerable if max_text_answerable is not None else DEFAULT_MAX_TEXT_ANSWERABLE,
                                 min_mg=min_mg, max_leaked=max_leaked)
    s = result.summary
    share_ta = s.get("share_text_answerable")
    if not (s.get("settings") or {}).get("inspectors") or share_ta is None or (isinstance(share_ta, float) and math.isnan(share_ta)):
        raise LeakauditError("no question could be audited (no inspector LLM answered text-only): the gate cannot decide; "
                             "add a text-only LLM to the zoo group (e.g. --zoo tiny) or run one into the store")
    no_base = (s.get("models") or {}).get("unknown_base_llm") or []
    if settings.max_leaked is not None and no_base:
        # a leak needs the base LLM's text-only miss: without it the leaked share would be a silent 0 for these models
        raise LeakauditError(f"--max-leaked needs each vision model's base LLM, unknown for {', '.join(no_base)}: "
                             f"name it with --base-llm {no_base[0]}=LLM (and run that LLM text-only) or drop --max-leaked")
    checks: list[Check] = []
    for sig in signals.registered():
        threshold = sig.threshold(settings)
        if threshold is None:
            continue
        check = sig.check(s, float(threshold))
        if check is None:
            raise LeakauditError(f"signal {sig.name} has a threshold ({threshold}) but was not computed: its runs ({', '.join(sig.needs)}) are missing")
        checks.append(check)
    if settings.min_mg is not None:
        checks += mg_checks(result, settings.min_mg)
    return checks


def mg_checks(result: AuditResult, min_mg: float) -> list[Check]:
    """One check per real LVLM: its multi-modal gain (S_v - S_wv, points) must reach ``min_mg``."""
    m = result.metrics
    random = set((result.summary.get("models") or {}).get("random_weights") or [])
    rows = m[(m["kind"] == "lvlm") & m["category"].isna() & ~m["model"].isin(random)] if not m.empty else m
    rows = rows[rows["MG"].notna()] if not rows.empty else rows
    if rows.empty:
        raise LeakauditError("--min-mg needs vision models with real weights run with and without images; none ran "
                             f"(random-weight models never count: {', '.join(sorted(random)) or 'none'})")
    out = []
    for r in rows.sort_values("model").itertuples(index=False):
        mg = float(r.MG)
        out.append(Check(f"multi-modal gain: {r.model}", mg, min_mg, ">=", mg >= min_mg,
                         f"{r.model} gains {mg:.1f} points from the images (minimum {min_mg:.1f} per vision model)"))
    return out


# -- outputs ------------------------------------------------------------------------------
def junit_xml(verdict: GateVerdict) -> str:
    """JUnit XML: one testcase per check; a failed threshold is a failure, a broken input an error."""
    suite = ET.Element("testsuite", name="leakaudit-gate", tests=str(max(1, len(verdict.checks))),
                       failures=str(sum(not c.passed for c in verdict.checks)), errors="1" if verdict.error else "0",
                       time=f"{verdict.seconds:.1f}")
    if verdict.error:
        case = ET.SubElement(suite, "testcase", classname="leakaudit.workflows.gate", name="load and audit the submission")
        err = ET.SubElement(case, "error", message=verdict.error["message"], type=verdict.error["type"])
        err.text = json.dumps(verdict.error, indent=1)
    for c in verdict.checks:
        case = ET.SubElement(suite, "testcase", classname="leakaudit.workflows.gate", name=c.name)
        if not c.passed:
            fail = ET.SubElement(case, "failure", message=c.message, type="threshold")
            fail.text = f"value {c.value:.4g} {'>' if c.comparison == '<=' else '<'} threshold {c.threshold:.4g}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def summary_markdown(verdict: GateVerdict) -> str:
    """A markdown summary GitHub Actions shows on the run page."""
    icon = {"pass": "✅", "fail": "❌", "error": "⚠️"}[verdict.status]
    lines = [f"## {icon} leakaudit gate: {verdict.status.upper()}", "", f"Submission: `{verdict.submission}`", ""]
    if verdict.error:
        e = verdict.error
        where = ", ".join(f"{k} {e[k]}" for k in ("file", "row", "field") if e.get(k) is not None)
        lines += [f"**Bad input** ({e['type']}){': ' + where if where else ''}", "", f"> {e['message']}", ""]
    if verdict.checks:
        lines += ["| check | value | threshold | result |", "|---|---|---|---|"]
        for c in verdict.checks:
            val = f"{c.value:.1%}" if c.comparison == "<=" else f"{c.value:.1f}"
            thr = f"{c.threshold:.1%}" if c.comparison == "<=" else f"{c.threshold:.1f}"
            lines.append(f"| {c.name} | {val} | {c.comparison} {thr} | {'pass' if c.passed else '**FAIL**'} |")
        lines.append("")
    if verdict.audit is not None:
        s = verdict.audit.summary
        lines.append(f"{verdict.coverage or str(s.get('n_samples')) + ' questions'}; {len(s.get('settings', {}).get('inspectors') or [])} text-only LLMs; rule: {s.get('settings', {}).get('rule')}.")
        panel = s.get("panel") or {}
        if panel.get("text"):
            lines += ["", f"{panel['text']}" + (f". **{panel['warning']}**" if panel.get("warning") else "")]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_outputs(verdict: GateVerdict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "verdict.json").write_text(json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "junit.xml").write_text(junit_xml(verdict), encoding="utf-8")
    md = summary_markdown(verdict)
    (out_dir / "summary.md").write_text(md, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(md)


def _error_dict(exc: BaseException) -> dict[str, Any]:
    """The error as verdict.json stores it; control characters and ANSI escapes removed (junit.xml must parse)."""
    from leakaudit.data.textsafe import clean_message

    if isinstance(exc, LeakauditError):
        out: dict[str, Any] = {"type": type(exc).__name__, "message": clean_message(exc)}
    elif isinstance(exc, RecursionError):
        out = {"type": "RecursionError", "message": "input nested too deeply to process (RecursionError)", "unexpected": True}
    else:
        out = {"type": type(exc).__name__, "message": clean_message(f"unexpected failure: {type(exc).__name__}: {exc}"), "unexpected": True}
    if isinstance(exc, DataError):
        out.update(file=clean_message(exc.file, 500) if exc.file else None, row=exc.row, field=clean_message(exc.field, 200) if exc.field else None)
    return out


# -- the gate -----------------------------------------------------------------------------
def _gate_unguarded(
    submission: str | Path,
    *,
    out: str | Path,
    max_text_answerable: float | None = None,
    min_mg: float | None = None,
    max_leaked: float | None = None,
    zoo_group: str | None = DEFAULT_GATE_GROUP,
    zoo: Any = None,
    models: Sequence[str | LM] | None = None,
    base_llms: dict[str, str] | None = None,
    run_dir: str | Path | None = None,
    shots: int | None = None,
    scoring: str | None = None,
    circular: bool | None = None,
    k: int | None = None,
    n: int | None = None,
    min_confidence: float | None = None,
    limit: int | None = None,
    progress: bool = False,
    no_images: bool = False,
    extra_signals: Sequence[str] | None = None,
    signal_thresholds: dict[str, float] | None = None,
) -> GateVerdict:
    """Audit ``submission`` and check it against the thresholds; never raises for bad input.

    ``models`` (zoo names or ``LM`` objects) replaces the zoo group. Settings left None come
    from the run folder's ``settings.json`` when one is reused, else from
    :class:`~leakaudit.answers.settings.AuditSettings` (``min_confidence=0`` counts every text-only
    hit, as MMStar does). Bad input or setup (``LeakauditError``, including a ``DataError``
    naming file, row and field) gives status ``error`` and exit code 2; the files are written
    either way.
    ``no_images``: image fields are read as metadata and only the text-only LLMs run
    (``min_mg`` then cannot be checked).
    """
    from leakaudit.answers.settings import resolve
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.workflows import pipeline

    t0 = time.perf_counter()
    out_dir = Path(out)
    verdict = GateVerdict(status="error", exit_code=EXIT_ERROR, submission=str(submission), out_dir=out_dir)
    try:
        run_path = Path(run_dir) if run_dir is not None else out_dir / "run"
        settings, overrides = resolve(run_path, shots=shots, scoring=scoring, circular=circular, k=k, n=n, min_confidence=min_confidence,
                                      max_text_answerable=max_text_answerable, min_mg=min_mg, max_leaked=max_leaked,
                                      base_llms=dict(base_llms) if base_llms else None,
                                      extra_signals=list(extra_signals) if extra_signals else None, signal_thresholds=signal_thresholds)
        settings = replace(settings, n_boot=min(settings.n_boot, 200))  # a CI verdict needs no tight intervals
        if no_images and min_mg is not None:
            raise LeakauditError("--min-mg needs vision runs, which --no-images does not make (the images are never opened)")
        bench = load_benchmark(str(submission), no_images=no_images)  # whole: the verdict says "N of M questions" under --limit
        if not no_images:
            _decode_all_images(bench)
        audited = pipeline.audited_subset(bench, limit)
        if len(audited) < len(bench):
            verdict.coverage = f"{len(audited)} of {len(bench)} questions (--limit {limit})"
        zoo_obj = pipeline.load_zoo(zoo) if pipeline.needs_zoo(zoo, models) else None
        plan = pipeline.plan_models(zoo_obj, None if models else zoo_group, models, base_llms)
        if no_images:
            pipeline.without_vision(plan)
        if not plan.inspectors:
            raise LeakauditError("the gate needs at least one text-only LLM with real weights; "
                                 + ("; ".join(plan.skipped) or "none in the zoo group") + " (e.g. --zoo tiny)")
        _check_threshold_can_fail(len(plan.inspectors), settings.k, settings.n)
        res = pipeline.run_pipeline(bench, settings=settings, plan=plan, zoo=zoo_obj, run_dir=run_path, limit=limit, progress=progress,
                                    command=f"leakaudit gate {submission}", on_model_error="raise", do_filter=False,
                                    require_verdict=True, overrides=overrides)
        result, settings = res.audit, res.settings
        verdict.runs = res.runs
        result.summary["notes"] = list(dict.fromkeys(result.summary.get("notes", []) + plan.skipped))  # e.g. vision models skipped by --no-images
        verdict.audit = result
        verdict.checks = evaluate_checks(result, settings=settings)
        result.summary["vs_random"] = flagged_vs_random(result, settings.seed)
        failed = [c for c in verdict.checks if not c.passed]
        verdict.status, verdict.exit_code = ("fail", EXIT_FAIL) if failed else ("pass", EXIT_PASS)
        panel = result.summary.get("panel") or {}
        result.summary["verdict"] = {
            "status": verdict.status, "exit_code": verdict.exit_code,
            "message": "; ".join(c.message for c in failed) if failed else "every check passed",
            "checks": [asdict(c) for c in verdict.checks], "max_text_answerable": settings.max_text_answerable,
            "coverage": verdict.coverage, "panel": panel.get("text"), "panel_warning": panel.get("warning"),
        }
        result.save(out_dir)
    except LeakauditError as exc:
        verdict.error = _error_dict(exc)
    verdict.seconds = time.perf_counter() - t0
    write_outputs(verdict, out_dir)
    return verdict


def _decode_all_images(bench) -> None:
    """Decode every image now (bounded by MAX_PIXELS): a truncated file is bad input, found before any model runs."""
    from leakaudit.data.inspect import decode_problems

    decode_problems(bench, on_error="raise")


def _check_threshold_can_fail(n_inspectors: int, k: int | None, n: int | None) -> None:
    """Refuse ``--k``/``--n`` under which no question can ever be text-answerable (the gate would always pass)."""
    from leakaudit.audit.evidence import max_text_hits

    if k is not None and n is not None and k >= n:
        raise LeakauditError(f"--k {k} is not below --n {n}: no question could ever count as text-answerable, so the gate would pass everything")
    if max_text_hits(n_inspectors, k, n) >= n_inspectors:
        raise LeakauditError(f"with {n_inspectors} text-only LLM(s), more than {max_text_hits(n_inspectors, k, n)} hits can never happen: "
                             f"no question could count as text-answerable, so the gate would pass everything; lower --k")


# -- never ambiguous ---------------------------------------------------------------------------
#: what a gate run writes into ``out``; removed before it starts, so a stale verdict never survives a crash
GATE_ARTIFACTS = ("verdict.json", "junit.xml", "summary.md", "summary.json", "metrics.csv", "samples.csv", "samples.parquet")


class OutDirError(LeakauditError):
    """``--out`` cannot hold the gate's files (read-only, a file, not creatable)."""


def prepare_out_dir(out: str | Path) -> Path:
    """Create ``out``, prove it is writable and remove the previous run's artifacts, before any work.

    Raises ``OutDirError`` when no verdict could be written there.
    """
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".leakaudit-write-test-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
        for name in GATE_ARTIFACTS:
            (out_dir / name).unlink(missing_ok=True)
    except (OSError, ValueError) as exc:
        from leakaudit.data.textsafe import clean_message

        raise OutDirError(clean_message(f"--out {out_dir}: cannot write the gate's verdict files there ({type(exc).__name__}: {exc})")) from None
    return out_dir


def gate(submission: str | Path, *, out: str | Path, resolve_models: Any = None, **kwargs: Any) -> GateVerdict:
    """Audit ``submission`` and check it against the thresholds; never ambiguous.

    Keyword arguments are those of the gate body (thresholds ``max_text_answerable``,
    ``min_mg``, ``max_leaked``; ``zoo_group``, ``zoo``, ``models``, ``base_llms``, ``run_dir``,
    ``shots``, ``scoring``, ``circular``, ``k``, ``n``, ``min_confidence``, ``limit``, ``progress``).
    Exit code 1 means exactly "a threshold failed". Anything else that goes wrong (bad
    input, a missing model, a bug, a full disk, a RecursionError) is status ``error``,
    exit code 2, with a fresh verdict.json / junit.xml / summary.md: the previous run's
    files are removed before any work, so a stale "pass" can never be mistaken for this
    run's result. Raises ``OutDirError`` only when ``out`` itself cannot be written.
    ``resolve_models``: a callable returning ``(zoo, models)`` (the CLI's ``--zoo-file``/``--models``),
    called inside the guard so that a bad zoo file is an error verdict too.
    """
    t0 = time.perf_counter()
    out_dir = prepare_out_dir(out)
    try:
        if resolve_models is not None:
            zoo_obj, models = resolve_models()
            kwargs["zoo"] = zoo_obj
            if models:
                kwargs["models"] = models
        return _gate_unguarded(submission, out=out_dir, **kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure must become a verdict
        import logging

        logging.getLogger(__name__).debug("gate failed", exc_info=True)
        verdict = GateVerdict(status="error", exit_code=EXIT_ERROR, submission=str(submission), out_dir=out_dir)
        verdict.error = _error_dict(exc)
        verdict.seconds = time.perf_counter() - t0
        for name in GATE_ARTIFACTS:  # a half-written audit from the failed run is not a result
            try:
                (out_dir / name).unlink(missing_ok=True)
            except OSError:
                pass
        try:
            write_outputs(verdict, out_dir)
        except OSError as write_exc:
            raise OutDirError(f"--out {out_dir}: the gate failed ({verdict.error['message']}) and its verdict could not be written: {write_exc}") from None
        return verdict


__all__ = ["Check", "GATE_ARTIFACTS", "OutDirError", "prepare_out_dir", "EXIT_ERROR", "EXIT_FAIL", "EXIT_PASS", "GateVerdict", "evaluate_checks", "gate", "junit_xml", "summary_markdown"]
__all__ = ["Check", "EXIT_ERROR", "EXIT_FAIL", "EXIT_PASS", "GateVerdict", "evaluate_checks", "gate", "junit_xml", "mg_checks",
           "summary_markdown"]
