"""MMMU-Pro (MMMU/MMMU_Pro), "standard (10 options)": MMMU questions with up to 10 options.

Hub layout: ``id``, ``question``, ``options`` (Python-list string), ``answer`` letter,
``image_1``..``image_7``, ``subject``. The public sample folder
(MMMU-Benchmark/MMMU : mmmu-pro/tool) has ``question, options[], answer, image_1..``
with image paths and no id, so ids are derived from the content.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import derive_id, images_from_columns, normalise_letter, options_from_list, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
MMMU_PRO_REVISION = "main"
IMAGE_COLUMNS = tuple(f"image_{k}" for k in range(1, 8))


class MMMUProAdapter(BenchmarkAdapter):
    name = "mmmu_pro"
    description = "MMMU-Pro standard: MMMU questions filtered against text-only answering, up to 10 options"
    hub_id = "MMMU/MMMU_Pro"
    hub_configs = ("standard (10 options)",)
    hub_split = "test"
    hub_revision = MMMU_PRO_REVISION
    required_columns = ("question", "options", "answer")
    local_files = ("data.jsonl",)

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        options = options_from_list(row.get("options"), file=file, row=index)
        answer = normalise_letter(row.get("answer"), file=file, row=index)
        images = images_from_columns(row, IMAGE_COLUMNS, file=file, row_index=index, root=root)
        image_keys = [row.get(c) if isinstance(row.get(c), str) else "" for c in IMAGE_COLUMNS]
        sid = text(row.get("id"), file=file, row=index, field="id") or derive_id(self.name, question, options, answer, image_keys)
        subject = text(row.get("subject"), file=file, row=index, field="subject")
        return Sample(
            id=sid,
            benchmark=self.name,
            question=question,
            options=options,
            answer=answer,
            images=images,
            category=subject.replace("_", " ") if subject else None,
            meta={"has_image": bool(images), "topic_difficulty": row.get("topic_difficulty")},
        )
