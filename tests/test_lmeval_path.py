"""The lm-evaluation-harness path picks the same options as leakaudit's native scoring.

Model-free tests check the task files (and that lm-eval itself builds exactly the context
``lmeval_context`` documents). The slow tests load SmolLM2-135M (GGUF, through the hf
backend's loader) and compare, on a self-made set of easy questions and on 12 real MMStar
questions: lm-eval's per-sample log-likelihoods and choices vs a direct torch computation
on the same context string, and ``LMEvalBackend`` vs ``HFBackend`` on leakaudit prompts.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import yaml
from PIL import Image

pytest.importorskip("lm_eval")

from leakaudit import registry  # noqa: E402
from leakaudit.models.backends.base import Prompt  # noqa: E402
from leakaudit.answers.lmeval_backend import (  # noqa: E402
    LMEvalBackend,
    cloze_context,
    letter_context,
    lmeval_choices,
    lmeval_context,
    run_lmeval_task,
    write_lmeval_tasks,
)
from leakaudit.errors import LeakauditError  # noqa: E402
from leakaudit.answers.prompts import build_prompt, cloze_continuations, shots_for  # noqa: E402
from leakaudit.data.schema import Sample  # noqa: E402
from leakaudit.answers.store import AnswerStore  # noqa: E402

EASY = [
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"], "C"),
    ("What color is the sky on a clear day?", ["green", "blue", "red", "brown"], "B"),
    ("How many legs does a dog have?", ["four", "two", "eight", "six"], "A"),
    ("Which animal says meow?", ["cow", "duck", "dog", "cat"], "D"),
    ("What do bees make?", ["milk", "honey", "silk", "wool"], "B"),
    ("What is frozen water called?", ["ice", "steam", "sand", "glass"], "A"),
    ("Which planet do we live on?", ["Mars", "Venus", "Earth", "Jupiter"], "C"),
    ("What is 2 + 2?", ["3", "5", "6", "4"], "D"),
]


def easy_samples() -> list[Sample]:
    return [Sample(id=f"easy{i}", benchmark="easy", question=q, options=o, answer=a, hint="General knowledge." if i == 0 else None) for i, (q, o, a) in enumerate(EASY)]


# -- model-free ---------------------------------------------------------------------------------
def test_registered_as_lmeval():
    assert registry.backends.get("lmeval") is LMEvalBackend


def test_context_builders_document_the_lmeval_string():
    s = easy_samples()[0]
    assert cloze_context(s) == "Hint: General knowledge.\nQuestion: What is the capital of France?\nAnswer:"
    assert letter_context(s).endswith("such as answer letter 'A' only. \nAnswer:")
    assert lmeval_choices(s) == ["Berlin", "Madrid", "Paris", "Rome"]
    assert [" " + c for c in lmeval_choices(s)] == cloze_continuations(s)
    assert lmeval_choices(s, "letter") == ["A", "B", "C", "D"]
    demo = easy_samples()[1]
    assert lmeval_context(s, [demo]) == cloze_context(demo) + " blue\n\n" + cloze_context(s)
    with pytest.raises(LeakauditError, match="'cloze' or 'letter'"):
        lmeval_choices(s, "generate")


def test_tasks_group_samples_so_no_demo_sees_itself(tmp_path):
    samples = easy_samples()
    demos = samples[:3]
    tasks = write_lmeval_tasks(samples, shots=2, fewshot=demos, scoring="cloze", out_dir=tmp_path)
    # easy0 and easy1 get their own demo lists; everyone else shares [easy0, easy1]
    by_sample = {s.id: [d.id for d in t.demos] for t in tasks for s in t.samples}
    assert by_sample["easy0"] == ["easy1", "easy2"] and by_sample["easy1"] == ["easy0", "easy2"]
    assert all(by_sample[f"easy{i}"] == ["easy0", "easy1"] for i in range(2, 8))
    assert len(tasks) == 3 and len({t.prompt_hash for t in tasks}) == 3
    cfg = yaml.safe_load(tasks[0].yaml_path.read_text())
    assert cfg["dataset_path"] == "json" and cfg["output_type"] == "multiple_choice" and cfg["num_fewshot"] == 2
    assert cfg["fewshot_config"] == {"sampler": "first_n"} and cfg["fewshot_split"] == "fewshot"
    rows = [json.loads(line) for line in open(cfg["dataset_kwargs"]["data_files"]["test"])]
    assert {r["id"] for r in rows} == {s.id for s in tasks[0].samples}
    # a sample with too few other demonstrations is an error, not a silent self-demo
    with pytest.raises(LeakauditError, match="demonstrations other than the sample itself"):
        write_lmeval_tasks(samples, shots=2, fewshot=demos[:2], scoring="cloze", out_dir=tmp_path / "x")


def test_lm_eval_builds_the_documented_context(tmp_path):
    """lm-eval's own Task turns our YAML into exactly ``lmeval_context`` (no model needed)."""
    from lm_eval.tasks import TaskManager

    samples = easy_samples()
    demos = samples[:3]
    tasks = write_lmeval_tasks(samples, shots=2, fewshot=demos, scoring="letter", out_dir=tmp_path)
    loaded = TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False).load([t.name for t in tasks])
    objs = {getattr(t, "task_name", None) or t.config.task: t for t in loaded["tasks"].values()}
    for task in tasks:
        obj = objs[task.name]
        obj.set_config(key="num_fewshot", value=2)
        for doc, sample in zip(obj.test_docs(), task.samples):
            assert obj.fewshot_context(doc, 2) == lmeval_context(sample, task.demos, "letter")
            assert obj.doc_to_choice(doc) == list(sample.letters)


# -- with the real model --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf(smollm2_path):
    """SmolLM2-135M through the hf backend's loader (GGUF dequantised once, cached as safetensors)."""
    from leakaudit.models.backends.transformers_backend import HFBackend

    backend = HFBackend("smollm2-135m", gguf_file=smollm2_path, dtype="fp32")  # numerics: fp32 on any CPU
    yield backend
    backend.close()


def native_cloze(hf, sample: Sample, demos=()) -> list[float]:
    """Direct torch log-likelihood of each ``" " + option`` after ``lmeval_context``: each
    context + option is tokenized as a whole and the context's tokens split off (as causal
    lm-eval does); all options go through one right-padded forward pass."""
    import torch

    tok, model = hf.tokenizer, hf.model
    context = lmeval_context(sample, demos, "cloze")
    ctx_ids = tok(context).input_ids
    rows = [tok(context + " " + option).input_ids for option in lmeval_choices(sample, "cloze")]
    assert all(ids[: len(ctx_ids)] == ctx_ids for ids in rows)
    width = max(map(len, rows))
    batch = torch.tensor([ids + [0] * (width - len(ids)) for ids in rows])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(batch).logits.float(), dim=-1)
    out = []
    for b, ids in enumerate(rows):
        positions = range(len(ctx_ids) - 1, len(ids) - 1)
        out.append(float(sum(logprobs[b, p, ids[p + 1]] for p in positions)))
    return out


def compare_with_native(hf, samples, rows, demos_of=lambda s: ()) -> float:
    """Agreement of lm-eval's choices with the native ones; the numbers must match too."""
    by_id = {s.id: s for s in samples}
    agree = 0
    for row in rows:
        sample = by_id[row["sample_id"]]
        assert row["context"] == lmeval_context(sample, demos_of(sample), "cloze")
        assert row["continuations"] == cloze_continuations(sample)
        native = native_cloze(hf, sample, demos_of(sample))
        np.testing.assert_allclose(row["loglikelihoods"], native, atol=2e-3)
        norm = np.array(native) / np.array([len(c) for c in lmeval_choices(sample)])
        agree += sample.letters[int(np.argmax(norm))] == row["chosen"]
    return agree / len(rows)


@pytest.mark.slow
def test_lmeval_matches_native_on_easy_questions(hf, tmp_path):
    samples = easy_samples()
    started = time.perf_counter()
    with AnswerStore(tmp_path / "run") as store:
        rows = run_lmeval_task(samples, hf.model, hf.tokenizer, shots=0, scoring="cloze", out_dir=tmp_path / "lm", model_name="smollm2-135m", store=store)
        stored = store.answers()
    seconds = time.perf_counter() - started
    assert len(rows) == len(samples) == len(stored)
    assert set(stored["source"]) == {"live"} and set(stored["condition"]) == {"text"}
    assert stored["prompt_hash"].str.startswith("lmeval-").all()
    for row in rows:
        assert row["chosen"] == "ABCD"[int(np.argmax(row["option_scores"]))]
        assert row["correct"] == bool(row["acc_norm"])  # lm-eval's own acc_norm verdict
    agreement = compare_with_native(hf, samples, rows)
    print(f"\neasy set: lm-eval vs native cloze agreement {agreement:.0%}, lm-eval accuracy {np.mean([r['correct'] for r in rows]):.0%}, {seconds:.1f}s for {len(rows)} questions")
    assert agreement == 1.0
    assert (tmp_path / "lm" / "lmeval_results.json").is_file() and (tmp_path / "lm" / "answers.jsonl").is_file()


@pytest.mark.slow
def test_lmeval_two_shot_uses_recorded_demos(hf, tmp_path):
    samples = easy_samples()[:4]
    demos = [samples[0], samples[1], samples[2]]
    rows = run_lmeval_task(samples, hf, shots=2, fewshot_ids=[d.id for d in demos], scoring="cloze", out_dir=tmp_path)
    assert {r["shots"] for r in rows} == {2} and len({r["prompt_hash"] for r in rows}) == 3
    agreement = compare_with_native(hf, samples, rows, demos_of=lambda s: shots_for(s, demos, 2))
    assert agreement == 1.0


@pytest.mark.slow
def test_lmeval_letter_mode(hf, tmp_path):
    samples = easy_samples()
    rows = run_lmeval_task(samples, hf, scoring="letter", out_dir=tmp_path)
    for row, s in zip(sorted(rows, key=lambda r: r["sample_id"]), sorted(samples, key=lambda s: s.id)):
        assert row["continuations"] == [" A", " B", " C", " D"] and row["context"] == letter_context(s)
        assert row["option_scores"] == row["loglikelihoods"]  # raw log-likelihoods, acc-style
        assert row["extraction"] == "lmeval:acc" and row["correct"] == bool(row["acc"])


@pytest.mark.slow
@pytest.mark.shared_data
def test_lmeval_matches_native_on_mmstar(hf, shared_data, tmp_path):
    from leakaudit import load_benchmark

    path = shared_data / "mmstar_text" / "mmstar_text.parquet"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    samples = load_benchmark("mmstar", path=path, limit=12).samples
    assert len(samples) == 12 and all(len(s.options) >= 2 for s in samples)
    started = time.perf_counter()
    rows = run_lmeval_task(samples, hf, scoring="cloze", out_dir=tmp_path, model_name="smollm2-135m")
    seconds = time.perf_counter() - started
    agreement = compare_with_native(hf, samples, rows)
    by_id = {s.id: s for s in samples}
    per_token = [by_id[r["sample_id"]].letters[int(np.argmax(np.array(r["loglikelihoods"]) / np.array(r["n_tokens"])))] for r in rows]
    same_rule = np.mean([p == r["chosen"] for p, r in zip(per_token, rows)])
    print(f"\nMMStar x12: lm-eval vs native cloze agreement {agreement:.0%}, {seconds:.1f}s in lm-eval; "
          f"acc_norm (chars) vs per-token choice agree on {same_rule:.0%}")
    assert agreement == 1.0


@pytest.mark.slow
def test_backend_serves_lm_interface_like_hf(hf):
    """LMEvalBackend (HFLM) and HFBackend score the same rendered prompts alike."""
    lm = LMEvalBackend("smollm2-lmeval", hf=hf)
    samples = easy_samples()[:4]
    cloze = [build_prompt(s, "text", scoring="cloze") for s in samples]
    conts = [cloze_continuations(s) for s in samples]
    ours, theirs = lm.loglikelihood(cloze, conts), hf.loglikelihood(cloze, conts)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose([x for x, _ in a], [x for x, _ in b], atol=2e-3)
        assert [n for _, n in a] == [n for _, n in b]
    letter = [build_prompt(s, "text", scoring="letter") for s in samples]
    letters = [list(s.letters) for s in samples]
    picks = lambda scores: [int(np.argmax(r)) for r in scores]  # noqa: E731
    assert picks(lm.letter_logprobs(letter, letters)) == picks(hf.letter_logprobs(letter, letters))
    gen = [build_prompt(s, "text", scoring="generate") for s in samples[:2]]
    assert lm.generate(gen, max_new_tokens=6) == hf.generate(gen, max_new_tokens=6)
    info = lm.info()
    assert info["backend"] == "lmeval" and info["name"] == "smollm2-lmeval" and "lm_eval_version" in info
    with pytest.raises(LeakauditError, match="text-only"):
        lm.render(Prompt(messages=[{"role": "user", "content": "x"}], images=[Image.new("RGB", (2, 2))]))


def test_answer_rows_follow_lmeval_normalisation(tmp_path):
    """acc_norm divides by characters, the runner's rule by tokens: they can disagree."""
    from leakaudit.answers.lmeval_backend import _answer_row

    s = Sample(id="q", benchmark="b", question="Pick", options=["a", "a much longer option"], answer="B")
    task = write_lmeval_tasks([s], out_dir=tmp_path)[0]
    entry = {
        "resps": [[[-3.0, False]], [[-8.0, False]]],
        "doc": {"choices": lmeval_choices(s)},
        "arguments": [[cloze_context(s), " a"], [cloze_context(s), " a much longer option"]],
        "acc": 0.0,
        "acc_norm": 1.0,
    }
    common = dict(scoring="cloze", shots=0, model_name="m", seconds=0.1)
    chars = _answer_row(s, entry, task, [1, 4], normalise="chars", **common)
    tokens = _answer_row(s, entry, task, [1, 4], normalise="tokens", **common)
    assert chars["option_scores"] == [-3.0, -8.0 / 20] and chars["chosen"] == "B" and chars["correct"] is True
    assert tokens["option_scores"] == [-3.0, -2.0] and tokens["chosen"] == "B"
    entry["resps"][1] = [[-13.0, False]]
    assert _answer_row(s, entry, task, [1, 4], normalise="tokens", **common)["chosen"] == "A"
    assert chars["extraction"] == "lmeval:acc_norm" and tokens["prompt_hash"] == chars["prompt_hash"] + "-pertoken"
    assert json.loads(chars["raw_response"]) == {"loglikelihoods": [-3.0, -8.0]}
    with pytest.raises(LeakauditError, match="normalise"):
        run_lmeval_task([s], object(), out_dir=tmp_path, normalise="bytes")
