"""The one rule that turns registered signals into labels, filter decisions, summaries and a combined score.

``registered()`` is every signal of the ``leakaudit.signals`` entry point group (built-ins
included, see ``pyproject.toml``) plus any registered in code (``registry.signals.register``),
in their ``order``. ``label_questions`` and ``decide`` are the only place where evidence
becomes a label or a removal: the audit and the filter both call them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leakaudit.audit.signals.base import EvidenceContext, Signal
from leakaudit.errors import LeakauditError

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.answers.settings import AuditSettings

VISION_DEPENDENT, UNKNOWN = "vision-dependent", "unknown"
REASON_UNAUDITED, REASON_BALANCE = "not-audited", "balance"


def registered() -> list[Signal]:
    """One instance of every registered signal, by ``order`` then name."""
    from leakaudit.registry import signals as registry

    out = []
    for name, obj in registry.items():
        sig = obj() if isinstance(obj, type) else obj
        if not isinstance(sig, Signal):
            raise LeakauditError(f"signal {name!r} is a {type(sig).__name__}, not a leakaudit.audit.signals.Signal")
        if not sig.name:
            raise LeakauditError(f"signal {name!r} has no name")
        out.append(sig)
    return sorted(out, key=lambda s: (s.order, s.name))


def get(name: str) -> Signal:
    for sig in registered():
        if sig.name == name:
            return sig
    raise LeakauditError(f"unknown signal {name!r}; known: {', '.join(s.name for s in registered())} (see `leakaudit signals`)")


def compute_columns(ctx: EvidenceContext, signals: list[Signal] | None = None) -> pd.DataFrame:
    """Every signal's columns for ``ctx.samples`` side by side (a signal without its runs: empty columns)."""
    signals = registered() if signals is None else signals
    parts = []
    for sig in signals:
        if sig.available(ctx):
            cols = sig.compute(ctx)
            missing = [c for c in sig.columns if c not in cols]
            if missing or len(cols) != len(ctx.samples):
                raise LeakauditError(f"signal {sig.name!r} returned {len(cols)} rows with columns {list(cols.columns)}; "
                                     f"expected {len(ctx.samples)} rows with {list(sig.columns)}")
            cols = cols[list(sig.columns)]
        else:
            cols = sig.empty(len(ctx.samples))
            if sig.columns and sig.needs:
                ctx.notes.append(f"signal {sig.name}: no answers for {', '.join(sig.needs)}, not computed")
        parts.append(cols.reset_index(drop=True))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=range(len(ctx.samples)))


def _needed(sig: Signal) -> list[str]:
    """The columns that must hold values for the signal to count as computed (ground-truth ones may be empty)."""
    return [c for c in sig.columns if not c.endswith("_truth")]


def _fires(sig: Signal, evidence: pd.DataFrame, settings: "AuditSettings") -> pd.Series:
    if any(c not in evidence or evidence[c].isna().all() for c in _needed(sig)):
        return pd.Series(False, index=evidence.index)
    return sig.fires(evidence, settings).reindex(evidence.index).fillna(False).astype(bool)


def audited_mask(evidence: pd.DataFrame) -> pd.Series:
    """A question is audited when some inspector or vision model answered it without the image."""
    t = evidence["text_n"].fillna(0) if "text_n" in evidence else 0
    b = evidence["blind_n"].fillna(0) if "blind_n" in evidence else 0
    return pd.Series((t > 0) | (b > 0), index=evidence.index)


def label_questions(evidence: pd.DataFrame, settings: "AuditSettings", signals: list[Signal] | None = None) -> pd.Series:
    """``unknown`` (not audited), else the label of the first firing labelling signal, else ``vision-dependent``."""
    signals = registered() if signals is None else signals
    labels = pd.Series(VISION_DEPENDENT, index=evidence.index, dtype=object)
    done = ~audited_mask(evidence)
    labels[done] = UNKNOWN
    for sig in signals:
        if sig.label is None:
            continue
        hit = _fires(sig, evidence, settings) & ~done
        labels[hit] = sig.label
        done |= hit
    return labels


def removing(settings: "AuditSettings", signals: list[Signal] | None = None) -> list[Signal]:
    """The signals whose questions the filter removes under ``settings``."""
    signals = registered() if signals is None else signals
    known = {s.name for s in signals}
    unknown = sorted(set(settings.remove_signals) - known)
    if unknown:
        raise LeakauditError(f"cannot remove by unknown signal {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return [s for s in signals if s.removes_by_default or s.name in settings.remove_signals]


def decide(evidence: pd.DataFrame, settings: "AuditSettings", signals: list[Signal] | None = None) -> pd.DataFrame:
    """kept / reason / detail per evidence row: not audited, else the first removing signal that fires."""
    signals = registered() if signals is None else signals
    out = pd.DataFrame({"kept": True, "reason": None, "detail": None}, index=evidence.index).astype(object)
    out["kept"] = True
    unaudited = ~audited_mask(evidence)
    out.loc[unaudited, ["kept", "reason", "detail"]] = [False, REASON_UNAUDITED, "no text-only or blind answers for this question"]
    done = unaudited.copy()
    for sig in removing(settings, signals):
        hit = _fires(sig, evidence, settings) & ~done
        if hit.any():
            out.loc[hit, "kept"] = False
            out.loc[hit, "reason"] = sig.removal_reason or sig.name
            out.loc[hit, "detail"] = [sig.detail(row, settings) for row in evidence[hit].to_dict(orient="records")]
        done |= hit
    out["kept"] = out["kept"].astype(bool)
    return out


def summarize(evidence: pd.DataFrame, settings: "AuditSettings", signals: list[Signal] | None = None) -> dict[str, Any]:
    """Per signal: its description, label, and the share of audited questions it fires on (None: not computed)."""
    signals = registered() if signals is None else signals
    out = {}
    for sig in signals:
        computed = all(c in evidence and not evidence[c].isna().all() for c in _needed(sig)) if sig.columns else True
        share = sig.share(evidence, settings) if computed and len(evidence) else None
        info = {"description": sig.description, "label": sig.label, "removal_reason": sig.removal_reason,
                "share": None if share is None or share != share else share,
                "null_description": sig.null, "validated": sig.validated is not None and not sig.unvalidated_reason,
                "validated_on": sig.validated, "unvalidated_reason": sig.unvalidated_reason}
        if computed and len(evidence) and sig.columns:
            if hasattr(sig, "summary"):
                info.update(sig.summary(evidence, settings))
            info.update(sig.null_summary(evidence, settings))
            info.update(truth_agreement(sig, evidence, settings))
        out[sig.name] = info
    if len(evidence) and "label" in evidence:

        out["combined"] = {"description": "the validated signals' scores combined by weights fitted on labelled questions",
                           **fit_combined(evidence)[1]}
    return out


def label_truth(evidence: pd.DataFrame) -> tuple[pd.Series, pd.Series] | None:
    """(truth, labelled mask) from ``truth_label`` (positive: ``text-answerable``, negative:
    ``vision-dependent``), questions the audit could not label left out; None without it."""
    if "truth_label" not in evidence:
        return None
    t = evidence["truth_label"]
    return t == "text-answerable", t.isin(["text-answerable", "vision-dependent"]) & _labelled_by_audit(evidence)


def _labelled_by_audit(evidence: pd.DataFrame) -> pd.Series:
    return evidence["label"] != UNKNOWN if "label" in evidence else pd.Series(True, index=evidence.index)


def truth_of(sig: Signal, evidence: pd.DataFrame) -> tuple[pd.Series, pd.Series, str] | None:
    """(truth, labelled mask, source) for ``sig``, or None where the benchmark has no ground truth.

    Truth: the signal's own ``<prefix>_truth`` column (the evidence demo's ``truth_signals``)
    where it has labels, else :func:`label_truth`. Questions the audit could not label are left out.
    """
    own = next((c for c in sig.columns if c.endswith("_truth")), None)
    if own and own in evidence and evidence[own].notna().any():
        return evidence[own], evidence[own].notna() & _labelled_by_audit(evidence), "truth_signals"
    by_label = label_truth(evidence)
    return None if by_label is None else (*by_label, "label")


def truth_agreement(sig: Signal, evidence: pd.DataFrame, settings: "AuditSettings") -> dict[str, Any]:
    """Precision / recall of a signal's flag against ground truth (see :func:`truth_of`), and
    the ROC AUC and average precision of its graded score where it has one. Empty when no
    audited question is labelled."""
    truth = truth_of(sig, evidence)
    if truth is None or not truth[1].any():
        return {}
    from sklearn.metrics import precision_score, recall_score

    y, keep, source = truth
    fired = _fires(sig, evidence, settings)
    yt = y[keep].astype(bool).to_numpy()
    yp = fired[keep].to_numpy()
    out = {"truth": source, "n_labelled": int(keep.sum()),
           "precision": float(precision_score(yt, yp, zero_division=0)), "recall": float(recall_score(yt, yp, zero_division=0))}
    curve = score_curve(sig, evidence)
    if curve is not None:
        out.update({"roc_auc": curve["roc_auc"], "average_precision": curve["average_precision"]})
    return out


def score_curve(sig: Signal, evidence: pd.DataFrame) -> dict[str, Any] | None:
    """ROC and precision-recall curve of ``sig``'s graded score against ground truth: None
    without a score, without truth, or without both a positive and a negative question scored."""
    truth = truth_of(sig, evidence)
    score = sig.score(evidence) if all(c in evidence for c in sig.columns) else None
    if truth is None or score is None:
        return None
    y, keep, source = truth
    return curve(sig.name, source, y, score, keep)


def curve(name: str, source: str, truth: pd.Series, score: pd.Series, keep: pd.Series | None = None) -> dict[str, Any] | None:
    """ROC and precision-recall curve of ``score`` against boolean ``truth`` on the ``keep``
    rows that have a score; None unless both classes are among them."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    keep = (keep if keep is not None else truth.notna()) & score.notna()
    yt = truth[keep].astype(bool).to_numpy()
    ys = score[keep].astype(float).to_numpy()
    if yt.all() or not yt.any():
        return None
    fpr, tpr, _ = roc_curve(yt, ys)
    precision, recall, _ = precision_recall_curve(yt, ys)
    return {"signal": name, "truth": source, "n": int(len(yt)), "positives": int(yt.sum()),
            "roc_auc": float(roc_auc_score(yt, ys)), "average_precision": float(average_precision_score(yt, ys)),
            "fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall}


def score_curves(evidence: pd.DataFrame, signals: list[Signal] | None = None) -> list[dict[str, Any]]:
    """:func:`score_curve` of every registered signal that has one on ``evidence``, then the
    evidence matrix's ``combined_score`` against ``truth_label`` (text-answerable or not)."""

    curves = [score_curve(sig, evidence) for sig in (signals if signals is not None else registered())]
    by_label = label_truth(evidence.reset_index(drop=True)) if "label" in evidence else None
    if by_label is not None:
        truth, keep = by_label
        curves.append(curve("combined", "label", truth, evidence_matrix(evidence)["combined_score"], keep))
    return [c for c in curves if c is not None]


def report_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Each registered signal's report rows for an audit summary (signals not installed here are left out)."""
    done = summary.get("signals") or {}
    rows: list[tuple[str, str]] = []
    for sig in registered():
        if sig.name in done:
            rows += sig.report_rows(summary)
    combined = done.get("combined")
    if isinstance(combined, dict):
        if combined.get("method"):
            weights = ", ".join(f"{k} {v:+.2f}" for k, v in (combined.get("weights") or {}).items())
            rows.append(("combined", f"fitted on {combined['n_labelled']} labelled questions ({combined['method']}): "
                                     f"out-of-fold ROC AUC {combined['roc_auc']:.2f}, Brier {combined['brier']:.3f}; weights per unit score: {weights}"))
        else:
            rows.append(("combined", f"not fitted: {combined.get('reason')}"))
    return rows


# -- the combined score: fitted on labelled questions ----------------------------------------
def _signal_scores(evidence: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Questions x signals: each computed signal's score and flag (unvalidated signals' scores kept aside)."""
    m = pd.DataFrame({"benchmark": evidence["benchmark"].to_numpy(), "sample_id": evidence["sample_id"].to_numpy()})
    names = []
    for sig in registered():
        score = sig.score(evidence) if all(c in evidence for c in sig.columns) else None
        if score is None or not score.notna().any():
            continue
        m[sig.name] = score.astype(float).to_numpy()
        # text-hits fires by the audit's k-of-n rule, which its label already applied
        flag = evidence["label"] == "text-answerable" if sig.name == "text-hits" else sig.fires(evidence, None)
        m[f"{sig.name}_flag"] = flag.to_numpy()
        if not sig.unvalidated_reason:
            names.append(sig.name)
    return m, names


#: fewest labelled questions of each class the combination is fitted on
MIN_PER_CLASS = 5


def fit_combined(evidence: pd.DataFrame, *, folds: int = 5, seed: int = 0,
                 scores: tuple[pd.DataFrame, list[str]] | None = None) -> tuple[pd.Series, dict[str, Any]]:
    """The combined score, fitted: out-of-fold P(text-answerable) from a logistic regression on the validated signals' scores.

    The weights come from labelled questions (``truth_label``: the demo's ground truth, or a
    user's labels), never from hand: ``cross_val_predict`` gives each question a score from
    a model that did not see its label, ``calibration_curve`` shows whether a score of 0.8
    means 80%, and the weights are those of the model refitted on every labelled question.
    Unvalidated signals (min-k) never enter. Without enough labelled questions there is no
    combined score (NaN) and the info says why. ``scores``: :func:`_signal_scores` when the
    caller has it already (``evidence_matrix``).
    """
    from sklearn.calibration import calibration_curve
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    m, names = scores if scores is not None else _signal_scores(evidence)
    empty = pd.Series(np.nan, index=evidence.index)
    truth = label_truth(evidence)
    if not names:
        return empty, {"method": None, "reason": "no validated signal has scores"}
    if truth is None:
        return empty, {"method": None, "reason": "no labelled questions (truth_label) to fit the weights on", "signals": names}
    y_all, keep = truth
    keep = keep.to_numpy()
    y = y_all.to_numpy(dtype=bool)[keep]
    if min(int(y.sum()), int((~y).sum())) < MIN_PER_CLASS:
        return empty, {"method": None, "signals": names,
                       "reason": f"fewer than {MIN_PER_CLASS} labelled questions of each class ({int(y.sum())} positive, {int((~y).sum())} negative)"}
    X_all = m[names].astype(float)
    X_all = X_all.fillna(X_all.median()).fillna(0.0).to_numpy()
    X = X_all[keep]
    k = max(2, min(folds, int(y.sum()), int((~y).sum())))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    oof = cross_val_predict(model, X, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed), method="predict_proba")[:, 1]
    model.fit(X, y)
    scores = pd.Series(model.predict_proba(X_all)[:, 1], index=evidence.index)
    scores[keep] = oof  # a labelled question's own label never scores it
    prob_true, prob_pred = calibration_curve(y, oof, n_bins=5, strategy="quantile")
    coef = model[-1].coef_[0] / model[0].scale_
    info = {"method": f"logistic regression on the validated signals' scores, {k}-fold out-of-fold predictions", "signals": names,
            "n_labelled": int(len(y)), "positives": int(y.sum()),
            "weights": {n: float(w) for n, w in zip(names, coef)}, "intercept": float(model[-1].intercept_[0]),
            "roc_auc": float(roc_auc_score(y, oof)), "brier": float(brier_score_loss(y, oof)),
            "calibration": {"predicted": [float(x) for x in prob_pred], "observed": [float(x) for x in prob_true]}}
    return scores, info


def evidence_matrix(evidence: pd.DataFrame) -> pd.DataFrame:
    """Questions x signals: each computed signal's score and flag, and the fitted ``combined_score``.

    Scores: ``text-hits`` = text_hits / text_n, ``blind-hits`` = blind_hits / blind_n, each
    evidence signal its ``<prefix>_score``; the combined score is :func:`fit_combined`'s
    (NaN where there are no labelled questions to fit it on).
    """
    m, names = _signal_scores(evidence)
    m["combined_score"] = fit_combined(evidence, scores=(m, names))[0].to_numpy()
    return m


__all__ = ["MIN_PER_CLASS", "REASON_BALANCE", "REASON_UNAUDITED", "UNKNOWN", "VISION_DEPENDENT", "audited_mask", "compute_columns", "curve",
           "decide", "evidence_matrix", "fit_combined", "get", "label_questions", "label_truth", "registered", "removing", "report_rows",
           "score_curve", "score_curves", "summarize", "truth_agreement", "truth_of"]
