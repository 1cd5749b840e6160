"""The generic submission format a new benchmark uses to pass the CI gate (docs/submission_format.md).

JSON Lines / JSON / CSV / parquet with ``question``, ``answer`` and optionally ``id``
(derived from the content when absent), ``options`` (a list or JSON list string) or
``A``..``J`` columns, ``answer_type`` (for free-form answers), ``image`` / ``images``
(paths relative to the file, a JSON list for several, or embedded bytes / base64),
``hint``, ``category``, ``l2_category``. A VLMEvalKit TSV (``index``, ``question``,
``A``.., ``answer``, base64 ``image``, ``hint``, ``category``, ``l2-category``) is the
same thing in other column names and loads too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.errors import DataError
from leakaudit.data.schema import LETTERS, Sample

from .base import BenchmarkAdapter
from .common import (
    derive_id,
    first,
    free_form_type,
    image_refs,
    is_missing_container,
    normalise_letter,
    options_from_columns,
    options_from_list,
    text,
)

ANSWER_TYPES = ("letter", "integer", "float", "text", "list")


def check_answer_type(answer: str, answer_type: str, *, file=None, row=None) -> None:
    """An ``integer`` answer must be an integer, a ``float`` a finite number, a ``list`` a list."""
    import math
    import re

    a = answer.strip()
    if answer_type == "integer" and not re.fullmatch(r"[-+]?\d+", a):
        raise DataError(file, row, "answer", f"answer {a[:60]!r} is not an integer, but answer_type is 'integer'")
    if answer_type == "float":
        try:
            ok = math.isfinite(float(a))
        except ValueError:
            ok = False
        if not ok:
            raise DataError(file, row, "answer", f"answer {a[:60]!r} is not a finite number, but answer_type is 'float'")
    if answer_type == "list" and not a.startswith("["):
        raise DataError(file, row, "answer", f"answer {a[:60]!r} is not a list, but answer_type is 'list'")


class SubmissionAdapter(BenchmarkAdapter):
    name = "submission"
    description = "Generic submission: JSONL/CSV/parquet (question, options or A..J, answer, image paths) or VLMEvalKit TSV"
    required_columns = ("question", "answer")
    options_in_letter_columns = True

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        if isinstance(row.get("options"), dict):
            opts = row["options"]
            bad = [k for k in opts if str(k).strip().upper() not in LETTERS or len(str(k).strip()) != 1]
            if bad:
                raise DataError(file, index, "options", f"option keys must be letters A..J, got {str(bad[0])[:40]!r}")
            opts = {str(k).strip().upper(): v for k, v in opts.items()}
            options = options_from_columns(opts, file=file, row_index=index)  # {"A": ..., "B": ...}
            if len(options) == 1:
                raise DataError(file, index, "options", "only one option (A); a multiple-choice question needs at least two")
        elif not is_missing_container(row.get("options")):
            options = options_from_list(row.get("options"), file=file, row=index)
        else:
            options = options_from_columns(row, file=file, row_index=index)
        answer_type = text(row.get("answer_type"), file=file, row=index, field="answer_type")
        if answer_type is not None and answer_type not in ANSWER_TYPES:
            raise DataError(file, index, "answer_type", f"unknown answer type {answer_type!r}; expected one of {', '.join(ANSWER_TYPES)}")
        if options or answer_type in (None, "letter"):
            answer, answer_type = normalise_letter(row.get("answer"), file=file, row=index), "letter"
        else:
            answer = text(row.get("answer"), file=file, row=index, field="answer", required=True)
            answer_type = answer_type or free_form_type(answer)
            check_answer_type(answer, answer_type, file=file, row=index)
        image_field = "images" if not is_missing_container(row.get("images")) else "image"
        images = image_refs(row.get(image_field), file=file, row=index, field=image_field, root=root)
        if not images and not is_missing_container(row.get("image_path")):
            images = image_refs(row.get("image_path"), file=file, row=index, field="image_path", root=root)
        hint = text(row.get("hint"), file=file, row=index, field="hint")
        given_id = text(first(row, "id", "index"), file=file, row=index, field="id")
        return Sample(
            id=given_id or derive_id("q", question, hint, options, answer, row.get(image_field)),
            benchmark=self.name,
            question=question,
            hint=hint,
            options=options,
            answer=answer,
            answer_type=answer_type,  # type: ignore[arg-type]
            images=images,
            category=text(row.get("category"), file=file, row=index, field="category"),
            l2_category=text(first(row, "l2_category", "l2-category"), file=file, row=index, field="l2_category"),
            meta={"has_image": bool(images)},
        )
