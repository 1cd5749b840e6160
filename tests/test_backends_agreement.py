"""transformers (GGUF dequantized to fp32) and llama.cpp (GGUF as is) agree on SmolLM2-135M.

Both backends render the same text from the same MMStar-style 2-shot prompts; llama.cpp
computes with the quantized weights and int8 activations, so small differences remain:
letter log-probs must agree within 0.2 nats, and both must pick the same letter where
the top two are clearly apart.
"""
from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread_when_busy")]  # the fixture: conftest.py

pytest.importorskip("xllamacpp", reason="the llamacpp backend needs xllamacpp")
torch = pytest.importorskip("torch")

from leakaudit.data.schema import Sample  # noqa: E402

TOLERANCE = 0.2  # nats
BUILTIN = [
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"], "C"),
    ("Which animal says 'woof'?", ["cat", "dog", "cow", "sheep"], "B"),
    ("How many legs does a spider have?", ["six", "four", "ten", "eight"], "D"),
    ("What colour is a clear daytime sky?", ["green", "blue", "red", "black"], "B"),
    ("What is 2 + 2?", ["4", "5", "6", "7"], "A"),
    ("Which is a fruit?", ["carrot", "potato", "apple", "onion"], "C"),
]




@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    """Real MMStar questions when ../shared/data is there, else built-in ones (same checks)."""
    from pathlib import Path

    shared = Path(os.environ.get("LEAKAUDIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parquet = shared / "mmstar_text" / "mmstar_text.parquet"
    if parquet.is_file():
        from leakaudit import load_benchmark

        bench = load_benchmark("mmstar", path=parquet)
        picked = [s for s in bench.samples if s.is_multiple_choice and len(s.options) == 4]
        return picked[::150][:9]
    return [Sample(id=f"b{i}", benchmark="unit", question=q, options=o, answer=a) for i, (q, o, a) in enumerate(BUILTIN)]


@pytest.fixture(scope="module")
def backends(smollm2_path):
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    return zoo.load("smollm2-135m", dtype="fp32"), zoo.load("smollm2-135m-llamacpp", n_threads=1)


@pytest.fixture(scope="module")
def prompts(samples):
    from leakaudit.answers.prompts import build_prompt

    fewshot, asked = samples[:3], samples[3:]
    letter = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="letter") for s in asked]
    cloze = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="cloze") for s in asked]
    return asked, letter, cloze


def test_same_rendered_text(backends, prompts):
    hf, cpp = backends
    _, letter, cloze = prompts
    for p in letter + cloze:
        assert hf.render(p) == cpp.render(p)


def test_letter_logprobs_agree(backends, prompts):
    hf, cpp = backends
    asked, letter, _ = prompts
    letters = [list(s.letters) for s in asked]
    a = hf.letter_logprobs(letter, letters)
    b = cpp.letter_logprobs(letter, letters)
    assert cpp.stats["letters_floored"] == 0
    worst = max(abs(x - y) for row_hf, row_cpp in zip(a, b) for x, y in zip(row_hf, row_cpp))
    print(f"letter log-probs over {len(asked)} prompts: max |transformers - llama.cpp| = {worst:.3f} nats")
    for row_hf, row_cpp in zip(a, b):
        diffs = [abs(x - y) for x, y in zip(row_hf, row_cpp)]
        assert max(diffs) < TOLERANCE, (row_hf, row_cpp)
        ranked = sorted(row_hf, reverse=True)
        if ranked[0] - ranked[1] > 2 * TOLERANCE:
            assert row_hf.index(ranked[0]) == row_cpp.index(max(row_cpp))


def test_letters_outside_the_top_k_are_forced_exactly(smollm2_path, backends, prompts):
    """With top_k=1 most letters miss the top-k; the grammar lookup must give the same numbers."""
    from leakaudit.models.backends.llamacpp import LlamaCppBackend

    _, cpp = backends
    _, letter, _ = prompts
    narrow = LlamaCppBackend("narrow", smollm2_path, top_k=1, n_threads=1)
    for p in letter[:2]:
        forced = narrow.letter_logprobs([p], [list("ABCD")])[0]
        # the prompt is cached now, as it was for the forced lookups: same numerics
        wide = cpp.letter_logprobs([p], [list("ABCD")])[0]
        wide = cpp.letter_logprobs([p], [list("ABCD")])[0]
        assert forced == pytest.approx(wide, abs=1e-3)
    assert narrow.stats["letters_forced"] >= 6 and narrow.stats["letters_floored"] == 0


def test_cloze_loglikelihoods_agree(backends, prompts):
    hf, cpp = backends
    asked, _, cloze = prompts
    from leakaudit.answers.prompts import cloze_continuations

    conts = [cloze_continuations(s) for s in asked[:3]]
    a = hf.loglikelihood(cloze[:3], conts)
    b = cpp.loglikelihood(cloze[:3], conts)
    for row_hf, row_cpp in zip(a, b):
        for (ll_hf, n_hf), (ll_cpp, n_cpp) in zip(row_hf, row_cpp):
            assert n_hf == n_cpp
            # per token: quantization error adds up over the continuation's tokens
            assert abs(ll_hf - ll_cpp) / n_hf < TOLERANCE, (ll_hf, ll_cpp, n_hf)


def test_greedy_generation_starts_alike(backends, prompts):
    hf, cpp = backends
    _, letter, _ = prompts
    a = hf.generate(letter[:2], max_new_tokens=4)
    b = cpp.generate(letter[:2], max_new_tokens=4)
    assert all(a) and all(b)
    assert [x[:1] for x in a] == [y[:1] for y in b]
