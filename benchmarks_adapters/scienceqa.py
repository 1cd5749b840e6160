"""ScienceQA (derek-thomas/ScienceQA, test): grade-school science, about half without an image.

Hub layout: ``question``, ``choices`` list, ``answer`` index, ``hint`` (context),
``image`` (None for text-only questions, which are kept and marked
``meta['has_image'] = False``), ``subject``, ``topic``, ``category``, ``skill``, ``grade``.
The hub has no id: the row position is the id (as in VLMEvalKit's ScienceQA_TEST) and a
written subset keeps it in an ``id`` column.

The GitHub copy (lupantech/ScienceQA ``data/scienceqa/problems.json``) is a JSON object
keyed by pid holding every split: the pid is the id (so pid-keyed predictions match their
own questions), ``--split`` picks the split (default test), and ``image`` is a file name
under ``images/<split>/<pid>/`` (or ``<split>/<pid>/``) beside the JSON file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, images_are_metadata, letter_from_index, options_from_list, text


def _image_path(row: dict[str, Any], sid: str | None, root: Path | None) -> Any:
    """The image of a ``problems.json`` row (``image.png`` under ``images/<split>/<pid>/``); other layouts as given."""
    image, split = row.get("image"), row.get("split")
    if not (isinstance(image, str) and image and "/" not in image and isinstance(split, str) and sid):
        return image
    candidates = [f"images/{split}/{sid}/{image}", f"{split}/{sid}/{image}"]
    if images_are_metadata() or root is None:
        return candidates[0]
    for rel in candidates:
        if (root / rel).is_file():
            return rel
    if (root / image).is_file():
        return image
    return candidates[0]

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
SCIENCEQA_REVISION = "main"


class ScienceQAAdapter(BenchmarkAdapter):
    name = "scienceqa"
    description = "ScienceQA test: grade 1-12 science questions with lecture context; many have no image"
    hub_id = "derek-thomas/ScienceQA"
    hub_split = "test"
    hub_revision = SCIENCEQA_REVISION
    files_hold_all_splits = True
    required_columns = ("question", "choices", "answer")

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        options = options_from_list(row.get("choices"), file=file, row=index, field="choices")
        given_id = text(row.get("id"), file=file, row=index, field="id")
        images = image_refs(_image_path(row, given_id, root), file=file, row=index, field="image", root=root)
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
