"""Text-only hits: how many inspector LLMs answer a question without its image (MMStar's coarse filter)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from leakaudit.audit.signals.base import Check, EvidenceContext, Signal
from leakaudit.audit.signals.hits import TEXT_ANSWERABLE, binomial_p, guess_chance, hit_share, max_text_hits, text_detail
from leakaudit.audit.signals.nulls import binomial_above, rate_vs_null


class TextHits(Signal):
    """MMStar's coarse filter: how many inspector LLMs answer the question without the image."""

    name = "text-hits"
    description = ("Inspector LLMs that answer the question text-only, with a binomial test against guessing; "
                   "text-answerable above MMStar's 2-of-8 rule (k of n)")
    needs = ("text",)
    columns = ("text_hits", "text_n", "text_models", "text_threshold", "p_value")
    label = TEXT_ANSWERABLE
    order = 10
    removal_reason = "text-answerable"
    removes_by_default = True
    threshold_setting = "max_text_answerable"
    null = "every inspector LLM guesses: Binomial(N asked, 1/options) hits, flagged above the same k-of-n rule"
    validated = "the demo's 60 questions with ground-truth labels (tests/test_scan_demo.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        audited = evidence[evidence["text_n"].fillna(0) > 0]
        if audited.empty:
            return {}
        circular = bool(getattr(settings, "circular", False))
        p = np.array([guess_chance(o, circular) for o in pd.to_numeric(audited["n_options"]).fillna(0).astype(int)])
        p = np.where(p > 0, p, np.nan)  # an open question has no chance to guess: left out, as in chance_of
        null = binomial_above(audited["text_n"].to_numpy(dtype=float), self.allowed(audited, settings).to_numpy(dtype=float), p)
        # a guess counts at any confidence here, so under --min-confidence this null is an upper bound (the excess a lower one)
        what = "inspectors guessing at chance" + (", hits at any confidence" if getattr(settings, "min_confidence", None) else "")
        return rate_vs_null(self.fires(audited, settings).astype(float), null, what)

    def compute(self, ctx: EvidenceContext) -> pd.DataFrame:
        text = ctx.per_sample("text")
        n_opt = pd.to_numeric(ctx.samples["n_options"]).fillna(0).astype(int).to_numpy()
        # chance of a guess per option count, threshold per panel size and p-value per distinct
        # (hits, asked, chance): a few hundred distinct values however many questions
        guess = {o: guess_chance(o, ctx.settings.circular) for o in set(n_opt.tolist())}
        allowed = {t: max_text_hits(t, ctx.settings.k, ctx.settings.n) for t in set(text["n"].tolist())}
        cases = list(zip(text["hits"].tolist(), text["n"].tolist(), (guess[o] for o in n_opt.tolist())))
        p_of = {c: binomial_p(*c) for c in set(cases)}
        return pd.DataFrame({"text_hits": text["hits"], "text_n": text["n"], "text_models": [list(r) for r in text["right"]],
                             "text_threshold": text["n"].map(allowed), "p_value": [p_of[c] for c in cases]}, columns=list(self.columns))

    def allowed(self, evidence: pd.DataFrame, settings: Any) -> pd.Series:
        return evidence["text_n"].fillna(0).astype(int).map(lambda t: max_text_hits(t, settings.k, settings.n))

    def fires(self, evidence: pd.DataFrame, settings: Any) -> pd.Series:
        return (evidence["text_n"].fillna(0) > 0) & (evidence["text_hits"].fillna(0) > self.allowed(evidence, settings))

    def detail(self, row: Mapping[str, Any], settings: Any) -> str:
        n = int(row["text_n"])
        return text_detail(int(row["text_hits"]), n, max_text_hits(n, settings.k, settings.n))

    def score(self, evidence: pd.DataFrame) -> pd.Series:
        """Share of the inspectors that answer it text-only."""
        return hit_share(evidence, "text_hits", "text_n")

    def check(self, summary: Mapping[str, Any], threshold: float) -> Check | None:
        share = summary.get("share_text_answerable")
        if share is None or (isinstance(share, float) and math.isnan(share)):
            return None
        return Check("text-answerable share", share, threshold, "<=", share <= threshold,
                     f"{share:.1%} of questions are answered without the image by more than the allowed number of "
                     f"text-only LLMs (limit {threshold:.0%})")


__all__ = ["TextHits"]
