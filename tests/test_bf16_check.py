"""bf16 on a CPU without changing the answers: the fp32 head and the fp32 check of close calls.

``dtype: auto`` on a CPU with bf16 arithmetic runs the body in bf16, the output head in fp32,
and scores every question whose two best options are within ``fp32_check`` nats again with
an fp32 copy. These tests hold it to that on the real SmolLM2-135M: with a margin that
catches every question the answers are fp32's to the digit; with none they are bf16's.
"""
from __future__ import annotations

import pytest

from leakaudit.errors import ConfigError
from leakaudit.models.backends.transformers_backend import FP32_CHECK_MARGIN, close_call

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("one_thread_when_busy")  # the fixture: conftest.py

QUESTIONS = [
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"], "C"),
    ("Which animal says 'woof'?", ["cat", "dog", "cow", "sheep"], "B"),
    ("How many legs does a spider have?", ["six", "four", "ten", "eight"], "D"),
    ("What do bees make?", ["milk", "honey", "silk", "wax paper"], "B"),
    ("Which planet is closest to the sun?", ["Venus", "Mercury", "Mars", "Earth"], "B"),
    ("What is frozen water called?", ["steam", "ice", "fog", "dew"], "B"),
]


def test_a_close_call_is_two_best_options_within_the_margin():
    assert close_call([-1.0, -1.05, -3.0], 0.1) and not close_call([-1.0, -1.2, -3.0], 0.1)
    assert close_call([-2.0, -0.5, -0.55], 0.1)  # the two best, wherever they are
    assert close_call([-1.0, float("nan")], 0.1) and close_call([float("-inf"), -1.0], 0.1)  # rounding made it unreadable
    assert not close_call([-1.0], 0.1) and not close_call([-1.0, -1.0], 0.0)  # margin 0: no check


def test_the_head_in_fp32_untied_from_a_bf16_embedding():
    from transformers import LlamaConfig, LlamaForCausalLM

    from leakaudit.models.backends.transformers_backend import head_to_fp32

    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    assert model.lm_head.weight is model.get_input_embeddings().weight
    assert head_to_fp32(model) and not head_to_fp32(model)  # once; an fp32 head is left alone
    assert model.lm_head.weight.dtype == torch.float32 and model.get_input_embeddings().weight.dtype == torch.bfloat16
    captured = {}
    model.model.norm.register_forward_hook(lambda m, a, out: captured.setdefault("hidden", out))
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([[1, 5, 9, 3]])).logits
    assert logits.dtype == torch.float32
    expected = captured["hidden"].float() @ model.get_input_embeddings().weight.float().T
    assert torch.allclose(logits, expected, atol=1e-5)
    model.tie_weights()  # lm-eval's HFLM does this to the model it is given: the head unties itself again
    with torch.inference_mode():
        assert torch.allclose(model(input_ids=torch.tensor([[1, 5, 9, 3]])).logits, logits, atol=1e-5)
    assert model.lm_head.weight.dtype == torch.float32 and model.get_input_embeddings().weight.dtype == torch.bfloat16


@pytest.fixture(scope="module")
def prompts():
    from leakaudit.answers.prompts import build_prompt
    from leakaudit.data.schema import Sample

    samples = [Sample(id=f"q{i}", benchmark="unit", question=q, options=o, answer=a) for i, (q, o, a) in enumerate(QUESTIONS)]
    fewshot = samples[-3:]
    letter = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="letter") for s in samples[:4]]
    cloze = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="cloze") for s in samples[:4]]
    return samples[:4], letter, cloze


@pytest.fixture(scope="module")
def models(smollm2_path):
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    return {
        "fp32": zoo.load("smollm2-135m", dtype="fp32"),
        "every question checked": zoo.load("smollm2-135m", dtype="bf16", fp32_check=1e9),
        "bf16": zoo.load("smollm2-135m", dtype="bf16", fp32_check=0),
    }


def _letters(lm, samples, letter) -> list[float]:
    """Every option's score of every question, flat (pytest.approx takes no nested lists)."""
    return [x for row in lm.letter_logprobs(letter, [list(s.letters) for s in samples]) for x in row]


def test_with_every_question_checked_the_answers_are_fp32s(models, prompts):
    samples, letter, cloze = prompts
    ref, checked = models["fp32"], models["every question checked"]
    conts = [[" " + o for o in s.options] for s in samples]
    before = dict(checked.stats)
    assert _letters(checked, samples, letter) == pytest.approx(_letters(ref, samples, letter), abs=1e-5)
    got, want = checked.loglikelihood(cloze, conts), ref.loglikelihood(cloze, conts)
    assert [[n for _, n in row] for row in got] == [[n for _, n in row] for row in want]
    assert [t for row in got for t, _ in row] == pytest.approx([t for row in want for t, _ in row], abs=1e-4)
    assert checked.stats["fp32_rescored"] - before.get("fp32_rescored", 0) == 8  # 4 letter + 4 cloze questions
    assert checked.stats["fp32_check_seconds"] > before.get("fp32_check_seconds", 0.0)  # the check's cost is recorded
    assert checked.generate(letter[:2], max_new_tokens=6) == ref.generate(letter[:2], max_new_tokens=6)
    info = checked.info()
    assert info["dtype"] == "bfloat16" and info["head_dtype"] == "float32" and info["fp32_check"] == 1e9


def test_without_the_check_the_scores_are_bf16s_with_an_fp32_head(models, prompts):
    samples, letter, _ = prompts
    bf16, ref = models["bf16"], models["fp32"]
    scores, exact = _letters(bf16, samples, letter), _letters(ref, samples, letter)
    assert "fp32_rescored" not in bf16.stats and "fp32_check_seconds" not in bf16.stats and bf16.info()["fp32_check"] is None
    assert scores != pytest.approx(exact, abs=1e-6)  # bf16 is not fp32 ...
    assert scores == pytest.approx(exact, abs=0.5)  # ... but close to it
    assert bf16.info()["head_dtype"] == "float32"


def test_auto_on_a_cpu_with_bf16_checks_close_calls_and_is_fp32_elsewhere(smollm2_path, monkeypatch):
    from leakaudit.models.backends import transformers_backend as tb
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: "amx_bf16")
    lm = zoo.construct(zoo["smollm2-135m"])  # not zoo.load: it keeps one model per name and overrides
    assert (lm.info()["dtype"], lm.check_margin, lm._check_model is not None) == ("bfloat16", FP32_CHECK_MARGIN, True)
    assert next(lm._check_model.parameters()).dtype == torch.float32
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: None)
    lm = zoo.construct(zoo["smollm2-135m"])
    assert (lm.info()["dtype"], lm.check_margin, lm._check_model, lm.info()["head_dtype"]) == ("float32", 0.0, None, None)


def test_auto_runs_fp32_alone_where_a_bf16_copy_does_not_fit(smollm2_path, monkeypatch, caplog):
    """Memory first: the fp32 reference is loaded, and without room for a bf16 copy beside it
    the model runs fp32 alone (fp32's answers, fp32's memory) and says so."""
    from leakaudit.models.backends import transformers_backend as tb
    from leakaudit.models.zoo import load_zoo

    real = tb.available_memory()
    assert real is None or real > 0
    zoo = load_zoo()
    monkeypatch.setattr(tb, "cpu_bf16", lambda cpuinfo=None: "amx_bf16")
    monkeypatch.setattr(tb, "available_memory", lambda: 100 * 2**20)  # 100 MiB left: SmolLM2's bf16 copy is 270 MB
    with caplog.at_level("WARNING"):
        lm = zoo.construct(zoo["smollm2-135m"])
    assert (lm.info()["dtype"], lm.check_margin, lm._check_model, lm.info()["fp32_check"]) == ("float32", 0.0, None, None)
    assert "runs fp32 alone" in caplog.text and "smollm2-135m" in caplog.text


@pytest.mark.parametrize("bad", [-0.1, "0.1", float("nan"), True])
def test_a_bad_margin_names_the_option(bad):
    from leakaudit.models.backends.transformers_backend import HFBackend

    with pytest.raises(ConfigError, match="fp32_check"):
        HFBackend("m", None, fp32_check=bad)
