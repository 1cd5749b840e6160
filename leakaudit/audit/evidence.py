"""Per-question evidence: who answers it without the image, and what that makes it.

For every question: how many of the N text-only LLMs answer it (and which), a one-sided
binomial test of those hits against guessing, how many LVLMs answer it blind and with the
image, and a label:

- ``text-answerable``: more text-only LLMs answer it than the threshold allows (MMStar kept a
  question only if at most 2 of its 8 LLM inspectors answered it, so by default a question
  with ``hits > floor(text_n * 2 / 8)`` is text-answerable);
- ``leaked``: not text-answerable, but some LVLM answers it without the image while that
  LVLM's own base LLM does not (the answer came from multimodal training data);
- ``vision-dependent``: neither;
- ``unknown``: no text-only or blind answers at all.

Where the benchmark carries a ground-truth kind (the demo), precision, recall and F1 of
the flag (text-answerable or leaked) against ``text-answerable`` are computed.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from .metrics import ModelRole

TEXT_ANSWERABLE = "text-answerable"
LEAKED = "leaked"
VISION_DEPENDENT = "vision-dependent"
UNKNOWN = "unknown"
LABELS = (VISION_DEPENDENT, TEXT_ANSWERABLE, LEAKED, UNKNOWN)

#: MMStar's coarse filter: keep a question answered by at most 2 of 8 LLM inspectors
MMSTAR_K, MMSTAR_N = 2, 8

EVIDENCE_COLUMNS = [
    "benchmark", "sample_id", "sample_hash", "category", "l2_category", "n_options", "chance", "answer",
    "text_hits", "text_n", "text_models", "text_threshold", "p_value",
    "blind_hits", "blind_n", "blind_models", "leaked_models", "vision_hits", "vision_n",
    "label", "truth_label", "kept", "removed_reason", "removed_detail",
]
#: columns holding lists of model names (lists in memory, parquet and JSON; JSON-list strings in CSV)
LIST_COLUMNS = ("text_models", "blind_models", "leaked_models")
#: short ``removed_reason`` codes (``removed_detail`` says the numbers)
REASON_TEXT, REASON_BLIND, REASON_UNAUDITED, REASON_BALANCE = "text-answerable", "blind-answerable", "not-audited", "balance"


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


def binomial_p(hits: int, trials: int, p: float) -> float:
    """One-sided P(X >= hits) for X ~ Binomial(trials, p): are the LLMs above guessing?"""
    if trials <= 0 or not (0.0 < p < 1.0):
        return float("nan")
    from scipy.stats import binomtest

    return float(binomtest(int(hits), int(trials), float(p), alternative="greater").pvalue)


def compute_evidence(
    correctness_text: pd.DataFrame,
    correctness_blind: pd.DataFrame,
    correctness_vision: pd.DataFrame,
    samples: pd.DataFrame,
    roles: Mapping[str, ModelRole],
    *,
    k: int | None = None,
    n: int | None = None,
    circular: bool = False,
) -> pd.DataFrame:
    """One row per question with hit counts, binomial p-value and label (columns: EVIDENCE_COLUMNS).

    Each ``correctness_*`` frame has one row per (benchmark, sample_hash, model) with
    ``correct`` 0/1. Under circular evaluation the guessing chance of a question with n
    options is (1/n)**n (every rotation right), which the p-value uses.
    """

    def hits_by_sample(df: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int, list[str], set[str]]]:
        out: dict[tuple[str, str], tuple[int, int, list[str], set[str]]] = {}
        if df.empty:
            return out
        for (b, h), grp in df.groupby(["benchmark", "sample_hash"], sort=False):
            right = sorted(grp.loc[grp["correct"] > 0, "model"])
            out[(b, h)] = (len(right), len(grp), right, set(grp.loc[grp["correct"] <= 0, "model"]))
        return out

    text = hits_by_sample(correctness_text)
    blind = hits_by_sample(correctness_blind)
    vision = hits_by_sample(correctness_vision)
    records = []
    for s in samples.itertuples(index=False):
        key = (s.benchmark, s.sample_hash)
        t_hits, t_n, t_right, t_wrong = text.get(key, (0, 0, [], set()))
        b_hits, b_n, b_right, _ = blind.get(key, (0, 0, [], set()))
        v_hits, v_n, _, _ = vision.get(key, (0, 0, [], set()))
        n_opt = int(s.n_options) if not pd.isna(s.n_options) else 0
        chance = 1.0 / n_opt if n_opt else 0.0
        guess = chance ** n_opt if (circular and n_opt) else chance
        allowed = max_text_hits(t_n, k, n)
        # leaked: the LVLM answers blind while its own base LLM, asked the same text, does not
        leaked = [m for m in b_right if roles.get(m) and roles[m].base_llm and roles[m].base_llm in t_wrong]
        if t_n == 0 and b_n == 0:
            label = UNKNOWN
        elif t_hits > allowed:
            label = TEXT_ANSWERABLE
        elif leaked:
            label = LEAKED
        else:
            label = VISION_DEPENDENT
        truth = getattr(s, "label", None)
        records.append({
            "benchmark": s.benchmark, "sample_id": s.sample_id, "sample_hash": s.sample_hash,
            "category": s.category, "l2_category": s.l2_category, "n_options": n_opt, "chance": chance,
            "answer": s.answer, "text_hits": t_hits, "text_n": t_n, "text_models": list(t_right),
            "text_threshold": allowed, "p_value": binomial_p(t_hits, t_n, guess),
            "blind_hits": b_hits, "blind_n": b_n, "blind_models": list(b_right), "leaked_models": list(leaked),
            "vision_hits": v_hits, "vision_n": v_n, "label": label,
            "truth_label": truth if isinstance(truth, str) and truth else None,
            "kept": label != TEXT_ANSWERABLE and label != UNKNOWN,
            "removed_reason": REASON_TEXT if label == TEXT_ANSWERABLE else (REASON_UNAUDITED if label == UNKNOWN else None),
            "removed_detail": _detail(label, t_hits, t_n, allowed),
        })
    return pd.DataFrame.from_records(records, columns=EVIDENCE_COLUMNS)


def _detail(label: str, hits: int, n: int, allowed: int) -> str | None:
    if label == TEXT_ANSWERABLE:
        return text_detail(hits, n, allowed)
    if label == UNKNOWN:
        return "no text-only or blind answers for this question"
    return None


def text_detail(hits: int, n: int, allowed: int) -> str:
    return f"{hits} of {n} text-only LLMs answer it without the image (more than {allowed})"


def label_quality(evidence: pd.DataFrame) -> dict[str, Any] | None:
    """Precision/recall/F1 of the flag (text-answerable or leaked) against ground-truth labels.

    Positive class: ``text-answerable``. Only questions with a ground-truth label of
    ``text-answerable`` or ``vision-dependent`` and a computed label count. None when the
    benchmark has no ground truth.
    """
    if "truth_label" not in evidence:
        return None
    rows = evidence[evidence["truth_label"].isin([TEXT_ANSWERABLE, VISION_DEPENDENT]) & (evidence["label"] != UNKNOWN)]
    if rows.empty:
        return None
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = (rows["truth_label"] == TEXT_ANSWERABLE).to_numpy()
    y_pred = rows["label"].isin([TEXT_ANSWERABLE, LEAKED]).to_numpy()
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", pos_label=True, zero_division=0)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[False, True]).ravel()
    return {
        "precision": float(p), "recall": float(r), "f1": float(f), "n_labelled": int(len(rows)),
        "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
        "positive_class": TEXT_ANSWERABLE, "flagged_labels": [TEXT_ANSWERABLE, LEAKED],
    }


def share(evidence: pd.DataFrame, label: str) -> float:
    audited = evidence[evidence["label"] != UNKNOWN]
    return float((audited["label"] == label).mean()) if len(audited) else float("nan")


__all__ = [
    "EVIDENCE_COLUMNS", "LABELS", "LIST_COLUMNS", "REASON_BALANCE", "REASON_BLIND", "REASON_TEXT", "REASON_UNAUDITED", "text_detail", "LEAKED", "MMSTAR_K", "MMSTAR_N", "TEXT_ANSWERABLE", "UNKNOWN", "VISION_DEPENDENT",
    "binomial_p", "compute_evidence", "label_quality", "max_text_hits", "share", "threshold_rule",
]
