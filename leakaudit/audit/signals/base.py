"""The ``Signal`` interface: one kind of per-question evidence, from answers or from the benchmark alone.

A signal says which runs it needs (``needs``: conditions such as ``text`` or ``blind``; empty
for a signal computed from the benchmark alone), computes its per-question ``columns`` from an
:class:`EvidenceContext`, says for which questions it ``fires`` under the settings, which
``label`` that gives, why the filter removes such a question (``removal_reason``), its gate
check and the rows the report shows. Evidence, filter, gate, report and CLI loop over the
registered signals (``leakaudit.signals`` entry points), so a new kind of evidence is one
class and one line in a ``pyproject.toml``::

    class MinKProb(Signal):
        name = "min-k-prob"
        description = "Min-K% token log-probability of the question text (pretraining exposure)"
        needs = ("min-k",)                      # answers stored under an extra condition
        columns = ("min_k_logprob",)
        def compute(self, ctx): ...             # DataFrame aligned with ctx.samples
        def fires(self, evidence, settings): return evidence["min_k_logprob"] > -2.0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from leakaudit.errors import LeakauditError

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.answers.settings import AuditSettings


@dataclass
class Check:
    """One gate threshold: the measured value, the limit, and whether it passed."""

    name: str
    value: float | None
    threshold: float
    comparison: str  # "<=" or ">="
    passed: bool
    message: str


@dataclass
class EvidenceContext:
    """What a signal may read: the questions, per-question correctness by condition, raw answers.

    ``correct[condition]`` has one row per (benchmark, sample_hash, model) with ``correct``
    0/1, restricted to the models that vote (deduplicated, real weights): ``text`` holds the
    inspector LLMs only, ``text_all`` every real LLM (base LLMs included, for leakage).
    ``answers`` is the store's raw answers (any condition, extra ones included) and
    ``benchmark`` the loaded benchmark when the caller had one (signals from the data alone).
    """

    samples: pd.DataFrame
    correct: Mapping[str, pd.DataFrame]
    roles: Mapping[str, Any]
    settings: "AuditSettings"
    answers: pd.DataFrame | None = None
    benchmark: Any = None
    notes: list[str] = field(default_factory=list)
    #: the model zoo, for signals that ask a model again (``leakaudit.audit.signals``)
    zoo: Any = None
    #: the run folder whose answer store keeps what such signals ask (None: asked, not kept)
    run_dir: Any = None
    #: show progress bars on stderr for long signal work (the probe's fits: minutes at 20,000 questions)
    progress: bool = False

    def frame(self, condition: str) -> pd.DataFrame:
        df = self.correct.get(condition)
        return df if df is not None else pd.DataFrame(columns=["benchmark", "sample_hash", "model", "correct"])

    def by_sample(self, condition: str) -> dict[tuple[str, str], tuple[int, int, list[str], set[str]]]:
        """(benchmark, sample_hash) -> (hits, models asked, models right, models wrong) of one condition."""
        keys, hits, asked, right, wrong = _tally(self.frame(condition))
        return {k: (int(h), int(n), r, w) for k, h, n, r, w in zip(keys, hits, asked, right, wrong)}

    def per_sample(self, condition: str) -> pd.DataFrame:
        """:meth:`by_sample` aligned with ``samples`` (one row each, same order): ``hits``, ``n``
        (models asked), ``right`` (sorted names) and ``wrong`` (a set); 0, 0, [], set() where
        no model of that condition answered the question."""
        keys, hits, asked, right, wrong = _tally(self.frame(condition))
        at = keys.get_indexer(pd.MultiIndex.from_arrays([self.samples["benchmark"], self.samples["sample_hash"]])) if len(keys) else \
            np.full(len(self.samples), -1)
        # index -1 (not answered) lands on the appended 0 / [] / set()
        right, wrong = right + [[]], wrong + [set()]
        return pd.DataFrame({"hits": np.append(hits, 0)[at], "n": np.append(asked, 0)[at],
                             "right": [right[g] for g in at], "wrong": [wrong[g] for g in at]})

    def keys(self) -> list[tuple[str, str]]:
        return list(zip(self.samples["benchmark"], self.samples["sample_hash"]))


def _tally(df: pd.DataFrame) -> tuple[pd.MultiIndex, np.ndarray, np.ndarray, list[list[str]], list[set[str]]]:
    """Per (benchmark, sample_hash) of ``df``: hits (``correct > 0``), rows, the right models
    sorted by name and the set of wrong ones (``correct <= 0``), in one pass over the rows."""
    if df.empty:
        return pd.MultiIndex.from_arrays([[], []]), np.zeros(0, int), np.zeros(0, int), [], []
    codes, keys = pd.MultiIndex.from_arrays([df["benchmark"], df["sample_hash"]]).factorize()
    models = df["model"].to_numpy(dtype=str)
    correct = pd.to_numeric(df["correct"]).to_numpy(dtype=float)
    asked = np.bincount(codes, minlength=len(keys))
    is_right = correct > 0
    hits = np.bincount(codes[is_right], minlength=len(keys))
    right = _split_sorted(codes[is_right], models[is_right], len(keys))
    wrong = [set(m) for m in _split_sorted(codes[correct <= 0], models[correct <= 0], len(keys))]
    return keys, hits, asked, right, wrong


def _split_sorted(codes: np.ndarray, names: np.ndarray, groups: int) -> list[list[str]]:
    """``names`` gathered per group code, each group's list sorted."""
    order = np.lexsort((names, codes))
    bounds = np.searchsorted(codes[order], np.arange(1, groups))
    return [part.tolist() for part in np.split(names[order], bounds)]


class Signal:
    """Base class of a signal; subclasses set the class attributes and ``compute``/``fires``."""

    #: registry name (also the entry point name)
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: conditions whose answers it reads; () = from the benchmark alone
    needs: ClassVar[tuple[str, ...]] = ()
    #: per-question columns it adds to the evidence table
    columns: ClassVar[tuple[str, ...]] = ()
    #: label a question gets when this signal fires (None: evidence only, no label)
    label: ClassVar[str | None] = None
    #: position among signals: columns order and label priority (lower first)
    order: ClassVar[int] = 100
    #: ``removed_reason`` when the filter removes a question because of this signal
    removal_reason: ClassVar[str | None] = None
    #: removed by default (True) or only when named in ``settings.remove_signals``
    removes_by_default: ClassVar[bool] = False
    #: the AuditSettings field holding its gate threshold (else ``settings.signal_thresholds[name]``)
    threshold_setting: ClassVar[str | None] = None
    #: what a model that never saw the data would score on it (its control), in words
    null: ClassVar[str] = ""
    #: on what data its flag was shown to track the truth (None: not shown yet)
    validated: ClassVar[str | None] = None
    #: why it cannot be trusted yet (min-k: no shift-free non-member reference); such a signal
    #: says UNVALIDATED in every summary and never enters the combined score
    unvalidated_reason: ClassVar[str | None] = None

    # -- evidence --------------------------------------------------------------------------
    def compute(self, ctx: EvidenceContext) -> pd.DataFrame:
        """Per-question columns (``self.columns``), one row per row of ``ctx.samples``, same order."""
        raise NotImplementedError(f"signal {self.name!r} does not implement compute()")

    def fires(self, evidence: pd.DataFrame, settings: "AuditSettings") -> pd.Series:
        """Boolean per evidence row: does this signal flag the question under ``settings``?"""
        return pd.Series(False, index=evidence.index)

    def detail(self, row: Mapping[str, Any], settings: "AuditSettings") -> str:
        """Why a flagged question was flagged, in words with numbers (``removed_detail``)."""
        return f"flagged by signal {self.name}"

    def score(self, evidence: pd.DataFrame) -> pd.Series | None:
        """A graded per-question score behind the flag (higher = more evidence; NaN = not
        scored), for ROC and precision-recall curves; None when the signal is a flag only."""
        return None

    def null_summary(self, evidence: pd.DataFrame, settings: "AuditSettings") -> dict[str, Any]:
        """``observed``, ``null``, ``excess`` and ``excess_ci`` (see :mod:`leakaudit.audit.signals.nulls`); {} when it has none."""
        return {}

    def available(self, ctx: EvidenceContext) -> bool:
        """True when the runs it needs have answers (else its columns are empty and it never fires)."""
        return all(not ctx.frame(c).empty or (ctx.answers is not None and (ctx.answers["condition"] == c).any()) for c in self.needs)

    def empty(self, n: int) -> pd.DataFrame:
        return pd.DataFrame({c: [None] * n for c in self.columns})

    # -- gate and report -------------------------------------------------------------------
    def threshold(self, settings: "AuditSettings") -> float | None:
        if self.threshold_setting:
            return getattr(settings, self.threshold_setting, None)
        return settings.signal_thresholds.get(self.name)

    def share(self, evidence: pd.DataFrame, settings: "AuditSettings") -> float:
        """Share of audited questions it fires on (``unknown`` ones left out)."""
        audited = evidence[evidence["label"] != "unknown"] if "label" in evidence else evidence
        if audited.empty:
            return float("nan")
        return float(self.fires(audited, settings).mean())

    def check(self, summary: Mapping[str, Any], threshold: float) -> Check | None:
        """The gate check of this signal at ``threshold`` (a largest allowed share by default)."""
        value = (summary.get("signals") or {}).get(self.name, {}).get("share")
        if value is None:
            return None
        return Check(self.name, value, threshold, "<=", value <= threshold,
                     f"{value:.1%} of questions flagged by {self.name} (limit {threshold:.0%})")

    def report_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(label, value) rows the report and terminal show for this signal."""
        info = (summary.get("signals") or {}).get(self.name, {})
        share = info.get("share")
        text = f"{share:.1%} of audited questions" if share is not None else "not computed (no answers for " + ", ".join(self.needs) + ")"
        if share is not None and info.get("precision") is not None:
            text += f" (precision {info['precision']:.2f}, recall {info['recall']:.2f} vs {info.get('truth', 'labels')})"
        return [(self.name, text + null_text(info))]

    def info(self) -> dict[str, Any]:
        """What ``leakaudit signals --json`` prints."""
        return {"name": self.name, "description": self.description, "measures": self.description, "null": self.null,
                "validated": self.validated is not None and not self.unvalidated_reason, "validated_on": self.validated,
                "unvalidated_reason": self.unvalidated_reason, "needs": list(self.needs), "columns": list(self.columns),
                "label": self.label, "removal_reason": self.removal_reason, "removes_by_default": self.removes_by_default,
                "threshold_setting": self.threshold_setting, "class": f"{type(self).__module__}.{type(self).__qualname__}"}


def null_text(info: Mapping[str, Any]) -> str:
    """``; null ..., excess ...`` (and ``unvalidated``) for a signal's summary line."""
    from leakaudit.audit.signals.nulls import describe

    text = describe(dict(info))
    out = f"; {text}" if text else ""
    if info.get("unvalidated_reason") and info.get("share") is not None:
        out += f"; UNVALIDATED: {info['unvalidated_reason']} (not in the combined score)"
    return out


__all__ = ["Check", "EvidenceContext", "Signal", "null_text"]


# -- signals computed by asking a model again (or by the model-free probe) ----------------
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
    """A signal computed by one plain function of its own module (``probe``, ``option_order``...) on the loaded benchmark."""

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
        from leakaudit.audit.signals.combined import SCORE_COLUMNS, _derived

        score_col, flag_col = SCORE_COLUMNS[self.test_name]
        f = _derived(self.test_name, frame)
        g = f.groupby("sample_hash")
        return g[score_col].apply(lambda x: x.astype(float).mean()), g[flag_col].apply(lambda x: bool(x.astype(bool).any()))

    #: the name under ``combined.SCORE_COLUMNS``
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
