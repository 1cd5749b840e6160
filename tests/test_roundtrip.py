"""``write_benchmark``: a (filtered) benchmark written in its input's own format loads back identically."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from leakaudit.data.benchmark import get_adapter, load_benchmark
from leakaudit.data.io import write_benchmark


def png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 6), color).save(buf, format="PNG")
    return buf.getvalue()


COLORS = ["red", "green", "blue", "white", "black"]


def submission_rows(image_value) -> list[dict]:
    return [
        {"id": f"s{k}", "question": f"Colour of shape {k}? 中文 ✓", "options": json.dumps(["red", "green", "blue"]), "answer": "ABC"[k % 3],
         "hint": "look" if k % 2 else None, "category": "c", "image": image_value(k)}
        for k in range(5)
    ]


def image_files(folder: Path):
    (folder / "imgs").mkdir(parents=True)
    for k, c in enumerate(COLORS):
        (folder / "imgs" / f"{k}.png").write_bytes(png(c))
    return lambda k: f"imgs/{k}.png"


def assert_round_trip(original, written_path: Path, adapter: str = "submission"):
    keep = [s.id for s in original][1::2]
    subset = original.subset(keep)
    out = write_benchmark(subset, written_path)
    again = get_adapter(adapter).load(out)
    assert [s.id for s in again] == keep
    assert [s.content_hash for s in again] == [s.content_hash for s in subset]
    return out, again


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_text_formats_with_image_files(tmp_path, fmt):
    src = tmp_path / "src"
    rows = submission_rows(image_files(src))
    path = src / f"bench.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps({"data": rows}, ensure_ascii=False), encoding="utf-8")
    else:
        pd.DataFrame(rows).to_csv(path, index=False)
    original = load_benchmark(str(path))
    assert original.format == fmt
    out, again = assert_round_trip(original, tmp_path / "kept")  # a folder: same name and format
    assert out == tmp_path / "kept" / f"bench.{fmt}" and again.format == fmt
    assert sorted(p.name for p in (tmp_path / "kept" / "imgs").iterdir()) == ["1.png", "3.png"]  # only the kept images
    assert again.samples[0].question == "Colour of shape 1? 中文 ✓"


def test_parquet_with_embedded_bytes(tmp_path):
    path = tmp_path / "bench.parquet"
    pq.write_table(pa.Table.from_pylist(submission_rows(lambda k: {"bytes": png(COLORS[k]), "path": None})), path)
    original = load_benchmark(str(path))
    out, again = assert_round_trip(original, tmp_path / "kept" / "subset.parquet")
    assert again.samples[0].images[0].data == png("green")  # still embedded, no files written
    assert not (tmp_path / "kept" / "images").exists()


def test_vlmevalkit_tsv_with_base64(tmp_path):
    rows = [{"index": k, "question": f"Q{k}\twith tab?", "A": "red", "B": "green", "C": "blue" if k % 2 else "", "answer": "B",
             "image": base64.b64encode(png(COLORS[k])).decode(), "category": "c", "l2-category": "d"} for k in range(5)]
    path = tmp_path / "MMBench_X.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    original = get_adapter("mmbench").load(path)
    assert [len(s.options) for s in original] == [2, 3, 2, 3, 2]
    out, again = assert_round_trip(original, tmp_path / "kept", adapter="mmbench")
    assert out.name == "MMBench_X.tsv" and again.samples[0].question == "Q1\twith tab?"


def test_hub_layout_rows_written_as_parquet_and_jsonl(tmp_path):
    """Hub rows (images as {'bytes','path'}) keep the hub layout; JSONL gets image files instead of bytes."""
    adapter = get_adapter("scienceqa")
    rows = [{"image": {"bytes": png(COLORS[k]), "path": None} if k != 2 else None, "question": f"Q{k}?", "choices": ["a", "b", "c"],
             "answer": k % 3, "hint": "", "subject": "natural science", "topic": "physics", "category": "x", "skill": "y", "grade": "grade3"}
            for k in range(5)]
    hub = adapter.build(rows, source="hf://derek-thomas/ScienceQA@main/test", fmt="hub", file="hf://derek-thomas/ScienceQA@main/test", root=None, on_error="raise", limit=None, split="test")
    subset = hub.subset(["1", "2", "4"])
    out = write_benchmark(subset, tmp_path / "kept")
    assert out == tmp_path / "kept" / "scienceqa.parquet"
    again = adapter.load(out)
    assert [s.id for s in again] == ["1", "2", "4"]  # row-derived ids persist through an `id` column
    assert [s.content_hash for s in again] == [s.content_hash for s in subset]
    assert again.samples[1].meta["has_image"] is False

    out_jsonl = write_benchmark(subset, tmp_path / "kept_jsonl" / "sqa.jsonl")
    again = adapter.load(out_jsonl)
    assert [s.content_hash for s in again] == [s.content_hash for s in subset]
    assert again.samples[0].images[0].path is not None  # bytes became a file next to the JSONL


def test_real_relative_image_paths_stay_valid(shared_data, tmp_path):
    original = get_adapter("mmbench").load(shared_data / "mmbench_samples")
    keep = [s.id for s in original if s.meta["bench"] == "CCBench"]
    out = original.subset(keep).write(tmp_path / "kept")
    again = get_adapter("mmbench").load(out)
    assert out.name == "samples.json" and len(again) == 14
    assert [s.content_hash for s in again] == [original.by_id()[i].content_hash for i in keep]
    assert all(Path(s.images[0].path).is_relative_to(tmp_path / "kept" / "CCBench") for s in again)
