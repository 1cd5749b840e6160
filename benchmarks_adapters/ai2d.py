"""AI2D (lmms-lab/ai2d, test): 3,088 questions about grade-school science diagrams.

Hub layout: ``question``, ``options`` list, ``answer`` (0-based index as a string),
``image``. No id: the row position is the id, kept in an ``id`` column when written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, letter_from_index, options_from_list, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
AI2D_REVISION = "main"


class AI2DAdapter(BenchmarkAdapter):
    name = "ai2d"
    description = "AI2D test: science diagram questions (4 options)"
    hub_id = "lmms-lab/ai2d"
    hub_split = "test"
    hub_revision = AI2D_REVISION
    required_columns = ("question", "options", "answer")

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        options = options_from_list(row.get("options"), file=file, row=index)
        images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        given_id = text(row.get("id"), file=file, row=index, field="id")
        return Sample(
            id=given_id or str(index),
            benchmark=self.name,
            question=text(row.get("question"), file=file, row=index, field="question", required=True),
            options=options,
            answer=letter_from_index(row.get("answer"), len(options), file=file, row=index),
            images=images,
            meta={"has_image": bool(images), **({} if given_id else {"derived_id": "row"})},
        )
