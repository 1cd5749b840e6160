"""Bad submitted data fails with a message naming the file, the row and the field.

Every case builds the smallest file that shows the problem and checks the DataError's
file / row / field (and the words a user needs), since "your data is wrong somewhere"
is useless for a 5,000-row submission.
"""
from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from leakaudit.data.benchmark import get_adapter, load_benchmark
from leakaudit.cli import main
from leakaudit.errors import DataError


def png_bytes(color="red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A valid 100 B PNG header that declares 10 gigapixels (a decompression bomb)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def good_row(k: int, **over) -> dict:
    row = {"id": f"q{k}", "question": f"Question {k}?", "options": ["yes", "no", "maybe"], "answer": "A"}
    row.update(over)
    return row


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def load_error(path: Path, bench: str = "submission") -> DataError:
    with pytest.raises(DataError) as exc:
        get_adapter(bench).load(path)
    return exc.value


def assert_names(err: DataError, file: Path, row, field) -> None:
    assert err.file == str(file)
    assert err.row == row
    assert err.field == field
    text = str(err)
    assert str(file) in text and (row is None or f"row {row}" in text) and (field is None or f"field '{field}'" in text)


def test_missing_question(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), good_row(1, question="  ")])
    err = load_error(f)
    assert_names(err, f, 1, "question")
    assert "missing or empty question" in str(err)


def test_question_column_absent_in_a_row(tmp_path):
    row = good_row(1)
    del row["question"]
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), row])
    assert_names(load_error(f), f, 1, "question")


def test_answer_not_among_options(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), good_row(1), good_row(2, answer="E")])
    err = load_error(f)
    assert_names(err, f, 2, "answer")
    assert "'E' is not among the options A, B, C" in str(err)


def test_duplicate_ids(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), good_row(1), good_row(2, id="q0")])
    err = load_error(f)
    assert_names(err, f, 2, "id")
    assert "duplicate id 'q0'" in str(err) and "first seen at row 0" in str(err)


def test_duplicate_ids_skip_mode_keeps_the_first(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), good_row(1), good_row(2, id="q0", question="Another?")])
    bench = load_benchmark(str(f), on_error="skip")
    assert [s.id for s in bench] == ["q0", "q1"] and bench.samples[0].question == "Question 0?"
    assert [(s.row, s.field) for s in bench.skipped] == [(2, "id")]


def test_a_benchmark_never_holds_duplicate_ids():
    """Every producer is checked, not only file loaders: the regeneration loop and subsets build
    Benchmarks from samples directly, and a duplicate id would merge two questions in the store."""
    from leakaudit.data.benchmark import Benchmark
    from leakaudit.data.schema import Sample

    samples = [Sample(id=i, benchmark="toy", question=f"{q}?", options=["a", "b"], answer="A", meta={"row": r})
               for r, (i, q) in enumerate([("x", "one"), ("y", "two"), ("x", "three")])]
    with pytest.raises(DataError) as err:
        Benchmark(name="toy", samples=samples, source="regenerated.jsonl", format="generated")
    assert err.value.file == "regenerated.jsonl" and err.value.row == 2 and err.value.field == "id"
    assert "duplicate id 'x'" in str(err.value) and "first seen at row 0" in str(err.value)
    ok = Benchmark(name="toy", samples=samples[:2], source="memory", format="generated")
    assert [s.id for s in ok.subset({"x"})] == ["x"]


def test_fewer_than_two_options(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0, options=["only one"])])
    err = load_error(f)
    assert_names(err, f, 0, "options")
    assert "at least 2" in str(err)


def test_no_options_and_letter_answer(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0, options=[])])
    err = load_error(f)
    assert_names(err, f, 0, "options")
    assert "at least 2" in str(err)


def test_missing_image_file(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0, image="img/nope.png")])
    err = load_error(f)
    assert_names(err, f, 0, "image")
    assert "image file not found: img/nope.png" in str(err)


def test_unreadable_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"this is not an image at all")
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0, image="broken.png")])
    err = load_error(f)
    assert_names(err, f, 0, "image")
    assert "unreadable image" in str(err)


def test_image_path_escaping_the_folder(tmp_path):
    (tmp_path / "secret.png").write_bytes(png_bytes())
    sub = tmp_path / "bench"
    sub.mkdir()
    f = write_jsonl(sub / "s.jsonl", [good_row(0, image="../secret.png")])
    err = load_error(f)
    assert_names(err, f, 0, "image")
    assert "escapes the benchmark folder" in str(err)


def test_absolute_image_path_outside_the_folder(tmp_path):
    sub = tmp_path / "bench"
    sub.mkdir()
    f = write_jsonl(sub / "s.jsonl", [good_row(0, images=["/etc/hostname"])])
    err = load_error(f)
    assert_names(err, f, 0, "images[0]")
    assert "escapes" in str(err)


def test_decompression_bomb(tmp_path):
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), good_row(1, image="bomb.png")])
    err = load_error(f)
    assert_names(err, f, 1, "image")
    assert "decompression bomb" in str(err)


def test_decompression_bomb_embedded_in_parquet(tmp_path):
    f = tmp_path / "ai2d.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "Q?", "options": ["a", "b"], "answer": "1", "image": {"bytes": bomb_png(), "path": None}}]), f)
    err = load_error(f, "ai2d")
    assert_names(err, f, 0, "image")
    assert "decompression bomb" in str(err)


def test_bad_utf8_in_jsonl_names_the_line(tmp_path):
    f = tmp_path / "s.jsonl"
    lines = [json.dumps(good_row(k)).encode() for k in range(3)]
    lines[2] = lines[2].replace(b"Question 2", b"Question \xff\xfe 2")
    f.write_bytes(b"\n".join(lines) + b"\n")
    err = load_error(f)
    assert_names(err, f, 2, None)
    assert "invalid UTF-8 at line 3" in str(err)


def test_bad_utf8_in_csv_names_the_row(tmp_path):
    f = tmp_path / "s.csv"
    f.write_bytes(b"question,A,B,answer\nfine?,x,y,A\nbroken \xc3\x28?,x,y,B\n")
    err = load_error(f)
    assert_names(err, f, 1, None)
    assert "invalid UTF-8 at line 3" in str(err)


def test_empty_file(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_bytes(b"")
    err = load_error(f)
    assert_names(err, f, None, None)
    assert "empty file" in str(err)


def test_header_only_csv_is_empty(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("question,A,B,answer\n")
    assert "empty file" in str(load_error(f))


def test_unknown_column_layout_lists_found_and_expected(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [{"prompt": "Q?", "choices": ["a", "b"], "label": 0}])
    msg = str(load_error(f))
    assert str(f) in msg and "unknown column layout" in msg
    assert "found columns [prompt, choices, label]" in msg and "expected [question, answer]" in msg


def test_unknown_column_layout_for_a_hub_adapter(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0)])
    msg = str(load_error(f, "mathvista"))
    assert "benchmark 'mathvista'" in msg and "expected [pid, question, answer, question_type]" in msg and "missing: pid, question_type" in msg


def test_folder_with_several_data_files(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [good_row(0)])
    write_jsonl(tmp_path / "b.jsonl", [good_row(0)])
    msg = str(load_error(tmp_path))
    assert "several data files" in msg and "a.jsonl" in msg and "b.jsonl" in msg


def test_on_error_skip_keeps_good_rows_and_lists_bad_ones(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0), good_row(1, answer="Z"), good_row(2), good_row(3, image="gone.png"), good_row(4, question="")])
    bench = load_benchmark(str(f), on_error="skip")
    assert [s.id for s in bench] == ["q0", "q2"]
    assert [(s.row, s.field) for s in bench.skipped] == [(1, "answer"), (3, "image"), (4, "question")]

    out = tmp_path / "skipped.csv"
    result = CliRunner().invoke(main, ["inspect", str(f), "--on-error", "skip", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["n_samples"] == 2 and stats["n_skipped"] == 3
    import pandas as pd

    skipped = pd.read_csv(out)
    assert list(skipped.columns) == ["file", "row", "field", "reason"]
    assert skipped["row"].tolist() == [1, 3, 4] and skipped["field"].tolist() == ["answer", "image", "question"]
    assert (skipped["file"] == str(f)).all() and "not among the options" in skipped["reason"][0]


def test_cli_reports_bad_data_with_exit_2(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [good_row(0, answer="Q")])
    result = CliRunner().invoke(main, ["inspect", str(f)])
    assert result.exit_code == 2
    assert f"file {f}, row 0, field 'answer'" in result.output


class _Tripwire:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_cells_are_never_unpickled(tmp_path):
    marker = tmp_path / "UNPICKLED"
    payload = pickle.dumps(_Tripwire(marker))
    # a pickle where text is expected: refused as bytes, not unpickled
    f = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": payload, "options": ["a", "b"], "answer": "A"}]), f)
    err = load_error(f)
    assert_names(err, f, 0, "question")
    assert "expected text, got bytes" in str(err)
    # a pickle in a column nobody reads: loaded as opaque bytes and written back unchanged
    g = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "Q?", "options": ["a", "b"], "answer": "A", "extra": payload}]), g)
    bench = load_benchmark(str(g))
    assert bench.raw_rows[0]["extra"] == payload
    bench.write(tmp_path / "out" / "t.parquet")
    load_benchmark(str(tmp_path / "out" / "t.parquet"))
    # a pickle posing as an image is an unreadable image
    h = write_jsonl(tmp_path / "u.jsonl", [good_row(0, image="p.png")])
    (tmp_path / "p.png").write_bytes(payload)
    assert "unreadable image" in str(load_error(h))
    assert not marker.exists()
