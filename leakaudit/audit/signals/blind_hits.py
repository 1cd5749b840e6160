"""Blind hits: how many vision models answer a question with the image withheld."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from leakaudit.audit.signals.base import EvidenceContext, Signal
from leakaudit.audit.signals.hits import hit_share
from leakaudit.audit.signals.nulls import binomial_above, chance_of, rate_vs_null
from leakaudit.outputs import as_list


class BlindHits(Signal):
    """Vision models that answer the question with the image taken away (MMStar's S_wv, per question)."""

    name = "blind-hits"
    description = "Vision models (real weights) that answer the question without the image; removed only with --drop-blind"
    needs = ("blind",)
    columns = ("blind_hits", "blind_n", "blind_models")
    order = 20
    removal_reason = "blind-answerable"
    null = "every vision model guesses without the image: right with probability 1/options each"
    validated = "the demo's 60 questions with ground-truth labels (tests/test_scan_demo.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        asked = evidence[evidence["blind_n"].fillna(0) > 0]
        if asked.empty:
            return {}
        null = binomial_above(asked["blind_n"].to_numpy(dtype=float), np.zeros(len(asked)), chance_of(asked))
        return rate_vs_null(self.fires(asked, settings).astype(float), null, "vision models guessing blind")

    def compute(self, ctx: EvidenceContext) -> pd.DataFrame:
        blind = ctx.per_sample("blind")
        return pd.DataFrame({"blind_hits": blind["hits"], "blind_n": blind["n"], "blind_models": [list(r) for r in blind["right"]]},
                            columns=list(self.columns))

    def fires(self, evidence: pd.DataFrame, settings: Any) -> pd.Series:
        return evidence["blind_hits"].fillna(0) > 0

    def score(self, evidence: pd.DataFrame) -> pd.Series:
        """Share of the vision models that answer it without the image."""
        return hit_share(evidence, "blind_hits", "blind_n")

    def detail(self, row: Mapping[str, Any], settings: Any) -> str:
        models = row.get("blind_models")
        return f"{int(row['blind_hits'])} vision model(s) answer it without the image: {', '.join(as_list(models))}"


__all__ = ["BlindHits"]
