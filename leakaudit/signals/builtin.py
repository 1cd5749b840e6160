"""Today's evidence as signals: text-only hits, blind hits, leakage (MMStar, arXiv 2403.20330)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..outputs import as_list

from .base import Check, EvidenceContext, Signal
from .nulls import binomial_above, chance_of, rate_vs_null

TEXT_ANSWERABLE, LEAKED = "text-answerable", "leaked"
#: MMStar's coarse filter: keep a question only if at most 2 of its 8 LLM inspectors answer it
MMSTAR_K, MMSTAR_N = 2, 8


def max_text_hits(text_n: int, k: int | None = None, n: int | None = None) -> int:
    """The most text-only hits a question may have and still count as needing the image.

    - ``k`` and ``n`` both None: MMStar's ratio, ``floor(text_n * 2 / 8)``;
    - ``k`` given, ``n`` None: an absolute count, ``k`` hits of however many LLMs ran;
    - ``n`` given: the ratio ``k / n`` (``k`` defaults to 2), ``floor(text_n * k / n)``.
    """
    if k is not None and n is None:
        if k < 0:
            raise ValueError("k must be >= 0")
        return int(k)
    kk = MMSTAR_K if k is None else int(k)
    nn = MMSTAR_N if n is None else int(n)
    if nn <= 0 or kk < 0:
        raise ValueError(f"need k >= 0 and n > 0, got k={kk}, n={nn}")
    # the tiny epsilon keeps e.g. 8 * 2 / 8 == 2 exact under floating point
    return int(math.floor(text_n * kk / nn + 1e-9))


def threshold_rule(k: int | None, n: int | None, min_confidence: float | None = None) -> str:
    """The labelling rule in words, for summaries and reports."""
    sure = f" (a hit counts when the model gives the answer at least {min_confidence:.0%} of its option probability)" if min_confidence else ""
    if k is not None and n is None:
        return f"text-answerable if more than {k} text-only LLMs answer it{sure}"
    kk = MMSTAR_K if k is None else k
    nn = MMSTAR_N if n is None else n
    return f"text-answerable if more than floor(N * {kk}/{nn}) of the N text-only LLMs answer it{sure} (MMStar: at most 2 of 8 kept)"


def text_detail(hits: int, n: int, allowed: int) -> str:
    return f"{hits} of {n} text-only LLMs answer it without the image (more than {allowed})"


def binomial_p(hits: int, trials: int, p: float) -> float:
    """One-sided P(X >= hits) for X ~ Binomial(trials, p): are the LLMs above guessing?"""
    if trials <= 0 or not (0.0 < p < 1.0):
        return float("nan")
    from scipy.stats import binomtest

    return float(binomtest(int(hits), int(trials), float(p), alternative="greater").pvalue)


def hit_share(evidence: pd.DataFrame, hits: str, n: str) -> pd.Series:
    """``hits / n`` per question (NaN where no model was asked)."""
    asked = pd.to_numeric(evidence[n], errors="coerce")
    return pd.to_numeric(evidence[hits], errors="coerce") / asked.where(asked > 0)


def _guess(n_options: int, circular: bool) -> float:
    """Chance that a guess is right: 1/options, or every rotation right under circular evaluation."""
    chance = 1.0 / n_options if n_options else 0.0
    return chance ** n_options if (circular and n_options) else chance


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
        p = np.array([_guess(o, circular) for o in pd.to_numeric(audited["n_options"]).fillna(0).astype(int)])
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
        guess = {o: _guess(o, ctx.settings.circular) for o in set(n_opt.tolist())}
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


class Leaked(Signal):
    """MMStar's multi-modal leakage per question: an LVLM answers blind while its own base LLM does not."""

    name = "leaked"
    description = "A vision model answers without the image while its own base LLM, asked the same text, does not (ML per question)"
    needs = ("blind", "text_all")
    columns = ("leaked_models",)
    label = LEAKED
    order = 30
    removal_reason = "leaked"
    threshold_setting = "max_leaked"
    null = "each vision model guesses blind and its base LLM guesses text-only: leaked with probability c(1-c), c = 1/options"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        asked = evidence[evidence["blind_n"].fillna(0) > 0] if "blind_n" in evidence else evidence.iloc[0:0]
        if asked.empty:
            return {}
        c = chance_of(asked)
        null = 1 - (1 - c * (1 - c)) ** asked["blind_n"].to_numpy(dtype=float)
        return rate_vs_null(self.fires(asked, settings).astype(float), null, "blind and base-LLM guesses")

    def compute(self, ctx: EvidenceContext) -> pd.DataFrame:
        blind = ctx.per_sample("blind")
        text = ctx.per_sample("text_all")
        base = {m: r.base_llm for m, r in ctx.roles.items() if r is not None and r.base_llm}
        leaked = [[m for m in b_right if base.get(m) in t_wrong] for b_right, t_wrong in zip(blind["right"], text["wrong"])]
        return pd.DataFrame({"leaked_models": leaked}, columns=list(self.columns))

    def fires(self, evidence: pd.DataFrame, settings: Any) -> pd.Series:
        col = evidence["leaked_models"]
        return col.map(lambda v: bool(as_list(v))).astype(bool)

    def detail(self, row: Mapping[str, Any], settings: Any) -> str:
        return f"answered without the image by {', '.join(as_list(row['leaked_models']))}, whose base LLM cannot answer it"

    def check(self, summary: Mapping[str, Any], threshold: float) -> Check | None:
        share = summary.get("share_leaked")
        share = 0.0 if share is None or (isinstance(share, float) and np.isnan(share)) else share
        return Check("leaked share", share, threshold, "<=", share <= threshold,
                     f"{share:.1%} of questions are answered blind by a vision model whose base LLM cannot (limit {threshold:.0%})")


__all__ = ["BlindHits", "LEAKED", "Leaked", "MMSTAR_K", "MMSTAR_N", "TEXT_ANSWERABLE", "TextHits", "binomial_p", "max_text_hits",
           "text_detail", "threshold_rule"]
