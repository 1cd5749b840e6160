"""MMStar / VLMEvalKit prompts and the recorded few-shot choice.

Every model of a run sees the same text, so a difference between the ``text``, ``vision``
and ``blind`` conditions comes from the model, not from the prompt. The format follows the
MMStar evaluation code (itself VLMEvalKit's multiple-choice prompt)::

    Hint: {hint}
    Question: {question}
    Options:
    A. ...
    B. ...
    Please select the correct answer from the options above. \\n

LLMs (the ``text`` condition) also get MMStar's "Answer with the option's letter ..." line;
2-shot prompts put MMStar's system message and two solved demonstrations in front as chat
turns. ``prompt_hash`` hashes only the text, so the store key does not depend on pixels.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

import numpy as np
from PIL import Image

from leakaudit.data.schema import Sample
from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import Prompt
from leakaudit.types import BLIND_MODES, CONDITIONS, SCORINGS

STYLES: tuple[str, ...] = ("mmstar",)

SELECT_LINE = "Please select the correct answer from the options above. \n"
LLM_LETTER_LINE = "Answer with the option's letter from the given choices directly, such as answer letter 'A' only. \n"
FEWSHOT_SYSTEM = (
    "You are a helpful assistant. If you can't judge the answer, give your guess as to the most likely "
    "answer. Just give the answer, don't say anything beyond that, no analysis required."
)
CLOZE_PREFIX = "Answer:"
#: short-answer instructions for open questions, by answer type (LLaVA / MathVista style)
OPEN_LINES = {
    "integer": "Answer the question with a single integer number.\n",
    "float": "Answer the question with a single number.\n",
    "list": "Answer the question with a Python list.\n",
    "text": "Answer the question using a single word or phrase.\n",
}
#: grey of the ``grey`` blind mode (MMStar: GeminiPro-Vision / CogVLM-Chat need some image)
GREY = (128, 128, 128)

# `<image 1>` (MMMU), `<image1>`, `<image>`; the surrounding spaces are collapsed after removal
_IMAGE_TAG = re.compile(r"<image\s*\d*>", re.IGNORECASE)


# -- text pieces --------------------------------------------------------------------------
def strip_image_placeholders(text: str) -> str:
    """Remove ``<image 1>``-style tags (no image is shown, so they would only confuse)."""
    out = _IMAGE_TAG.sub(" ", text)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r" +([.,;:?!])", r"\1", out)
    return "\n".join(line.strip() for line in out.split("\n")).strip()


def _clean(text: str | None, keep_images: bool) -> str:
    text = "" if text is None else str(text)
    return text.strip() if keep_images else strip_image_placeholders(text)


def _has_hint(hint: str | None) -> bool:
    return hint is not None and str(hint).strip() not in ("", "nan", "None")


def question_block(sample: Sample, *, keep_images: bool, with_options: bool = True) -> str:
    """``Hint: ..\\nQuestion: ..\\nOptions:\\nA. ..\\n`` exactly as MMStar builds it.

    ``with_options=False`` leaves the option list out (the cloze formulation).
    """
    text = ""
    if _has_hint(sample.hint):
        text += f"Hint: {_clean(sample.hint, keep_images)}\n"
    text += f"Question: {_clean(sample.question, keep_images)}\n"
    if sample.is_multiple_choice and with_options:
        text += "Options:\n"
        for letter, option in zip(sample.letters, sample.options):
            shown = _clean(option, keep_images) or "(image)"  # an option that was only an image tag
            text += f"{letter}. {shown}\n"
    return text


def user_text(sample: Sample, condition: str, *, scoring: str = "letter", keep_images: bool | None = None) -> str:
    """The user message of one question under ``condition`` and ``scoring``."""
    if keep_images is None:
        keep_images = condition == "vision"
    if scoring == "cloze" and sample.is_multiple_choice:
        # The cloze formulation (lm-eval's multiple_choice tasks, OLMES "CF"): the options are
        # not listed; each option's text is scored as the continuation of "Answer:". Listed
        # options let small LLMs copy one instead of answering: on the demo, SmolLM2-135M
        # answers 33% of the text-answerable questions with the list and 83% without it.
        return question_block(sample, keep_images=keep_images, with_options=False)
    text = question_block(sample, keep_images=keep_images)
    if sample.is_open:
        return text + OPEN_LINES.get(sample.answer_type, OPEN_LINES["text"])
    text += SELECT_LINE
    if condition == "text":
        text += LLM_LETTER_LINE
    return text


def demo_answer(sample: Sample, scoring: str) -> str:
    """What the assistant says in a solved demonstration."""
    if sample.is_open:
        return str(sample.answer)
    if scoring == "cloze":
        return f"{CLOZE_PREFIX} {sample.answer_text}"
    return sample.answer


def cloze_continuations(sample: Sample, *, keep_images: bool = False) -> list[str]:
    """Continuations scored after ``Answer:`` (lm-eval style, with the leading space)."""
    return [" " + (_clean(o, keep_images) or "(image)") for o in sample.options]


# -- few-shot -----------------------------------------------------------------------------
def select_fewshot(benchmark, k: int, seed: int = 0) -> list[Sample]:
    """A fixed, recorded choice of ``k`` demonstrations plus one spare (``k + 1`` samples).

    Deterministic in the benchmark's content and ``seed``: candidates are the
    multiple-choice samples ordered by id. ``build_prompt`` uses the first ``k`` that are
    not the target itself, so the spare only replaces a shot when it is being asked.
    """
    if k <= 0:
        return []
    samples = list(benchmark.samples if hasattr(benchmark, "samples") else benchmark)
    pool = sorted((s for s in samples if s.is_multiple_choice), key=lambda s: (s.id, s.content_hash))
    name = getattr(benchmark, "name", "benchmark")
    if len(pool) < k + 1:
        raise LeakauditError(f"{k}-shot prompts need at least {k + 1} multiple-choice samples in {name}; it has {len(pool)}")
    return random.Random(seed).sample(pool, k + 1)


def shots_for(sample: Sample, fewshot: Sequence[Sample], shots: int) -> list[Sample]:
    """The first ``shots`` demonstrations that are not ``sample`` itself."""
    chosen = [d for d in fewshot if d.content_hash != sample.content_hash and d.id != sample.id][:shots]
    if len(chosen) < shots:
        raise LeakauditError(
            f"{shots}-shot prompt for sample {sample.id!r} needs {shots} demonstrations other than the sample itself; "
            f"got {len(chosen)} (pass select_fewshot(benchmark, {shots}), which includes a spare)"
        )
    return chosen


# -- prompts ------------------------------------------------------------------------------
def check_settings(*, condition: str, scoring: str, blind: str = "drop", style: str = "mmstar") -> None:
    """Refuse an unknown condition, scoring, blind mode or prompt style, naming the choices."""
    for what, value, allowed in (("condition", condition, CONDITIONS), ("scoring", scoring, SCORINGS),
                                 ("blind mode", blind, BLIND_MODES), ("prompt style", style, STYLES)):
        if value not in allowed:
            raise LeakauditError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")


def build_prompt(
    sample: Sample,
    condition: str,
    *,
    shots: int = 0,
    fewshot: Sequence[Sample] = (),
    style: str = "mmstar",
    scoring: str = "letter",
    blind: str = "drop",
    images: bool = True,
) -> Prompt:
    """The chat prompt for ``sample`` under ``condition`` (text | vision | blind).

    ``images=False`` builds the text only (enough for ``prompt_hash``: the runner computes
    store keys without decoding a single image). Placeholders such as ``<image 1>`` are
    kept when pixels are shown (vision, blind grey/noise) and removed otherwise.
    """
    check_settings(condition=condition, scoring=scoring, blind=blind, style=style)
    if scoring == "cloze" and sample.is_open:
        scoring = "generate"  # nothing to score: open questions are always generated
    keep_images = condition == "vision" or (condition == "blind" and blind != "drop")

    messages: list[dict[str, str]] = []
    prefix_len = 0
    if shots > 0:
        messages.append({"role": "system", "content": FEWSHOT_SYSTEM})
        for demo in shots_for(sample, fewshot, shots):
            # demonstrations never carry images: their tags are removed
            messages.append({"role": "user", "content": user_text(demo, condition, scoring=scoring, keep_images=False)})
            messages.append({"role": "assistant", "content": demo_answer(demo, scoring)})
        prefix_len = len(messages)
    messages.append({"role": "user", "content": user_text(sample, condition, scoring=scoring, keep_images=keep_images)})
    prompt = Prompt(
        messages=messages,
        prefix_len=prefix_len,
        answer_prefix=CLOZE_PREFIX if scoring == "cloze" else "",
    )
    if images:
        prompt.images = condition_images(sample, condition, blind)
    return prompt


def prompt_hash(prompt: Prompt) -> str:
    """Identifies the prompt text (not the pixels): part of every store key."""
    return prompt.text_hash()


# -- images -------------------------------------------------------------------------------
def _seed_for(sample: Sample, index: int) -> int:
    return int(sample.content_hash[:15], 16) + index


def grey_image(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, GREY)


def noise_image(size: tuple[int, int], seed: int) -> Image.Image:
    """Uniform RGB noise; seeded by the sample so a rerun sees the same pixels."""
    width, height = size
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), "RGB")


def condition_images(sample: Sample, condition: str, blind: str = "drop") -> list[Image.Image]:
    """The pixels a model sees: the sample's images (vision), none (text, blind drop), or a
    grey / noise stand-in of the same size per image (blind grey / noise)."""
    if condition == "text" or (condition == "blind" and blind == "drop"):
        return []
    if condition == "vision":
        return [ref.load() for ref in sample.images]
    out = []
    for i, ref in enumerate(sample.images):
        size = ref.load().size
        out.append(grey_image(size) if blind == "grey" else noise_image(size, _seed_for(sample, i)))
    return out


__all__ = [
    "check_settings",
    "FEWSHOT_SYSTEM",
    "LLM_LETTER_LINE",
    "SELECT_LINE",
    "build_prompt",
    "cloze_continuations",
    "condition_images",
    "prompt_hash",
    "select_fewshot",
    "shots_for",
    "strip_image_placeholders",
    "user_text",
]
