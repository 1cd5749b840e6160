"""An OCR + LLM "vision-language model": the real image reader that runs offline on a CPU.

No vision-language model ships in a package these machines can install, but an OCR model
does (``rapidocr-onnxruntime``, PP-OCRv4). ``OCRComposite`` reads the text in each image
and puts it into the prompt of a wrapped text-only LLM ("Text found in the image: ..."),
so it really sees something of the pixels: on text-in-image questions it should beat the
same model without images, which gives the audit a real, measured multimodal gain (MG).

Without images (``blind`` condition with ``drop``) it simply delegates, so blind and text
runs of the composite equal its LLM's. OCR results are cached per image content hash, and
``ocr_image`` is public so the regeneration module can build symbolic image descriptions.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Literal

from PIL import Image

from leakaudit.errors import MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt

#: one OCR line: (text, box as four (x, y) corners clockwise from top-left, confidence)
OCRLine = tuple[str, tuple[tuple[float, float], ...], float]

#: recognised lines below this confidence are dropped (PP-OCR scores noise at ~0.3-0.6)
DEFAULT_MIN_SCORE = 0.6
_CACHE_SIZE = 4096

_engine: Any = None
_engine_lock = threading.Lock()
_cache: "OrderedDict[str, list[OCRLine]]" = OrderedDict()


def _get_engine() -> Any:
    """The RapidOCR engine, created once (its ONNX sessions take ~0.2 s and ~100 MB)."""
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise MissingDependencyError(
                "the OCR backend needs rapidocr-onnxruntime: pip install 'leakaudit[ocr]'"
            ) from exc
        _engine = RapidOCR()
    return _engine


def image_hash(img: Image.Image) -> str:
    """Content hash of the pixels (mode, size and bytes): the OCR cache key."""
    h = hashlib.sha256(f"{img.mode}:{img.size[0]}x{img.size[1]}:".encode())
    h.update(img.tobytes())
    return h.hexdigest()


def _reading_order(line: OCRLine) -> tuple[float, float]:
    ys = [p[1] for p in line[1]]
    xs = [p[0] for p in line[1]]
    return ((min(ys) + max(ys)) / 2, min(xs))


def ocr_image(img: Image.Image, *, min_score: float = DEFAULT_MIN_SCORE) -> list[OCRLine]:
    """The text lines in ``img`` as ``(text, box, score)``, top to bottom (then left to right).

    Results are cached by pixel hash, so asking twice about the same image (every model,
    rotation and condition of a run) costs one OCR pass.
    """
    key = image_hash(img)
    with _engine_lock:
        lines = _cache.get(key)
        if lines is None:
            result, _elapsed = _get_engine()(img.convert("RGB"))
            lines = [
                (str(text), tuple((float(x), float(y)) for x, y in box), float(score))
                for box, text, score in (result or [])
            ]
            lines.sort(key=_reading_order)
            _cache[key] = lines
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
    # a "line" without a letter or digit is a shape read as a glyph (a square as "■")
    return [line for line in lines if line[2] >= min_score and any(ch.isalnum() for ch in line[0])]


def ocr_text(img: Image.Image, *, min_score: float = DEFAULT_MIN_SCORE) -> str:
    """The text of ``img`` as one string, lines top to bottom joined by ``" / "`` ("" when none)."""
    return " / ".join(text.strip() for text, _box, _score in ocr_image(img, min_score=min_score))


class OCRComposite(LM):
    """A text LLM that is told the text OCR finds in the images (see module docstring).

    ``placement`` puts the OCR line after the question and options (default: measured on the
    demo with SmolLM2-135M and cloze scoring, 12/30 right vs 6/30 with the line before) or
    before them, where a VLM's image goes. The wrapped ``llm`` never receives pixels.
    """

    supports_images = True

    def __init__(
        self,
        name: str,
        llm: LM,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        placement: Literal["before", "after"] = "after",
    ):
        if placement not in ("before", "after"):
            raise ValueError(f"placement must be 'before' or 'after', not {placement!r}")
        self.name = name
        self.llm = llm
        self.min_score = min_score
        self.placement = placement

    @classmethod
    def from_spec(cls, spec: Any, zoo: Any = None, **overrides: Any) -> "OCRComposite":
        """A zoo entry with ``wraps: LLM``: its own copy of that LLM (closing the composite
        must not close a cached model other stages hold)."""
        if zoo is None:
            raise ValueError(f"model {spec.name!r}: the ocr backend needs the zoo to load the LLM it wraps ({spec.wraps!r})")
        llm = zoo.construct(zoo[spec.wraps])
        return cls(spec.name, llm, **{**spec.options, **overrides})

    # -- the prompt the LLM sees ------------------------------------------------------
    def describe_images(self, images: list[Image.Image]) -> str:
        """The OCR line(s) added to the prompt; says so explicitly when no text was found."""
        texts = [ocr_text(img, min_score=self.min_score) for img in images]
        # unquoted on purpose: "image: marble" ends in the token " marble", the very token a
        # cloze continuation " marble" starts with, which a small LLM then copies readily
        if len(texts) == 1:
            return f"Text found in the image: {texts[0]}" if texts[0] else "No text was found in the image."
        return "\n".join(
            f"Text found in image {i}: {t}" if t else f"No text was found in image {i}."
            for i, t in enumerate(texts, start=1)
        )

    def text_prompt(self, prompt: Prompt) -> Prompt:
        """``prompt`` for the wrapped LLM: the OCR text in the last user message, no pixels."""
        if not prompt.images:
            return prompt
        ocr_line = self.describe_images(prompt.images)
        messages = [dict(m) for m in prompt.messages]
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last_user is None:
            messages.append({"role": "user", "content": ocr_line})
        else:
            content = messages[last_user]["content"]
            if self.placement == "before":
                messages[last_user]["content"] = f"{ocr_line}\n{content}"
            else:
                messages[last_user]["content"] = f"{content.rstrip()}\n{ocr_line}\n"
        return Prompt(messages=messages, images=[], prefix_len=prompt.prefix_len, answer_prefix=prompt.answer_prefix)

    # -- LM interface -----------------------------------------------------------------
    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        return self.llm.letter_logprobs([self.text_prompt(p) for p in prompts], letters)

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        return self.llm.loglikelihood([self.text_prompt(p) for p in prompts], continuations)

    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        return self.llm.generate([self.text_prompt(p) for p in prompts], max_new_tokens=max_new_tokens)

    def info(self) -> dict[str, Any]:
        try:
            from importlib.metadata import version

            ocr_version = version("rapidocr-onnxruntime")
        except Exception:  # not installed: the first OCR call says how to install it
            ocr_version = None
        return {
            "name": self.name,
            "backend": "ocr",
            "ocr": f"rapidocr-onnxruntime {ocr_version}" if ocr_version else "rapidocr-onnxruntime",
            "min_score": self.min_score,
            "placement": self.placement,
            "llm": self.llm.info(),
        }

    def close(self) -> None:
        self.llm.close()
