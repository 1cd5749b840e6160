"""Option order, open-form re-ask, slot guessing, image ablations and the evidence matrix, with scripted models."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from PIL import Image

from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError
from leakaudit.audit.signals import ablation, combined, open_form
from leakaudit.audit.signals import option_order as order
from leakaudit.audit.signals import slot_guess as slot
from leakaudit.data.images import ImageRef
from leakaudit.data.schema import LETTERS, Sample

QUESTIONS = [
    ("What is the capital of France?", ["Paris", "Rome", "Oslo", "Lima"], "A"),
    ("Which animal barks?", ["cat", "dog", "cow", "owl"], "B"),
    ("What do bees make?", ["milk", "bread", "honey", "cheese"], "C"),
    ("What is frozen water called?", ["steam", "sand", "smoke", "ice"], "D"),
]


def _png(colour) -> ImageRef:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
    return ImageRef(data=buf.getvalue())


def _bench(images: bool = False) -> Benchmark:
    samples = [Sample(id=f"q{i}", benchmark="t", question=q, options=o, answer=a,
                      images=[_png(COLOURS[i])] if images else [])
               for i, (q, o, a) in enumerate(QUESTIONS)]
    return Benchmark(name="t", samples=samples, source="memory", format="generated")


def _parse(prompt) -> tuple[str, dict[str, str]]:
    text = prompt.messages[-1]["content"]
    q = re.search(r"Question: (.*)", text).group(1).strip()
    opts = dict(re.findall(r"^([A-J])\. (.*)$", text, re.M))
    return q, opts


COLOURS = [(255, 255, 255), (220, 30, 30), (30, 160, 60), (30, 70, 220)]
GOLD = {q: o[LETTERS.index(a)] for q, o, a in QUESTIONS}
PUBLISHED = {q: a for q, _, a in QUESTIONS}


def knower(prompt) -> str:
    """Knows every answer: finds the gold text among the options, or says it when none are listed."""
    q, opts = _parse(prompt)
    for letter, text in opts.items():
        if text == GOLD[q]:
            return letter
    return GOLD[q]


def order_memorizer(prompt) -> str:
    """Remembers the published letter, whatever the options now say."""
    return PUBLISHED[_parse(prompt)[0]]


def test_option_order_flags_memorized_positions_only():
    bench = _bench()
    mem = order.order_signal(bench, ScriptedLM("mem", order_memorizer), shuffles=3)
    assert mem["published_correct"].all() and (mem["shuffled_accuracy"] == 0).all() and mem["order_flag"].all()
    know = order.order_signal(bench, ScriptedLM("know", knower), shuffles=3)
    assert (know["shuffled_accuracy"] == 1).all() and not know["order_flag"].any()
    assert (mem["n_shuffles"] == 3).all()


def test_open_form_separates_elimination_from_knowing():
    bench = _bench()
    know = open_form.open_form_signal(bench, ScriptedLM("know", knower))
    assert know["mc_correct"].all() and know["open_correct"].all() and not know["elimination_flag"].any()

    def eliminator(prompt):
        q, opts = _parse(prompt)
        return knower(prompt) if opts else "I am not sure"

    elim = open_form.open_form_signal(bench, ScriptedLM("elim", eliminator))
    assert elim["elimination_flag"].all()


def test_matches_gold():
    assert open_form.matches_gold("The answer is Paris.", "Paris")
    assert not open_form.matches_gold("Parisian", "Paris")
    assert not open_form.matches_gold("", "Paris")


def test_slot_guessing_exact_fill_against_shuffled_control():
    bench = _bench()

    def memorizer(prompt):
        text = prompt.messages[-1]["content"].split("Text: ", 1)[1].strip()
        for q in GOLD:  # restores the word only when the text is in its original order
            span = slot.salient_word(q)
            if q[: span[0]] + slot.MASK + q[span[1]:] == text:
                return q[span[0]:span[1]]
        return "something"

    df = slot.slot_signal(bench, ScriptedLM("mem", memorizer))
    assert df["masked_word"].tolist() == ["capital", "animal", "bees", "frozen"]
    assert df["exact_fill"].all() and not df["control_exact_fill"].any() and df["slot_flag"].all()

    def echo_word(prompt):  # a model that always says the same word is never flagged
        return "bees"

    df2 = slot.slot_signal(bench, ScriptedLM("echo", echo_word))
    row = df2.set_index("sample_id").loc["q2"]
    assert row["exact_fill"] and row["control_exact_fill"] and not row["slot_flag"]


def test_wrong_image_uses_another_questions_image():
    bench = _bench(images=True)
    seen = []

    def looker(prompt):
        seen.append(prompt.images[0].getpixel((0, 0)))
        return knower(prompt)

    lm = ScriptedLM("v", looker, supports_images=True)
    df = ablation.ablation_signal(bench, lm, "wrong-image", seed=3)
    own = [s.images[0].load().getpixel((0, 0)) for s in bench.samples]
    assert all(a != b for a, b in zip(seen, own)) and sorted(seen) == sorted(own)
    assert df["ablation_flag"].all()
    with pytest.raises(LeakauditError, match="image-capable"):
        ablation.ablation_signal(bench, ScriptedLM("t", knower), "wrong-image")


def test_caption_only_puts_the_caption_in_the_prompt():
    bench = _bench(images=True)
    got = []

    def reader(prompt):
        got.append(prompt.messages[-1]["content"])
        return "A"

    df = ablation.ablation_signal(bench, ScriptedLM("t", reader), "caption-only", captioner=ablation.colour_caption)
    assert all("Image description: " in g for g in got) and "red" in got[1]
    assert df["ablation_flag"].tolist() == [True, False, False, False]
    with pytest.raises(LeakauditError, match="captioner"):
        ablation.ablation_signal(bench, ScriptedLM("t", reader), "caption-only")


def test_evidence_matrix_combined_and_agreement():
    ids = ["a", "b", "c", "d"]
    probe = pd.DataFrame({"sample_id": ids, "p_gold": [0.9, 0.8, 0.1, float("nan")], "probe_flag": [True, True, False, False]})
    orderf = pd.DataFrame({"sample_id": ids * 2, "published_correct": [True] * 8, "shuffled_accuracy": [0, 0.5, 1, 1] * 2,
                           "order_flag": [True, False, False, False] * 2})
    m = combined.evidence_matrix({"probe": probe, "option-order": orderf})
    assert m.loc["a", "combined_score"] > m.loc["c", "combined_score"]
    assert m.loc["d", "combined_score"] == pytest.approx(m.loc["d", "option-order"] * 0 + combined.combined_score(m[["option-order"]]).loc["d"])
    truth = pd.Series({"a": True, "b": True, "c": False, "d": None})
    agr = combined.agreement(m, {"probe": truth, "combined": truth}).set_index("signal")
    assert agr.loc["probe", "n"] == 3 and agr.loc["probe", "roc_auc"] == 1.0
    assert agr.loc["probe", "precision"] == 1.0 and agr.loc["probe", "recall"] == 1.0


def test_ablation_answers_are_stored_and_a_rerun_asks_nothing(tmp_path):
    bench = _bench(images=True)
    lm = ScriptedLM("v", knower, supports_images=True)
    first = ablation.ablation_signal(bench, lm, "wrong-image", seed=3, run_dir=tmp_path)
    asked = lm.calls
    assert asked == len(QUESTIONS)
    again = ablation.ablation_signal(bench, lm, "wrong-image", seed=3, run_dir=tmp_path)
    assert lm.calls == asked  # read from the store
    assert again["ablation_correct"].tolist() == first["ablation_correct"].tolist()
    # another pairing of images is another question to the model: asked, stored beside
    ablation.ablation_signal(bench, lm, "wrong-image", seed=4, run_dir=tmp_path)
    assert lm.calls > asked

    from leakaudit.answers.store import AnswerStore

    with AnswerStore(tmp_path, read_only=True) as store:
        rows = store.answers(condition="wrong-image")
    assert len(rows) >= 2 * len(QUESTIONS) - 1 and set(rows["model"]) == {"v"}


def test_the_audit_metrics_ignore_stored_ablation_answers(tmp_path, demo):
    from leakaudit.audit import audit
    from leakaudit.answers.runner import run

    small = demo.subset({s.id for s in demo.samples[:8]})
    run(small, [ScriptedLM("llm-a", "A")], condition="text", run_dir=tmp_path, progress=False)
    before = audit(tmp_path, inspectors=["llm-a"]).metrics
    ablation.ablation_signal(small, ScriptedLM("llm-a", "B"), "ocr-only", run_dir=tmp_path)
    after = audit(tmp_path, inspectors=["llm-a"]).metrics
    pd.testing.assert_frame_equal(before, after)
