"""MMStar prompts: exact text, few-shot turns and choice, placeholders, images per condition."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError
from leakaudit.data.images import ImageRef
from leakaudit.answers.prompts import (
    FEWSHOT_SYSTEM,
    build_prompt,
    cloze_continuations,
    condition_images,
    prompt_hash,
    select_fewshot,
    strip_image_placeholders,
)
from leakaudit.data.schema import Sample


def _png(size=(40, 30), color=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _mc(i: int, **kw) -> Sample:
    base = dict(id=f"q{i}", benchmark="toy", question=f"What is {i} + 1?", options=[str(i), str(i + 1), str(i + 2), str(i + 3)], answer="B")
    base.update(kw)
    return Sample(**base)


def _bench(n=6) -> Benchmark:
    return Benchmark(name="toy", samples=[_mc(i) for i in range(n)], source="memory", format="generated")


def test_text_prompt_is_mmstar_llm_format():
    s = _mc(1, hint="Think about arithmetic.")
    p = build_prompt(s, "text")
    assert p.messages == [{
        "role": "user",
        "content": "Hint: Think about arithmetic.\nQuestion: What is 1 + 1?\nOptions:\nA. 1\nB. 2\nC. 3\nD. 4\n"
        "Please select the correct answer from the options above. \n"
        "Answer with the option's letter from the given choices directly, such as answer letter 'A' only. \n",
    }]
    assert p.prefix_len == 0 and p.images == [] and p.answer_prefix == ""


def test_vision_and_blind_have_no_llm_line_and_no_empty_hint():
    s = _mc(1, hint="nan")
    for cond in ("vision", "blind"):
        text = build_prompt(s, cond, images=False).messages[-1]["content"]
        assert text.startswith("Question: ")
        assert text.endswith("Please select the correct answer from the options above. \n")
        assert "Answer with the option's letter" not in text


def test_two_shot_chat_turns_and_prefix_len():
    bench = _bench()
    shots = select_fewshot(bench, 2, seed=0)
    target = next(s for s in bench.samples if s.id not in {d.id for d in shots})
    p = build_prompt(target, "text", shots=2, fewshot=shots)
    roles = [m["role"] for m in p.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert p.messages[0]["content"] == FEWSHOT_SYSTEM
    assert p.prefix_len == 5
    assert p.messages[2]["content"] == shots[0].answer and p.messages[4]["content"] == shots[1].answer
    assert f"Question: {shots[0].question}" in p.messages[1]["content"]
    # every prompt of the run shares the same prefix
    other = next(s for s in bench.samples if s.id not in {d.id for d in shots} and s.id != target.id)
    q = build_prompt(other, "text", shots=2, fewshot=shots)
    assert q.messages[: q.prefix_len] == p.messages[: p.prefix_len]


def test_fewshot_choice_is_deterministic_and_excludes_the_target():
    bench = _bench(10)
    a, b = select_fewshot(bench, 2, seed=0), select_fewshot(bench, 2, seed=0)
    assert [s.id for s in a] == [s.id for s in b] and len(a) == 3
    assert [s.id for s in select_fewshot(bench, 2, seed=1)] != [s.id for s in a]  # the seed matters
    # asking one of the shots: the spare replaces it, and the sample never demonstrates itself
    p = build_prompt(a[0], "text", shots=2, fewshot=a)
    demo_questions = [p.messages[1]["content"], p.messages[3]["content"]]
    assert all(f"Question: {a[0].question}\n" not in d for d in demo_questions)
    assert f"Question: {a[1].question}\n" in demo_questions[0] and f"Question: {a[2].question}\n" in demo_questions[1]


def test_fewshot_needs_enough_samples():
    with pytest.raises(LeakauditError, match="at least 3"):
        select_fewshot(_bench(2), 2)
    with pytest.raises(LeakauditError, match="demonstrations"):
        build_prompt(_mc(0), "text", shots=2, fewshot=[_mc(0), _mc(1)])


def test_image_placeholders_kept_for_vision_stripped_otherwise():
    s = _mc(1, question="Look at <image 1> and <image2>. Which is larger?", options=["<image 3>", "left", "right", "same"])
    vision = build_prompt(s, "vision", images=False).messages[-1]["content"]
    text = build_prompt(s, "text").messages[-1]["content"]
    blind = build_prompt(s, "blind", blind="drop", images=False).messages[-1]["content"]
    grey = build_prompt(s, "blind", blind="grey", images=False).messages[-1]["content"]
    assert "<image 1>" in vision and "<image2>" in vision and "A. <image 3>" in vision
    for t in (text, blind):
        assert "<image" not in t
        assert "Question: Look at and. Which is larger?" in t
        assert "A. (image)" in t
    assert "<image 1>" in grey  # a stand-in image is shown, so the tag still points at it
    assert strip_image_placeholders("see <image 1>, then <IMAGE>") == "see, then"


def test_cloze_prompt_ends_with_answer_and_scores_option_texts():
    s = _mc(2)
    p = build_prompt(s, "text", scoring="cloze")
    assert p.answer_prefix == "Answer:"
    assert "Answer with the option's letter" not in p.messages[-1]["content"]
    assert "Options:" not in p.messages[-1]["content"]  # cloze formulation: the options are only scored
    assert p.messages[-1]["content"] == f"Question: {s.question}\n"
    assert cloze_continuations(s) == [" 2", " 3", " 4", " 5"]
    bench = _bench()
    shots = select_fewshot(bench, 2)
    target = next(x for x in bench.samples if x.id not in {d.id for d in shots})
    p2 = build_prompt(target, "text", shots=2, fewshot=shots, scoring="cloze")
    assert p2.messages[2]["content"] == f"Answer: {shots[0].answer_text}"


def test_open_question_asks_for_a_short_answer():
    s = Sample(id="o", benchmark="toy", question="How many sides has a hexagon?", answer="6", answer_type="integer")
    text = build_prompt(s, "text", scoring="letter").messages[-1]["content"]
    assert text == "Question: How many sides has a hexagon?\nAnswer the question with a single integer number.\n"
    assert build_prompt(s, "text", scoring="cloze").answer_prefix == ""  # nothing to score: generated


def test_prompt_hash_ignores_pixels_but_not_text():
    s = _mc(1, images=[ImageRef(data=_png())])
    with_px = build_prompt(s, "vision")
    without_px = build_prompt(s, "vision", images=False)
    assert len(with_px.images) == 1 and without_px.images == []
    assert prompt_hash(with_px) == prompt_hash(without_px)
    assert prompt_hash(build_prompt(s, "text")) != prompt_hash(with_px)
    assert prompt_hash(build_prompt(s.rotated(1), "vision")) != prompt_hash(with_px)


def test_blind_images_match_size_and_are_seeded():
    s = _mc(1, images=[ImageRef(data=_png((40, 30))), ImageRef(data=_png((17, 23), (0, 255, 0)))])
    assert condition_images(s, "blind", "drop") == [] and condition_images(s, "text") == []
    grey = condition_images(s, "blind", "grey")
    assert [g.size for g in grey] == [(40, 30), (17, 23)]
    assert (np.asarray(grey[0]) == 128).all() and (np.asarray(grey[1]) == 128).all()
    n1, n2 = condition_images(s, "blind", "noise"), condition_images(s, "blind", "noise")
    assert [n.size for n in n1] == [(40, 30), (17, 23)]
    assert np.array_equal(np.asarray(n1[0]), np.asarray(n2[0]))
    assert np.asarray(n1[0]).std() > 50  # uniform noise, not a flat image
    vision = condition_images(s, "vision")
    assert np.asarray(vision[0])[0, 0].tolist() == [200, 10, 10]


def test_bad_arguments_are_refused():
    with pytest.raises(LeakauditError, match="condition"):
        build_prompt(_mc(1), "audio")
    with pytest.raises(LeakauditError, match="scoring"):
        build_prompt(_mc(1), "text", scoring="vote")
    with pytest.raises(LeakauditError, match="style"):
        build_prompt(_mc(1), "text", style="unknown")
