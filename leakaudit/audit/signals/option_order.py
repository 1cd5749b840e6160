"""Option-order sensitivity (MM-Detect, "Both Text and Images Leaked!", EMNLP 2025 Findings).

Each multiple-choice question is asked in its published order and again under ``shuffles``
seeded permutations that move the gold option to another letter (the runner's prompts and
scoring). A model that is right in the published order but wrong once the options move has
learned where the answer sits, not what it is: evidence of memorized test data.

Per question and model: ``published_correct``, ``shuffled_accuracy`` (share of the
shuffles answered right) and ``order_flag`` = right in the published order and right in
fewer than half of the shuffles (``FLAG_BELOW``).

Noise floor (Facet-Probe, arXiv 2606.26079: 13-50% of "order flips" are decoding noise):
the published order is asked a second time in its own batch (``rerun_correct``); a
question whose answer changes without any order change flips by noise
(``rerun_flip``), and only a question that gives the same answer on the rerun can be
flagged. The share of ``rerun_flip`` is the signal's null.
"""
from __future__ import annotations

import random
from typing import Any

import pandas as pd

from leakaudit.audit.signals._ask import ask, moving_permutations, permuted, text_prompt
from leakaudit.audit.signals.base import EvidenceContext, EvidenceSignal
from leakaudit.audit.signals.nulls import rate_vs_null
from leakaudit.data.benchmark import Benchmark
from leakaudit.models.backends.base import LM

NAME = "option-order"
DESCRIPTION = "MM-Detect option-order sensitivity: right in the published order, wrong once the options are shuffled"
COLUMNS = ("published_correct", "rerun_correct", "rerun_flip", "shuffled_accuracy", "order_flag")
NEEDS = ("text-llm",)
FLAG_BELOW = 0.5


def order_signal(bench: Benchmark, lm: LM, *, shuffles: int = 3, seed: int = 0, scoring: str = "letter") -> pd.DataFrame:
    """Per-question option-order sensitivity of ``lm`` (open questions are left out)."""
    mc = [s for s in bench.samples if s.is_multiple_choice]
    variants, owner = [], []
    for qi, s in enumerate(mc):
        variants.append(s)
        owner.append((qi, 0))
        rng = random.Random(f"{seed}:{s.content_hash}")
        for k, perm in enumerate(moving_permutations(len(s.options), shuffles, s.answer_index, rng), start=1):
            variants.append(permuted(s, perm))
            owner.append((qi, k))
    results = ask(lm, variants, [text_prompt(v, scoring) for v in variants], scoring=scoring)
    # the same-order rerun: the published questions again, in a batch of their own
    rerun = ask(lm, mc, [text_prompt(s, scoring) for s in mc], scoring=scoring, batch_size=5)
    rows = []
    for qi, s in enumerate(mc):
        mine = [r for (q, k), r in zip(owner, results) if q == qi]
        published = bool(mine[0]["correct"])
        again = bool(rerun[qi]["correct"])
        moved = [bool(r["correct"]) for r in mine[1:]]
        acc = sum(moved) / len(moved) if moved else float("nan")
        rows.append({"sample_id": s.id, "sample_hash": s.content_hash, "model": lm.name, "published_correct": published,
                     "rerun_correct": again, "rerun_flip": float(published != again),
                     "shuffled_accuracy": acc, "n_shuffles": len(moved),
                     "order_flag": bool(published and again and moved and acc < FLAG_BELOW)})
    return pd.DataFrame(rows)


# -- the registered signal ---------------------------------------------------------------
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
        return order_signal(self.bench(ctx), self.model(ctx), seed=ctx.settings.seed)


__all__ = ["OptionOrder", "COLUMNS", "DESCRIPTION", "FLAG_BELOW", "NAME", "NEEDS", "order_signal"]
