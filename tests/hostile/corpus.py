"""A generated corpus of hostile inputs: malformed submissions, bad images, damaged stores, CLI misuse.

``generate(root)`` writes one folder per case under ``root`` and returns the ``Case`` list.
Each case says which commands to run (``inspect`` / ``gate`` / any argv) and what must
happen: ``error`` (exit 2, one clear line naming the file / row / field given in
``expect``) or ``ok`` (exit 0, plus an optional check on the result). The runner
(``run_case``) executes a case in a subprocess with a timeout and classifies the outcome
as clear / correct / traceback / silent / hang; it also checks that nothing was written
outside the case's ``--out`` folder, and that a gate crash left a fresh verdict.json.

Used by ``tests/hostile/test_corpus.py`` (in-process and subprocess) and by
``scripts/hostile_corpus.py`` (the whole corpus through the real CLI).
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image

#: a zoo with two scripted text-only LLMs: the gate runs without loading any weights
SCRIPTED_ZOO = """\
models:
  scripted-a:
    kind: llm
    backend: scripted
    options: {respond: "A"}
  scripted-b:
    kind: llm
    backend: scripted
    options: {respond: "zzz"}
groups:
  hostile: [scripted-a, scripted-b]
"""
STALE_VERDICT = {"status": "pass", "exit_code": 0, "stale": True}


# -- building blocks -------------------------------------------------------------------------
def png(color=(200, 30, 30), size=(8, 8), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def png16() -> bytes:
    """A 16-bit greyscale gradient (values up to 60,000): blank white if converted naively."""
    import numpy as np

    arr = (np.linspace(0, 60000, 64 * 64).reshape(64, 64)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")  # uint16 -> mode I;16
    return buf.getvalue()


def bomb_png(width=100_000, height=100_000) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def good_rows(n: int = 4) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "question": f"Which colour is item {i}?", "options": [f"red{i}", f"blue{i}", f"green{i}"],
             "answer": "ABC"[i % 3], "category": "c"} for i in range(n)]


def jsonl(rows: list[Any]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@dataclass
class Case:
    """One hostile input and what must happen to it."""

    name: str
    group: str  # submission | image | store | cli
    #: ``error``: exit 2 with ``expect`` words in the message; ``ok``: exit 0 (then ``check``)
    want: str
    #: argv lists (without the program) to run, in order; placeholders {dir}, {sub}, {out}, {zoo}
    commands: list[list[str]]
    expect: list[str] = field(default_factory=list)
    sub: str = "sub.jsonl"
    #: called with (case dir, outputs) after an ``ok`` run; returns an error string or None
    check: Callable[[Path, list["Outcome"]], str | None] | None = None
    #: the out folder cannot hold files (a stale verdict cannot be replaced there)
    out_unwritable: bool = False
    setup: Callable[[Path], None] | None = None


@dataclass
class Outcome:
    argv: list[str]
    code: int | None
    output: str
    seconds: float


def inspect_and_gate(sub: str = "sub.jsonl", extra: list[str] | None = None) -> list[list[str]]:
    return [["inspect", "{dir}/" + sub], ["gate", "{dir}/" + sub, "--zoo", "hostile", "--zoo-file", "{zoo}", "--out", "{out}", *(extra or [])]]


# -- the cases -------------------------------------------------------------------------------
def _write(d: Path, name: str, data: str | bytes) -> None:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")


def _submission_cases() -> list[tuple[Case, Callable[[Path], None]]]:
    out: list[tuple[Case, Callable[[Path], None]]] = []

    def add(name, want, files: dict[str, str | bytes], expect=(), sub="sub.jsonl", check=None, extra=None, commands=None):
        case = Case(name, "submission", want, commands or inspect_and_gate(sub, extra), list(expect), sub=sub, check=check)
        out.append((case, lambda d, files=files: [_write(d, k, v) for k, v in files.items()]))

    rows = good_rows()
    add("valid-jsonl", "ok", {"sub.jsonl": jsonl(rows)}, check=check_gate_status("pass"))
    add("valid-csv", "ok", {"sub.csv": "id,question,A,B,C,answer\nq1,Which?,x,y,z,A\nq2,What?,u,v,w,B\n"}, sub="sub.csv")
    add("invalid-json-line", "error", {"sub.jsonl": jsonl(rows[:2]) + "{not json\n"}, ["sub.jsonl", "row 2", "line 3"])
    add("json-array-line", "error", {"sub.jsonl": jsonl(rows[:1]) + "[1, 2]\n"}, ["sub.jsonl", "line 2"])
    add("empty-file", "error", {"sub.jsonl": ""}, ["sub.jsonl", "empty"])
    add("only-blank-lines", "error", {"sub.jsonl": "\n\n  \n"}, ["sub.jsonl"])
    add("nul-bytes-in-json", "error", {"sub.jsonl": b'{"question": "a\x00b", "options": ["x","y"], "answer": "A"}\n'}, ["sub.jsonl"])
    add("escaped-nul-in-question", "error", {"sub.jsonl": jsonl([{**rows[0], "question": "a\u0000b"}])}, ["sub.jsonl", "row 0", "question", "NUL"])
    add("invalid-utf8", "error", {"sub.jsonl": jsonl(rows[:1]).encode() + b'{"question": "\xff\xfe", "answer": "A"}\n'}, ["sub.jsonl", "UTF-8", "line 2"])
    add("missing-question", "error", {"sub.jsonl": jsonl([{"id": "a", "options": ["x", "y"], "answer": "A"}])}, ["sub.jsonl"])
    add("nan-question", "error", {"sub.csv": "question,A,B,answer\nNaN,x,y,A\n"}, ["sub.csv", "row 0", "question", "NaN"], sub="sub.csv")
    add("answer-not-an-option", "error", {"sub.jsonl": jsonl([{**rows[0], "answer": "E"}])}, ["sub.jsonl", "row 0", "answer"])
    add("options-gap-dict", "error", {"sub.jsonl": jsonl([{"question": "q", "options": {"A": "x", "C": "y", "D": "z"}, "answer": "A"}])},
        ["sub.jsonl", "row 0", "option B"])
    add("options-bad-keys", "error", {"sub.jsonl": jsonl([{"question": "q", "options": {"1": "x", "2": "y"}, "answer": "A"}])}, ["sub.jsonl", "options"])
    add("csv-nan-option-in-middle", "error", {"sub.csv": "question,A,B,C,D,answer\nWhich?,x,y,,z,A\n"}, ["sub.csv", "row 0", "option C"], sub="sub.csv")
    # pandas' NA strings are option texts, never missing options (VLMEvalKit's MMStar result, row 268: option A is "None")
    na_texts = ["None", "NA", "null", "N/A", "nan"]
    add("csv-na-texts-are-options", "ok", {"sub.csv": "question,A,B,C,D,E,answer\nHow many?," + ",".join(na_texts) + ",A\n"
                                           "Which?,N/A,null,,,,B\n"}, sub="sub.csv", check=check_options("sub.csv", [na_texts, ["N/A", "null"]]))
    add("xlsx-na-texts-are-options", "ok", {"sub.xlsx": _xlsx([{"index": 1, "question": "How many?", **dict(zip("ABCDE", na_texts)), "answer": "A"},
                                                               {"index": 2, "question": "Which?", "A": "NA", "B": "None", "answer": "B"}])},
        sub="sub.xlsx", check=check_options("sub.xlsx", [na_texts, ["NA", "None"]]))
    add("csv-ragged-row-short", "error", {"sub.csv": "question,A,B,answer\nq1,x,y,A\nq2,x\n"}, ["sub.csv", "row 1", "line 3", "field(s)"], sub="sub.csv")
    add("csv-ragged-row-long", "error", {"sub.csv": "question,A,B,answer\nq1,x,y,A,extra,more\n"}, ["sub.csv", "row 0", "field(s)"], sub="sub.csv")
    add("csv-unclosed-quote", "error", {"sub.csv": 'question,A,B,answer\n"q1,x,y,A\n'}, ["sub.csv"], sub="sub.csv")
    add("tsv-ragged", "error", {"sub.tsv": "index\tquestion\tA\tB\tanswer\n1\tq\tx\ty\tA\n2\tq\n"}, ["sub.tsv", "row 1"], sub="sub.tsv")
    add("integer-answer-word", "error", {"sub.jsonl": jsonl([{"question": "How many?", "answer": "three", "answer_type": "integer"}])},
        ["sub.jsonl", "row 0", "answer", "integer"])
    add("float-answer-inf", "error", {"sub.jsonl": jsonl([{"question": "How much?", "answer": "inf", "answer_type": "float"}])}, ["sub.jsonl", "answer"])
    add("unknown-answer-type", "error", {"sub.jsonl": jsonl([{"question": "q", "answer": "x", "answer_type": "essay"}])}, ["sub.jsonl", "answer_type"])
    add("deep-nesting-json-field", "error", {"sub.jsonl": '{"question": "q", "answer": "A", "options": ' + nested(5000) + "}\n"},
        ["sub.jsonl", "nested"])
    add("deep-nesting-json-file", "error", {"sub.json": nested(5000)}, ["sub.json", "nested"], sub="sub.json")
    add("deep-nesting-csv-options", "error", {"sub.csv": 'question,options,answer\nq,"' + nested(5000) + '",A\n'}, ["sub.csv", "row 0", "options", "nested"], sub="sub.csv")
    add("deep-nesting-python-literal", "error", {"sub.csv": 'question,options,answer\nq,"' + "[(" * 3000 + '",A\n'}, ["sub.csv", "row 0", "options"], sub="sub.csv")
    add("huge-question", "error", {"sub.jsonl": jsonl([{**rows[0], "question": "why " * 300_000}])}, ["sub.jsonl", "row 0", "question", "limit"])
    add("long-question-under-cap", "ok", {"sub.jsonl": jsonl([{**rows[0], "question": "why " * 30_000}] + rows[1:])},
        check=check_output_contains("long_prompts"), commands=[["inspect", "{dir}/sub.jsonl", "--json"],
                                                                 ["gate", "{dir}/sub.jsonl", "--zoo", "hostile", "--zoo-file", "{zoo}", "--out", "{out}"]])
    add("question-is-object", "error", {"sub.jsonl": jsonl([{"question": {"a": 1}, "answer": "A", "options": ["x", "y"]}])}, ["sub.jsonl", "question"])
    add("options-not-list", "error", {"sub.jsonl": jsonl([{"question": "q", "answer": "A", "options": "x or y"}])}, ["sub.jsonl", "options"])
    add("option-is-list", "error", {"sub.jsonl": jsonl([{"question": "q", "answer": "A", "options": [["x"], "y"]}])}, ["sub.jsonl", "options[0]"])
    add("duplicate-ids", "error", {"sub.jsonl": jsonl([rows[0], rows[0]])}, ["sub.jsonl", "duplicate"])
    add("control-chars-and-ansi", "error", {"sub.jsonl": jsonl([{**rows[0], "answer": "\x1b[31mE\x07\x01"}])}, ["sub.jsonl", "row 0", "answer"],
        check=None)
    add("xlsx-file", "error", {"sub.xlsx": b"PK\x03\x04" + os.urandom(200)}, ["sub.xlsx", "Excel"], sub="sub.xlsx")
    add("zip-renamed-jsonl", "error", {"sub.jsonl": b"PK\x03\x04" + os.urandom(200)}, ["sub.jsonl", "ZIP"])
    add("parquet-garbage", "error", {"sub.parquet": b"PAR1" + os.urandom(300)}, ["sub.parquet", "parquet"], sub="sub.parquet")
    add("parquet-wrong-columns", "error", {"sub.parquet": _parquet([{"foo": 1, "bar": "x"}])}, ["sub.parquet", "column"], sub="sub.parquet")
    add("parquet-bytes-question", "error", {"sub.parquet": _parquet([{"question": b"\x80\x04pickle", "answer": "A", "A": "x", "B": "y"}])},
        ["sub.parquet", "row 0", "question"], sub="sub.parquet")
    add("parquet-nan-question", "error", {"sub.parquet": _parquet([{"question": float("nan"), "answer": "A", "A": "x", "B": "y"}])},
        ["sub.parquet", "row 0", "question", "NaN"], sub="sub.parquet")
    add("missing-folder-file", "error", {}, ["nope.jsonl"], sub="nope.jsonl")
    add("unknown-columns-csv", "error", {"sub.csv": "foo,bar\n1,2\n"}, ["sub.csv", "column"], sub="sub.csv")
    add("bom-and-crlf-csv", "ok", {"sub.csv": "\ufeffquestion,A,B,answer\r\nWhich?,x,y,A\r\nWhat?,u,v,B\r\n"}, sub="sub.csv")
    return out


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame(rows).to_excel(buf, index=False)
    return buf.getvalue()


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _image_cases() -> list[tuple[Case, Callable[[Path], None]]]:
    out: list[tuple[Case, Callable[[Path], None]]] = []
    base = {"question": "What colour is the square?", "options": ["red", "blue"], "answer": "A"}

    def add(name, want, image_value, files: dict[str, bytes] | None = None, expect=(), check=None):
        row = {**base, "id": "img0", "image": image_value}
        files = {"sub.jsonl": jsonl([row, {**base, "id": "plain", "question": "Which is a colour?"}]), **(files or {})}
        case = Case(name, "image", want, inspect_and_gate(), list(expect), check=check)
        out.append((case, lambda d, files=files: [_write(d, k, v) for k, v in files.items()]))

    good = png()
    add("image-ok-file", "ok", "img.png", {"img.png": good})
    add("image-16bit-png", "ok", "img16.png", {"img16.png": png16()}, check=check_image_not_blank("img16.png"))
    add("image-palette-transparency", "ok", "p.png", {"p.png": _palette_png()})
    add("image-la", "ok", "la.png", {"la.png": png((120, 128), mode="LA")})
    add("image-cmyk-jpeg", "ok", "c.jpg", {"c.jpg": _cmyk_jpeg()})
    add("image-truncated-png", "error", "t.png", {"t.png": _big_png()[:400]}, ["sub.jsonl", "row 0", "image"])
    add("image-non-image-bytes", "error", "n.png", {"n.png": b"this is not an image at all" * 10}, ["sub.jsonl", "row 0", "image"])
    add("image-empty-file", "error", "e.png", {"e.png": b""}, ["sub.jsonl", "row 0", "image"])
    add("image-bomb-header", "error", "b.png", {"b.png": bomb_png()}, ["sub.jsonl", "row 0", "image", "pixel"])
    add("image-bad-base64", "error", "iVBORw0KGgo" + "!!!!" * 20, expect=["sub.jsonl", "row 0", "image", "base64"])
    add("image-base64-not-image", "error", base64.b64encode(b"hello world, not an image" * 50).decode(), expect=["sub.jsonl", "row 0", "image"])
    add("image-base64-ok", "ok", base64.b64encode(good).decode())
    add("image-data-uri", "ok", "data:image/png;base64," + base64.b64encode(good).decode())
    add("image-nul-in-path", "error", "img\x00.png", {"img.png": good}, ["sub.jsonl", "row 0", "image", "NUL"])
    add("image-5000-char-name", "error", "a" * 5000 + ".png", expect=["sub.jsonl", "row 0", "image", "too long"])
    add("image-path-escape", "error", "../../etc/passwd", expect=["sub.jsonl", "row 0", "image", "escapes"])
    add("image-absolute-path", "error", "/etc/hostname", expect=["sub.jsonl", "row 0", "image"])
    add("image-missing-file", "error", "missing.png", expect=["sub.jsonl", "row 0", "image", "not found"])
    add("image-text-value", "error", "this is a description of the image, not a path " * 10, expect=["sub.jsonl", "row 0", "image"])
    add("image-list-with-bad", "error", ["img.png", "nope.png"], {"img.png": good}, ["sub.jsonl", "row 0", "image[1]"])
    add("image-number", "error", 12345, expect=["sub.jsonl", "row 0", "image"])
    return out


def _big_png() -> bytes:
    import numpy as np

    arr = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _palette_png() -> bytes:
    img = Image.new("P", (16, 16), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    for x in range(8):
        for y in range(16):
            img.putpixel((x, y), 1)
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)
    return buf.getvalue()


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(buf, format="JPEG")
    return buf.getvalue()


def _store_cases() -> list[tuple[Case, Callable[[Path], None]]]:
    out: list[tuple[Case, Callable[[Path], None]]] = []

    def healthy(d: Path) -> Path:
        from leakaudit.answers.store import Answer, AnswerStore

        with AnswerStore(d / "run") as st:
            for i in range(30):
                st.add(Answer("b", f"s{i}", f"h{i}", "m", "text", "p", "letter", i % 2 == 0, option_scores=[0.0, -1.0]))
            st.record_run({"command": "test", "benchmark": "b"})
        return d / "run" / "answers.sqlite"

    def add(name, want, damage: Callable[[Path], None] | None, commands, expect=(), check=None):
        def setup(d: Path, damage=damage):
            f = healthy(d)
            if damage:
                damage(f)

        out.append((Case(name, "store", want, commands, list(expect), check=check), setup))

    def truncate(f: Path):
        data = f.read_bytes()
        f.write_bytes(data[: len(data) // 2])

    def garbage(f: Path):
        f.write_bytes(os.urandom(f.stat().st_size))

    def bad_json(f: Path):
        c = sqlite3.connect(f)
        c.execute("UPDATE answers SET option_scores = '[0.0, ' WHERE sample_id = 's3'")
        c.commit()
        c.close()

    def bad_run_json(f: Path):
        c = sqlite3.connect(f)
        c.execute("UPDATE runs SET info = '{oops'")
        c.commit()
        c.close()

    def rollback_journal(f: Path):
        c = sqlite3.connect(f)
        c.execute("PRAGMA journal_mode=DELETE")
        c.close()

    def empty_sqlite(f: Path):
        f.unlink()
        sqlite3.connect(f).execute("CREATE TABLE other (x)").connection.close()

    audit = ["audit", "--run-dir", "{dir}/run", "--n-boot", "0"]
    export = ["export", "--run-dir", "{dir}/run", "-o", "{out}/answers.parquet"]
    add("store-healthy-audit", "ok", None, [audit, export, ["store", "check", "{dir}/run"]])
    add("store-rollback-journal-stays", "ok", rollback_journal, [audit, export], check=check_journal_mode("delete"))
    add("store-truncated-audit", "error", truncate, [audit], ["answers.sqlite", "store repair"])
    add("store-truncated-export", "error", truncate, [export], ["answers.sqlite"])
    add("store-truncated-repair", "ok", truncate, [["store", "repair", "{dir}/run"], audit], check=check_damaged_kept())
    add("store-garbage-audit", "error", garbage, [audit], ["answers.sqlite", "not a readable answer store"])
    add("store-garbage-report", "error", garbage, [["report", "{dir}/run", "-o", "{out}/r.pdf", "--no-images"]], ["answers.sqlite"])
    add("store-garbage-run", "error", garbage, [["run", "{dir}/sub.jsonl", "--models", "scripted-a", "--zoo-file", "{zoo}", "--condition", "text",
                                                  "--run-dir", "{dir}/run", "--no-progress"]], ["answers.sqlite"])
    add("store-garbage-check", "error", garbage, [["store", "check", "{dir}/run"]], ["DAMAGED"])
    add("store-bad-json-cell-audit", "error", bad_json, [audit], ["answers.sqlite", "option_scores", "rowid"])
    add("store-bad-json-cell-export", "error", bad_json, [export], ["answers.sqlite", "option_scores"])
    add("store-bad-json-cell-repair", "ok", bad_json, [["store", "repair", "{dir}/run"], audit, ["store", "check", "{dir}/run"]])
    add("store-bad-run-json-report", "error", bad_run_json, [["store", "check", "{dir}/run"]], ["info"])
    add("store-not-a-store", "error", empty_sqlite, [audit], ["answers.sqlite", "answers"])
    add("store-missing", "error", lambda f: f.unlink(), [audit], ["answers.sqlite"])
    add("store-settings-wrong-type", "error", lambda f: (f.parent / "settings.json").write_text('{"k": "x", "seed": 0}'), [audit],
        ["settings.json", "'k'", "int"])
    add("store-settings-negative-seed", "error", lambda f: (f.parent / "settings.json").write_text('{"seed": -1}'), [audit],
        ["seed", ">= 0"])
    return out


def _cli_cases() -> list[tuple[Case, Callable[[Path], None]]]:
    out: list[tuple[Case, Callable[[Path], None]]] = []
    sub = {"sub.jsonl": jsonl(good_rows())}

    def add(name, want, commands, expect=(), files=None, check=None, out_unwritable=False):
        files = {**sub, **(files or {})}
        out.append((Case(name, "cli", want, commands, list(expect), check=check, out_unwritable=out_unwritable),
                    lambda d, files=files: [_write(d, k, v) for k, v in files.items()]))

    gate = ["gate", "{dir}/sub.jsonl", "--zoo", "hostile", "--zoo-file", "{zoo}"]
    add("inspect-limit-zero", "error", [["inspect", "{dir}/sub.jsonl", "--limit", "0"]], ["--limit"])
    add("gate-out-is-a-file", "error", [gate + ["--out", "{dir}/sub.jsonl"]], ["--out"], out_unwritable=True)
    add("gate-out-inside-a-file", "error", [gate + ["--out", "{dir}/sub.jsonl/out"]], ["--out"], out_unwritable=True)
    add("gate-k-not-below-n", "error", [gate + ["--out", "{out}", "--k", "5", "--n", "3"]], ["--k"])
    add("gate-k-above-panel", "error", [gate + ["--out", "{out}", "--k", "2"]], ["more than 2"])
    add("gate-unknown-zoo-group", "error", [["gate", "{dir}/sub.jsonl", "--zoo", "nope", "--zoo-file", "{zoo}", "--out", "{out}"]], ["nope"])
    add("gate-bad-zoo-file", "error", [["gate", "{dir}/sub.jsonl", "--zoo", "x", "--zoo-file", "{dir}/zoo.yaml", "--out", "{out}"]], ["zoo.yaml"],
        files={"zoo.yaml": "models: [1, 2\n"})
    add("gate-zoo-github-token", "error", [["gate", "{dir}/sub.jsonl", "--zoo", "g", "--zoo-file", "{dir}/zoo.yaml", "--out", "{out}"]],
        ["GITHUB_TOKEN", "_API_KEY"], files={"zoo.yaml": "models:\n  g: {kind: llm, backend: openai, api_model: x, options: {api_key_env: GITHUB_TOKEN}}\n"})
    add("gate-remote-code-unpinned", "error", [["gate", "{dir}/sub.jsonl", "--zoo", "r", "--zoo-file", "{dir}/zoo.yaml", "--out", "{out}"]],
        ["allow-remote-code"], files={"zoo.yaml": "models:\n  r: {kind: llm, backend: hf, hf_id: some/model, trust_remote_code: true}\n"})
    add("gate-missing-submission", "error", [gate[:1] + ["{dir}/nope.jsonl"] + gate[2:] + ["--out", "{out}"]], ["nope.jsonl"])
    add("export-txt-suffix", "error", [["run", "{dir}/sub.jsonl", "--models", "scripted-a", "--zoo-file", "{zoo}", "--condition", "text",
                                         "--run-dir", "{dir}/run", "--no-progress"], ["export", "--run-dir", "{dir}/run", "-o", "{out}/x.txt"]], [".txt"])
    add("export-jsonl-suffix", "ok", [["run", "{dir}/sub.jsonl", "--models", "scripted-a", "--zoo-file", "{zoo}", "--condition", "text",
                                        "--run-dir", "{dir}/run", "--no-progress"], ["export", "--run-dir", "{dir}/run", "-o", "{out}/x.jsonl"]],
        check=check_file_lines("x.jsonl", 4))
    add("run-unknown-model", "error", [["run", "{dir}/sub.jsonl", "--models", "nope", "--zoo-file", "{zoo}", "--condition", "text", "--run-dir", "{out}/run"]], ["nope"])
    add("run-text-model-vision", "error", [["run", "{dir}/sub.jsonl", "--models", "scripted-a", "--zoo-file", "{zoo}", "--condition", "vision",
                                            "--run-dir", "{out}/run"]], ["text-only"])
    add("audit-no-store", "error", [["audit", "--run-dir", "{dir}/nothing"]], ["nothing"])
    add("store-check-no-store", "error", [["store", "check", "{dir}"]], ["answers.sqlite"])
    add("judge-bad-json-line", "error", [["judge", "pointwise", "--model", "scripted-a", "--zoo-file", "{zoo}", "--input", "{dir}/j.jsonl"]],
        ["j.jsonl", "row 1", "line 3"], files={"j.jsonl": '{"question": "q", "response": "r"}\n\n{bad\n'})
    add("inspect-unknown-benchmark", "error", [["inspect", "not-a-benchmark-or-file"]], ["not-a-benchmark-or-file"])
    # a model path that holds no model, or is not what its name says (issue 20)
    run_models = ["run", "{dir}/sub.jsonl", "--condition", "text", "--run-dir", "{out}/run", "--no-progress", "--models"]
    add("run-models-empty-folder", "error", [run_models + ["{dir}/empty-model", "--kind", "llm"]], ["empty-model", "holds no model"],
        files={"empty-model/notes.txt": "no weights here\n"})
    add("run-models-fake-gguf", "error", [run_models + ["{dir}/fake.gguf"]], ["fake.gguf", "not a GGUF file"],
        files={"fake.gguf": "this is text, not GGUF\n"})
    add("run-models-truncated-gguf", "error", [run_models + ["{dir}/cut.gguf", "--backend", "hf"]], ["cut.gguf", "could not be loaded"],
        files={"cut.gguf": b"GGUF\x03\x00\x00\x00" + bytes(40)})
    add("run-models-folder-bad-config", "error", [run_models + ["{dir}/bad-model"]], ["bad-model", "could not be loaded"],
        files={"bad-model/config.json": '{"model_type": "llama"}'})
    # audit output folders written by someone else
    add("report-summary-text-numbers", "error", [["report", "{dir}/aud", "-o", "{out}/r.pdf"]], ["summary.json", "n_samples"],
        files={"aud/summary.json": json.dumps({"n_samples": "lots", "share_text_answerable": "high", "verdict": {"status": "pass"}})})
    add("report-summary-infinite-share", "error", [["report", "{dir}/aud", "-o", "{out}/r.pdf"]], ["summary.json", "share_leaked"],
        files={"aud/summary.json": '{"n_samples": 4, "share_leaked": Infinity}'})
    add("report-summary-not-an-object", "error", [["report", "{dir}/aud", "-o", "{out}/r.pdf"]], ["summary.json", "JSON object"],
        files={"aud/summary.json": "[1, 2, 3]"})
    add("report-metrics-text-score", "error", [["report", "{dir}/aud", "-o", "{out}/r.pdf"]], ["metrics.csv", "row 0", "S_v"],
        files={"aud/summary.json": '{"n_samples": 4}', "aud/metrics.csv": "model,kind,benchmark,category,S_v\nm,lvlm,b,all,fifty\n"})
    add("report-summary-nested-wrong", "error", [["report", "{dir}/aud", "-o", "{out}/r.pdf"]], ["summary.json", "settings.inspectors"],
        files={"aud/summary.json": '{"n_samples": 4, "settings": {"inspectors": 5}}'})
    add("report-summary-only", "ok", [["report", "{dir}/aud", "-o", "{out}/r.pdf"]], files={"aud/summary.json": '{"n_samples": 4}'})
    # the probe on questions it cannot hold out
    add("probe-identical-questions", "error", [["probe", "{dir}/same.jsonl"]], ["same.jsonl", "same text and options"],
        files={"same.jsonl": jsonl([{"id": f"q{i}", "question": "Same?", "options": ["a", "b"], "answer": "A"} for i in range(6)])})
    # more files and flags that once ended in "unexpected failure" (issue 20): each names the file and what is wrong
    summary = '{"n_samples": 4}'
    report = ["report", "{dir}/aud", "-o", "{out}/r.pdf"]
    add("report-summary-bad-utf8", "error", [report], ["summary.json", "UTF-8", "line 1"], files={"aud/summary.json": b'{"n_samples": 4, "x": "\xff"}'})
    add("report-samples-parquet-garbage", "error", [report], ["samples.parquet", "not a readable PARQUET"],
        files={"aud/summary.json": summary, "aud/samples.parquet": b"PAR1 this is not parquet PAR1"})
    add("report-metrics-no-key-columns", "error", [report], ["metrics.csv", "model"], files={"aud/summary.json": summary, "aud/metrics.csv": "foo\n1\n"})
    add("report-samples-text-count", "error", [report], ["samples.csv", "row 0", "text_hits"],
        files={"aud/summary.json": summary, "aud/samples.csv": "benchmark,sample_id,chance,text_hits,text_n\nb,x,0.25,abc,3\n"})
    add("report-samples-kept-not-bool", "error", [report], ["samples.csv", "row 0", "kept"],
        files={"aud/summary.json": summary, "aud/samples.csv": "benchmark,sample_id,chance,text_hits,text_n,kept\nb,x,0.25,1,3,maybe\n"})
    add("report-summary-setting-wrong-type", "error", [report], ["summary.json", "settings.k"],
        files={"aud/summary.json": '{"n_samples": 4, "settings": {"k": "two", "inspectors": [1, {"a": 2}]}}'})
    add("report-out-inside-a-file", "error", [["report", "{dir}/aud", "-o", "{dir}/sub.jsonl/r.pdf"]], ["sub.jsonl", "a folder is needed here"],
        files={"aud/summary.json": summary})
    add("import-lm-eval-bad-utf8", "error", [["import", "{dir}/lm.jsonl", "--format", "lm-eval", "--model", "m", "--condition", "text",
                                              "--benchmark", "{dir}/sub.jsonl", "--run-dir", "{out}/run"]], ["lm.jsonl", "row 1", "UTF-8", "line 2"],
        files={"lm.jsonl": b'{"doc": {"id": "q0"}, "resps": [["A"]]}\n\xff\xfe\n'})
    add("import-header-only", "error", [["import", "{dir}/pred.csv", "--format", "vlmevalkit", "--model", "m", "--condition", "text",
                                         "--benchmark", "{dir}/sub.jsonl", "--run-dir", "{out}/run"]], ["pred.csv", "no predictions"],
        files={"pred.csv": "index,prediction\n"})
    add("zoo-not-utf8", "error", [["models", "--zoo-file", "{dir}/zoo.yaml"]], ["zoo.yaml", "UTF-8", "line 2"],
        files={"zoo.yaml": b"models:\n  x: {kind: llm, backend: \xff}\n"})
    add("judge-input-bad-utf8", "error", [["judge", "pointwise", "--model", "scripted-a", "--zoo-file", "{zoo}", "--input", "{dir}/j.jsonl"]],
        ["j.jsonl", "UTF-8", "line 1"], files={"j.jsonl": b'{"question": "\xff"}\n'})
    add("probe-out-inside-a-file", "error", [["probe", "{dir}/many.jsonl", "-o", "{dir}/sub.jsonl/p.csv"]], ["sub.jsonl", "a folder is needed here"],
        files={"many.jsonl": jsonl(good_rows(8))})
    add("probe-negative-seed", "error", [["probe", "{dir}/many.jsonl", "--seed", "-1"]], ["--seed"], files={"many.jsonl": jsonl(good_rows(8))})
    return out


# -- checks ----------------------------------------------------------------------------------
def check_gate_status(status: str):
    def check(d: Path, outs: list[Outcome]) -> str | None:
        v = json.loads((d / "out" / "verdict.json").read_text())
        return None if v.get("status") == status else f"verdict status {v.get('status')!r}, expected {status!r}"

    return check


def check_output_contains(word: str):
    def check(d: Path, outs: list[Outcome]) -> str | None:
        return None if word in outs[0].output else f"{word!r} not in the first command's output"

    return check


def check_options(name: str, expected: list[list[str]]):
    def check(d: Path, outs: list[Outcome]) -> str | None:
        from leakaudit.data.benchmark import load_benchmark

        got = [s.options for s in load_benchmark(str(d / name))]
        return None if got == expected else f"{name}: options read as {got}, expected {expected}"

    return check


def check_image_not_blank(name: str):
    def check(d: Path, outs: list[Outcome]) -> str | None:
        import numpy as np

        from leakaudit.data.images import ImageRef

        arr = np.asarray(ImageRef(data=(d / name).read_bytes()).load(), dtype=float)
        return None if arr.std() > 20 and arr.min() < 50 and arr.max() > 200 else f"decoded {name} is blank (std {arr.std():.1f})"

    return check


def check_journal_mode(mode: str):
    def check(d: Path, outs: list[Outcome]) -> str | None:
        got = sqlite3.connect(d / "run" / "answers.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
        return None if got == mode else f"journal mode changed to {got!r} by a read-only command"

    return check


def check_damaged_kept():
    def check(d: Path, outs: list[Outcome]) -> str | None:
        return None if list((d / "run").glob("answers.sqlite.damaged-*")) else "the damaged store was not kept"

    return check


def check_file_lines(name: str, n: int):
    def check(d: Path, outs: list[Outcome]) -> str | None:
        lines = (d / "out" / name).read_text().splitlines()
        return None if len(lines) == n and all(json.loads(x)["model"] == "scripted-a" for x in lines) else f"{name}: {len(lines)} lines"

    return check


# -- generation and running ------------------------------------------------------------------
def generate(root: str | Path) -> list[Case]:
    """Write every case into its own folder under ``root`` (plus the scripted zoo); return the cases."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "zoo.yaml").write_text(SCRIPTED_ZOO, encoding="utf-8")
    cases = []
    for case, setup in _submission_cases() + _image_cases() + _store_cases() + _cli_cases():
        d = root / case.name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        if case.group == "store":
            _write(d, "sub.jsonl", jsonl(good_rows()))
        setup(d)
        case.setup = None
        cases.append(case)
    return cases


def case_names() -> list[str]:
    """The names of every case, without writing anything."""
    return [c.name for c, _ in _submission_cases() + _image_cases() + _store_cases() + _cli_cases()]


def _argv(cmd: list[str], root: Path, case: Case) -> list[str]:
    d = root / case.name
    return [a.replace("{dir}", str(d)).replace("{out}", str(d / "out")).replace("{zoo}", str(root / "zoo.yaml")) for a in cmd]


def _snapshot(d: Path) -> dict[str, tuple[int, float]]:
    """Files under ``d`` outside ``out/`` (and the store's own folder, which run/repair may change)."""
    snap = {}
    for p in d.rglob("*"):
        rel = p.relative_to(d)
        if rel.parts[0] in ("out", "run") or not p.is_file():
            continue
        st = p.stat()
        snap[str(rel)] = (st.st_size, st.st_mtime)
    return snap


@dataclass
class Result:
    case: str
    group: str
    verdict: str  # clear | correct | traceback | silent | hang | wrong
    detail: str = ""


def classify(case: Case, root: Path, outs: list[Outcome], before: dict, after: dict, sentinel_files: list[str]) -> Result:
    """clear / correct / traceback / silent / hang / wrong for one case's outcomes."""
    d = root / case.name
    text = "\n".join(o.output for o in outs)
    if any(o.code is None for o in outs):
        return Result(case.name, case.group, "hang", f"timed out: {outs[-1].argv[:2]}")
    if "Traceback (most recent call last)" in text or "unexpected failure" in text:  # the CLI's last line of defence is a bug too
        return Result(case.name, case.group, "traceback", text[-600:])
    if sentinel_files:
        return Result(case.name, case.group, "wrong", f"wrote outside --out: {sentinel_files[:3]}")
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        return Result(case.name, case.group, "wrong", f"changed files outside out/: {changed[:3]}")
    if "\x1b[" in text and "\x1b[31mE" not in text:
        pass
    if "\x1b[31m" in text:
        return Result(case.name, case.group, "wrong", "raw ANSI escape from the input reached the terminal")
    gate_outs = [o for o in outs if o.argv and o.argv[0] == "gate"]
    if case.want == "ok":
        bad = [o for o in outs if o.code != 0]
        if bad:
            return Result(case.name, case.group, "wrong", f"exit {bad[0].code} for {bad[0].argv[0]}: {bad[0].output[-400:]}")
        if case.check:
            err = case.check(d, outs)
            if err:
                return Result(case.name, case.group, "silent", err)
        return Result(case.name, case.group, "correct")
    # want == "error": the last command (both, for inspect + gate) must fail with exit 2 and name what is expected
    if case.commands[0][0] == "inspect":
        passed = [o for o in outs if o.code == 0]
        if passed:
            return Result(case.name, case.group, "silent", f"{passed[0].argv[0]} exit 0: {passed[0].output[-300:]}")
    last = outs[-1]
    if last.code == 0:
        return Result(case.name, case.group, "silent", f"exit 0: {last.output[-300:]}")
    if last.code != 2:
        return Result(case.name, case.group, "wrong", f"exit {last.code} (a crash must be 2, never 1): {last.output[-300:]}")
    missing = [w for w in case.expect if w.lower() not in text.lower()]
    if missing:
        return Result(case.name, case.group, "wrong", f"message lacks {missing}: {text[-400:]}")
    for o in gate_outs:
        if case.out_unwritable:
            continue
        vpath = d / "out" / "verdict.json"
        if not vpath.is_file():
            return Result(case.name, case.group, "wrong", "gate error left no verdict.json")
        v = json.loads(vpath.read_text())
        if v.get("stale") or v.get("status") != "error" or v.get("exit_code") != 2:
            return Result(case.name, case.group, "wrong", f"verdict.json is not a fresh error verdict: {v.get('status')}")
        import xml.etree.ElementTree as ET

        try:
            ET.parse(d / "out" / "junit.xml")
        except Exception as exc:  # noqa: BLE001
            return Result(case.name, case.group, "wrong", f"junit.xml does not parse: {exc}")
        if not (d / "out" / "summary.md").is_file():
            return Result(case.name, case.group, "wrong", "no summary.md")
    return Result(case.name, case.group, "clear")


def seed_stale(case: Case, root: Path) -> None:
    """A previous run's passing verdict in ``out``: a crash must not leave it there."""
    out = root / case.name / "out"
    if case.out_unwritable:
        return
    out.mkdir(exist_ok=True)
    (out / "verdict.json").write_text(json.dumps(STALE_VERDICT))


def run_case_subprocess(case: Case, root: Path, *, timeout: float = 120.0, python: str = sys.executable) -> Result:
    """Run every command of ``case`` through the real CLI (a fresh process each) and classify."""
    import time

    d = root / case.name
    sentinel = root / case.name / "cwd"
    sentinel.mkdir(exist_ok=True)
    seed_stale(case, root)
    before = _snapshot(d)
    outs = []
    env = {**os.environ, "NO_COLOR": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for cmd in case.commands:
        argv = _argv(cmd, root, case)
        t0 = time.perf_counter()
        try:
            p = subprocess.run([python, "-c", "from leakaudit.cli import main; main()", *argv], cwd=sentinel, capture_output=True, text=True, errors="replace",
                               timeout=timeout, env=env)
            outs.append(Outcome(argv, p.returncode, p.stdout + p.stderr, time.perf_counter() - t0))
        except subprocess.TimeoutExpired as exc:
            outs.append(Outcome(argv, None, str(exc.stdout or "") + str(exc.stderr or ""), timeout))
            break
    after = _snapshot(d)
    written = [str(p.relative_to(sentinel)) for p in sentinel.rglob("*")]
    return classify(case, root, outs, {k: v for k, v in before.items() if not k.startswith("cwd")},
                    {k: v for k, v in after.items() if not k.startswith("cwd")}, written)


__all__ = ["Case", "Result", "case_names", "classify", "generate", "run_case_subprocess", "seed_stale"]
