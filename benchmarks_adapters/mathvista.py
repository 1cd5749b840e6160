"""MathVista (AI4Math/MathVista, testmini): 1,000 visual math questions, multiple-choice and free-form.

Hub layout: ``pid``, ``question``, ``choices`` (None for free-form), ``answer`` (the
option *text* for multiple choice, converted here to its letter), ``question_type``
(multi_choice / free_form), ``answer_type`` (integer / float / text / list),
``precision``, ``unit``, ``decoded_image`` (embedded) or ``image`` (path), ``metadata``
(category, task, skills, source...). The GitHub copy (a JSON object keyed by pid) loads too.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leakaudit.errors import DataError
from leakaudit.schema import Sample

from .base import BenchmarkAdapter
from .common import first, image_refs, is_missing_container, letter_from_text, options_from_list, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
MATHVISTA_REVISION = "main"
ANSWER_TYPES = {"integer", "float", "text", "list"}


def metadata_dict(value: Any, *, file=None, row=None) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            out = json.loads(value)
        except ValueError as exc:
            raise DataError(file, row, "metadata", f"invalid JSON: {exc}") from None
        return out if isinstance(out, dict) else {}
    return {}


class MathVistaAdapter(BenchmarkAdapter):
    name = "mathvista"
    description = "MathVista testmini: 1,000 math questions over figures, charts, geometry (MC + free-form)"
    hub_id = "AI4Math/MathVista"
    hub_split = "testmini"
    hub_revision = MATHVISTA_REVISION
    #: VLMEvalKit's MathVista_MINI.tsv keeps the pid as ``index`` (and ``choices`` as a list string)
    required_columns = (("pid", "index"), "question", "answer", "question_type")

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        qtype = text(row.get("question_type"), file=file, row=index, field="question_type")
        raw_answer = text(row.get("answer"), file=file, row=index, field="answer", required=True)
        if qtype == "multi_choice":
            options = options_from_list(row.get("choices"), file=file, row=index, field="choices")
            answer, answer_type = letter_from_text(raw_answer, options, file=file, row=index), "letter"
        else:
            options = []
            answer = raw_answer
            answer_type = text(row.get("answer_type"), file=file, row=index, field="answer_type") or "text"
            if answer_type not in ANSWER_TYPES:
                raise DataError(file, index, "answer_type", f"unknown answer type {answer_type!r}; expected one of {sorted(ANSWER_TYPES)}")
        if not is_missing_container(row.get("decoded_image")):
            images = image_refs(row.get("decoded_image"), file=file, row=index, field="decoded_image", root=root)
        else:
            images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        meta = metadata_dict(row.get("metadata"), file=file, row=index)
        skills = meta.get("skills")
        return Sample(
            id=text(first(row, "pid", "index"), file=file, row=index, field="pid", required=True),
            benchmark=self.name,
            question=question,
            options=options,
            answer=answer,
            answer_type=answer_type,  # type: ignore[arg-type]
            images=images,
            category=meta.get("category"),
            l2_category=meta.get("task"),
            meta={
                "has_image": bool(images),
                "question_type": qtype,
                "skills": list(skills) if skills is not None and not isinstance(skills, str) else skills,
                "source": meta.get("source"),
                "precision": row.get("precision"),
                "unit": row.get("unit") if isinstance(row.get("unit"), str) else None,
                "answer_text": raw_answer,
            },
        )
