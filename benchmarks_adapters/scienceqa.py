"""ScienceQA (derek-thomas/ScienceQA, test): grade-school science, about half without an image.

Hub layout: ``question``, ``choices`` list, ``answer`` index, ``hint`` (context),
``image`` (None for text-only questions, which are kept and marked
``meta['has_image'] = False``), ``subject``, ``topic``, ``category``, ``skill``, ``grade``.
The hub has no id: the row position is the id (as in VLMEvalKit's ScienceQA_TEST) and a
written subset keeps it in an ``id`` column.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, letter_from_index, options_from_list, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
SCIENCEQA_REVISION = "main"


class ScienceQAAdapter(BenchmarkAdapter):
    name = "scienceqa"
    description = "ScienceQA test: grade 1-12 science questions with lecture context; many have no image"
    hub_id = "derek-thomas/ScienceQA"
    hub_split = "test"
    hub_revision = SCIENCEQA_REVISION
    required_columns = ("question", "choices", "answer")

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        options = options_from_list(row.get("choices"), file=file, row=index, field="choices")
        images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        given_id = text(row.get("id"), file=file, row=index, field="id")
        return Sample(
            id=given_id or str(index),
            benchmark=self.name,
            question=text(row.get("question"), file=file, row=index, field="question", required=True),
            hint=text(row.get("hint"), file=file, row=index, field="hint"),
            options=options,
            answer=letter_from_index(row.get("answer"), len(options), file=file, row=index),
            images=images,
            category=text(row.get("subject"), file=file, row=index, field="subject"),
            l2_category=text(row.get("topic"), file=file, row=index, field="topic"),
            meta={
                "has_image": bool(images),
                "scienceqa_category": text(row.get("category"), file=file, row=index, field="category"),
                "skill": text(row.get("skill"), file=file, row=index, field="skill"),
                "grade": text(row.get("grade"), file=file, row=index, field="grade"),
                **({} if given_id else {"derived_id": "row"}),
            },
        )
