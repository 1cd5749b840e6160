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

import pandas as pd

from .audit.evidence import (
    REASON_BALANCE,
    REASON_BLIND,
    REASON_TEXT,
    REASON_UNAUDITED,
    UNKNOWN,
    max_text_hits,
    text_detail,
    threshold_rule,
)
from .benchmark import Benchmark
from .errors import LeakauditError
from .outputs import as_list, write_table

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
                "data_file": str(data_file), "source": str(self.benchmark.source)}
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
        audit_result.summary["filter"] = {**self.settings, "n_input": len(self.benchmark), "n_kept": len(self.kept), "removed": self.reason_counts()}


def filter_benchmark(
    benchmark: Benchmark,
    audit_result,
    *,
    k: int | None = None,
    n: int | None = None,
    drop_blind: bool = False,
    balance: bool = False,
) -> FilterResult:
    """Keep the questions answered text-only by at most the allowed number of LLMs.

    ``k``/``n`` as in :func:`leakaudit.audit.evidence.max_text_hits` (default MMStar's 2 of
    8, scaled to how many LLMs ran). ``drop_blind`` also removes questions any vision model
    answers without the image. ``balance`` then keeps the same number of questions in every
    capability (the smallest capability's count), preferring questions fewer models
    answered without the image, then benchmark order: deterministic. Questions the audit
    has no evidence for are removed (``not-audited``): the output is only what was checked.
    """
    ev = audit_result.samples
    ev = ev[ev["benchmark"] == benchmark.name] if "benchmark" in ev else ev
    if ev.empty:
        raise LeakauditError(f"the audit has no evidence for benchmark {benchmark.name!r}; audit the same benchmark first")
    evidence = ev.drop_duplicates("sample_hash").set_index("sample_hash")
    rows = []
    for order, s in enumerate(benchmark.samples):
        base = {"id": s.id, "sample_hash": s.content_hash, "category": s.category, "order": order,
                "text_hits": 0, "text_n": 0, "blind_hits": 0, "blind_models": []}
        e = evidence.loc[s.content_hash] if s.content_hash in evidence.index else None
        if e is None or e["label"] == UNKNOWN:
            rows.append({**base, "kept": False, "reason": REASON_UNAUDITED, "detail": "no text-only or blind answers for this question in the audit"})
            continue
        t_hits, t_n, b_hits = int(e["text_hits"]), int(e["text_n"]), int(e["blind_hits"])
        base.update(text_hits=t_hits, text_n=t_n, blind_hits=b_hits, blind_models=as_list(e["blind_models"]))
        allowed = max_text_hits(t_n, k, n)
        if t_hits > allowed:
            rows.append({**base, "kept": False, "reason": REASON_TEXT, "detail": text_detail(t_hits, t_n, allowed)})
        elif drop_blind and b_hits > 0:
            rows.append({**base, "kept": False, "reason": REASON_BLIND,
                         "detail": f"{b_hits} vision model(s) answer it without the image: {', '.join(base['blind_models'])}"})
        else:
            rows.append({**base, "kept": True, "reason": None, "detail": None})
    decisions = pd.DataFrame(rows)
    if balance:
        _balance(decisions)
    kept_ids = decisions.loc[decisions["kept"], "id"].tolist()
    settings = {"k": k, "n": n, "rule": threshold_rule(k, n), "drop_blind": drop_blind, "balance": balance}
    return FilterResult(benchmark=benchmark, kept=benchmark.subset(kept_ids), decisions=decisions, settings=settings)


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


__all__ = ["FilterResult", "REMOVED_FILE", "filter_benchmark"]
