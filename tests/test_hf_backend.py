"""The transformers backend on the real SmolLM2-135M (GGUF in a wheel, dequantized once).

The fast paths (shared-prefix KV cache, one forward pass per batch, length batching) must
give the same numbers as a plain full forward pass computed here independently.
"""
from __future__ import annotations

import copy

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread_when_busy")]  # the fixture: conftest.py

torch = pytest.importorskip("torch")

from leakaudit.models.backends.base import Prompt  # noqa: E402
from leakaudit.models.backends.transformers_backend import HFBackend  # noqa: E402
from leakaudit.data.schema import Sample  # noqa: E402

QUESTIONS = [
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"], "C"),
    ("Which animal says 'woof'?", ["cat", "dog", "cow", "sheep"], "B"),
    ("How many legs does a spider have?", ["six", "four", "ten", "eight"], "D"),
    ("Which of these is a primary colour in the RGB model, used by every screen to mix colours?", ["green", "brown", "pink", "grey"], "A"),
    ("What do bees make?", ["milk", "honey", "silk", "wax paper"], "B"),
]
DEMOS = [
    ("What colour is a clear daytime sky?", ["green", "blue", "red", "black"], "B"),
    ("What is 2 + 2?", ["4", "5", "6", "7"], "A"),
    ("Which is a fruit?", ["carrot", "potato", "apple", "onion"], "C"),
]




def _sample(i: int, q, opts, ans, prefix="q") -> Sample:
    return Sample(id=f"{prefix}{i}", benchmark="unit", question=q, options=opts, answer=ans)


@pytest.fixture(scope="module")
def lm(smollm2_path):
    from leakaudit.models.zoo import load_zoo

    return load_zoo().load("smollm2-135m", dtype="fp32")  # numerics tests: fp32 whatever this CPU runs by default


@pytest.fixture(scope="module")
def prompts():
    from leakaudit.answers.prompts import build_prompt

    fewshot = [_sample(i, *d, prefix="d") for i, d in enumerate(DEMOS)]
    samples = [_sample(i, *q) for i, q in enumerate(QUESTIONS)]
    letter = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="letter") for s in samples]
    cloze = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="cloze") for s in samples]
    assert all(p.prefix_len == 5 for p in letter)
    return samples, letter, cloze


def _full_logprobs(lm: HFBackend, text: str) -> torch.Tensor:
    """Log-probs at every position from one plain forward pass (no cache, no batching)."""
    ids = lm.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.inference_mode():
        return torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), dim=-1)


def test_letter_tokens_cover_both_spellings(lm):
    for letter in "ABCD":
        tokens = lm.tokenizer.convert_ids_to_tokens(lm.letter_token_ids(letter))
        assert letter in tokens and f"Ġ{letter}" in tokens


def test_letter_scores_equal_a_plain_forward_pass(lm, prompts):
    _, letter, _ = prompts
    lm.use_prefix_cache = True
    before = dict(lm.stats)
    fast = lm.letter_logprobs(letter, [list("ABCD")] * len(letter))
    # one prefix computation at most, then one forward pass per batch (5 prompts fit one batch)
    assert lm.stats["forward_passes"] - before["forward_passes"] <= 2
    lm.use_prefix_cache = False
    try:
        uncached = lm.letter_logprobs(letter, [list("ABCD")] * len(letter))
    finally:
        lm.use_prefix_cache = True
    for p, row_fast, row_plain in zip(letter, fast, uncached):
        reference = _full_logprobs(lm, lm.render(p))[-1]
        expected = [float(torch.logsumexp(reference[lm.letter_token_ids(x)], 0)) for x in "ABCD"]
        assert row_fast == pytest.approx(expected, abs=1e-4)
        assert row_plain == pytest.approx(expected, abs=1e-4)
        assert all(v < 0 for v in row_fast)


def test_prefix_cache_is_reused_across_calls(lm, prompts):
    _, letter, _ = prompts
    lm.letter_logprobs(letter[:2], [list("ABCD")] * 2)
    hits = lm.stats["prefix_cache_hits"]
    one = lm.letter_logprobs(letter[2:3], [list("AB")])
    assert lm.stats["prefix_cache_hits"] == hits + 1
    assert len(one) == 1 and len(one[0]) == 2


def test_cloze_loglikelihoods_and_token_counts(lm, prompts):
    samples, _, cloze = prompts
    from leakaudit.answers.prompts import cloze_continuations

    conts = [cloze_continuations(s) for s in samples]
    scores = lm.loglikelihood(cloze, conts)
    lm.use_prefix_cache = False
    try:
        uncached = lm.loglikelihood(cloze, conts)
    finally:
        lm.use_prefix_cache = True
    for p, cs, row, row_plain in zip(cloze, conts, scores, uncached):
        context = lm.render(p)
        n_ctx = len(lm.tokenizer(context, add_special_tokens=False).input_ids)
        for c, (total, n), (total_plain, n_plain) in zip(cs, row, row_plain):
            ids = lm.tokenizer(context + c, add_special_tokens=False).input_ids
            logprobs = _full_logprobs(lm, context + c)
            expected = sum(float(logprobs[pos - 1, ids[pos]]) for pos in range(n_ctx, len(ids)))
            assert n == n_plain == len(ids) - n_ctx >= 1
            assert total == pytest.approx(expected, abs=1e-3)
            assert total_plain == pytest.approx(total, abs=1e-4)


def test_greedy_generation_matches_uncached_generate(lm, prompts):
    _, letter, _ = prompts
    texts = lm.generate(letter[:2], max_new_tokens=6)
    for p, text in zip(letter[:2], texts):
        ids = lm.tokenizer(lm.render(p), add_special_tokens=False, return_tensors="pt").input_ids
        with torch.inference_mode():
            out = lm.model.generate(input_ids=ids, max_new_tokens=6, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
        assert text == lm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
        assert text


def test_plain_rendering_and_templates_without_system_role(lm):
    plain = HFBackend("plain", model=lm.model, tokenizer=lm.tokenizer, prompt_style="plain")
    p = Prompt(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}], answer_prefix="Answer:")
    assert plain.render(p) == "System: Be brief.\n\nUser: Hi?\n\nAssistant:Answer:"
    strict = copy.deepcopy(lm.tokenizer)
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    mistral_like = HFBackend("strict", model=lm.model, tokenizer=strict)
    assert mistral_like.render(p) == "[user] Be brief.\n\nHi?\n[assistant]Answer:"


def test_text_model_refuses_images(lm):
    from PIL import Image

    p = Prompt(messages=[{"role": "user", "content": "What is shown?"}], images=[Image.new("RGB", (8, 8))])
    with pytest.raises(Exception, match="text-only"):
        lm.letter_logprobs([p], [["A", "B"]])


def test_bitsandbytes_4bit_from_the_safetensors_cache(lm, prompts):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes not installed")
    from leakaudit.models.zoo import load_zoo

    try:
        q4 = load_zoo().load("smollm2-135m", quantization="4bit")
    except Exception as exc:  # bitsandbytes without a CPU build
        if "cuda" in str(exc).lower() or "gpu" in str(exc).lower():
            pytest.skip(f"bitsandbytes 4-bit needs a GPU in this installation: {exc}")
        raise
    assert any(type(m).__name__ == "Linear4bit" for m in q4.model.modules())
    assert q4.info()["quantization"] == "4bit"
    _, letter, _ = prompts
    scores = q4.letter_logprobs(letter[:2], [list("ABCD")] * 2)
    full = lm.letter_logprobs(letter[:2], [list("ABCD")] * 2)
    for row_q, row_f in zip(scores, full):
        assert all(v < 0 for v in row_q)
        # nf4 moves the numbers, but not wildly
        assert max(abs(a - b) for a, b in zip(row_q, row_f)) < 1.5


@pytest.fixture(scope="module")
def tiny_llava():
    pytest.importorskip("leakaudit.models.backends.tiny_vlm", reason="tiny VLM builders not available")
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    return zoo.load("tiny-llava"), zoo.load("tiny-llava-lm")


def test_lvlm_path_with_images_and_its_text_tower(tiny_llava):
    from PIL import Image

    vlm, tower = tiny_llava
    assert vlm.supports_images and not tower.supports_images
    messages = [
        {"role": "system", "content": "Answer with a letter."},
        {"role": "user", "content": "Question: Which colour fills the image?\nOptions:\nA. red\nB. blue\n"},
    ]
    seen = Prompt(messages=messages, images=[Image.new("RGB", (48, 32), (220, 20, 20))])
    blind = Prompt(messages=messages)
    assert vlm.render(seen).count("<image>") == 1 and "<image>" not in vlm.render(blind)
    with_image = vlm.letter_logprobs([seen], [["A", "B"]])[0]
    without = vlm.letter_logprobs([blind], [["A", "B"]])[0]
    assert with_image != pytest.approx(without, abs=1e-7)  # the pixels reach the model
    # without an image, LLaVA is exactly its language model
    assert tower.letter_logprobs([blind], [["A", "B"]])[0] == pytest.approx(without, abs=1e-4)
    [(total, n)] = vlm.loglikelihood([seen], [[" red"]])[0]
    inputs = vlm._lvlm_inputs(seen, " red")
    n_ctx = vlm._lvlm_inputs(seen)["input_ids"].shape[1]
    with torch.inference_mode():
        logprobs = torch.log_softmax(vlm.model(**inputs).logits[0].float(), dim=-1)
    ids = inputs["input_ids"][0]
    assert n == len(ids) - n_ctx >= 1
    assert total == pytest.approx(sum(float(logprobs[i - 1, ids[i]]) for i in range(n_ctx, len(ids))), abs=1e-4)
    assert isinstance(vlm.generate([seen], max_new_tokens=3)[0], str)


def test_auto_dtype_is_bf16_only_where_cpuinfo_names_bf16_arithmetic(monkeypatch):
    """dtype auto on a CPU: bf16 where /proc/cpuinfo lists avx512_bf16, amx_bf16 or ARM's bf16, else fp32."""
    from leakaudit.models.backends import transformers_backend as tb

    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
    arm = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
    old = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
    assert tb.cpu_bf16(x86) == "avx512_bf16" and tb.cpu_bf16(arm) == "bf16" and tb.cpu_bf16(old) is None
    assert tb.cpu_bf16("model name\t: bf16 in a name is not a flag\n") is None
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: "amx_bf16")
    assert tb.auto_dtype(on_cuda=False) == "bf16"  # with the fp32 head and the fp32 check of close calls
    monkeypatch.setattr(tb, "CPU_BF16_BY_DEFAULT", False)
    assert tb.auto_dtype(on_cuda=False) == "fp32"
    monkeypatch.setattr(tb, "CPU_BF16_BY_DEFAULT", True)
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: None)
    assert tb.auto_dtype(on_cuda=False) == "fp32"
    lm = tb.HFBackend.__new__(tb.HFBackend)
    lm.name, lm.dtype_name, lm.quantization, lm.fp32_check = "m", "fp32", None, None
    import torch

    assert lm._resolve_dtype(on_cuda=False) is torch.float32  # --dtype fp32 forces fp32 on any CPU
    lm.dtype_name = "auto"
    assert lm._resolve_dtype(on_cuda=False) is torch.float32
    # the check: by default only where auto chose bf16 on a CPU; an explicit margin anywhere but fp32 / bitsandbytes
    assert lm._check_margin(False, torch.bfloat16) == tb.FP32_CHECK_MARGIN and lm._check_margin(True, torch.bfloat16) == 0
    assert lm._check_margin(False, torch.float32) == 0
    lm.dtype_name = "bf16"
    assert lm._check_margin(False, torch.bfloat16) == 0
    lm.fp32_check = 0.3
    assert lm._check_margin(True, torch.bfloat16) == 0.3
    lm.quantization = "4bit"
    assert lm._check_margin(False, torch.bfloat16) == 0


def test_plan_shows_the_dtype_auto_resolves_to(monkeypatch):
    from dataclasses import replace

    from leakaudit.answers import plan
    from leakaudit.models.backends import transformers_backend as tb
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: "avx512_bf16")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert plan.planned_dtype(zoo["smollm2-135m"]) == "bf16 (auto; fp32 check)"
    monkeypatch.setattr(tb, "CPU_BF16_BY_DEFAULT", False)
    assert plan.planned_dtype(zoo["smollm2-135m"]) == "fp32 (auto)"
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: None)
    assert plan.planned_dtype(zoo["smollm2-135m"]) == "fp32 (auto)"
    assert plan.planned_dtype(replace(zoo["smollm2-135m"], dtype="fp32")) == "fp32"
    assert plan.planned_dtype(replace(zoo["smollm2-135m"], quantization="4bit")) == "4bit"
