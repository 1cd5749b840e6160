"""Counting hits, shared by the text-hits, blind-hits and leaked signals (MMStar, arXiv 2403.20330)."""
from __future__ import annotations

import math

import pandas as pd

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


def guess_chance(n_options: int, circular: bool) -> float:
    """Chance that a guess is right: 1/options, or every rotation right under circular evaluation."""
    chance = 1.0 / n_options if n_options else 0.0
    return chance ** n_options if (circular and n_options) else chance


__all__ = ["LEAKED", "MMSTAR_K", "MMSTAR_N", "TEXT_ANSWERABLE", "binomial_p", "guess_chance", "hit_share", "max_text_hits",
           "text_detail", "threshold_rule"]
