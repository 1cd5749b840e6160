"""Min-K% and Min-K%++ membership scores of the question text under a text-only LLM.

Min-K% Prob (Shi et al., 2023) and Min-K%++ (Zhang et al., arXiv 2404.02936; formula as in
the reference code zjysteven/mink-plus-plus ``run.py``). For the tokens ``x_1..x_T`` of a
text, with ``p(.|x_<t)`` the model's next-token distribution:

- Min-K%:   the mean of the lowest ``k``% of ``log p(x_t | x_<t)``;
- Min-K%++: the mean of the lowest ``k``% of ``(log p(x_t|x_<t) - mu_t) / sigma_t`` where
  ``mu_t = E_{z~p}[log p(z)]`` and ``sigma_t^2 = E_{z~p}[(log p(z))^2] - mu_t^2`` over the
  whole vocabulary (so it needs full logits: the transformers backend).

``k`` defaults to 20%; ``int(T * k)`` tokens are averaged (at least one). A higher score
means "more likely seen in training".

Scores have no absolute scale, so each question is compared with a reference that cannot
be a member: by default the word-shuffled copy of every question of the same benchmark
(same words and length, an order nobody wrote; seeded). ``minkpp_pct`` is the share of
reference scores below the question's; label: ``member_flag`` when the question's Min-K%++
exceeds the reference's 95th percentile (a 5% false-positive rate on the reference).
"""
from __future__ import annotations

import random
import zlib
from typing import Any, Sequence

import numpy as np
import pandas as pd

from leakaudit.audit.signals.base import EvidenceContext, EvidenceSignal
from leakaudit.audit.signals.nulls import rate_vs_null
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError

NAME = "min-k"
DESCRIPTION = "Min-K% / Min-K%++ membership score of the question text under a text-only LLM, against shuffled non-member references"
COLUMNS = ("mink", "minkpp", "mink_pct", "minkpp_pct", "member_flag")
NEEDS = ("text-llm-logits",)
DEFAULT_RATIO = 0.2
REFERENCE_QUANTILE = 0.95


def _model_and_tokenizer(lm: Any) -> tuple[Any, Any]:
    model, tok = getattr(lm, "model", None), getattr(lm, "tokenizer", None)
    if model is None or tok is None or not hasattr(model, "forward"):
        raise LeakauditError(f"Min-K%++ needs full logits: model {getattr(lm, 'name', lm)!r} is not a transformers (hf) model")
    return model, tok


def token_scores(text: str, model: Any, tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-token ``log p(x_t|x_<t)`` and Min-K%++ z-scores (``(logp - mu) / sigma``) of ``text``."""
    import torch
    import torch.nn.functional as F

    ids = tokenizer.encode(text)
    if len(ids) < 2:
        raise LeakauditError(f"text too short to score (fewer than 2 tokens): {text!r}")
    device = next(model.parameters()).device
    input_ids = torch.tensor(ids, device=device).unsqueeze(0)
    with torch.no_grad():
        logits = model(input_ids).logits[0, :-1].float()
    targets = input_ids[0, 1:].unsqueeze(-1)
    log_probs = F.log_softmax(logits, dim=-1)
    probs = log_probs.exp()
    token_lp = log_probs.gather(dim=-1, index=targets).squeeze(-1)
    mu = (probs * log_probs).sum(-1)
    sigma = ((probs * log_probs.square()).sum(-1) - mu.square()).clamp_min(1e-12).sqrt()
    return token_lp.cpu().numpy(), ((token_lp - mu) / sigma).cpu().numpy()


def _lowest_mean(values: np.ndarray, ratio: float) -> float:
    k = max(1, int(len(values) * ratio))
    return float(np.sort(values)[:k].mean())


def score_texts(texts: Sequence[str], lm: Any, *, ratio: float = DEFAULT_RATIO) -> pd.DataFrame:
    """``loss`` (mean log-likelihood), ``zlib``, ``mink`` and ``minkpp`` per text."""
    if not 0 < ratio <= 1:
        raise LeakauditError(f"Min-K% ratio must be in (0, 1], got {ratio}")
    model, tok = _model_and_tokenizer(lm)
    rows = []
    for text in texts:
        lp, zs = token_scores(text, model, tok)
        ll = float(lp.mean())
        rows.append({"loglik": ll, "zlib": ll / len(zlib.compress(text.encode("utf-8"))),
                     "mink": _lowest_mean(lp, ratio), "minkpp": _lowest_mean(zs, ratio), "n_tokens": len(lp) + 1})
    return pd.DataFrame(rows)


def shuffled_reference(texts: Sequence[str], seed: int = 0) -> list[str]:
    """Word-shuffled copies (same words, an order nobody wrote): texts that cannot be members."""
    out = []
    for i, text in enumerate(texts):
        words = text.split()
        rng = random.Random(f"{seed}:{i}")
        for _ in range(10):
            rng.shuffle(words)
            if words != text.split() or len(words) < 2:
                break
        out.append(" ".join(words))
    return out


def question_text(sample) -> str:
    return f"{sample.hint}\n{sample.question}" if sample.hint else sample.question


def mink_signal(bench: Benchmark, lm: Any, *, ratio: float = DEFAULT_RATIO, reference: Sequence[str] | None = None,
                seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-question Min-K% / Min-K%++ and their percentiles in the non-member reference.

    Returns ``(per_question, reference_scores)``; ``reference`` defaults to the
    word-shuffled questions of ``bench``.
    """
    texts = [question_text(s) for s in bench.samples]
    ref_texts = list(reference) if reference is not None else shuffled_reference(texts, seed)
    if not ref_texts:
        raise LeakauditError("Min-K%: the reference set is empty")
    scores = score_texts(texts, lm, ratio=ratio)
    ref = score_texts(ref_texts, lm, ratio=ratio)
    ref_mink, ref_pp = np.sort(ref["mink"].to_numpy()), np.sort(ref["minkpp"].to_numpy())
    threshold = float(np.quantile(ref_pp, REFERENCE_QUANTILE))
    out = pd.DataFrame({
        "sample_id": [s.id for s in bench.samples],
        "sample_hash": [s.content_hash for s in bench.samples],
        "model": getattr(lm, "name", str(lm)),
        "mink": scores["mink"], "minkpp": scores["minkpp"], "loglik": scores["loglik"], "zlib": scores["zlib"],
        "mink_pct": np.searchsorted(ref_mink, scores["mink"].to_numpy(), side="right") / len(ref_mink),
        "minkpp_pct": np.searchsorted(ref_pp, scores["minkpp"].to_numpy(), side="right") / len(ref_pp),
    })
    out["member_flag"] = out["minkpp"] > threshold
    out.attrs["minkpp_threshold"] = threshold
    out.attrs["ratio"] = ratio
    return out, ref.assign(text=ref_texts)


# -- the registered signal ---------------------------------------------------------------
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
        return mink_signal(self.bench(ctx), self.model(ctx), seed=ctx.settings.seed)[0]


__all__ = ["MinK", "COLUMNS", "DEFAULT_RATIO", "DESCRIPTION", "NAME", "NEEDS", "REFERENCE_QUANTILE", "mink_signal", "question_text",
           "score_texts", "shuffled_reference", "token_scores"]
