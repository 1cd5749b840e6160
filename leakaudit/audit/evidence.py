"""Per-question evidence: the registered signals' columns, a label, and the filter's decision.

For every question each registered signal (``leakaudit signals``) adds its columns: the
built-ins count the inspector LLMs that answer it without the image (with a binomial test
against guessing), the vision models that answer it blind, and those whose own base LLM
cannot (leakage). The label is the first firing labelling signal's:

- ``text-answerable``: more inspector LLMs answer it than the threshold allows (MMStar kept a
  question only if at most 2 of its 8 LLM inspectors answered it, so by default a question
  with ``hits > floor(text_n * 2 / 8)`` is text-answerable);
- ``leaked``: not text-answerable, but some LVLM answers it without the image while that
  LVLM's own base LLM does not (the answer came from multimodal training data);
- ``vision-dependent``: neither;
- ``unknown``: no text-only or blind answers at all.

The rules live in :mod:`leakaudit.audit.signals` (one place, shared with the filter). Where the
benchmark carries a ground-truth kind (the demo), precision, recall and F1 of the flag
(text-answerable or leaked) against ``text-answerable`` are computed.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from leakaudit.audit import signals as sig
from leakaudit.audit.metrics import ModelRole
from leakaudit.audit.signals import LEAKED, MMSTAR_K, MMSTAR_N, TEXT_ANSWERABLE, binomial_p, max_text_hits, text_detail, threshold_rule

VISION_DEPENDENT, UNKNOWN = sig.VISION_DEPENDENT, sig.UNKNOWN
LABELS = (VISION_DEPENDENT, TEXT_ANSWERABLE, LEAKED, UNKNOWN)

BASE_COLUMNS = ["benchmark", "sample_id", "sample_hash", "category", "l2_category", "n_options", "chance", "answer", "vision_hits", "vision_n"]
DECISION_COLUMNS = ["label", "truth_label", "kept", "removed_reason", "removed_detail"]
#: the columns of the built-in signals' evidence table (third-party signals add theirs before DECISION_COLUMNS)
EVIDENCE_COLUMNS = BASE_COLUMNS + ["text_hits", "text_n", "text_models", "text_threshold", "p_value",
                                   "blind_hits", "blind_n", "blind_models", "leaked_models"] + DECISION_COLUMNS
#: columns holding lists of model names (lists in memory, parquet and JSON; JSON-list strings in CSV)
LIST_COLUMNS = ("text_models", "blind_models", "leaked_models")
#: short ``removed_reason`` codes (``removed_detail`` says the numbers)
REASON_TEXT, REASON_BLIND = "text-answerable", "blind-answerable"
REASON_UNAUDITED, REASON_BALANCE = sig.REASON_UNAUDITED, sig.REASON_BALANCE


def compute_evidence(
    correct: Mapping[str, pd.DataFrame],
    samples: pd.DataFrame,
    roles: Mapping[str, ModelRole],
    settings: Any,
    *,
    answers: pd.DataFrame | None = None,
    benchmark: Any = None,
    notes: list[str] | None = None,
    zoo: Any = None,
    run_dir: Any = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per question: base columns, every registered signal's columns, label and decision.

    ``correct`` maps a condition (``text`` = inspectors, ``text_all`` = every real LLM,
    ``blind``, ``vision``, or any extra condition) to per-question correctness with one row per
    (benchmark, sample_hash, model) and ``correct`` 0/1. ``settings`` is an
    :class:`~leakaudit.answers.settings.AuditSettings` (k, n, circular, the signals the filter removes).
    ``progress``: signals with long work (the probe) show a bar on stderr.
    """
    ctx = sig.EvidenceContext(samples=samples.reset_index(drop=True), correct=correct, roles=roles, settings=settings,
                              answers=answers, benchmark=benchmark, notes=notes if notes is not None else [], zoo=zoo,
                              run_dir=run_dir, progress=progress)
    signals = sig.registered()
    vision = ctx.per_sample("vision")
    n_opt = pd.to_numeric(ctx.samples["n_options"]).fillna(0).astype(int)
    base = pd.DataFrame({
        "benchmark": ctx.samples["benchmark"], "sample_id": ctx.samples["sample_id"], "sample_hash": ctx.samples["sample_hash"],
        "category": ctx.samples["category"], "l2_category": ctx.samples["l2_category"], "n_options": n_opt,
        "chance": n_opt.map(lambda o: 1.0 / o if o else 0.0), "answer": ctx.samples["answer"],
        "vision_hits": vision["hits"], "vision_n": vision["n"],
    }, columns=BASE_COLUMNS)
    evidence = pd.concat([base, sig.compute_columns(ctx, signals)], axis=1)
    evidence["label"] = sig.label_questions(evidence, settings, signals)
    truth = ctx.samples["label"] if "label" in ctx.samples else pd.Series(None, index=evidence.index)
    evidence["truth_label"] = [t if isinstance(t, str) and t else None for t in truth]
    decision = sig.decide(evidence, settings, signals)
    evidence["kept"] = decision["kept"].to_numpy()
    evidence["removed_reason"] = decision["reason"].to_numpy()
    evidence["removed_detail"] = decision["detail"].to_numpy()
    return evidence


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
    "EVIDENCE_COLUMNS", "LABELS", "LIST_COLUMNS", "REASON_BALANCE", "REASON_BLIND", "REASON_TEXT", "REASON_UNAUDITED", "text_detail", "LEAKED", "MMSTAR_K",
    "MMSTAR_N", "TEXT_ANSWERABLE", "UNKNOWN", "VISION_DEPENDENT", "binomial_p", "compute_evidence", "label_quality", "max_text_hits",
    "share", "threshold_rule",
]
