"""MMStar (Lin-Chen/MMStar, ``val``): 1,500 vision-indispensable questions, 6 capabilities x 3 axes.

Hub layout: ``index``, ``question`` with the options inline (``Options: A: ..., B: ...``),
``answer`` letter, ``category``, ``l2_category``, ``image`` and ``meta_info`` (source
benchmark). The options are parsed out of the question text and removed from it. A
text-only copy (no ``image`` column, ``bench`` instead of ``meta_info``) loads too, its
samples marked ``meta['has_image'] = False``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, normalise_letter, options_from_inline, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
MMSTAR_REVISION = "main"


class MMStarAdapter(BenchmarkAdapter):
    name = "mmstar"
    description = "MMStar: 1,500 human-checked vision-indispensable questions (6 capabilities, 18 axes)"
    hub_id = "Lin-Chen/MMStar"
    hub_split = "val"
    hub_revision = MMSTAR_REVISION
    required_columns = ("index", "question", "answer", "category")

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        raw_question = text(row.get("question"), file=file, row=index, field="question", required=True)
        question, options = options_from_inline(raw_question, file=file, row=index)
        images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        meta_info = row.get("meta_info") if isinstance(row.get("meta_info"), dict) else {}
        source = row.get("bench") if isinstance(row.get("bench"), str) else meta_info.get("source")
        return Sample(
            id=text(row.get("index"), file=file, row=index, field="index", required=True),
            benchmark=self.name,
            question=question,
            options=options,
            answer=normalise_letter(row.get("answer"), file=file, row=index),
            images=images,
            category=text(row.get("category"), file=file, row=index, field="category"),
            l2_category=text(row.get("l2_category"), file=file, row=index, field="l2_category"),
            meta={"has_image": bool(images), "source_benchmark": source},
        )
