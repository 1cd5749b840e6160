"""Multi-modal leakage per question: a vision model answers blind while its own base LLM does not (MMStar's ML)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from leakaudit.audit.signals.base import Check, EvidenceContext, Signal
from leakaudit.audit.signals.hits import LEAKED
from leakaudit.audit.signals.nulls import chance_of, rate_vs_null
from leakaudit.outputs import as_list


class Leaked(Signal):
    """MMStar's multi-modal leakage per question: an LVLM answers blind while its own base LLM does not."""

    name = "leaked"
    description = "A vision model answers without the image while its own base LLM, asked the same text, does not (ML per question)"
    needs = ("blind", "text_all")
    columns = ("leaked_models",)
    label = LEAKED
    order = 30
    removal_reason = "leaked"
    threshold_setting = "max_leaked"
    null = "each vision model guesses blind and its base LLM guesses text-only: leaked with probability c(1-c), c = 1/options"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        asked = evidence[evidence["blind_n"].fillna(0) > 0] if "blind_n" in evidence else evidence.iloc[0:0]
        if asked.empty:
            return {}
        c = chance_of(asked)
        null = 1 - (1 - c * (1 - c)) ** asked["blind_n"].to_numpy(dtype=float)
        return rate_vs_null(self.fires(asked, settings).astype(float), null, "blind and base-LLM guesses")

    def compute(self, ctx: EvidenceContext) -> pd.DataFrame:
        blind = ctx.per_sample("blind")
        text = ctx.per_sample("text_all")
        base = {m: r.base_llm for m, r in ctx.roles.items() if r is not None and r.base_llm}
        leaked = [[m for m in b_right if base.get(m) in t_wrong] for b_right, t_wrong in zip(blind["right"], text["wrong"])]
        return pd.DataFrame({"leaked_models": leaked}, columns=list(self.columns))

    def fires(self, evidence: pd.DataFrame, settings: Any) -> pd.Series:
        col = evidence["leaked_models"]
        return col.map(lambda v: bool(as_list(v))).astype(bool)

    def detail(self, row: Mapping[str, Any], settings: Any) -> str:
        return f"answered without the image by {', '.join(as_list(row['leaked_models']))}, whose base LLM cannot answer it"

    def check(self, summary: Mapping[str, Any], threshold: float) -> Check | None:
        share = summary.get("share_leaked")
        share = 0.0 if share is None or (isinstance(share, float) and np.isnan(share)) else share
        return Check("leaked share", share, threshold, "<=", share <= threshold,
                     f"{share:.1%} of questions are answered blind by a vision model whose base LLM cannot (limit {threshold:.0%})")


__all__ = ["Leaked"]
