"""MATH-Vision (MathLLMs/MathVision, testmini): 304 competition math problems with diagrams.

Hub layout: ``id``, ``question`` with an ``<image1>`` placeholder, ``options`` (A-E, often
just the letters because the choices are drawn in the image; empty for free-form),
``answer``, ``solution``, ``level``, ``subject``, ``decoded_image`` (embedded) or
``image`` (path). The GitHub copy (mathllm/MATH-V : data/testmini.jsonl + images/) loads as is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import free_form_type, image_refs, is_missing_container, normalise_letter, options_from_list, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
MATHVISION_REVISION = "main"


class MathVisionAdapter(BenchmarkAdapter):
    name = "mathvision"
    description = "MATH-Vision testmini: 304 competition math problems (16 subjects, 5 levels), MC + free-form"
    hub_id = "MathLLMs/MathVision"
    hub_split = "testmini"
    hub_revision = MATHVISION_REVISION
    required_columns = ("id", "question", "options", "answer")
    local_files = ("testmini.jsonl",)

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        options = options_from_list(row.get("options"), file=file, row=index)
        if options:
            answer, answer_type = normalise_letter(row.get("answer"), file=file, row=index), "letter"
        else:
            answer = text(row.get("answer"), file=file, row=index, field="answer", required=True)
            answer_type = free_form_type(answer)
        if not is_missing_container(row.get("decoded_image")):
            images = image_refs(row.get("decoded_image"), file=file, row=index, field="decoded_image", root=root)
        else:
            images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        return Sample(
            id=text(row.get("id"), file=file, row=index, field="id", required=True),
            benchmark=self.name,
            question=text(row.get("question"), file=file, row=index, field="question", required=True),
            options=options,
            answer=answer,
            answer_type=answer_type,  # type: ignore[arg-type]
            images=images,
            category=text(row.get("subject"), file=file, row=index, field="subject"),
            meta={"has_image": bool(images), "level": text(row.get("level"), file=file, row=index, field="level")},
        )
