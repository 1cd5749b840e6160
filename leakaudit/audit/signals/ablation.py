"""Image ablations beside ``blind``: is a question still right without its true image?

Three conditions, each asked with the runner's prompts and scoring:

- ``wrong-image``: an LVLM sees another question's image from the same benchmark (a
  seeded derangement: no question keeps its own). Right anyway = the image is not needed.
- ``ocr-only``: a text-only LLM is told RapidOCR's text of the image in place of it (the
  OCR line of ``ocr+...`` composites). Right = the image's text suffices (text-in-image
  questions, which a captioned or OCR'd benchmark leaks).
- ``caption-only``: a text-only LLM is told a caption in place of the image; the captioner
  is configured: any image-capable LM (asked for one sentence) or a function image -> text
  (``colour_caption``: the model-free colour summary of ``leakaudit.regen.describe``).

Per question, model and condition: ``ablation_correct``; ``ablation_flag`` = right
without the true image (questions without images are left out). Given a run folder, the
answers are stored in its ``answers.sqlite`` under these condition names; the audit's
metrics read only ``text``, ``vision`` and ``blind``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
from PIL import Image

from leakaudit.answers.prompts import build_prompt
from leakaudit.audit.signals._ask import ask, ask_stored, text_prompt
from leakaudit.audit.signals.base import EvidenceContext, EvidenceSignal
from leakaudit.audit.signals.nulls import chance_of, rate_vs_null
from leakaudit.data.benchmark import Benchmark
from leakaudit.data.schema import Sample
from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.types import ABLATIONS

NAME = "image-ablation"
DESCRIPTION = "wrong-image / ocr-only / caption-only: the question is still answered right without its true image"
COLUMNS = ("condition", "ablation_correct", "ablation_flag")
NEEDS = ("lvlm", "text-llm")
CONDITIONS = ABLATIONS
CAPTION_REQUEST = "Describe this image in one sentence."

Captioner = Callable[[list[Image.Image]], str]


def colour_caption(images: list[Image.Image]) -> str:
    """A model-free caption: the named colours of each image and where they sit."""
    from leakaudit.data.images import colour_summary

    return "; ".join(", ".join(colour_summary(img)) for img in images)


def lm_captioner(lm: LM) -> Captioner:
    """An image-capable LM as captioner (asked for one sentence per image)."""
    if not getattr(lm, "supports_images", False):
        raise LeakauditError(f"captioner {lm.name!r} does not take images")

    def caption(images: list[Image.Image]) -> str:
        prompts = [Prompt(messages=[{"role": "user", "content": CAPTION_REQUEST}], images=[img]) for img in images]
        return " ".join(t.strip() for t in lm.generate(prompts, max_new_tokens=48))

    return caption


def derangement(n: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(n)`` with no fixed point (n >= 2)."""
    if n < 2:
        raise LeakauditError("wrong-image needs at least 2 questions with images")
    rng = random.Random(seed)
    while True:
        p = list(range(n))
        rng.shuffle(p)
        if all(i != j for i, j in enumerate(p)):
            return p


def _with_line(prompt: Prompt, line: str) -> Prompt:
    messages = [dict(m) for m in prompt.messages]
    messages[-1]["content"] = f"{messages[-1]['content'].rstrip()}\n{line}\n"
    return Prompt(messages=messages, images=[], prefix_len=prompt.prefix_len, answer_prefix=prompt.answer_prefix)


def ablation_prompts(samples: Sequence[Sample], condition: str, *, scoring: str, seed: int = 0,
                     captioner: Captioner | None = None, ocr_min_score: float = 0.5, donors: Sequence[int] | None = None) -> list[Prompt]:
    """The prompts of ``condition`` for ``samples`` (all with images); for ``wrong-image``,
    ``donors[i]`` is the question whose image question ``i`` is shown (default: the seeded derangement)."""
    if condition == "wrong-image":
        perm = derangement(len(samples), seed) if donors is None else donors
        out = []
        for s, j in zip(samples, perm):
            p = build_prompt(s, "vision", scoring=scoring, images=False)
            p.images = [ref.load() for ref in samples[j].images]
            out.append(p)
        return out
    if condition == "ocr-only":
        from leakaudit.models.backends.ocr_composite import ocr_text

        out = []
        for s in samples:
            texts = [ocr_text(ref.load(), min_score=ocr_min_score) for ref in s.images]
            found = "; ".join(t for t in texts if t)
            out.append(_with_line(text_prompt(s, scoring), f"Text found in the image: {found}" if found else "No text was found in the image."))
        return out
    if condition == "caption-only":
        if captioner is None:
            raise LeakauditError("caption-only needs a captioner: an image-capable model or colour_caption")
        return [_with_line(text_prompt(s, scoring), f"Image description: {captioner([r.load() for r in s.images])}") for s in samples]
    raise LeakauditError(f"unknown ablation {condition!r}; known: {', '.join(CONDITIONS)}")


def ablation_signal(bench: Benchmark, lm: LM, condition: str, *, scoring: str = "letter", seed: int = 0,
                    captioner: Captioner | None = None, run_dir: str | Path | None = None) -> pd.DataFrame:
    """Per-question correctness of ``lm`` under one ablation ``condition``.

    With ``run_dir`` the answers are stored in its answer store under ``condition`` (beside
    ``text``, ``vision`` and ``blind``), so a rerun asks only the questions not stored yet.
    """
    if condition == "wrong-image" and not getattr(lm, "supports_images", False):
        raise LeakauditError(f"wrong-image needs an image-capable model; {lm.name!r} is text-only")
    samples = [s for s in bench.samples if s.images and s.is_multiple_choice]
    donors = derangement(len(samples), seed) if condition == "wrong-image" else None
    prompts = ablation_prompts(samples, condition, scoring=scoring, seed=seed, captioner=captioner, donors=donors)
    if run_dir is None:
        results = ask(lm, samples, prompts, scoring=scoring)
    else:
        # the key of a wrong-image answer names the question whose image it was shown
        salts = [samples[j].content_hash for j in donors] if donors is not None else None
        results = ask_stored(lm, samples, prompts, scoring=scoring, condition=condition, run_dir=run_dir, salts=salts)
    return pd.DataFrame([{"sample_id": s.id, "sample_hash": s.content_hash, "model": lm.name, "condition": condition,
                          "ablation_correct": bool(r["correct"]), "ablation_flag": bool(r["correct"])}
                         for s, r in zip(samples, results)])


# -- the registered signal ---------------------------------------------------------------
class _Ablation(EvidenceSignal):
    condition = ""
    null = "a model that gets no usable image information guesses: right with probability 1/options"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        return rate_vs_null(pd.to_numeric(evidence[self.columns[0]], errors="coerce"), chance_of(evidence), "guessing at 1/options")

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        # stored beside the run's answers where the folder is writable (a rerun asks nothing again)
        keep = ctx.run_dir is not None and os.access(ctx.run_dir, os.W_OK)
        kw: dict[str, Any] = {"scoring": "letter", "seed": ctx.settings.seed, "run_dir": ctx.run_dir if keep else None}
        if self.condition == "caption-only":
            kw["captioner"] = colour_caption
        return ablation_signal(self.bench(ctx), self.model(ctx), self.condition, **kw)


class WrongImage(_Ablation):
    name = "wrong-image"
    description = "Image ablation: the first vision model answers with another question's image (seeded derangement); right anyway = flagged"
    prefix = "wrong_image"
    test_name = condition = "wrong-image"
    truth_key = "wrong_image"
    model_kind = "lvlm"
    validated = "the demo's truth_signals['wrong_image'] (tests/test_evidence_lm_signals.py)"


class OcrOnly(_Ablation):
    name = "ocr-only"
    description = "Image ablation: the first inspector LLM answers with RapidOCR's text of the image in its place; right = flagged"
    prefix = "ocr_only"
    test_name = condition = "ocr-only"
    truth_key = "ocr_only"
    validated = "the demo's truth_signals['ocr_only'] (tests/test_evidence_lm_signals.py)"


class CaptionOnly(_Ablation):
    name = "caption-only"
    description = "Image ablation: the first inspector LLM answers with a caption (colour captioner) in place of the image; right = flagged"
    prefix = "caption_only"
    test_name = condition = "caption-only"
    truth_key = "wrong_image"
    validated = "the demo's truth_signals['wrong_image'] (tests/test_evidence_lm_signals.py)"


__all__ = ["CaptionOnly", "OcrOnly", "WrongImage", "CAPTION_REQUEST", "COLUMNS", "CONDITIONS", "DESCRIPTION", "NAME", "NEEDS",
           "ablation_prompts", "ablation_signal", "colour_caption", "derangement", "lm_captioner"]
