"""The evidence tests of ``leakaudit.evidence_tests`` as registered signals (issue 11).

Each signal here delegates to one plain function of :mod:`leakaudit.evidence_tests` and
reduces its frame to three per-question columns: ``<prefix>_score`` (higher = more evidence
the question is answerable without its image or was seen in training), ``<prefix>_flag``
and ``<prefix>_truth`` (the demo's ``truth_signals`` label for this signal where the
benchmark has one, else empty). None of them labels a question or removes it unless the
user names it in ``remove_signals``.

- ``probe`` is model-free and cheap: it runs in every audit that has the loaded benchmark
  (``scan``, ``gate``, ``audit --bench``).
- the model-based ones (``option-order``, ``slot-guess``, ``min-k``, ``wrong-image``,
  ``ocr-only``, ``caption-only``, ``open-form``) each ask a model again, so they run only
  when named in ``settings.extra_signals`` (``--signals NAME,...``); otherwise their columns
  are empty and the summary says ``share: null`` (not computed).
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import LeakauditError
from .base import Check, EvidenceContext, Signal, null_text
from .nulls import chance_of, paired_vs_null, rate_vs_null


def _truth_of(ctx: EvidenceContext, key: str | None) -> list[Any]:
    """Per row of ``ctx.samples``: the benchmark's ``truth_signals[key]`` (None where absent)."""
    if key is None or ctx.benchmark is None:
        return [None] * len(ctx.samples)
    by_hash = {}
    for s in ctx.benchmark.samples:
        t = s.meta.get("truth_signals") if isinstance(getattr(s, "meta", None), dict) else None
        by_hash[s.content_hash] = t.get(key) if isinstance(t, dict) else None
    return [by_hash.get(h) for h in ctx.samples["sample_hash"]]


class EvidenceSignal(Signal):
    """A signal computed by one ``leakaudit.evidence_tests`` function on the loaded benchmark."""

    #: column prefix (``<prefix>_score``, ``<prefix>_flag``, ``<prefix>_truth``)
    prefix: str = ""
    #: key of the demo's ``truth_signals`` this signal is scored against
    truth_key: str | None = None
    #: computed only when named in ``settings.extra_signals``
    opt_in: bool = True
    #: the model it asks: ``llm`` (a text-only inspector) or ``lvlm`` (an image-capable model)
    model_kind: str = "llm"
    order = 60

    #: columns beyond score/flag/truth, taken as they are from the evidence test's frame
    extra_columns: tuple[str, ...] = ()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.prefix:
            cls.columns = (f"{cls.prefix}_score", f"{cls.prefix}_flag", f"{cls.prefix}_truth", *cls.extra_columns)

    # -- evidence --------------------------------------------------------------------------
    def requested(self, settings: Any) -> bool:
        return not self.opt_in or self.name in (getattr(settings, "extra_signals", None) or [])

    def available(self, ctx: EvidenceContext) -> bool:
        return ctx.benchmark is not None and self.requested(ctx.settings)

    def bench(self, ctx: EvidenceContext) -> Any:
        """The audited questions only (``--limit`` and a store's subset are respected: model runs cost time)."""
        return ctx.benchmark.subset(set(ctx.samples["sample_id"]))

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        """The evidence test's frame (``sample_id``, ``sample_hash``, score and flag columns)."""
        raise NotImplementedError

    def score_flag(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Per ``sample_hash``: (score, flag), per-model rows averaged / OR-ed."""
        from ..evidence_tests.combined import SCORE_COLUMNS, _derived

        score_col, flag_col = SCORE_COLUMNS[self.test_name]
        f = _derived(self.test_name, frame)
        g = f.groupby("sample_hash")
        return g[score_col].apply(lambda x: x.astype(float).mean()), g[flag_col].apply(lambda x: bool(x.astype(bool).any()))

    #: the name under ``evidence_tests.combined.SCORE_COLUMNS``
    test_name: str = ""

    def compute(self, ctx: EvidenceContext) -> pd.DataFrame:
        try:
            frame = self.run(ctx)
        except (LeakauditError, ValueError) as exc:  # no model for it, a probe with nothing to learn: the audit goes on
            ctx.notes.append(f"signal {self.name}: not computed ({exc})")
            return self.empty(len(ctx.samples))
        score, flag = self.score_flag(frame)
        hashes = ctx.samples["sample_hash"]
        s = [score.get(h, np.nan) for h in hashes]
        f = [bool(flag[h]) if h in flag.index else None for h in hashes]
        out = pd.DataFrame({self.columns[0]: s, self.columns[1]: f, self.columns[2]: _truth_of(ctx, self.truth_key)})
        if self.extra_columns:
            first = frame.drop_duplicates("sample_hash").set_index("sample_hash")
            for col in self.extra_columns:
                out[col] = [first[col].get(h) if h in first.index else None for h in hashes]
        return out

    def fires(self, evidence: pd.DataFrame, settings: Any) -> pd.Series:
        return evidence[self.columns[1]].map(lambda v: bool(v) if v is not None and v == v else False).astype(bool)

    def detail(self, row: Mapping[str, Any], settings: Any) -> str:
        return f"flagged by {self.name} (score {float(row[self.columns[0]]):.2f})"

    def score(self, evidence: pd.DataFrame) -> pd.Series:
        return pd.to_numeric(evidence[self.columns[0]], errors="coerce")

    # -- models ----------------------------------------------------------------------------
    def model(self, ctx: EvidenceContext) -> Any:
        """Load the model this signal asks: the first inspector LLM (or LVLM) of the audit, from the zoo."""
        if ctx.zoo is None:
            raise LeakauditError(f"signal {self.name} needs a model zoo to load its {self.model_kind}")
        want = "lvlm" if self.model_kind == "lvlm" else "llm"
        names = [m for m, r in sorted(ctx.roles.items()) if getattr(r, "kind", None) == want and not getattr(r, "random_weights", False)]
        pref = (ctx.settings.lvlms if want == "lvlm" else ctx.settings.inspectors) or []
        names = [m for m in pref if m in names] + [m for m in names if m not in pref]
        if not names:
            raise LeakauditError(f"signal {self.name} needs a real-weight {want} among the audited models; none ran")
        return ctx.zoo.load(names[0])

    def report_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
        info = (summary.get("signals") or {}).get(self.name, {})
        share = info.get("share")
        if share is None:
            how = "not computed" + ("" if not self.opt_in else f" (ask with --signals {self.name})")
            return [(self.name, how)]
        text = f"{share:.1%} of audited questions flagged"
        if info.get("precision") is not None:
            text += f" (precision {info['precision']:.2f}, recall {info['recall']:.2f} vs {info.get('truth', 'labels')})"
        return [(self.name, text + null_text(info))]


class Probe(EvidenceSignal):
    """Model-free blind probe (Test-set Stress-Test, arXiv 2511.04655) run on every scan and gate."""

    name = "probe"
    description = ("Model-free blind probe: a k-fold logistic model on question/option wording predicts the gold option "
                   "out of fold (probe_score = p_gold); accuracy vs chance with a Wilson 95% interval")
    prefix = "probe"
    test_name = "probe"
    truth_key = "probe"
    opt_in = False
    order = 50
    removal_reason = "probe-answerable"
    extra_columns = ("probe_choice", "p_gold_null", "probe_null_hit")
    null = ("label permutations: gold letters shuffled among questions with the same number of options (the letter prior kept), "
            "the k-fold probe refitted with the same folds")
    validated = "the demo's truth_signals['probe'] (tests/test_evidence_demo.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        if "probe_null_hit" not in evidence or "probe_choice" not in evidence:
            return {}
        ok = evidence["probe_choice"].notna() & pd.to_numeric(evidence["probe_null_hit"], errors="coerce").notna()
        right = (evidence.loc[ok, "probe_choice"] == evidence.loc[ok, "answer"]).astype(float)
        return rate_vs_null(right, evidence.loc[ok, "probe_null_hit"], "probe refitted on permuted labels")

    def available(self, ctx: EvidenceContext) -> bool:
        return ctx.benchmark is not None and sum(1 for s in ctx.benchmark.samples if s.is_multiple_choice) >= 4

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        from ..evidence_tests.probe import probe

        return probe(ctx.benchmark, seed=ctx.settings.seed).samples

    def summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        """Probe accuracy vs chance, recomputed from the evidence columns (so a reloaded audit gives the same)."""
        from ..evidence_tests.probe import wilson_interval

        col = evidence[self.columns[0]].astype(float)
        ok = col.notna() & evidence["answer"].notna() if "answer" in evidence else col.notna()
        if not ok.any() or "probe_choice" not in evidence:
            return {}
        right = (evidence.loc[ok, "probe_choice"] == evidence.loc[ok, "answer"])
        n, hits = int(ok.sum()), int(right.sum())
        chance = float(evidence.loc[ok, "chance"].astype(float).mean())
        lo, hi = wilson_interval(hits, n)
        return {"n": n, "accuracy": hits / n, "chance": chance, "ci": [lo, hi]}

    def report_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
        info = (summary.get("signals") or {}).get(self.name, {})
        if info.get("accuracy") is None:
            return super().report_rows(summary)
        lo, hi = info["ci"]
        # the flagged share is over audited questions: none without text-only or blind answers
        flagged = f"{info['share']:.1%} flagged" if info.get("share") is not None else "flagged share not measured (no question audited)"
        text = f"accuracy {info['accuracy']:.1%} vs chance {info['chance']:.1%} (95% CI {lo:.1%}-{hi:.1%}, n={info['n']}); {flagged}"
        if info.get("precision") is not None:
            text += f" (precision {info['precision']:.2f}, recall {info['recall']:.2f} vs {info.get('truth', 'labels')})"
        return [(self.name, text + null_text(info))]


class OptionOrder(EvidenceSignal):
    name = "option-order"
    description = ("Option-order sensitivity (MM-Detect): right in the published option order but wrong when the options move "
                   "(seeded shuffles), asked of the first inspector LLM; evidence of memorized order")
    prefix = "order"
    test_name = "option-order"
    truth_key = "member"
    extra_columns = ("rerun_flip",)
    null = ("noise floor: the published order asked again in a separate batch; a question right once and wrong on the rerun "
            "flips without any order change (Facet-Probe), and only questions stable under the rerun can be flagged")
    validated = "the demo's truth_signals['member'] (synthetic, tests/test_evidence_lm_signals.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        return rate_vs_null(self.fires(evidence, settings).astype(float).where(evidence["rerun_flip"].notna()), evidence["rerun_flip"],
                            "same-order rerun flips")

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        from ..evidence_tests.order import order_signal

        return order_signal(self.bench(ctx), self.model(ctx), seed=ctx.settings.seed)


class SlotGuess(EvidenceSignal):
    name = "slot-guess"
    description = ("Slot guessing (MM-Detect): mask a salient word of the question and let the first inspector LLM fill it; "
                   "an exact fill beyond the word-shuffled control is evidence of memorized text")
    prefix = "slot"
    test_name = "slot-guess"
    truth_key = "member"
    extra_columns = ("exact_fill", "control_exact_fill")
    null = "the same slot in the question's words shuffled (a text nobody wrote, same vocabulary): language modelling without memory"
    validated = "the demo's truth_signals['member'] (synthetic, tests/test_evidence_lm_signals.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        return paired_vs_null(evidence["exact_fill"], evidence["control_exact_fill"], "exact fills in the shuffled control")

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        from ..evidence_tests.slot import slot_signal

        return slot_signal(self.bench(ctx), self.model(ctx), seed=ctx.settings.seed)


class MinK(EvidenceSignal):
    name = "min-k"
    description = ("Min-K% and Min-K%++ (arXiv 2404.02936) membership scores of the question text under the first inspector LLM "
                   "(transformers backend), as percentiles of word-shuffled non-member references; flagged above their 95th percentile")
    prefix = "mink"
    test_name = "min-k"
    truth_key = "member"
    null = ("word-shuffled copies of each question as non-members, flagged above their 95th percentile (5% by construction); "
            "shuffled text differs in distribution, which membership tests detect instead of membership")
    unvalidated_reason = ("no shift-free non-member reference: word-shuffled copies differ in distribution from the questions, "
                          "and membership tests fall to ~50% AUC once such shift is removed (arXiv 2504.18349)")

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        flag = self.fires(evidence, settings).astype(float).where(pd.to_numeric(evidence[self.columns[0]], errors="coerce").notna())
        return rate_vs_null(flag, np.full(len(evidence), 0.05), "5% of shuffled references above their 95th percentile")

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        from ..evidence_tests.mink import mink_signal

        return mink_signal(self.bench(ctx), self.model(ctx), seed=ctx.settings.seed)[0]


class _Ablation(EvidenceSignal):
    condition = ""
    null = "a model that gets no usable image information guesses: right with probability 1/options"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        return rate_vs_null(pd.to_numeric(evidence[self.columns[0]], errors="coerce"), chance_of(evidence), "guessing at 1/options")

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        from ..evidence_tests import ablation

        # stored beside the run's answers where the folder is writable (a rerun asks nothing again)
        keep = ctx.run_dir is not None and os.access(ctx.run_dir, os.W_OK)
        kw: dict[str, Any] = {"scoring": "letter", "seed": ctx.settings.seed, "run_dir": ctx.run_dir if keep else None}
        if self.condition == "caption-only":
            kw["captioner"] = ablation.colour_caption
        return ablation.ablation_signal(self.bench(ctx), self.model(ctx), self.condition, **kw)


class WrongImage(_Ablation):
    name = "wrong-image"
    description = "Image ablation: the first vision model answers with another question's image (seeded derangement); right anyway = flagged"
    prefix = "wrong_image"
    test_name = condition = "wrong-image"
    truth_key = "wrong_image"
    model_kind = "lvlm"
    validated = "the demo's truth_signals['wrong_image'] (tests/test_evidence_lm_signals.py)"


class OcrOnly(_Ablation):
    name = "ocr-only"
    description = "Image ablation: the first inspector LLM answers with RapidOCR's text of the image in its place; right = flagged"
    prefix = "ocr_only"
    test_name = condition = "ocr-only"
    truth_key = "ocr_only"
    validated = "the demo's truth_signals['ocr_only'] (tests/test_evidence_lm_signals.py)"


class CaptionOnly(_Ablation):
    name = "caption-only"
    description = "Image ablation: the first inspector LLM answers with a caption (colour captioner) in place of the image; right = flagged"
    prefix = "caption_only"
    test_name = condition = "caption-only"
    truth_key = "wrong_image"
    validated = "the demo's truth_signals['wrong_image'] (tests/test_evidence_lm_signals.py)"


class OpenForm(EvidenceSignal):
    name = "open-form"
    description = ("Open-form re-ask (DatBench, arXiv 2601.02316): the first inspector LLM is asked without the options; right as "
                   "multiple choice but wrong open = flagged (elimination among options, not knowledge)")
    prefix = "open_form"
    test_name = "open-form"
    truth_key = "elimination"
    null = "a guesser is right as multiple choice with probability 1/options and (almost) never open: flagged at 1/options"
    validated = "the demo's truth_signals['elimination'] (tests/test_evidence_lm_signals.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        flag = self.fires(evidence, settings).astype(float).where(pd.to_numeric(evidence[self.columns[0]], errors="coerce").notna())
        return rate_vs_null(flag, chance_of(evidence), "guessing among the options")

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        from ..evidence_tests.open_form import open_form_signal

        return open_form_signal(self.bench(ctx), self.model(ctx), scoring="letter")


EXTRA = (Probe, OptionOrder, SlotGuess, MinK, WrongImage, OcrOnly, CaptionOnly, OpenForm)


def _signal_scores(evidence: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Questions x signals: each computed signal's score and flag (unvalidated signals' scores kept aside)."""
    from . import registered

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

    from . import label_truth

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


__all__ = ["CaptionOnly", "EXTRA", "EvidenceSignal", "MinK", "OcrOnly", "OpenForm", "OptionOrder", "Probe", "SlotGuess", "WrongImage",
           "evidence_matrix", "fit_combined"]
