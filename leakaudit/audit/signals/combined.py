"""One evidence matrix (questions x signals), a combined score, and agreement with labels.

Every signal frame (one row per question, or per question and model) is reduced to one
column per signal: a *score* where higher means more evidence that the question can be
answered without its image or was seen in training (``SCORE_COLUMNS``), and a *flag*
(``FLAG_COLUMNS``). Per-model signals are averaged over models (scores) and OR-ed (flags).

Combined score (``combined_score``): the mean, over the signals a question has, of the
question's percentile rank within each signal's column (rank average; ties share their
mean rank). It needs no labels and no tuning, treats signals with different scales
alike, and a signal that is missing for a question (an open question in the probe, a
text-only question in an image ablation) is left out of that question's mean rather than
counted as evidence against it. ``logistic_combination`` is the supervised alternative
(out-of-fold predictions of a logistic regression on the scores), for labelled sets.

``agreement`` gives, per signal and for the combined score, ROC AUC and average precision
(PR AUC) of the score and precision / recall of the flag against a truth column
(scikit-learn).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

#: per signal: (score column, flag column) of its frame
SCORE_COLUMNS: dict[str, tuple[str, str]] = {
    "probe": ("p_gold", "probe_flag"),
    "min-k": ("minkpp_pct", "member_flag"),
    "option-order": ("order_score", "order_flag"),
    "slot-guess": ("slot_score", "slot_flag"),
    "open-form": ("elimination_score", "elimination_flag"),
    "wrong-image": ("ablation_correct", "ablation_flag"),
    "ocr-only": ("ablation_correct", "ablation_flag"),
    "caption-only": ("ablation_correct", "ablation_flag"),
    "text-hits": ("text_hit_share", "text_flag"),
}


def _derived(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the score columns that are functions of a signal's raw columns."""
    f = frame.copy()
    if name == "option-order":
        f["order_score"] = f["published_correct"].astype(float) * (1 - f["shuffled_accuracy"].astype(float))
    elif name == "slot-guess":
        f["slot_score"] = f["exact_fill"].astype(float) - f["control_exact_fill"].astype(float)
    elif name == "open-form":
        f["elimination_score"] = f["mc_correct"].astype(float) - f["open_correct"].astype(float)
    return f


def evidence_matrix(frames: Mapping[str, pd.DataFrame], sample_ids: list[str] | None = None) -> pd.DataFrame:
    """Questions x signals: ``<signal>`` (score) and ``<signal>_flag`` columns plus ``combined_score``."""
    cols: dict[str, pd.Series] = {}
    for name, frame in frames.items():
        if name not in SCORE_COLUMNS:
            raise KeyError(f"unknown signal {name!r}; known: {', '.join(SCORE_COLUMNS)}")
        score_col, flag_col = SCORE_COLUMNS[name]
        f = _derived(name, frame)
        g = f.groupby("sample_id")
        cols[name] = g[score_col].apply(lambda x: x.astype(float).mean())
        cols[f"{name}_flag"] = g[flag_col].apply(lambda x: bool(x.astype(bool).any()))
    matrix = pd.DataFrame(cols)
    if sample_ids is not None:
        matrix = matrix.reindex(sample_ids)
    matrix.index.name = "sample_id"
    matrix["combined_score"] = combined_score(matrix[[n for n in frames]])
    return matrix


def combined_score(scores: pd.DataFrame) -> pd.Series:
    """Rank average: mean percentile rank of each question over the signals it has (NaN-aware)."""
    ranks = scores.astype(float).rank(pct=True, method="average")
    return ranks.mean(axis=1, skipna=True)


def logistic_combination(scores: pd.DataFrame, labels: pd.Series, *, folds: int = 5, seed: int = 0) -> pd.Series:
    """Out-of-fold P(positive) from a logistic regression on the signal scores (missing = column median)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mask = labels.notna()
    X = scores[mask].astype(float)
    X = X.fillna(X.median()).fillna(0.0)
    y = labels[mask].astype(bool).to_numpy()
    k = max(2, min(folds, int(y.sum()), int((~y).sum())))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    p = cross_val_predict(model, X.to_numpy(), y, cv=StratifiedKFold(k, shuffle=True, random_state=seed), method="predict_proba")[:, 1]
    return pd.Series(p, index=X.index)


def agreement(matrix: pd.DataFrame, truth: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Per signal (and ``combined``): n labelled, positives, ROC AUC, PR AUC of the score, precision/recall of the flag.

    ``truth`` maps a signal name (or ``combined``) to a boolean Series indexed by sample_id
    (NaN/None = no label); questions without a label are left out of that signal's row.
    """
    from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

    rows = []
    for name, labels in truth.items():
        score_col = "combined_score" if name == "combined" else name
        if score_col not in matrix:
            continue
        df = pd.DataFrame({"y": labels.reindex(matrix.index), "s": matrix[score_col]}).dropna()
        y = df["y"].astype(bool).to_numpy()
        row = {"signal": name, "n": len(df), "positives": int(y.sum()), "roc_auc": np.nan, "pr_auc": np.nan,
               "precision": np.nan, "recall": np.nan}
        if 0 < y.sum() < len(y):
            row["roc_auc"] = roc_auc_score(y, df["s"])
            row["pr_auc"] = average_precision_score(y, df["s"])
        flag_col = f"{name}_flag"
        if flag_col in matrix and len(df):
            pred = matrix.loc[df.index, flag_col].astype(bool).to_numpy()
            row["precision"] = precision_score(y, pred, zero_division=0) if pred.any() else np.nan
            row["recall"] = recall_score(y, pred, zero_division=0) if y.any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["agreement", "combined_score", "evidence_matrix", "logistic_combination"]
