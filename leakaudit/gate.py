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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .audit import AuditResult
from .backends.base import LM
from .errors import DataError, LeakauditError

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
DEFAULT_MAX_TEXT_ANSWERABLE = 0.10
DEFAULT_GATE_GROUP = "tiny"


@dataclass
class Check:
    """One threshold: the measured value, the limit, and whether it passed."""

    name: str
    value: float | None
    threshold: float
    comparison: str  # "<=" or ">="
    passed: bool
    message: str


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
    runs: list = field(default_factory=list)  # RunSummary per (model, condition)

    def to_dict(self) -> dict[str, Any]:
        from .audit.result import jsonable

        return jsonable({
            "status": self.status, "exit_code": self.exit_code, "submission": self.submission,
            "checks": [asdict(c) for c in self.checks], "error": self.error, "seconds": round(self.seconds, 1),
            "summary": {k: (self.audit.summary.get(k) if self.audit else None)
                        for k in ("n_samples", "n_audited", "share_text_answerable", "share_leaked", "mean_MG", "mean_ML", "settings")},
        })


# -- checks -------------------------------------------------------------------------------
def evaluate_checks(result: AuditResult, *, max_text_answerable: float = DEFAULT_MAX_TEXT_ANSWERABLE,
                    min_mg: float | None = None, max_leaked: float | None = None) -> list[Check]:
    """The gate's thresholds applied to an audit (shares are fractions, MG in percentage points)."""
    s = result.summary
    checks = []
    share_ta = s.get("share_text_answerable")
    if share_ta is None or (isinstance(share_ta, float) and math.isnan(share_ta)):
        raise LeakauditError("no question could be audited (no text-only answers): the gate cannot decide")
    checks.append(Check("text-answerable share", share_ta, max_text_answerable, "<=", share_ta <= max_text_answerable,
                        f"{share_ta:.1%} of questions are answered without the image by more than the allowed number of "
                        f"text-only LLMs (limit {max_text_answerable:.0%})"))
    if max_leaked is not None:
        share_l = s.get("share_leaked") or 0.0
        checks.append(Check("leaked share", share_l, max_leaked, "<=", share_l <= max_leaked,
                            f"{share_l:.1%} of questions are answered blind by a vision model whose base LLM cannot (limit {max_leaked:.0%})"))
    if min_mg is not None:
        mg = s.get("mean_MG")
        if mg is None or (isinstance(mg, float) and math.isnan(mg)):
            raise LeakauditError("--min-mg needs vision models with and without images in the zoo group; none ran")
        checks.append(Check("multi-modal gain", mg, min_mg, ">=", mg >= min_mg,
                            f"vision models gain {mg:.1f} points from the images on average (minimum {min_mg:.1f})"))
    return checks


# -- outputs ------------------------------------------------------------------------------
def junit_xml(verdict: GateVerdict) -> str:
    """JUnit XML: one testcase per check; a failed threshold is a failure, a broken input an error."""
    suite = ET.Element("testsuite", name="leakaudit-gate", tests=str(max(1, len(verdict.checks))),
                       failures=str(sum(not c.passed for c in verdict.checks)), errors="1" if verdict.error else "0",
                       time=f"{verdict.seconds:.1f}")
    if verdict.error:
        case = ET.SubElement(suite, "testcase", classname="leakaudit.gate", name="load and audit the submission")
        err = ET.SubElement(case, "error", message=verdict.error["message"], type=verdict.error["type"])
        err.text = json.dumps(verdict.error, indent=1)
    for c in verdict.checks:
        case = ET.SubElement(suite, "testcase", classname="leakaudit.gate", name=c.name)
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
        lines.append(f"{s.get('n_samples')} questions; {len(s.get('settings', {}).get('inspectors') or [])} text-only LLMs; rule: {s.get('settings', {}).get('rule')}.")
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


def _error_dict(exc: Exception) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, DataError):
        out.update(file=exc.file, row=exc.row, field=exc.field)
    return out


# -- the gate -----------------------------------------------------------------------------
def gate(
    submission: str | Path,
    *,
    out: str | Path,
    max_text_answerable: float = DEFAULT_MAX_TEXT_ANSWERABLE,
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
) -> GateVerdict:
    """Audit ``submission`` and check it against the thresholds; never raises for bad input.

    ``models`` (zoo names or ``LM`` objects) replaces the zoo group. ``shots``, ``scoring``,
    ``circular`` and ``min_confidence`` default to the scan's (None); ``min_confidence=0``
    counts every text-only hit, as MMStar does. Bad input or setup
    (``LeakauditError``, including a ``DataError`` naming file, row and field) gives status
    ``error`` and exit code 2; the files are written either way.
    """
    from . import scan as scan_mod
    from .audit import audit
    from .benchmark import load_benchmark

    t0 = time.perf_counter()
    out_dir = Path(out)
    verdict = GateVerdict(status="error", exit_code=EXIT_ERROR, submission=str(submission), out_dir=out_dir)
    shots = scan_mod.DEFAULT_SHOTS if shots is None else shots
    scoring = scoring or scan_mod.DEFAULT_SCORING
    circular = scan_mod.DEFAULT_CIRCULAR if circular is None else circular
    min_confidence = scan_mod.DEFAULT_MIN_CONFIDENCE if min_confidence is None else (min_confidence or None)
    try:
        bench = load_benchmark(str(submission), limit=None if shots else limit)
        audited = scan_mod.audited_subset(bench, limit)
        zoo_obj = scan_mod._load_zoo(zoo) if (zoo is not None or not models or any(isinstance(m, str) for m in models)) else None
        plan = scan_mod.plan_models(zoo_obj, None if models else zoo_group, models, base_llms)
        if not plan.inspectors:
            raise LeakauditError("the gate needs at least one text-only LLM; " + ("; ".join(plan.skipped) or "none in the zoo group"))
        run_path = Path(run_dir) if run_dir is not None else out_dir / "run"
        verdict.runs = scan_mod.collect_answers(bench, plan, run_dir=run_path, zoo=zoo_obj, shots=shots, scoring=scoring, circular=circular,
                                 limit=limit, progress=progress, command=f"leakaudit gate {submission}")
        result = audit(run_path, benchmark=audited, zoo=zoo_obj, text_shots=shots, k=k, n=n, circular=circular, n_boot=200,
                       base_llms=base_llms, prefer_scoring=scoring, inspectors=[plan.name(m) for m in plan.inspectors],
                       min_confidence=min_confidence)
        verdict.audit = result
        verdict.checks = evaluate_checks(result, max_text_answerable=max_text_answerable, min_mg=min_mg, max_leaked=max_leaked)
        failed = [c for c in verdict.checks if not c.passed]
        verdict.status, verdict.exit_code = ("fail", EXIT_FAIL) if failed else ("pass", EXIT_PASS)
        result.summary["verdict"] = {
            "status": verdict.status, "exit_code": verdict.exit_code,
            "message": "; ".join(c.message for c in failed) if failed else "every check passed",
            "checks": [asdict(c) for c in verdict.checks], "max_text_answerable": max_text_answerable,
        }
        result.save(out_dir)
    except LeakauditError as exc:
        verdict.error = _error_dict(exc)
    verdict.seconds = time.perf_counter() - t0
    write_outputs(verdict, out_dir)
    return verdict


__all__ = ["Check", "EXIT_ERROR", "EXIT_FAIL", "EXIT_PASS", "GateVerdict", "evaluate_checks", "gate", "junit_xml", "summary_markdown"]
