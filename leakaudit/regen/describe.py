"""A symbolic (text) description of a sample's images, Auto-Bench style.

The curator is a text LLM, so it sees the image only through text: what the benchmark
already carries (hint, captions and other metadata), the text in the image with its
position (OCR), and, when the user has vision models, captions, object boxes and
relations written by them. Each source is optional; a missing one leaves a note instead
of failing, so regeneration runs wherever at least something is known about the image.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from PIL import Image

from leakaudit.data.images import NAMED_COLOURS, colour_summary  # noqa: F401 - the description's colour lines
from leakaudit.data.schema import Sample
from leakaudit.errors import LeakauditError, MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.regen.parsing import first_json

#: sample.meta keys that describe the image or its context (ScienceQA lecture, captions...)
CONTEXT_META_KEYS = ("caption", "captions", "image_caption", "description", "image_description", "context", "lecture", "subject", "topic", "skill")
OBJECT_META_KEYS = ("objects", "boxes", "annotations")
RELATION_META_KEYS = ("relations", "relationships", "scene_graph")
OCR_META_KEYS = ("ocr", "ocr_text", "image_text")

OcrFn = Callable[[Image.Image], list]

#: named colours for the pixel summary (a describer that needs no model)
CAPTION_PROMPT = "Describe this image in two or three sentences: the scene, the main objects with their colours and positions, and any text."
OBJECTS_PROMPT = (
    "List the objects in this image as JSON: a list of objects with keys \"label\" and \"box\" "
    "([x1, y1, x2, y2] in pixels). Reply with the JSON only."
)
RELATIONS_PROMPT = "List the spatial relations between the objects in this image, one per line, as 'subject - relation - object'."


@dataclass
class OcrItem:
    text: str
    box: list[int]  # x1, y1, x2, y2
    score: float | None = None


@dataclass
class ObjectBox:
    label: str
    box: list[int] | None = None
    score: float | None = None
    source: str = ""


@dataclass
class SymbolicDescription:
    """Everything known about a sample's images as text; ``to_text()`` goes into curator prompts."""

    sample_id: str
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)
    captions: list[str] = field(default_factory=list)
    objects: list[ObjectBox] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    ocr: list[OcrItem] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    known_fact: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.context or self.captions or self.objects or self.relations or self.ocr or self.colours or self.known_fact)

    def to_text(self) -> str:
        """Auto-Bench-like rendering: captions, boxed objects, relations, OCR text, context."""
        lines: list[str] = []
        if self.image_sizes:
            sizes = ", ".join(f"{w}x{h}" for w, h in self.image_sizes)
            lines.append(f"Image size (width x height, pixels): {sizes}")
        if self.captions:
            lines.append("Captions:")
            lines += [f"- {c}" for c in self.captions]
        if self.objects:
            lines.append("Objects (label, box [x1, y1, x2, y2]):")
            lines += [f"- {o.label}" + (f" {o.box}" if o.box else "") for o in self.objects]
        if self.relations:
            lines.append("Relations:")
            lines += [f"- {r}" for r in self.relations]
        if self.ocr:
            lines.append("Text in the image (OCR, box [x1, y1, x2, y2]):")
            lines += [f"- \"{o.text}\" {o.box}" for o in self.ocr]
        if self.colours:
            lines.append("Colours (share of the pixels, where they are):")
            lines += [f"- {c}" for c in self.colours]
        for key, value in self.context.items():
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
        if self.known_fact:
            lines.append(f"Original question (answerable without the image; do not reuse it): {self.known_fact}")
        if not lines:
            lines.append("(nothing is known about this image beyond its size)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- helpers -------------------------------------------------------------------------
def _box_xyxy(box: Any) -> list[int]:
    """A box as [x1, y1, x2, y2] ints, from xyxy or from a list of corner points (rapidocr)."""
    try:
        if box is None:
            return []
        pts = list(box)
        if pts and hasattr(pts[0], "__len__"):
            xs = [float(p[0]) for p in pts]
            ys = [float(p[1]) for p in pts]
            return [round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))]
        if len(pts) == 4:
            return [round(float(v)) for v in pts]
    except (TypeError, ValueError, IndexError):
        pass
    return []


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        return "; ".join(_as_text(v) for v in value if _as_text(v))
    return json.dumps(value, ensure_ascii=False, default=str)


def _default_ocr() -> OcrFn | None:
    try:
        from leakaudit.models.backends.ocr_composite import ocr_image  # rapidocr, the `ocr` extra
    except (ImportError, MissingDependencyError):
        return None
    return ocr_image


def _objects_from(value: Any, source: str) -> list[ObjectBox]:
    out = []
    if isinstance(value, dict):
        value = value.get("objects", list(value.values()))
    for item in value if isinstance(value, (list, tuple)) else []:
        if isinstance(item, dict):
            label = item.get("label") or item.get("name") or item.get("class") or item.get("category")
            if label:
                out.append(ObjectBox(str(label), _box_xyxy(item.get("box") or item.get("bbox")) or None, item.get("score"), source))
        elif isinstance(item, str) and item.strip():
            out.append(ObjectBox(item.strip(), None, None, source))
    return out


# -- the description ------------------------------------------------------------------
def describe_image(
    sample: Sample,
    *,
    ocr: OcrFn | None | bool = True,
    colours: bool = True,
    describers: Sequence[LM] = (),
    include_known_fact: bool = False,
    min_ocr_score: float = 0.5,
) -> SymbolicDescription:
    """Build the symbolic description of ``sample``'s images.

    ``ocr``: True uses rapidocr through ``leakaudit.models.backends.ocr_composite`` (skipped with a
    note when the ``ocr`` extra is missing), False skips it, a callable is used as is.
    ``colours`` adds the model-free colour summary (``colour_summary``).
    ``describers``: image-capable models (``supports_images``) that write a caption, an
    object list with boxes and relations. ``include_known_fact`` adds the source question
    and its answer as a fact about the image (the curator is told not to copy it).
    """
    desc = SymbolicDescription(sample_id=sample.id)
    images = [ref.load() for ref in sample.images]
    desc.image_sizes = [im.size for im in images]
    if not images:
        desc.notes.append("sample has no image")

    # 1. what the benchmark already has
    if sample.hint:
        desc.context["context"] = sample.hint.strip()
    for key in CONTEXT_META_KEYS:
        if sample.meta.get(key) not in (None, "", [], {}):
            desc.context.setdefault(key, _as_text(sample.meta[key]))
    for key in OBJECT_META_KEYS:
        desc.objects += _objects_from(sample.meta.get(key), f"meta.{key}")
    for key in RELATION_META_KEYS:
        value = sample.meta.get(key)
        if isinstance(value, (list, tuple)):
            desc.relations += [_as_text(v) for v in value if _as_text(v)]
        elif isinstance(value, str) and value.strip():
            desc.relations.append(value.strip())
    for key in OCR_META_KEYS:
        if isinstance(sample.meta.get(key), str) and sample.meta[key].strip():
            desc.ocr.append(OcrItem(sample.meta[key].strip(), []))
    if include_known_fact and sample.question:
        desc.known_fact = f"{sample.question.strip()} Answer: {sample.answer_text}"

    # 2. text in the image
    ocr_fn: OcrFn | None
    if ocr is True:
        ocr_fn = _default_ocr()
        if ocr_fn is None and images:
            desc.notes.append("OCR skipped: install the `ocr` extra (pip install 'leakaudit[ocr]') to read text in images")
    else:
        ocr_fn = ocr or None
    if ocr_fn is not None:
        for im in images:
            for item in ocr_fn(im) or []:
                text, box, score = (list(item) + [None, None])[:3]
                if text and str(text).strip() and (score is None or float(score) >= min_ocr_score):
                    desc.ocr.append(OcrItem(str(text).strip(), _box_xyxy(box), None if score is None else round(float(score), 3)))

    if colours:
        for k, im in enumerate(images):
            prefix = f"image {k + 1}: " if len(images) > 1 else ""
            desc.colours += [prefix + c for c in colour_summary(im)]

    # 3. captions, objects and relations from vision models the user has
    for lm in describers:
        if not lm.supports_images:
            raise LeakauditError(f"describer {lm.name!r} cannot take images; pass a vision-language model (supports_images)")
        for im in images:
            caption, objects, relations = lm.generate(
                [Prompt([{"role": "user", "content": p}], images=[im]) for p in (CAPTION_PROMPT, OBJECTS_PROMPT, RELATIONS_PROMPT)],
                max_new_tokens=256,
            )
            if caption.strip():
                desc.captions.append(f"{caption.strip()} ({lm.name})")
            found = _objects_from(first_json(objects), lm.name)
            if not found and objects.strip():
                desc.notes.append(f"{lm.name}: object list was not JSON; ignored")
            desc.objects += found
            desc.relations += [r.strip("-*• ").strip() for r in relations.splitlines() if r.strip("-*• ").strip()][:20]
    return desc
