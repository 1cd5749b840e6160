"""Open-form re-ask (DatBench, arXiv 2601.02316): the question without its options.

Turning multiple choice into open questions drops scores by up to 35 points: much of a
multiple-choice score is elimination among the listed options. Each question is asked
twice: with its options (the runner's prompt and scoring) and without them, generating a
short free answer. The free answer is matched to the gold option's text (normalised: the
gold text contained in the answer, or the answer's first line equal to the gold text).

Per question and model: ``mc_correct``, ``open_answer``, ``open_correct`` and
``elimination_flag`` = right with the options, wrong without them (the options gave the
answer away; the model did not know it).
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pandas as pd

from leakaudit.audit.signals._ask import ask, text_prompt
from leakaudit.audit.signals.base import EvidenceContext, EvidenceSignal
from leakaudit.audit.signals.nulls import chance_of, rate_vs_null
from leakaudit.data.benchmark import Benchmark
from leakaudit.data.schema import Sample
from leakaudit.models.backends.base import LM

NAME = "open-form"
DESCRIPTION = "DatBench open-form re-ask: right with the options, wrong when asked without them (elimination, not knowledge)"
COLUMNS = ("mc_correct", "open_correct", "elimination_flag")
NEEDS = ("text-llm",)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", str(text).lower()))


def matches_gold(answer: str, gold: str) -> bool:
    """The free answer names the gold option's text (word-bounded, case- and punctuation-insensitive)."""
    a, g = _norm(answer), _norm(gold)
    if not g or not a:
        return False
    first = _norm(str(answer).strip().splitlines()[0]) if str(answer).strip() else ""
    return f" {g} " in f" {a} " or first == g


def open_version(sample: Sample) -> Sample:
    """The question with no options, a free-text answer expected."""
    s = replace(sample, options=[], answer=sample.answer_text, answer_type="text")
    s._hash = None
    return s


def open_form_signal(bench: Benchmark, lm: LM, *, scoring: str = "letter", max_new_tokens: int = 16) -> pd.DataFrame:
    """Per-question multiple-choice vs open-form correctness of ``lm``."""
    mc = [s for s in bench.samples if s.is_multiple_choice]
    with_opts = ask(lm, mc, [text_prompt(s, scoring) for s in mc], scoring=scoring)
    opens = [open_version(s) for s in mc]
    free = lm.generate([text_prompt(o, "generate") for o in opens], max_new_tokens=max_new_tokens)
    rows = []
    for s, r, text in zip(mc, with_opts, free):
        ok = matches_gold(text, s.answer_text)
        rows.append({"sample_id": s.id, "sample_hash": s.content_hash, "model": lm.name, "mc_correct": bool(r["correct"]),
                     "open_answer": text, "open_correct": ok, "elimination_flag": bool(r["correct"] and not ok)})
    return pd.DataFrame(rows)


# -- the registered signal ---------------------------------------------------------------
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
        return open_form_signal(self.bench(ctx), self.model(ctx), scoring="letter")


__all__ = ["OpenForm", "COLUMNS", "DESCRIPTION", "NAME", "NEEDS", "matches_gold", "open_form_signal", "open_version"]
