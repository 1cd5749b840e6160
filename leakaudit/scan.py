"""``scan``: one command from a benchmark name to an audit folder (runs, audit, filter, figures, PDF).

It loads the benchmark first (so a missing hub copy fails before any model is loaded),
runs whatever answers the store lacks (text-only LLMs; LVLMs with and without images; each
LVLM's base LLM text-only, for ML), audits, filters, and writes the audit output folder
(docs/ARCHITECTURE.md "Audit output folder"). Re-running a scan only runs what is missing.
"""
from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .audit import AuditResult, audit
from .backends.base import LM
from .benchmark import Benchmark, load_benchmark
from .errors import LeakauditError
from .filter import FilterResult, filter_benchmark

log = logging.getLogger(__name__)

#: zoo groups a scan uses when none is named
DEMO_GROUP = "tiny"
INSPECTOR_GROUPS = ("mmstar-inspectors-8", "mmstar-22")
LVLM_GROUP = "mmstar-lvlm-16"

#: Defaults measured on the demo with the tiny zoo (see docs and the scan test): cloze
#: scoring avoids the tiny LLMs' letter bias (SmolLM2 answers "C" to anything), so a hit
#: means the model knows the answer; 0-shot keeps prompts short on CPUs.
DEFAULT_SCORING = "cloze"
DEFAULT_SHOTS = 0
DEFAULT_CIRCULAR = False
#: A text-only hit counts as evidence when the model gives the answer at least half of its
#: option probability: a lucky guess is not knowledge. On the demo with the tiny zoo this
#: lifts precision from 0.69 to 0.90 at the same recall (0.90); None counts every hit (MMStar).
DEFAULT_MIN_CONFIDENCE = 0.5


@dataclass
class ModelPlan:
    """Which models a scan asks under which condition."""

    inspectors: list[str | LM] = field(default_factory=list)   # text-only evidence (MMStar's LLM inspectors)
    base_llms: list[str | LM] = field(default_factory=list)    # text-only, for the LVLMs' S_t (ML)
    lvlms: list[str | LM] = field(default_factory=list)        # vision + blind
    blind_modes: dict[str, str] = field(default_factory=dict)  # LVLM -> drop | grey | noise
    skipped: list[str] = field(default_factory=list)           # not runnable here (reasons)

    @staticmethod
    def name(m: str | LM) -> str:
        return m if isinstance(m, str) else m.name

    def names(self) -> dict[str, list[str]]:
        return {"inspectors": [self.name(m) for m in self.inspectors], "base_llms": [self.name(m) for m in self.base_llms],
                "lvlms": [self.name(m) for m in self.lvlms]}


@dataclass
class ScanResult:
    out_dir: Path
    run_dir: Path
    audit: AuditResult
    filter: FilterResult
    kept_file: Path
    figures: list[Path]
    report_pdf: Path | None
    plan: ModelPlan
    seconds: float


# -- models -------------------------------------------------------------------------------
def default_group(bench_name: str) -> str | None:
    """``tiny`` for the demo, else None (MMStar's inspectors and 16 LVLMs)."""
    return DEMO_GROUP if bench_name == "demo" else None


def plan_models(zoo: Any, group: str | None = None, models: Sequence[str | LM] | None = None,
                base_llms: dict[str, str] | None = None) -> ModelPlan:
    """LLM inspectors, LVLMs and the LVLMs' base LLMs from a zoo group or explicit models.

    ``models`` may mix zoo names and ``LM`` objects; an ``LM`` that takes images is an LVLM
    (its base LLM from ``base_llms``). Without ``group`` and ``models``: MMStar's setting,
    the 8 LLM inspectors (or the 22 LLMs) and the 16 LVLMs of the zoo.
    """
    plan = ModelPlan()
    base_llms = dict(base_llms or {})
    entries: list[str | LM] = []
    if models:
        entries = list(models)
    elif group:
        entries = [s.name for s in zoo.group(group)]
    else:
        groups = getattr(zoo, "groups", {})
        llm_group = next((g for g in INSPECTOR_GROUPS if g in groups), None)
        if llm_group is None or LVLM_GROUP not in groups:
            raise LeakauditError(f"the zoo has no {INSPECTOR_GROUPS[0]!r}/{LVLM_GROUP!r} groups; pass --zoo GROUP")
        entries = [s.name for s in zoo.group(llm_group)] + [s.name for s in zoo.group(LVLM_GROUP)]
    for m in entries:
        if isinstance(m, LM):
            (plan.lvlms if m.supports_images else plan.inspectors).append(m)
            continue
        spec = zoo[m]
        if not getattr(spec, "loadable", True):
            plan.skipped.append(f"{spec.name}: cannot run here ({spec.note or 'not loadable'}); its imported answers are used if present")
            continue
        if spec.kind == "lvlm":
            plan.lvlms.append(spec.name)
            plan.blind_modes[spec.name] = getattr(spec, "blind_mode", "drop") or "drop"
            base = base_llms.get(spec.name, spec.base_llm)
            if base:
                base_llms[spec.name] = base
        else:
            plan.inspectors.append(spec.name)
    inspector_names = {plan.name(m) for m in plan.inspectors}
    for lvlm in plan.lvlms:
        base = base_llms.get(plan.name(lvlm))
        if not base or base in inspector_names or base in {plan.name(b) for b in plan.base_llms}:
            continue
        spec = zoo[base] if zoo is not None and base in zoo else None
        if spec is None:
            plan.skipped.append(f"{base} (base LLM of {plan.name(lvlm)}): not in the model zoo, so it cannot be run; ML uses its stored answers if present")
            continue
        if not getattr(spec, "loadable", True):
            plan.skipped.append(f"{base} (base LLM of {plan.name(lvlm)}): cannot run here; ML uses its imported answers if present")
            continue
        plan.base_llms.append(base)
    return plan


def collect_answers(bench: Benchmark, plan: ModelPlan, *, run_dir: Path, zoo: Any, shots: int, scoring: str, circular: bool,
                    limit: int | None, progress: bool, command: str | None = None, on_model_error: str = "raise") -> list:
    """Run every condition the plan needs, model by model; the store skips what it already has.

    ``on_model_error="skip"`` records a model that fails to load or run in ``plan.skipped``
    and carries on with the others (a scan reports what it could measure); ``"raise"``
    turns the failure into a ``LeakauditError`` (the gate's setup error, exit code 2).
    """
    from .runner import run

    summaries = []
    failed: set[str] = set()
    common = dict(run_dir=run_dir, scoring=scoring, circular=circular, limit=limit, zoo=zoo, progress=progress, command=command)
    jobs: list[tuple[str | LM, str, int, str]] = [(m, "text", shots, "drop") for m in plan.inspectors + plan.base_llms]
    jobs += [(m, "vision", 0, "drop") for m in plan.lvlms]
    jobs += [(m, "blind", 0, plan.blind_modes.get(plan.name(m), "drop")) for m in plan.lvlms]
    # every condition of a model while it is loaded (a vLLM engine takes a minute to start)
    first = {}
    for model, *_ in jobs:
        first.setdefault(plan.name(model), len(first))
    jobs.sort(key=lambda job: first[plan.name(job[0])])
    last = {plan.name(job[0]): i for i, job in enumerate(jobs)}
    for i, (model, condition, n_shots, blind) in enumerate(jobs):
        name = plan.name(model)
        if name in failed:
            continue
        try:
            summaries.append(run(bench, [model], condition=condition, shots=n_shots, blind=blind, keep_loaded=last[name] > i, **common))
        except KeyboardInterrupt:
            raise
        except LeakauditError as exc:
            if on_model_error == "raise":
                raise
            failed.add(name)
            plan.skipped.append(f"{name}: {condition} run failed: {exc}")
            log.warning("%s: %s run failed: %s", name, condition, exc)
        except Exception as exc:  # noqa: BLE001 - a backend bug in one model must not sink the others
            if on_model_error == "raise":
                raise LeakauditError(f"model {name!r} failed in the {condition} run: {type(exc).__name__}: {exc}") from exc
            failed.add(name)
            plan.skipped.append(f"{name}: {condition} run failed: {type(exc).__name__}: {exc}")
            log.warning("%s: %s run failed: %s: %s", name, condition, type(exc).__name__, exc)
        finally:
            if (name in failed or last[name] == i) and isinstance(model, str) and hasattr(zoo, "unload"):
                zoo.unload(name)  # kept loaded across its conditions; freed after its last one
    return summaries


def _load_zoo(zoo: Any) -> Any:
    if zoo is not None and not isinstance(zoo, (str, Path)):
        return zoo
    from .zoo import load_zoo

    return load_zoo(zoo) if zoo is not None else load_zoo()


def audited_subset(bench: Benchmark, limit: int | None) -> Benchmark:
    """The questions a limited run covers (the runner asks the first ``limit``)."""
    if limit is None or limit >= len(bench):
        return bench
    return bench.subset([s.id for s in bench.samples[:limit]])


# -- figures ------------------------------------------------------------------------------
def write_figures(result: AuditResult, out_dir: Path) -> list[Path]:
    """MG/ML bars, text-only hit histogram, capability heatmap, filter bars as PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        from .report import figures as rf
    except Exception as exc:  # noqa: BLE001 - the report package is optional here
        log.warning("report figures unavailable (%s); writing simple figures", exc)
        rf = None
    written: list[Path] = []
    if rf is not None:
        threshold = None
        makers = {
            "mg_ml.png": lambda: rf.mg_ml_figure(result.metrics),
            "text_hits.png": lambda: rf.text_hits_figure(result.samples, threshold),
            "capabilities.png": lambda: rf.capability_heatmap_figure(result.metrics),
            "filter.png": lambda: rf.filter_figure(result.samples),
        }
        for name, make in makers.items():
            try:
                with rf.report_style():
                    fig = make()
                    if fig is None:
                        continue
                    rf.figure_png(fig, out_dir / name)
                    plt.close(fig)
                written.append(out_dir / name)
            except Exception as exc:  # noqa: BLE001 - a figure must not sink the scan
                log.warning("figure %s failed: %s", name, exc)
        return written
    whole = result.metrics[result.metrics["category"].isna() & (result.metrics["kind"] == "lvlm")]
    if not whole.empty:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(whole)))
        y = range(len(whole))
        ax.barh([i + 0.2 for i in y], whole["MG"].fillna(0), height=0.4, label="MG")
        ax.barh([i - 0.2 for i in y], whole["ML"].fillna(0), height=0.4, label="ML")
        ax.set_yticks(list(y), whole["model"])
        ax.set_xlabel("percentage points")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "mg_ml.png", dpi=120)
        plt.close(fig)
        written.append(out_dir / "mg_ml.png")
    fig, ax = plt.subplots(figsize=(6, 3))
    result.samples["text_hits"].value_counts().sort_index().plot.bar(ax=ax)
    ax.set_xlabel("text-only LLMs answering the question")
    ax.set_ylabel("questions")
    fig.tight_layout()
    fig.savefig(out_dir / "text_hits.png", dpi=120)
    plt.close(fig)
    written.append(out_dir / "text_hits.png")
    return written


# -- scan ---------------------------------------------------------------------------------
def default_out(bench_name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(bench_name).stem or bench_name)
    return Path("reports") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def scan(
    bench: str | Benchmark,
    *,
    zoo_group: str | None = None,
    path: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    shots: int = DEFAULT_SHOTS,
    scoring: str = DEFAULT_SCORING,
    circular: bool = DEFAULT_CIRCULAR,
    k: int | None = None,
    n: int | None = None,
    min_confidence: float | None = DEFAULT_MIN_CONFIDENCE,
    drop_blind: bool = False,
    balance: bool = False,
    zoo: Any = None,
    models: Sequence[str | LM] | None = None,
    base_llms: dict[str, str] | None = None,
    n_boot: int = 1000,
    progress: bool = True,
    report: bool = True,
    command: str | None = None,
) -> ScanResult:
    """Run, audit, filter and report one benchmark; returns where everything was written."""
    t0 = time.perf_counter()
    # the benchmark first: a hub that cannot be reached fails here, before any model loads
    if isinstance(bench, Benchmark):
        benchmark = bench
    else:
        benchmark = load_benchmark(bench, path=path, split=split, limit=None if shots else limit)
    audited = audited_subset(benchmark, limit)
    out_dir = Path(out) if out is not None else default_out(benchmark.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_path = Path(run_dir) if run_dir is not None else out_dir / "run"

    zoo_obj = _load_zoo(zoo) if (zoo is not None or not models or any(isinstance(m, str) for m in models)) else None
    group = zoo_group if zoo_group is not None else (None if models else default_group(benchmark.name))
    plan = plan_models(zoo_obj, group, models, base_llms)
    if not (plan.inspectors or plan.lvlms):
        raise LeakauditError("no runnable model in the chosen zoo group: " + "; ".join(plan.skipped))
    for note in plan.skipped:
        log.warning(note)
    command = command if command is not None else shlex.join(["leakaudit", *sys.argv[1:]])
    collect_answers(benchmark, plan, run_dir=run_path, zoo=zoo_obj, shots=shots, scoring=scoring, circular=circular,
                    limit=limit, progress=progress, command=command, on_model_error="skip")

    result = audit(run_path, benchmark=audited, zoo=zoo_obj, text_shots=shots, k=k, n=n, circular=circular, n_boot=n_boot,
                   base_llms=base_llms, prefer_scoring=scoring, inspectors=[plan.name(m) for m in plan.inspectors] or None,
                   min_confidence=min_confidence)
    fres = filter_benchmark(audited, result, k=k, n=n, drop_blind=drop_blind, balance=balance)
    fres.apply_to(result)
    kept_file = fres.write(out_dir / "kept")
    result.summary["scan"] = {
        "benchmark": benchmark.name, "source": str(benchmark.source), "zoo_group": group, "models": plan.names(),
        "skipped_models": plan.skipped, "shots": shots, "scoring": scoring, "circular": circular, "limit": limit,
        "run_dir": str(run_path), "kept_file": str(kept_file), "command": command,
    }
    result.summary["notes"] = list(dict.fromkeys(result.summary.get("notes", []) + plan.skipped))
    result.save(out_dir)
    figures = write_figures(result, out_dir / "figures")
    result.summary["scan"]["seconds"] = round(time.perf_counter() - t0, 1)
    result.save(out_dir)
    pdf = None
    if report:
        try:
            from .report import build_report
        except ImportError as exc:
            log.warning("PDF report skipped: %s", exc)
        else:
            try:
                pdf = Path(build_report(out_dir, out_dir / "audit.pdf"))
            except Exception as exc:  # noqa: BLE001 - the audit folder stands without its PDF
                log.warning("PDF report failed: %s: %s", type(exc).__name__, exc)
    return ScanResult(out_dir=out_dir, run_dir=run_path, audit=result, filter=fres, kept_file=kept_file, figures=figures,
                      report_pdf=pdf, plan=plan, seconds=time.perf_counter() - t0)


__all__ = ["DEFAULT_CIRCULAR", "DEFAULT_SCORING", "DEFAULT_SHOTS", "ModelPlan", "ScanResult", "collect_answers",
           "default_group", "plan_models", "scan", "write_figures"]
