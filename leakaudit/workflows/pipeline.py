"""The audit pipeline shared by ``scan`` and ``gate``: plan models, collect answers, audit, filter.

One flow, one set of settings: the plan says which models run under which condition, the
answers go to the store, the settings (:class:`~leakaudit.answers.settings.AuditSettings`) are
recorded beside them, and the audit and filter read them back, so ``leakaudit audit``,
``filter``, ``report`` and ``gate`` on the same run folder give the scan's numbers.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from leakaudit.answers.settings import AuditSettings
from leakaudit.audit import AuditResult, audit
from leakaudit.audit.filter import FilterResult, filter_benchmark
from leakaudit.audit.panel import build_panel
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import LM
from leakaudit.models.prepare import BackgroundConversions, specs_in_order

log = logging.getLogger(__name__)

#: zoo groups a scan uses when none is named
DEMO_GROUP = "tiny-real"  # the tiny zoo without its random-weight VLMs, which never vote
INSPECTOR_GROUPS = ("mmstar-inspectors-8", "mmstar-22")
LVLM_GROUP = "mmstar-lvlm-16"


@dataclass
class ModelPlan:
    """Which models a scan asks under which condition."""

    inspectors: list[str | LM] = field(default_factory=list)   # text-only evidence (MMStar's LLM inspectors)
    base_llms: list[str | LM] = field(default_factory=list)    # text-only, for the LVLMs' S_t (ML)
    lvlms: list[str | LM] = field(default_factory=list)        # vision + blind
    blind_modes: dict[str, str] = field(default_factory=dict)  # LVLM -> drop | grey | noise
    skipped: list[str] = field(default_factory=list)           # not runnable here (reasons)
    merged: dict[str, str] = field(default_factory=dict)       # inspector -> the one with the same weights that runs
    random_weights: list[str] = field(default_factory=list)    # random models: run, but never vote

    @staticmethod
    def name(m: str | LM) -> str:
        return m if isinstance(m, str) else m.name

    def names(self) -> dict[str, list[str]]:
        return {"inspectors": [self.name(m) for m in self.inspectors], "base_llms": [self.name(m) for m in self.base_llms],
                "lvlms": [self.name(m) for m in self.lvlms]}


@dataclass
class PipelineResult:
    plan: ModelPlan
    settings: AuditSettings
    audit: AuditResult
    filter: FilterResult | None
    run_dir: Path
    runs: list = field(default_factory=list)  # RunSummary per (model, condition)


# -- models -------------------------------------------------------------------------------
def default_group(bench_name: str) -> str | None:
    """``tiny-real`` for the demo, else None (MMStar's inspectors and 16 LVLMs)."""
    return DEMO_GROUP if bench_name == "demo" else None


def load_zoo(zoo: Any) -> Any:
    """A loaded zoo from a Zoo, a YAML path, or None (the default zoo)."""
    from leakaudit.models.zoo import resolve_zoo

    return resolve_zoo(zoo)


def needs_zoo(zoo: Any, models: Sequence[str | LM] | None) -> bool:
    return zoo is not None or not models or any(isinstance(m, str) for m in models)


def remote_code_allowed() -> bool:
    from leakaudit.models.zoo import remote_code_allowed as allowed

    return allowed()


def plan_models(zoo: Any, group: str | None = None, models: Sequence[str | LM] | None = None,
                base_llms: dict[str, str] | None = None) -> ModelPlan:
    """LLM inspectors, LVLMs and the LVLMs' base LLMs from a zoo group or explicit models.

    ``models`` may mix zoo names and ``LM`` objects; an ``LM`` that takes images is an LVLM
    (its base LLM from ``base_llms``). Without ``group`` and ``models``: MMStar's setting,
    the 8 LLM inspectors (or the 22 LLMs) and the 16 LVLMs of the zoo. Inspectors with the
    same weights as an earlier one are merged (run once, one vote); random-weight LLMs are
    not inspectors (they still run as an LVLM's base LLM).
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
    llm_names: list[str] = []
    for m in entries:
        if isinstance(m, LM):
            (plan.lvlms if m.supports_images else plan.inspectors).append(m)
            continue
        spec = zoo[m]
        if not getattr(spec, "loadable", True):
            plan.skipped.append(f"{spec.name}: cannot run here ({spec.note or 'not loadable'}); its imported answers are used if present")
            continue
        if not models and getattr(spec, "trust_remote_code", False) and not remote_code_allowed():
            plan.skipped.append(f"{spec.name}: runs code from its hub repository; excluded from the panel unless --allow-remote-code "
                                f"(and a pinned revision); its imported answers are used if present")
            continue
        if spec.kind == "lvlm":
            plan.lvlms.append(spec.name)
            plan.blind_modes[spec.name] = getattr(spec, "blind_mode", "drop") or "drop"
            base = base_llms.get(spec.name, spec.base_llm)
            if base:
                base_llms[spec.name] = base
            if getattr(spec, "is_random", False):
                plan.random_weights.append(spec.name)
        else:
            llm_names.append(spec.name)
    panel = build_panel(llm_names, zoo)
    plan.merged = dict(panel.merged)
    plan.random_weights += panel.random_weights
    plan.inspectors += panel.voters
    for merged, kept in panel.merged.items():
        plan.skipped.append(f"{merged}: same weights as {kept}, which runs for both (one vote)")
    plan.base_llms += panel.random_weights  # a random LLM only gives S_t, never a vote
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
        if getattr(spec, "is_random", False) and base not in plan.random_weights:
            plan.random_weights.append(base)
        plan.base_llms.append(base)
    return plan


def without_vision(plan: ModelPlan, reason: str = "the benchmark was loaded with --no-images") -> ModelPlan:
    """Drop the LVLMs of a plan (their vision and blind runs need the images), saying why in ``plan.skipped``."""
    for m in plan.lvlms:
        plan.skipped.append(f"{plan.name(m)}: vision and blind runs skipped: {reason}")
    plan.lvlms = []
    return plan


def collect_answers(bench: Benchmark, plan: ModelPlan, *, run_dir: Path, zoo: Any, shots: int, scoring: str, circular: bool,
                    limit: int | None, progress: bool, command: str | None = None, on_model_error: str = "raise") -> list:
    """Run every condition the plan needs, model by model; the store skips what it already has.

    ``on_model_error="skip"`` records a model that fails to load or run in ``plan.skipped``
    and carries on with the others (a scan reports what it could measure); ``"raise"``
    turns the failure into a ``LeakauditError`` (the gate's setup error, exit code 2).
    """
    from leakaudit.answers.runner import run

    summaries: list = []
    failed: set[str] = set()
    common = dict(run_dir=run_dir, scoring=scoring, circular=circular, limit=limit, zoo=zoo, progress=progress, command=command)
    jobs: list[tuple[str | LM, str, int, str]] = [(m, "text", shots, "drop") for m in plan.inspectors + plan.base_llms]
    jobs += [(m, "vision", 0, "drop") for m in plan.lvlms]
    jobs += [(m, "blind", 0, plan.blind_modes.get(plan.name(m), "drop")) for m in plan.lvlms]
    # every condition of a model while it is loaded (a vLLM engine takes a minute to start);
    # the order of first appearance keeps the text-only LLMs first (their answers can be reused)
    first: dict[str, int] = {}
    for model, *_ in jobs:
        first.setdefault(plan.name(model), len(first))
    jobs.sort(key=lambda job: first[plan.name(job[0])])
    last = {plan.name(job[0]): i for i, job in enumerate(jobs)}
    conversions = background_conversions([job[0] for job in jobs], zoo).start()
    try:
        for i, (model, condition, n_shots, blind) in enumerate(jobs):
            conversions.poll()
            name = plan.name(model)
            if name in failed:
                continue
            try:
                _reuse_equivalent(bench, model, name, condition, n_shots, blind, zoo=zoo, run_dir=run_dir, scoring=scoring,
                                  circular=circular, limit=limit)
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
        conversions.stop(cancel=sys.exc_info()[0] is not None)  # a failed run needs no more weights
    return summaries


def background_conversions(models: Sequence[str | LM], zoo: Any) -> BackgroundConversions:
    """Later models' GGUF weights converted in a background process while the first model runs
    (a fresh machine: the first conversion is single-threaded and leaves a core idle); none
    when the models run elsewhere (Ray workers convert their own)."""
    from leakaudit.answers.engines import current_engine

    engine = current_engine()
    local = engine is None or getattr(engine, "local", True)
    return BackgroundConversions(specs_in_order(list(models), zoo) if local else [])


def _reuse_equivalent(bench: Benchmark, model: str | LM, name: str, condition: str, shots: int, blind: str, *, zoo: Any,
                      run_dir: Path, scoring: str, circular: bool, limit: int | None) -> int:
    """Copy answers an equivalent run already stored (``leakaudit.answers.reuse``) so the runner skips them;
    ``name`` is the model's name in the store."""
    from leakaudit.answers.reuse import copy_equivalent_answers, covers, equivalent_sources
    from leakaudit.answers.runner import build_items

    blind_mode = blind if condition == "blind" else ""
    spec = zoo[model] if isinstance(model, str) and zoo is not None and model in zoo else None
    sources = equivalent_sources(spec, name, condition, blind_mode)
    if shots or not sources:
        return 0
    samples = list(bench.samples)[: limit if limit is not None else None]
    items = build_items(samples, condition, shots=0, fewshot=[], scoring=scoring, blind=blind, circular=circular)
    copied = 0
    for source, scope in sources:
        keys = [it.key(name, condition, blind_mode, 0) for it in items if covers(scope, it.original)]
        copied += copy_equivalent_answers(run_dir, name, condition, blind_mode, source, keys)
    return copied


def model_calls_message(runs: Sequence[Any]) -> str:
    """One line on what the runs cost: "no model call made" when every answer was stored."""
    total = sum(r.total for r in runs)
    new = sum(r.new for r in runs)
    if new == 0:
        return f"all {total} answers already stored: no model call made"
    called = sorted({row.model for r in runs for row in r.rows if row.new})
    return f"{new} new answers from {len(called)} model(s) ({', '.join(called)}), {total - new} reused from the store"


def audited_subset(bench: Benchmark, limit: int | None) -> Benchmark:
    """The questions a limited run covers (the runner asks the first ``limit``)."""
    if limit is None or limit >= len(bench):
        return bench
    return bench.subset([s.id for s in bench.samples[:limit]])


# -- audit and filter with recorded settings -------------------------------------------------
def audit_run(run_dir: str | Path, settings: AuditSettings, *, benchmark: Any = None, zoo: Any = None, scoring: str | None = None,
              overrides: Sequence[str] = (), require_inspectors: bool = False, progress: bool = False) -> AuditResult:
    """``audit(run_dir)`` under ``settings``; the summary records them and any overriding flags.

    ``require_inspectors``: refuse (``LeakauditError``, exit 2) when no inspector LLM answered
    text-only, instead of a verdict that judged nothing (the gate, the filter); without it such
    an audit keeps its metrics with ``verdict: None`` and ``verdict_reason``.
    """
    result = audit(run_dir, benchmark=benchmark, zoo=zoo, text_shots=settings.shots, k=settings.k, n=settings.n,
                   circular=settings.circular, n_boot=settings.n_boot, seed=settings.seed, base_llms=settings.base_llms or None,
                   scoring=scoring, blind_mode=settings.blind_mode, prefer_scoring=settings.scoring, inspectors=settings.inspectors,
                   min_confidence=settings.min_confidence or None, extra_signals=settings.extra_signals, progress=progress)
    result.summary["settings"]["recorded"] = settings.to_dict()
    result.summary["settings"]["overridden"] = list(overrides)
    if require_inspectors:
        refuse_without_inspectors(result, run_dir)
    return result


def refuse_without_inspectors(result: AuditResult, run_dir: str | Path) -> None:
    if not (result.summary.get("settings") or {}).get("inspectors"):
        bench = result.summary.get("benchmark")
        bench = bench if isinstance(bench, str) else "BENCH"
        raise LeakauditError(
            f"no inspector LLM (with real weights) answered text-only in {run_dir}: nothing can be judged text-answerable, "
            f"so there is no verdict to give. Run some first: `leakaudit run {bench} --models smollm2-135m,gemma3-270m "
            f"--condition text --scoring cloze --run-dir {run_dir}` (or `leakaudit import FILE --condition text ...`)")


def run_pipeline(benchmark: Benchmark, *, settings: AuditSettings, plan: ModelPlan, zoo: Any, run_dir: Path, limit: int | None,
                 progress: bool, command: str | None, on_model_error: str, do_filter: bool = True,
                 require_verdict: bool = False, overrides: Sequence[str] = ()) -> PipelineResult:
    """Collect the plan's answers, record the settings beside them, audit, and (optionally) filter.

    ``require_verdict`` (the gate): refuse when no inspector answered text-only. Otherwise (the
    scan) such an audit keeps its metrics and the filter is not run (``filter`` None): it would
    keep questions nobody checked.
    """
    runs = collect_answers(benchmark, plan, run_dir=run_dir, zoo=zoo, shots=settings.shots, scoring=settings.scoring,
                    circular=settings.circular, limit=limit, progress=progress, command=command, on_model_error=on_model_error)
    failed = {s.split(":", 1)[0] for s in plan.skipped if " run failed: " in s}
    settings = replace(settings, inspectors=[plan.name(m) for m in plan.inspectors if plan.name(m) not in failed] or settings.inspectors,
                       lvlms=[plan.name(m) for m in plan.lvlms if plan.name(m) not in failed] or settings.lvlms,
                       base_llm_runs=[plan.name(m) for m in plan.base_llms])
    settings.validate().save(run_dir)
    audited = audited_subset(benchmark, limit)
    result = audit_run(run_dir, settings, benchmark=audited, zoo=zoo, overrides=overrides, require_inspectors=require_verdict,
                       progress=progress)
    fres = None
    if do_filter and result.summary.get("verdict") is not None:
        fres = filter_benchmark(audited, result, settings=settings)
        fres.apply_to(result)
    return PipelineResult(plan=plan, settings=settings, audit=result, filter=fres, run_dir=run_dir, runs=runs)


__all__ = ["DEMO_GROUP", "ModelPlan", "PipelineResult", "audit_run", "audited_subset", "collect_answers", "default_group", "load_zoo", "model_calls_message",
           "needs_zoo", "plan_models", "refuse_without_inspectors", "run_pipeline"]
