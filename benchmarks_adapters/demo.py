"""The built-in demo benchmark: 60 generated questions with known ground truth (see leakaudit.data.demo).

``load_benchmark("demo")`` generates (once, then from the cache) and loads it; it never
touches the hub. ``load_benchmark("demo", path=P)`` loads a demo folder written by
``generate_demo(P)`` (or a copy of one, e.g. the filtered ``kept/`` output).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from leakaudit.data.benchmark import Benchmark
from leakaudit.data.demo import DEMO_FILE, demo_dir
from leakaudit.errors import DataError
from leakaudit.data.io import read_jsonl_rows
from leakaudit.data.schema import Sample

from .base import BenchmarkAdapter
from .common import image_refs, normalise_letter, options_from_list, text

#: row fields the schema reads; every other field goes into ``Sample.meta``
_SCHEMA_FIELDS = {"id", "question", "hint", "options", "answer", "image", "images", "category", "l2_category", "split"}


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], str, Path]:
    """Rows of a demo folder (its ``demo.jsonl``) or of a ``.jsonl`` file; returns rows, file, image root."""
    if path.is_dir():
        file = path / DEMO_FILE
        if not file.is_file():
            raise DataError(path, None, None, f"not a demo folder: {DEMO_FILE} not found in it")
    elif path.is_file():
        file = path
    else:
        raise DataError(path, None, None, "no such file or folder")
    rows = read_jsonl_rows(file)
    return rows, str(file), file.parent


class DemoAdapter(BenchmarkAdapter):
    name = "demo"
    description = "Built-in synthetic benchmark: 60 questions, half need the image, half are text-answerable (generated offline)"
    hub_id = None
    hub_split = "test"

    def load(self, path: str | Path | None = None, *, split: str | None = None, limit: int | None = None, on_error: str = "raise",
             no_images: bool = False) -> Benchmark:
        """The generated demo (``path=None``, cached) or the demo folder / ``demo.jsonl`` at ``path``."""
        from .common import images_as_metadata

        folder = demo_dir() if path is None else Path(path)
        rows, file, root = read_jsonl(folder)
        # the generated demo is a JSON Lines file with images beside it: writing a subset
        # (filter's kept/) uses that same layout, so it reloads with ``path=``
        with images_as_metadata(no_images):
            bench = self.build(rows, source=str(folder), fmt="jsonl", file=file, root=root, on_error=on_error, limit=limit)
        bench.no_images = no_images
        return bench

    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        question = text(row.get("question"), file=file, row=index, field="question", required=True)
        options = options_from_list(row.get("options"), file=file, row=index, field="options")
        images = image_refs(row.get("images", row.get("image")), file=file, row=index, field="image", root=root)
        meta = {k: v for k, v in row.items() if k not in _SCHEMA_FIELDS}
        return Sample(
            id=text(row.get("id"), file=file, row=index, field="id", required=True),
            benchmark=self.name,
            split=text(row.get("split"), file=file, row=index, field="split") or self.hub_split,
            question=question,
            hint=text(row.get("hint"), file=file, row=index, field="hint"),
            options=options,
            answer=normalise_letter(row.get("answer"), file=file, row=index),
            images=images,
            category=text(row.get("category"), file=file, row=index, field="category"),
            l2_category=text(row.get("l2_category"), file=file, row=index, field="l2_category"),
            meta=meta,
        )
