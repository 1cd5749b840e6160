"""MMStar's coarse filter: keep the questions text-only LLMs cannot answer, in the input's own format.

MMStar kept a question only if at most 2 of its 8 LLM inspectors answered it without the
image. ``filter_benchmark`` applies that rule (or any k of N) to an audit's per-question
evidence, optionally also drops questions a vision model answers blind, optionally
balances capabilities to equal counts, and writes the kept questions with the input's own
writer plus ``removed.csv``: every removed id with its reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leakaudit.answers.settings import AuditSettings
from leakaudit.audit import signals
from leakaudit.audit.signals import REASON_BALANCE, REASON_UNAUDITED, hit_share, threshold_rule
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError
from leakaudit.outputs import as_list, write_table

REMOVED_FILE = "removed.csv"
REMOVED_COLUMNS = ["sample_id", "sample_hash", "category", "reason", "detail", "text_hits", "text_n", "blind_hits", "blind_models"]
NO_CATEGORY = "(none)"


@dataclass
class FilterResult:
    """Per-question decisions, the kept subset, and the settings that produced them."""

    benchmark: Benchmark
    kept: Benchmark
    decisions: pd.DataFrame  # one row per benchmark sample: id, sample_hash, category, kept, reason, detail, ...
    settings: dict[str, Any] = field(default_factory=dict)
    #: the removal against random removals of the same size (:func:`compare_with_random`)
    vs_random: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_ids(self) -> list[str]:
        return [s.id for s in self.kept.samples]

    @property
    def removed(self) -> pd.DataFrame:
        rows = self.decisions[~self.decisions["kept"]].rename(columns={"id": "sample_id"})
        return rows[REMOVED_COLUMNS].reset_index(drop=True)

    def reason_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.removed["reason"].value_counts().items()}

    def write(self, out_dir: str | Path) -> Path:
        """The kept questions in the input's own format, ``removed.csv`` and ``filter.json``; returns the data file."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if not self.kept.samples:
            data_file = out / "EMPTY"
            data_file.write_text("the filter removed every question; see removed.csv\n", encoding="utf-8")
        else:
            data_file = self.kept.write(out)
        write_table(self.removed, out / REMOVED_FILE, ["blind_models"])
        info = {**self.settings, "n_input": len(self.benchmark), "n_kept": len(self.kept), "removed": self.reason_counts(),
                "data_file": str(data_file), "source": str(self.benchmark.source), "vs_random": self.vs_random}
        (out / "filter.json").write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        return data_file

    def apply_to(self, audit_result) -> None:
        """Record these decisions in an AuditResult's per-question table and summary."""
        samples = audit_result.samples
        by_hash = self.decisions.set_index("sample_hash")
        mask = samples["sample_hash"].isin(by_hash.index) & (samples["benchmark"] == self.benchmark.name)
        hashes = samples.loc[mask, "sample_hash"]
        samples.loc[mask, "kept"] = by_hash.loc[hashes, "kept"].to_numpy()
        samples.loc[mask, "removed_reason"] = by_hash.loc[hashes, "reason"].to_numpy()
        samples.loc[mask, "removed_detail"] = by_hash.loc[hashes, "detail"].to_numpy()
        audit_result.summary["share_kept"] = float(samples["kept"].astype(bool).mean()) if len(samples) else float("nan")
        audit_result.summary["filter"] = {**self.settings, "n_input": len(self.benchmark), "n_kept": len(self.kept), "removed": self.reason_counts(),
                                          "vs_random": self.vs_random}


def filter_benchmark(
    benchmark: Benchmark,
    audit_result,
    *,
    k: int | None = None,
    n: int | None = None,
    drop_blind: bool = False,
    balance: bool = False,
    settings: AuditSettings | None = None,
    allow_empty: bool = False,
) -> FilterResult:
    """Keep the questions no removing signal flags (by default: text-answerable, MMStar's rule).

    ``k``/``n`` as in :func:`leakaudit.audit.signals.max_text_hits` (default MMStar's 2 of
    8, scaled to how many LLMs ran). ``drop_blind`` also removes questions any vision model
    answers without the image (signal ``blind-hits``; ``settings.remove_signals`` names any
    other). ``balance`` then keeps the same number of questions in every capability (the
    smallest capability's count), preferring questions fewer models answered without the
    image, then benchmark order: deterministic. Questions the audit has no evidence for are
    removed (``not-audited``): the output is only what was checked. An empty kept set is an
    error unless ``allow_empty``: a CI job must not pass with nothing left.
    """
    if settings is None:
        settings = AuditSettings(k=k, n=n, remove_signals=["blind-hits"] if drop_blind else [], balance=balance)
    settings.validate()
    ev = audit_result.samples
    ev = ev[ev["benchmark"] == benchmark.name] if "benchmark" in ev else ev
    if ev.empty:
        raise LeakauditError(f"the audit has no evidence for benchmark {benchmark.name!r}; audit the same benchmark first")
    n_inspectors = (audit_result.summary.get("settings") or {}).get("n_inspectors")
    if n_inspectors == 0 or ("text_n" in ev and not (ev["text_n"].fillna(0) > 0).any()):
        raise LeakauditError(
            f"no inspector LLM answered {benchmark.name!r} text-only, so no question can be judged text-answerable and the filter "
            f"would keep questions it never checked; run some first, e.g. `leakaudit run {benchmark.name} "
            "--models smollm2-135m,gemma3-270m --condition text --run-dir RUN` (or import an LLM's predictions with --condition text)")
    evidence = ev.drop_duplicates("sample_hash").drop(columns=["kept", "reason", "detail"], errors="ignore").reset_index(drop=True)
    decision = signals.decide(evidence, settings)
    evidence = pd.concat([evidence, decision], axis=1).set_index("sample_hash")
    rows = []
    for order, s in enumerate(benchmark.samples):
        base = {"id": s.id, "sample_hash": s.content_hash, "category": s.category, "order": order,
                "text_hits": 0, "text_n": 0, "blind_hits": 0, "blind_models": []}
        if s.content_hash not in evidence.index:
            rows.append({**base, "kept": False, "reason": REASON_UNAUDITED, "detail": "no text-only or blind answers for this question in the audit"})
            continue
        e = evidence.loc[s.content_hash]
        base.update(text_hits=_int(e.get("text_hits")), text_n=_int(e.get("text_n")), blind_hits=_int(e.get("blind_hits")),
                    blind_models=as_list(e.get("blind_models")))
        rows.append({**base, "kept": bool(e["kept"]), "reason": e["reason"], "detail": e["detail"]})
    decisions = pd.DataFrame(rows)
    if settings.balance:
        _balance(decisions)
    kept_ids = decisions.loc[decisions["kept"], "id"].tolist()
    if not kept_ids and not allow_empty:
        counts = decisions["reason"].value_counts().to_dict()
        raise LeakauditError(
            f"the filter would keep 0 of {len(benchmark)} questions of {benchmark.name!r} "
            f"(removed: {', '.join(f'{r}: {c}' for r, c in counts.items())}); refusing to write an empty benchmark. "
            "Check the audit (`leakaudit audit --run-dir RUN`): every question is text-answerable or unaudited")
    rule = threshold_rule(settings.k, settings.n)
    info = {"k": settings.k, "n": settings.n, "rule": rule, "drop_blind": settings.drop_blind, "balance": settings.balance,
            "remove_signals": [sg.name for sg in signals.removing(settings)]}
    audited = evidence[evidence.index.isin(decisions.loc[decisions["reason"] != REASON_UNAUDITED, "sample_hash"])]
    removed_hashes = set(decisions.loc[~decisions["kept"] & (decisions["reason"] != REASON_UNAUDITED), "sample_hash"])
    vs_random = compare_with_random(audited, audited.index.isin(removed_hashes), seed=settings.seed)
    return FilterResult(benchmark=benchmark, kept=benchmark.subset(kept_ids), decisions=decisions, settings=info, vs_random=vs_random)


#: random removals the filter's removal is compared with (TsT, arXiv 2511.04655)
RANDOM_SEEDS = 1000


def per_question_metrics(evidence: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-question numbers whose mean a removal moves: inspectors' text-only accuracy, LVLMs' MG (percent)."""
    def share(hits: str, n: str) -> np.ndarray:
        if hits not in evidence or n not in evidence:
            return np.full(len(evidence), np.nan)
        return hit_share(evidence, hits, n).to_numpy(dtype=float)

    out = {"text_accuracy": 100 * share("text_hits", "text_n"), "MG": 100 * (share("vision_hits", "vision_n") - share("blind_hits", "blind_n"))}
    return {k: v for k, v in out.items() if not np.isnan(v).all()}


def compare_with_random(evidence: pd.DataFrame, removed: np.ndarray, *, seeds: int = RANDOM_SEEDS, seed: int = 0) -> dict[str, Any]:
    """The filter's removal against removing as many audited questions at random, ``seeds`` times.

    Per metric (mean over questions of the inspectors' text-only accuracy, and of MG where
    vision models ran): the value before, after the filter, and after each random removal;
    the random 2.5-97.5% range and where the filter's change falls in it (``percentile``:
    the share of random removals that changed the metric less). A filter that removes what
    it claims moves text-only accuracy far below every random removal of the same size.
    """
    metrics = per_question_metrics(evidence)
    n, n_removed = len(evidence), int(removed.sum())
    if not metrics or n_removed == 0 or n_removed >= n:
        return {}
    rng = np.random.default_rng([seed, 1000])
    # each row removes the n_removed questions with the smallest random keys
    keys = rng.random((seeds, n))
    random_removed = keys <= np.partition(keys, n_removed - 1, axis=1)[:, n_removed - 1:n_removed]
    out: dict[str, Any] = {"n_audited": n, "n_removed": n_removed, "seeds": seeds}
    for name, v in metrics.items():
        ok = ~np.isnan(v)
        vals = np.where(ok, v, 0.0)
        before = float(vals.sum() / ok.sum())
        keep = ~removed & ok
        after = float(vals[keep].sum() / keep.sum()) if keep.any() else float("nan")
        kept_rand = ~random_removed & ok
        with np.errstate(invalid="ignore", divide="ignore"):
            rand = (kept_rand * vals).sum(axis=1) / kept_rand.sum(axis=1)
        rand = rand[~np.isnan(rand)]
        lo, hi = np.quantile(rand, [0.025, 0.975])
        change = after - before
        out[name] = {"before": before, "after": after, "change": change, "random_mean": float(rand.mean()),
                     "random_range": [float(lo), float(hi)], "random_sd": float(rand.std()),
                     "percentile": float((rand - before < change).mean())}
    return out


def random_lines(comparison: dict[str, Any]) -> list[str]:
    """The comparison as lines for the terminal."""
    out = []
    for name, label in (("text_accuracy", "text-only accuracy of the inspectors"), ("MG", "MG of the vision models")):
        c = comparison.get(name)
        if not c:
            continue
        lo, hi = c["random_range"]
        share = c["percentile"]  # of random removals whose change is smaller than the filter's
        where = ("smaller than every random removal's" if share == 0 else "larger than every random removal's" if share == 1
                 else f"larger than {share:.1%} of random removals'")
        out.append(f"filter vs random removal of {comparison['n_removed']} of {comparison['n_audited']} questions "
                   f"({comparison['seeds']} seeds): {label} {c['before']:.1f} -> {c['after']:.1f}, random {c['random_mean']:.1f} "
                   f"[{lo:.1f}, {hi:.1f}] (the filter's change, {c['after'] - c['before']:+.1f}, is {where})")
    return out


def _int(v) -> int:
    return 0 if v is None or (isinstance(v, float) and v != v) else int(v)


def _balance(decisions: pd.DataFrame) -> None:
    """Cap every capability at the smallest capability's kept count, in place."""
    kept = decisions[decisions["kept"]]
    if kept.empty:
        return
    cats = kept["category"].fillna(NO_CATEGORY)
    target = int(cats.value_counts().min())
    for cat, grp in kept.groupby(cats, sort=True):
        if len(grp) <= target:
            continue
        ranked = grp.sort_values(["text_hits", "blind_hits", "order"], kind="stable")
        drop = ranked.index[target:]
        decisions.loc[drop, "kept"] = False
        decisions.loc[drop, "reason"] = REASON_BALANCE
        decisions.loc[drop, "detail"] = f"capability {cat!r} capped at {target} questions (the smallest capability's count)"


__all__ = ["FilterResult", "RANDOM_SEEDS", "REMOVED_FILE", "compare_with_random", "filter_benchmark", "per_question_metrics", "random_lines"]
