"""Parsing of curator replies, the acceptance rules and the curator's bounded retries (scripted models)."""
from __future__ import annotations

import json

import pytest

from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.regen.curator import CAPABILITIES, Curator, answer_leak, capability_for, check_item, parse_items
from leakaudit.regen.describe import SymbolicDescription
from leakaudit.regen.parsing import first_json, normalize_options, parse_tagged, resolve_answer, split_inline_options
from leakaudit.data.schema import Sample


def _sample(**kw) -> Sample:
    base = dict(id="s1", benchmark="demo", question="What is the capital of Italy?", options=["Dublin", "Cairo", "Madrid", "Rome"],
                answer="D", category="science & technology")
    base.update(kw)
    return Sample(**base)


def _scripted(replies: list[str], name: str = "curator") -> ScriptedLM:
    it = iter(replies)
    lm = ScriptedLM(name, lambda prompt: next(it))
    lm.prompts = []
    original = lm.respond

    def respond(prompt):
        lm.prompts.append(prompt)
        return original(prompt)

    lm.respond = respond
    return lm


GOOD = {"question": "Which colour covers most of the image?", "options": ["red", "blue", "green", "yellow"], "answer": "B",
        "reasoning": "blue covers 40% of the pixels"}


# -- JSON in chatty text -------------------------------------------------------------------
def test_first_json_from_code_fence_with_trailing_comma():
    text = "Sure! Here you go:\n```json\n[{\"question\": \"Q?\", \"options\": [\"a\", \"b\",], \"answer\": \"A\",},]\n```\nHope it helps."
    assert first_json(text) == [{"question": "Q?", "options": ["a", "b"], "answer": "A"}]


def test_first_json_single_quotes_and_python_literals():
    text = "Output: {'question': 'What is it?', 'options': ['x', 'y'], 'answer': 'B', 'sure': true, 'note': null}"
    assert first_json(text) == {"question": "What is it?", "options": ["x", "y"], "answer": "B", "sure": True, "note": None}


def test_first_json_skips_non_json_brackets_and_apostrophes():
    text = "I don't know [some things] but here: {\"a\": [1, 2]}"
    assert first_json(text) == {"a": [1, 2]}


def test_first_json_salvages_complete_items_of_a_truncated_array():
    text = '[{"question": "q1", "answer": "A"}, {"question": "q2", "options": ["x", "y'
    assert first_json(text) == [{"question": "q1", "answer": "A"}]


def test_first_json_none_in_garbage():
    assert first_json("the the the question answer A B") is None
    assert first_json("") is None


# -- the Auto-Bench tagged format -----------------------------------------------------------
def test_parse_tagged_two_items_with_inline_and_tagged_options():
    text = ("<Question:> What colour is the bus? (A) red (B) blue (C) green\n<Answer:> (B) blue\n<Reasoning:> The bus is blue.\n"
            "<Question:> How many cats? <Options:> A. 1 B. 2 <Answer:> A <Reasoning:> one cat")
    items = parse_tagged(text)
    assert [i["question"] for i in items] == ["What colour is the bus? (A) red (B) blue (C) green", "How many cats?"]
    assert items[0]["answer"] == "(B) blue" and items[0]["reasoning"] == "The bus is blue."
    assert items[1]["options"] == "A. 1 B. 2"
    clean, why = check_item(items[0], seen=set())
    assert why == "ok" and clean["question"] == "What colour is the bus?" and clean["options"] == ["red", "blue", "green"]
    assert clean["answer"] == "B"


def test_parse_tagged_plain_labels():
    items = parse_tagged("Question: Which shape is at the top?\nOptions: A. circle; B. square\nAnswer: A\nReasoning: the circle is on top")
    assert items == [{"question": "Which shape is at the top?", "options": "A. circle; B. square", "answer": "A", "reasoning": "the circle is on top"}]


# -- options and answers -------------------------------------------------------------------
def test_options_forms():
    assert normalize_options({"B": "y", "A": "x"}) == ["x", "y"]
    assert normalize_options(["A. x", "(B) y", "C) z"]) == ["x", "y", "z"]
    assert split_inline_options("(A) red (B) blue (C) green") == ["red", "blue", "green"]
    assert normalize_options(None) == []


@pytest.mark.parametrize("answer,options,expected", [
    ("B", ["red", "blue"], "B"),
    ("(B) blue", ["red", "blue"], "B"),
    ("blue", ["red", "blue"], "B"),
    ("A cat", ["a dog", "a cat"], "B"),  # option text wins over a leading article read as a letter
    ("The answer is B", ["x", "y"], "B"),
    ("Option A", ["x", "y"], "A"),
    ("E", ["x", "y"], None),
    ("B. red", ["red", "blue"], None),  # letter and text disagree
    ("purple", ["red", "blue"], None),
    ("", ["red", "blue"], None),
])
def test_resolve_answer(answer, options, expected):
    assert resolve_answer(answer, options)[0] == expected


# -- the acceptance rules ------------------------------------------------------------------
@pytest.mark.parametrize("item,reason", [
    ({**GOOD, "question": "Is the blue square the largest, red, blue or green?"}, "appears in the question"),
    ({"question": "Which animal with stripes is drawn?", "options": ["zebra stripes", "horse", "camel"], "answer": "A"}, "only the answer has"),
    ({**GOOD, "answer": "purple"}, "not among the options"),
    ({**GOOD, "answer": "F"}, "not among the options"),
    ({**GOOD, "options": ["red"], "answer": "A"}, "at least 2"),
    ({**GOOD, "options": ["red", "Red!", "blue"]}, "duplicated"),
    ({**GOOD, "options": ["red", "", "blue"]}, "empty"),
    ({"options": ["a", "b"], "answer": "A"}, "missing question"),
    ("just a string", "not an object"),
])
def test_check_item_rejects_with_reason(item, reason):
    clean, why = check_item(item, seen=set())
    assert clean is None and reason in why


def test_check_item_accepts_and_dedups():
    seen: set[str] = set()
    clean, why = check_item(GOOD, seen=seen)
    assert why == "ok" and clean == {**GOOD}
    seen.add("which colour covers most of the image")
    clean, why = check_item({**GOOD, "question": "Which colour covers most of the image ?"}, seen=seen)
    assert clean is None and "duplicate" in why
    src = _sample()
    clean, why = check_item({**GOOD, "question": src.question, "options": ["Oslo", "Rome"], "answer": "B"}, seen=set(), source=src)
    assert clean is None and "source" in why


def test_correct_and_wrong_form_places_the_answer_deterministically():
    item = {"question": "Which colour covers most of the image?", "correct": "blue", "wrong": ["red", "green", "yellow"]}
    a, why = check_item(item, seen=set())
    b, _ = check_item(dict(item), seen=set())
    assert why == "ok" and a == b and sorted(a["options"]) == ["blue", "green", "red", "yellow"]
    assert a["options"][ord(a["answer"]) - ord("A")] == "blue"
    # the position depends on the question, so answers are not all at one letter
    letters = {check_item({**item, "question": f"Which colour covers area {k}?"}, seen=set())[0]["answer"] for k in range(12)}
    assert len(letters) > 1
    assert "duplicated" in check_item({**item, "wrong": ["blue", "red"]}, seen=set())[1]
    assert "appears in the question" in check_item({**item, "question": "Is the blue part largest?"}, seen=set())[1]
    assert "at least 2" in check_item({**item, "wrong": []}, seen=set())[1]
    assert "empty correct" in check_item({**item, "correct": " "}, seen=set())[1]


def test_answer_leak_only_when_the_question_singles_out_the_answer():
    # words shared with a distractor are not a give-away
    assert answer_leak("Which striped animal is shown?", ["striped zebra", "striped tiger"], 0) is None
    assert "tiger" in answer_leak("Which tiger-like animal is shown?", ["tiger cat", "house cat"], 0)
    assert answer_leak("Which animal is shown?", ["zebra", "horse"], 0) is None


def test_capability_from_category_and_keywords():
    assert capability_for(_sample(category="math")).name == "math"
    assert capability_for(_sample(category=None, l2_category="object counting")).name == "fine-grained perception"
    assert capability_for(_sample(category="Diagram questions")).name == "logical reasoning"
    assert capability_for(_sample(category=None)).name == "fine-grained perception"
    assert len(CAPABILITIES) == 6


def test_parse_items_shapes():
    assert parse_items(json.dumps({"questions": [GOOD]}))[:2] == ([GOOD], "json")
    assert parse_items(json.dumps(GOOD))[:2] == ([GOOD], "json")
    items, how, err = parse_items("I cannot do that.")
    assert items == [] and how == "" and "no JSON" in err
    assert "cut off" in parse_items('[{"question": "Which colour is the', )[2]
    assert "empty" in parse_items("  ")[2]


# -- the curator: retries with the reason fed back ---------------------------------------------
DESC = SymbolicDescription(sample_id="s1", image_sizes=[(384, 384)], colours=["blue: 40%, mostly centre", "white: 60%, all over the image"])


def test_curator_retries_after_garbage_then_reads_fenced_json():
    second = GOOD | {"question": "Which colour is in the centre?", "options": ["white", "blue", "red"], "answer": "B"}
    lm = _scripted(["blah blah no json here", "```json\n" + json.dumps([GOOD, second]) + "\n```"])
    res = Curator(lm, max_retries=2).write(_sample(), DESC, n=2)
    assert [c.question for c in res.candidates] == [GOOD["question"], second["question"]]
    assert lm.calls == 2 and res.candidates[0].attempt == 1 and res.candidates[0].parsed_by == "json"
    # the failure reason was fed back as a new user turn after the bad reply
    retry_msgs = lm.prompts[1].messages
    assert retry_msgs[-2] == {"role": "assistant", "content": "blah blah no json here"}
    assert "could not be used" in retry_msgs[-1]["content"] and "no JSON" in retry_msgs[-1]["content"]
    assert res.rejections[0].reason.startswith("no JSON") and res.n_items == 2
    request = lm.prompts[0].messages[-1]["content"]
    assert "blue: 40%" in request and "science & technology" in request
    # a worked example precedes the request (as a user/assistant exchange)
    roles = [m["role"] for m in lm.prompts[0].messages]
    assert roles == ["system", "user", "assistant", "user"] and json.loads(lm.prompts[0].messages[2]["content"])[0]["correct"] == "EXIT"


def test_curator_without_example_sends_only_the_request():
    lm = _scripted([json.dumps([GOOD])])
    Curator(lm, example=False).write(_sample(), DESC, n=1)
    assert [m["role"] for m in lm.prompts[0].messages] == ["system", "user"]


def test_curator_retries_are_bounded():
    lm = _scripted(["nope"] * 10)
    res = Curator(lm, max_retries=2).write(_sample(), DESC, n=2)
    assert lm.calls == 3 and res.candidates == [] and len(res.rejections) == 3


def test_curator_feeds_back_rule_rejections_and_dedups_across_attempts():
    leaky = GOOD | {"question": "Is it blue or red?"}
    lm = _scripted([json.dumps([leaky, GOOD]), json.dumps([GOOD]), "<Question:> Which colour is at the top? (A) red (B) white\n<Answer:> B"])
    seen: set[str] = set()
    res = Curator(lm, max_retries=2).write(_sample(), DESC, n=2, seen=seen)
    reasons = [r.reason for r in res.rejections]
    assert any("appears in the question" in r for r in reasons) and any("duplicate" in r for r in reasons)
    assert "appears in the question" in lm.prompts[1].messages[-1]["content"]
    assert [c.parsed_by for c in res.candidates] == ["json", "tagged"] and lm.calls == 3
    assert len(seen) == 2


def test_curator_answer_prefix_is_part_of_the_parsed_reply():
    body = GOOD["question"] + '", "options": ["red", "blue", "green"], "answer": "B"}]'
    lm = _scripted([body])
    res = Curator(lm, answer_prefix='[{"question": "').write(_sample(), DESC, n=1)
    assert lm.prompts[0].answer_prefix == '[{"question": "'
    assert len(res.candidates) == 1 and res.candidates[0].options == ["red", "blue", "green"]


def test_candidate_to_sample_reuses_source_image_and_category():
    from PIL import Image
    import io

    from leakaudit.data.images import ImageRef

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buf, format="PNG")
    src = _sample(images=[ImageRef(data=buf.getvalue())], hint="a hint")
    lm = _scripted([json.dumps([GOOD])])
    cand = Curator(lm).write(src, DESC, n=1).candidates[0]
    new = cand.to_sample(src, "s1-regen-r1-1", meta={"regen_source_id": "s1"})
    assert new.images == src.images and new.category == src.category and new.hint is None
    assert new.answer == "B" and new.answer_text == "blue" and new.content_hash != src.content_hash


# -- the symbolic description ----------------------------------------------------------------
def _image_sample(meta=None, hint=None):
    import io

    from PIL import Image, ImageDraw

    from leakaudit.data.images import ImageRef

    img = Image.new("RGB", (90, 90), "white")
    ImageDraw.Draw(img).rectangle((0, 0, 44, 44), fill=(30, 70, 220))  # blue square, top left
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return _sample(images=[ImageRef(data=buf.getvalue())], meta=meta or {}, hint=hint)


def test_colour_summary_names_shares_and_places():
    from leakaudit.regen.describe import colour_summary

    s = _image_sample()
    lines = colour_summary(s.images[0].load())
    assert lines[0].startswith("white: 75%") and lines[1] == "blue: 25%, mostly top left"


def test_describe_uses_benchmark_context_ocr_and_notes_missing_ocr(monkeypatch):
    import leakaudit.regen.describe as describe

    s = _image_sample(meta={"caption": "a blue square", "objects": [{"label": "square", "bbox": [0, 0, 44, 44]}]}, hint="Look closely.")
    d = describe.describe_image(s, ocr=lambda img: [("SALE", [[1, 2], [30, 2], [30, 9], [1, 9]], 0.9)], include_known_fact=True)
    text = d.to_text()
    assert "Image size (width x height, pixels): 90x90" in text and '"SALE" [1, 2, 30, 9]' in text
    assert "- square [0, 0, 44, 44]" in text and "Caption: a blue square" in text and "Context: Look closely." in text
    assert "blue: 25%" in text and "What is the capital of Italy? Answer: Rome" in text
    assert "capital" not in describe.describe_image(s, ocr=False).to_text()  # the source question only on request

    monkeypatch.setattr(describe, "_default_ocr", lambda: None)  # the `ocr` extra is missing
    d = describe.describe_image(s)
    assert d.ocr == [] and any("leakaudit[ocr]" in n for n in d.notes)


def test_describe_with_a_vision_describer_and_refuses_a_text_model():
    import leakaudit.regen.describe as describe
    from leakaudit.errors import LeakauditError

    def respond(prompt):
        text = prompt.messages[0]["content"]
        if text == describe.CAPTION_PROMPT:
            return "A blue square on white."
        if text == describe.OBJECTS_PROMPT:
            return 'Sure: [{"label": "square", "box": [0, 0, 44, 44]}]'
        return "- square - above - nothing\n"

    vlm = ScriptedLM("vlm", respond, supports_images=True)
    d = describe.describe_image(_image_sample(), ocr=False, describers=[vlm])
    assert d.captions == ["A blue square on white. (vlm)"] and d.objects[0].label == "square" and d.objects[0].box == [0, 0, 44, 44]
    assert d.relations == ["square - above - nothing"]
    with pytest.raises(LeakauditError, match="cannot take images"):
        describe.describe_image(_image_sample(), ocr=False, describers=[ScriptedLM("txt", respond)])
