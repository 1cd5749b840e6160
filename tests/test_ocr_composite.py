"""The OCR + LLM composite: what its LLM is told, caching, and a real measured gain from pixels."""
from __future__ import annotations

import sys

import pytest
from PIL import Image, ImageDraw, ImageFont

from leakaudit import registry
from leakaudit.models.backends import ocr_composite as oc
from leakaudit.models.backends.base import Prompt
from leakaudit.models.backends.ocr_composite import OCRComposite, ocr_image
from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.errors import MissingDependencyError

pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra is not installed: pip install 'leakaudit[ocr]'")


def _words_image(*words_at: tuple[str, int]) -> Image.Image:
    img = Image.new("RGB", (384, 384), "white")
    draw = ImageDraw.Draw(img)
    for word, y in words_at:
        draw.text((192, y), word, font=ImageFont.load_default(size=56), fill=(0, 0, 0), anchor="mm")
    return img


class _Recorder(ScriptedLM):
    """A scripted LLM that keeps every prompt it was given."""

    def __init__(self):
        self.seen: list[Prompt] = []
        super().__init__("recorder", self._remember)

    def _remember(self, prompt: Prompt) -> str:
        self.seen.append(prompt)
        return "A"


def _prompt(images=()) -> Prompt:
    return Prompt(
        messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "Question: Which word?\nOptions:\nA. cat\nB. dog\n"}],
        images=list(images),
        prefix_len=1,
        answer_prefix="Answer:",
    )


def test_registered_as_ocr_backend():
    assert registry.backends.get("ocr") is OCRComposite
    assert OCRComposite("x", ScriptedLM("llm", lambda p: "A")).supports_images


def test_lines_come_top_to_bottom_with_boxes_and_scores():
    lines = ocr_image(_words_image(("bottom", 300), ("top", 80)))
    assert [t for t, _box, _score in lines] == ["top", "bottom"]
    for _text, box, score in lines:
        assert len(box) == 4 and 0.6 <= score <= 1.0
    assert oc.ocr_text(_words_image(("bottom", 300), ("top", 80))) == "top / bottom"


def test_llm_is_told_the_text_and_never_gets_pixels():
    llm = _Recorder()
    comp = OCRComposite("ocr+rec", llm)
    comp.loglikelihood([_prompt([_words_image(("dog", 190))])], [[" cat", " dog"]])
    seen = llm.seen[-1]
    assert seen.images == []
    assert seen.messages[0] == {"role": "system", "content": "sys"}  # shared prefix untouched
    assert seen.messages[-1]["content"].endswith("B. dog\nText found in the image: dog\n")
    assert seen.answer_prefix == "Answer:" and seen.prefix_len == 1

    before = OCRComposite("ocr+rec", llm, placement="before")
    before.letter_logprobs([_prompt([_words_image(("dog", 190))])], [["A", "B"]])
    assert llm.seen[-1].messages[-1]["content"].startswith("Text found in the image: dog\nQuestion: Which word?")


def test_blind_prompt_is_passed_through_unchanged_and_empty_images_say_so():
    llm = _Recorder()
    comp = OCRComposite("ocr+rec", llm)
    blind = _prompt()
    comp.generate([blind])
    assert llm.seen[-1] is blind
    comp.generate([_prompt([Image.new("RGB", (200, 200), (128, 128, 128))])])  # blind "grey" mode
    assert "No text was found in the image." in llm.seen[-1].messages[-1]["content"]
    two = comp.describe_images([_words_image(("cat", 190)), Image.new("RGB", (64, 64), "white")])
    assert two == "Text found in image 1: cat\nNo text was found in image 2."


def test_ocr_runs_once_per_image_content(monkeypatch):
    calls = []
    real = oc._get_engine()

    def counting(img):
        calls.append(img.size)
        return real(img)

    monkeypatch.setattr(oc, "_engine", counting)
    monkeypatch.setattr(oc, "_cache", type(oc._cache)())
    img = _words_image(("lemon", 190))
    comp = OCRComposite("ocr+rec", _Recorder())
    comp.letter_logprobs([_prompt([img]), _prompt([img.copy()])], [["A", "B"], ["A", "B"]])
    assert len(calls) == 1


def test_missing_rapidocr_names_the_extra(monkeypatch):
    monkeypatch.setattr(oc, "_engine", None)
    monkeypatch.setattr(oc, "_cache", type(oc._cache)())
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import now fails
    with pytest.raises(MissingDependencyError, match=r"leakaudit\[ocr\]"):
        ocr_image(_words_image(("dog", 190)))


def test_info_names_the_wrapped_llm():
    info = OCRComposite("ocr+rec", ScriptedLM("llm", lambda p: "A")).info()
    assert info["backend"] == "ocr" and info["llm"]["name"] == "llm" and info["ocr"].startswith("rapidocr")


@pytest.mark.slow
def test_reading_the_image_beats_answering_blind_on_the_demo(smollm2_path, tmp_path, monkeypatch):
    """The issue's check: a real, measured MG > 0 for the OCR composite on vision-dependent questions."""
    import leakaudit
    from leakaudit.answers.runner import run
    from leakaudit.answers.store import AnswerStore
    from leakaudit.models.zoo import load_zoo

    bench = leakaudit.load_benchmark("demo")
    vision_dependent = bench.subset([s.id for s in bench if s.meta["label"] == "vision-dependent"])
    comp = OCRComposite("ocr+smollm2", load_zoo().load("smollm2-135m"))
    for condition in ("vision", "blind"):
        run(vision_dependent, [comp], condition=condition, scoring="cloze", run_dir=tmp_path, progress=False)
    answers = AnswerStore(tmp_path).answers()
    acc = answers.groupby("condition").correct.mean()
    print(f"\nOCR composite (SmolLM2-135M, cloze) on {len(vision_dependent)} vision-dependent demo questions: "
          f"with images {acc['vision']:.3f}, blind {acc['blind']:.3f}, MG {acc['vision'] - acc['blind']:+.3f}")
    assert acc["vision"] > acc["blind"]
    # the gain comes from questions whose answer is text in the image
    readable = {s.content_hash for s in vision_dependent if "rendered_text" in s.meta}
    vision = answers[answers.condition == "vision"]
    assert vision[vision.sample_hash.isin(readable)].correct.mean() > acc["blind"]
