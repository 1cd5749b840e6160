"""``scan``: one command from a benchmark name to an audit folder (runs, audit, filter, figures, PDF).

It loads the benchmark first (so a missing hub copy fails before any model is loaded),
runs whatever answers the store lacks (text-only LLMs; LVLMs with and without images; each
LVLM's base LLM text-only, for ML), audits, filters, and writes the audit output folder
(docs/ARCHITECTURE.md "Audit output folder"). Re-running a scan only runs what is missing.
The flow itself lives in :mod:`leakaudit.workflows.pipeline` (shared with the gate); the settings it
used are recorded in ``RUN/settings.json`` so a later ``audit``/``report`` agrees with it.
"""
from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from leakaudit.answers.settings import AuditSettings, resolve
from leakaudit.audit import AuditResult
from leakaudit.audit.filter import FilterResult
from leakaudit.data.benchmark import Benchmark, load_benchmark
from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import LM
from leakaudit.workflows import pipeline
from leakaudit.workflows.pipeline import (DEMO_GROUP, ModelPlan, audited_subset, collect_answers, default_group,  # noqa: F401 - re-exported
                                          plan_models)

log = logging.getLogger(__name__)

#: Defaults live in :class:`leakaudit.answers.settings.AuditSettings` (cloze, 0-shot, min_confidence 0.5:
#: measured on the demo with the tiny zoo, see README); these names stay for callers.
_DEFAULTS = AuditSettings()
DEFAULT_SCORING = _DEFAULTS.scoring
DEFAULT_SHOTS = _DEFAULTS.shots
DEFAULT_CIRCULAR = _DEFAULTS.circular
DEFAULT_MIN_CONFIDENCE = _DEFAULTS.min_confidence


@dataclass
class ScanResult:
    out_dir: Path
    run_dir: Path
    audit: AuditResult
    #: None when no inspector answered text-only: no verdict, so no filter (``audit.summary["verdict_reason"]``)
    filter: FilterResult | None
    kept_file: Path | None
    figures: list[Path]
    report_pdf: Path | None
    plan: ModelPlan
    seconds: float
    settings: AuditSettings | None = None
    overrides: list[str] | None = None
    runs: list = field(default_factory=list)  # RunSummary per (model, condition)

    def calls_message(self) -> str:
        return pipeline.model_calls_message(self.runs)


# -- scan ---------------------------------------------------------------------------------
def default_out(bench_name: str) -> Path:
    """``reports/<bench>/``: stable, so a second scan of the same benchmark reuses its stored answers."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(bench_name).stem or bench_name)
    return Path("reports") / safe


def set_aside(path: Path) -> Path | None:
    """Move an earlier ``audit.pdf`` to ``audit-YYYYmmdd-HHMMSS.pdf`` (its own time) so a rerun keeps it."""
    if not path.is_file():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
    target = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    i = 1
    while target.exists():
        target = path.with_name(f"{path.stem}-{stamp}-{i}{path.suffix}")
        i += 1
    path.replace(target)
    return target


def scan(
    bench: str | Benchmark,
    *,
    zoo_group: str | None = None,
    path: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    shots: int | None = None,
    scoring: str | None = None,
    circular: bool | None = None,
    k: int | None = None,
    n: int | None = None,
    min_confidence: float | None = None,
    drop_blind: bool | None = None,
    balance: bool | None = None,
    zoo: Any = None,
    models: Sequence[str | LM] | None = None,
    base_llms: dict[str, str] | None = None,
    n_boot: int | None = None,
    progress: bool = True,
    report: bool = True,
    command: str | None = None,
    extra_signals: Sequence[str] | None = None,
    signal_thresholds: dict[str, float] | None = None,
) -> ScanResult:
    """Run, audit, filter and report one benchmark; returns where everything was written.

    Settings left None come from ``RUN/settings.json`` when a reused store recorded them,
    else from :class:`~leakaudit.answers.settings.AuditSettings` (``min_confidence=0`` counts every
    hit, as MMStar). The settings used are written to ``RUN/settings.json``.
    """
    t0 = time.perf_counter()
    # the benchmark first: a hub that cannot be reached fails here, before any model loads
    if isinstance(bench, Benchmark):
        benchmark = bench
    else:
        benchmark = load_benchmark(bench, path=path, split=split, limit=None if shots else limit)
    # a file is named by its stem (two submissions do not share a folder), an adapter by its name
    out_name = Path(bench).stem if isinstance(bench, (str, Path)) and Path(bench).exists() else benchmark.name
    out_dir = Path(out) if out is not None else default_out(out_name)
    run_path = Path(run_dir) if run_dir is not None else out_dir / "run"
    settings, overrides = resolve(run_path, shots=shots, scoring=scoring, circular=circular, k=k, n=n, min_confidence=min_confidence,
                                  remove_signals=(["blind-hits"] if drop_blind else None), balance=balance, n_boot=n_boot,
                                  base_llms=dict(base_llms) if base_llms else None,
                                  extra_signals=list(extra_signals) if extra_signals else None, signal_thresholds=signal_thresholds)
    for line in overrides:
        log.warning(line)
    out_dir.mkdir(parents=True, exist_ok=True)

    zoo_obj = pipeline.load_zoo(zoo) if pipeline.needs_zoo(zoo, models) else None
    group = zoo_group if zoo_group is not None else (None if models else default_group(benchmark.name))
    plan = plan_models(zoo_obj, group, models, base_llms)
    if getattr(benchmark, "no_images", False):
        pipeline.without_vision(plan)
    if not (plan.inspectors or plan.lvlms):
        raise LeakauditError("no runnable model in the chosen zoo group: " + "; ".join(plan.skipped))
    for note in plan.skipped:
        log.warning(note)
    command = command if command is not None else shlex.join(["leakaudit", *sys.argv[1:]])
    res = pipeline.run_pipeline(benchmark, settings=settings, plan=plan, zoo=zoo_obj, run_dir=run_path, limit=limit, progress=progress,
                                command=command, on_model_error="skip", overrides=overrides)
    result, fres, settings, runs = res.audit, res.filter, res.settings, res.runs
    kept_file = fres.write(out_dir / "kept") if fres is not None else None
    result.summary["scan"] = {
        "benchmark": benchmark.name, "source": str(benchmark.source), "zoo_group": group, "models": plan.names(),
        "skipped_models": plan.skipped, "merged_models": plan.merged, "shots": settings.shots, "scoring": settings.scoring,
        "circular": settings.circular, "limit": limit, "run_dir": str(run_path), "kept_file": str(kept_file) if kept_file else None, "command": command,
    }
    result.summary["notes"] = list(dict.fromkeys(result.summary.get("notes", []) + plan.skipped))
    result.save(out_dir)
    from leakaudit.report.figures import write_figures

    figures = write_figures(result, out_dir / "figures")
    result.summary["scan"]["seconds"] = time.perf_counter() - t0
    result.save(out_dir)
    pdf = None
    if report:
        from leakaudit.report import build_report

        try:
            set_aside(out_dir / "audit.pdf")
            pdf = Path(build_report(out_dir, out_dir / "audit.pdf"))
        except Exception as exc:  # noqa: BLE001 - the audit folder stands without its PDF
            log.warning("PDF report failed: %s: %s", type(exc).__name__, exc)
    return ScanResult(out_dir=out_dir, run_dir=run_path, audit=result, filter=fres, kept_file=kept_file, figures=figures,
                      report_pdf=pdf, plan=plan, seconds=time.perf_counter() - t0, settings=settings, overrides=overrides, runs=runs)


__all__ = ["DEFAULT_CIRCULAR", "DEFAULT_SCORING", "DEFAULT_SHOTS", "ModelPlan", "ScanResult", "collect_answers",
           "default_group", "default_out", "plan_models", "scan", "set_aside"]
