"""MMBench (lmms-lab/MMBench, config ``en``, split ``dev``): 20 abilities, circular evaluation.

Hub layout (same columns as VLMEvalKit's MMBench_DEV_EN.tsv): ``index``, ``question``,
``hint``, ``A``..``D`` (absent options are NaN, so some questions have 2-3 options),
``answer``, ``category``, ``L2-category``, ``image``. MMBench's circular copies of a
question share ``index % 1_000_000`` (``meta['circular_group']``). The public sample
folder (open-compass/MMBench : samples/) is a JSON list of ``{bench, lang, category,
image, question, options{A..D}, answer}`` with no index; ids are derived from content.
Chinese text passes through untouched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.errors import DataError
from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import derive_id, first, image_refs, is_missing, normalise_letter, options_from_columns, text

#: Hub revision loaded by default. "main" is NOT pinned: it moves when the dataset changes;
#: pass `leakaudit --revision <commit sha>` (or revision=) for a reproducible audit.
MMBENCH_REVISION = "main"


def options_from_mapping(value: Any, *, file=None, row=None) -> list[str]:
    """``{"A": ..., "B": ...}`` in letter order, stopping at the first absent letter."""
    if not isinstance(value, dict):
        raise DataError(file, row, "options", f"expected an object {{A: ..., B: ...}}, got {type(value).__name__}")
    return options_from_columns(value)


class MMBenchAdapter(BenchmarkAdapter):
    name = "mmbench"
    description = "MMBench dev (en): 20 perception and reasoning abilities, circular evaluation groups"
    hub_id = "lmms-lab/MMBench"
    hub_configs = ("en",)
    hub_split = "dev"
    hub_revision = MMBENCH_REVISION
    required_columns = ("question", "answer", ("A", "options"))
    local_files = ("samples.json",)
    circular_groups = True
    options_in_letter_columns = True

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        if isinstance(row.get("options"), dict):
            options = options_from_mapping(row["options"], file=file, row=index)
        else:
            options = options_from_columns(row, file=file, row_index=index)
        answer = normalise_letter(row.get("answer"), file=file, row=index)
        images = image_refs(row.get("image"), file=file, row=index, field="image", root=root)
        idx = text(row.get("index"), file=file, row=index, field="index")
        meta: dict[str, Any] = {"has_image": bool(images)}
        for key in ("source", "split", "bench", "lang", "comment"):
            if key in row and not is_missing(row[key]) and isinstance(row[key], str):
                meta[key] = row[key]
        if idx is not None and idx.isdigit():
            meta["circular_group"] = int(idx) % 1_000_000
        image_key = row.get("image") if isinstance(row.get("image"), str) and len(row["image"]) < 512 else ""
        sid = idx or text(row.get("id"), file=file, row=index, field="id") or derive_id(self.name, row.get("bench"), row.get("lang"), image_key, question, options, answer)
        return Sample(
            id=sid,
            benchmark=self.name,
            question=question,
            hint=text(row.get("hint"), file=file, row=index, field="hint"),
            options=options,
            answer=answer,
            images=images,
            category=text(row.get("category"), file=file, row=index, field="category"),
            l2_category=text(first(row, "l2-category", "L2-category", "l2_category"), file=file, row=index, field="l2-category"),
            meta=meta,
        )
