"""Slot guessing (MM-Detect, "Both Text and Images Leaked!", EMNLP 2025 Findings).

A salient word of the question is masked and the text-only LLM is asked to fill the slot
(generation). A model that restores the exact word has most likely seen the text; to tell
memory from plain language modelling, the same slot is asked in a control: the question's
words in a seeded shuffled order (a rephrasing nobody wrote, the masked word and its
vocabulary kept). Only memory tells the two apart.

Masked word: the longest word of the question (at least 4 letters, not a stop word; the
last one on a tie), ``salient_word``: long rare words are the ones only memory restores. Per question and model: ``masked_word``, ``fill``, ``exact_fill``,
``control_exact_fill`` and ``slot_flag`` = exact fill on the question, not on the control.
"""
from __future__ import annotations

import random
import re
from typing import Any

import pandas as pd

from leakaudit.audit.signals.base import EvidenceContext, EvidenceSignal
from leakaudit.audit.signals.nulls import paired_vs_null
from leakaudit.data.benchmark import Benchmark
from leakaudit.models.backends.base import LM, Prompt

NAME = "slot-guess"
DESCRIPTION = "MM-Detect slot guessing: the LLM restores a masked salient word of the question, but not in a shuffled control"
COLUMNS = ("masked_word", "exact_fill", "control_exact_fill", "slot_flag")
NEEDS = ("text-llm",)
MASK = "[MASK]"
INSTRUCTION = ("Fill in the [MASK] in the text below with the one missing word. Reply with that word only.\n\nText: {text}\n")
_STOP = frozenset("what which where when with this that there these those from into about have does were image picture "
                  "shown following option options most many much some make made called used like take give kind".split())
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]*")


def salient_word(text: str) -> tuple[int, int] | None:
    """Character span of the word to mask (the longest content word, the last on a tie), or None."""
    best = None
    for m in _TOKEN.finditer(text):
        w = m.group().strip("'-")
        if len(w) >= 4 and w.lower() not in _STOP and (best is None or len(w) >= best[1] - best[0]):
            best = (m.start(), m.start() + len(w))
    return best


def _fill(text: str) -> str:
    words = _TOKEN.findall(str(text))
    return words[0].lower() if words else ""


def _shuffled_with_mask(text: str, span: tuple[int, int], rng: random.Random) -> str:
    masked = text[: span[0]] + MASK + text[span[1]:]
    words = masked.split()
    for _ in range(20):
        rng.shuffle(words)
        if " ".join(words) != " ".join(masked.split()):
            break
    return " ".join(words)


def slot_signal(bench: Benchmark, lm: LM, *, seed: int = 0, max_new_tokens: int = 6) -> pd.DataFrame:
    """Per-question slot-guessing result of ``lm`` (questions without a salient word: no flag)."""
    rows, prompts = [], []
    for s in bench.samples:
        span = salient_word(s.question)
        rec = {"sample_id": s.id, "sample_hash": s.content_hash, "model": lm.name, "masked_word": None, "fill": None,
               "control_fill": None, "exact_fill": False, "control_exact_fill": False, "slot_flag": False}
        rows.append(rec)
        if span is None:
            continue
        rec["masked_word"] = s.question[span[0]:span[1]]
        masked = s.question[: span[0]] + MASK + s.question[span[1]:]
        control = _shuffled_with_mask(s.question, span, random.Random(f"{seed}:{s.content_hash}"))
        prompts.append((rec, Prompt(messages=[{"role": "user", "content": INSTRUCTION.format(text=masked)}])))
        prompts.append((rec, Prompt(messages=[{"role": "user", "content": INSTRUCTION.format(text=control)}])))
    texts = lm.generate([p for _, p in prompts], max_new_tokens=max_new_tokens) if prompts else []
    for i in range(0, len(prompts), 2):
        rec = prompts[i][0]
        rec["fill"], rec["control_fill"] = _fill(texts[i]), _fill(texts[i + 1])
        gold = rec["masked_word"].lower()
        rec["exact_fill"] = rec["fill"] == gold
        rec["control_exact_fill"] = rec["control_fill"] == gold
        rec["slot_flag"] = rec["exact_fill"] and not rec["control_exact_fill"]
    return pd.DataFrame(rows)


# -- the registered signal ---------------------------------------------------------------
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
        return slot_signal(self.bench(ctx), self.model(ctx), seed=ctx.settings.seed)


__all__ = ["SlotGuess", "COLUMNS", "DESCRIPTION", "INSTRUCTION", "MASK", "NAME", "NEEDS", "salient_word", "slot_signal"]
