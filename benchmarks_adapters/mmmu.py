"""MMMU (MMMU/MMMU): 30 college subjects, validation split, up to 7 images per question.

Hub layout: ``id`` (``validation_<Subject>_<n>``), ``question`` with ``<image n>``
placeholders, ``options`` as a Python-list string, ``answer``, ``image_1``..``image_7``,
``question_type`` (multiple-choice / open), ``subfield``. Open questions are kept with
their free-form answer and an answer type (integer / float / text / list).

VLMEvalKit's ``MMMU_DEV_VAL.tsv`` lays the same questions out as ``index``, ``question``,
``A``..``I``, ``answer``, ``image`` (base64, or a list of them for several images),
``image_path``, ``split`` (dev / validation), ``category``, ``l2-category``; it loads too,
the validation split unless ``--split dev``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.errors import DataError
from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import (
    first,
    free_form_type,
    images_from_columns,
    is_missing_container,
    normalise_letter,
    options_from_columns,
    options_from_list,
    parse_list,
    text,
)

#: Hub revision loaded by default; override with ``load(..., revision=...)`` or by
#: setting this before loading. "main" is the dataset's head: these machines cannot reach
#: the hub to look up a commit, so pin a commit sha here for a reproducible audit.
MMMU_REVISION = "main"

DISCIPLINES: dict[str, tuple[str, ...]] = {
    "Art & Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health & Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy", "Public_Health"),
    "Humanities & Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech & Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics", "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
SUBJECTS: tuple[str, ...] = tuple(s for subjects in DISCIPLINES.values() for s in subjects)
DISCIPLINE_OF = {s: d for d, subjects in DISCIPLINES.items() for s in subjects}
IMAGE_COLUMNS = tuple(f"image_{k}" for k in range(1, 8))


def subject_from_id(sample_id: str) -> str | None:
    """``validation_Art_Theory_12`` -> ``Art_Theory`` (the hub config the row came from)."""
    parts = sample_id.split("_")
    if len(parts) >= 3 and parts[-1].isdigit():
        subject = "_".join(parts[1:-1])
        return subject if subject in DISCIPLINE_OF else None
    return None


def open_answer(answer: Any, *, file=None, row=None) -> tuple[str, str]:
    """An open question's answer and its type; MMMU lists several accepted answers as a list string."""
    if isinstance(answer, (list, tuple)) or (isinstance(answer, str) and answer.strip().startswith("[")):
        try:
            items = parse_list(answer, file=file, row=row, field="answer")
            return ", ".join(str(a) for a in items) if len(items) != 1 else str(items[0]), "list" if len(items) > 1 else free_form_type(str(items[0]))
        except DataError:
            pass
    value = text(answer, file=file, row=row, field="answer", required=True)
    return value, free_form_type(value)


class MMMUAdapter(BenchmarkAdapter):
    name = "mmmu"
    description = "MMMU: 30 college subjects in 6 disciplines, multi-image, validation split (900 questions)"
    hub_id = "MMMU/MMMU"
    hub_configs = SUBJECTS
    hub_split = "validation"
    hub_revision = MMMU_REVISION
    required_columns = ("id", "question", "options", "answer")
    #: VLMEvalKit's MMMU_DEV_VAL.tsv holds the dev and the validation split
    files_hold_all_splits = True

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        sid = text(row.get("id"), file=file, row=index, field="id", required=True)
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        options = options_from_list(row.get("options"), file=file, row=index)
        qtype = text(row.get("question_type"), file=file, row=index, field="question_type") or ("multiple-choice" if options else "open")
        if qtype == "multiple-choice":
            answer, answer_type = normalise_letter(row.get("answer"), file=file, row=index), "letter"
        else:
            options = []
            answer, answer_type = open_answer(row.get("answer"), file=file, row=index)
        subject = subject_from_id(sid)
        images = images_from_columns(row, IMAGE_COLUMNS, file=file, row_index=index, root=root)
        return Sample(
            id=sid,
            benchmark=self.name,
            question=question,
            options=options,
            answer=answer,
            answer_type=answer_type,  # type: ignore[arg-type]
            images=images,
            category=subject.replace("_", " ") if subject else None,
            l2_category=text(row.get("subfield"), file=file, row=index, field="subfield"),
            meta={
                "question_type": qtype,
                "discipline": DISCIPLINE_OF.get(subject or ""),
                "topic_difficulty": row.get("topic_difficulty"),
                "img_type": row.get("img_type") if isinstance(row.get("img_type"), str) else None,
                "has_image": bool(images),
            },
        )

    def vlmevalkit_row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        """A VLMEvalKit row mapped onto the hub layout and read as one: the same answers, images and (given an ``id`` column) ids."""
        options = options_from_columns(row, file=file, row_index=index)
        vlm_index = text(row.get("index"), file=file, row=index, field="index")
        hub_row = {
            **row,
            "id": text(row.get("id"), file=file, row=index, field="id") or vlm_index,
            "options": options,
            "image_1": row.get("image") if not is_missing_container(row.get("image")) else row.get("image_path"),
            "question_type": row.get("question_type") or ("multiple-choice" if options else "open"),
            "subfield": first(row, "subfield", "l2-category", "l2_category"),
        }
        sample = self.row_to_sample(hub_row, index, file=file, root=root)
        if sample.category is None:  # the id is VLMEvalKit's index, not validation_<Subject>_<n>: the row's own subject
            sample.category = text(row.get("category"), file=file, row=index, field="category")
        sample.hint = text(row.get("hint"), file=file, row=index, field="hint")  # VLMEvalKit puts it before the question
        sample.meta.update(layout="vlmevalkit", index=vlm_index)
        return sample
