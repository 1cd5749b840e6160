"""SEED-Bench (lmms-lab/SEED-Bench, test), image subset: 9 image evaluation dimensions.

Hub layout: ``question_id``, ``question``, ``choice_a``..``choice_d``, ``answer`` letter,
``question_type_id`` (1-9 image dimensions, 10-12 video), ``data_type`` (image / video),
``image`` (a list of images). Video rows are dropped knowingly (MMStar used SEED-Image).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.errors import DataError
from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, normalise_letter, options_from_columns, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
SEEDBENCH_REVISION = "main"

#: SEED-Bench's question_type_id of the 9 image dimensions
IMAGE_DIMENSIONS = {
    1: "Scene Understanding",
    2: "Instance Identity",
    3: "Instance Attributes",
    4: "Instance Location",
    5: "Instances Counting",
    6: "Spatial Relation",
    7: "Instance Interaction",
    8: "Visual Reasoning",
    9: "Text Understanding",
}
CHOICE_COLUMNS = ("choice_a", "choice_b", "choice_c", "choice_d")


class SEEDBenchAdapter(BenchmarkAdapter):
    name = "seedbench"
    description = "SEED-Bench image subset: 9 image dimensions (video rows are skipped)"
    hub_id = "lmms-lab/SEED-Bench"
    hub_split = "test"
    hub_revision = SEEDBENCH_REVISION
    required_columns = ("question", "choice_a", "choice_b", "answer", "data_type")

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample | None:
        if str(row.get("data_type", "image")).strip().lower() != "image":
            return None
        type_id = row.get("question_type_id")
        try:
            dimension = IMAGE_DIMENSIONS.get(int(type_id)) if type_id is not None else None
        except (TypeError, ValueError):
            raise DataError(file, index, "question_type_id", f"not an integer: {type_id!r}") from None
        images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        given_id = text(row.get("question_id"), file=file, row=index, field="question_id") or text(row.get("id"), file=file, row=index, field="id")
        return Sample(
            id=given_id or str(index),
            benchmark=self.name,
            question=text(row.get("question"), file=file, row=index, field="question", required=True),
            options=options_from_columns(row, names=CHOICE_COLUMNS),
            answer=normalise_letter(row.get("answer"), file=file, row=index),
            images=images,
            category=dimension,
            meta={"has_image": bool(images), "question_type_id": type_id, "data_id": row.get("data_id"), **({} if given_id else {"derived_id": "row"})},
        )
