"""MathVista (AI4Math/MathVista, testmini): 1,000 visual math questions, multiple-choice and free-form.

Hub layout: ``pid``, ``question``, ``choices`` (None for free-form), ``answer`` (the
option *text* for multiple choice, converted here to its letter), ``question_type``
(multi_choice / free_form), ``answer_type`` (integer / float / text / list),
``precision``, ``unit``, ``decoded_image`` (embedded) or ``image`` (path), ``metadata``
(category, task, skills, source...). The GitHub copy (a JSON object keyed by pid) loads too.

VLMEvalKit's ``MathVista_MINI.tsv`` has ``index`` (the pid), ``question`` (which may be
MathVista's whole query: ``Hint: ...``, ``Question: ...``, ``Choices: (A) ...``),
``choices`` (a list string), ``answer`` (the option text), ``answer_option`` (its letter),
``question_type``, ``answer_type``, ``precision``, ``unit``, ``task``, ``skills`` and a
base64 ``image``; it loads too, the question taken out of the query so both copies ask the
same thing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from leakaudit.errors import DataError
from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, is_missing_container, letter_from_text, options_from_list, parse_list, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
MATHVISTA_REVISION = "main"
ANSWER_TYPES = {"integer", "float", "text", "list"}
#: MathVista's query (its build_query.py): a "Hint: ..." line, "Question: ..." (+ " (Unit: u)"), then "Choices:" lines
_QUERY_RE = re.compile(r"^\s*Hint:.*?\n\s*Question:\s*(?P<question>.*?)(?:\n\s*Choices:.*)?\s*$", re.DOTALL)


def question_of_query(question: str, unit: str | None) -> str:
    """The bare question inside MathVista's query (hint, unit and choices are columns of their own); other text unchanged."""
    m = _QUERY_RE.match(question)
    if not m:
        return question
    bare = m.group("question").rstrip()
    if unit and bare.endswith(f"(Unit: {unit})"):
        bare = bare[: -len(f"(Unit: {unit})")].rstrip()
    return bare


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
    required_columns = ("pid", "question", "answer", "question_type")

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
            id=text(row.get("pid"), file=file, row=index, field="pid", required=True),
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

    def vlmevalkit_row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        """A VLMEvalKit row mapped onto the hub layout and read as one."""
        unit = text(row.get("unit"), file=file, row=index, field="unit")
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        vlm_index = text(row.get("index"), file=file, row=index, field="index")
        qtype = text(row.get("question_type"), file=file, row=index, field="question_type")
        qtype = qtype or ("multi_choice" if not is_missing_container(row.get("choices")) else "free_form")
        answer = row.get("answer")
        if qtype == "multi_choice" and is_missing_container(answer):
            answer = row.get("answer_option")  # the letter, when the option text is not there
        skills = row.get("skills")
        hub_row = {
            **row,
            "pid": text(row.get("pid"), file=file, row=index, field="pid") or vlm_index,
            "question": question_of_query(question, unit),
            "question_type": qtype,
            "answer": answer,
            "metadata": {"category": text(row.get("category"), file=file, row=index, field="category"),
                         "task": text(row.get("task"), file=file, row=index, field="task"),
                         "skills": parse_list(skills, file=file, row=index, field="skills") if isinstance(skills, str) and skills.strip().startswith("[") else skills,
                         "source": text(row.get("source"), file=file, row=index, field="source")},
        }
        sample = self.row_to_sample(hub_row, index, file=file, root=root)
        sample.meta.update(layout="vlmevalkit", index=vlm_index)
        return sample
