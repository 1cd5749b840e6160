"""VLMEvalKit's tables of every benchmark it distributes, and option texts pandas would call missing (issue 20, items 3-4).

VLMEvalKit ships MMStar, MMBench, SEED-Bench, AI2D, ScienceQA and MMMU as TSV (and its
result files as xlsx) with the options in ``A``, ``B``.. columns, MathVista with a ``choices``
list and ``index`` for the pid. Option texts such as "None" (VLMEvalKit's MMStar result for
VILA1.5-13B, row 268) are answers, not missing values; only an empty cell is absent.
"""
from __future__ import annotations

import base64
import io
import json

import pandas as pd
import pytest
from PIL import Image

from leakaudit.benchmark import load_benchmark
from leakaudit.imports import import_predictions

#: option texts pandas' default NA guessing turns into NaN
NA_LOOKING = ["None", "NA", "null", "N/A", "nan"]


def _b64_png(color: str = "red") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _vlmevalkit_rows(n: int = 3) -> list[dict]:
    """Rows as VLMEvalKit's image_mcq TSVs have them: index, question, hint, A..D, answer, category, l2-category, image."""
    return [{"index": i, "question": f"Which option describes picture {i}?", "hint": "Look closely." if i else "",
             "A": "None", "B": "NA", "C": f"a red square {i}", "D": "" if i == 2 else "N/A", "answer": "A" if i else "C",
             "category": "coarse perception", "l2-category": "image scene and topic", "split": "test", "image": _b64_png()}
            for i in range(n)]


def _write(rows: list[dict], path, fmt: str):
    frame = pd.DataFrame(rows)
    if fmt == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "xlsx":
        frame.to_excel(path, index=False)
    return path


@pytest.mark.parametrize("bench", ["mmstar", "mmbench", "seedbench", "ai2d", "scienceqa", "mmmu"])
@pytest.mark.parametrize("fmt", ["tsv", "xlsx"])
def test_every_vlmevalkit_benchmark_table_loads_with_its_option_columns(bench, fmt, tmp_path):
    path = _write(_vlmevalkit_rows(), tmp_path / f"{bench}.{fmt}", fmt)
    b = load_benchmark(bench, path=path)
    assert [s.id for s in b.samples] == ["0", "1", "2"]
    s0, s1, s2 = b.samples
    assert s0.options == ["None", "NA", "a red square 0", "N/A"] and s0.answer == "C"
    assert s1.answer == "A" and s1.options[0] == "None"  # the answer is the option "None"
    assert s2.options == ["None", "NA", "a red square 2"]  # the empty D is absent, not "nan"
    assert s0.category == "coarse perception" and s0.images and s0.images[0].load().size == (8, 8)
    assert s1.hint == "Look closely." and not s0.hint


@pytest.mark.parametrize("fmt", ["tsv", "xlsx"])
def test_mmstar_reads_both_its_inline_layout_and_vlmevalkits_columns(fmt, tmp_path):
    inline = [{"index": 7, "question": "What is shown?\nOptions: A: None, B: a cat, C: a dog, D: NA", "answer": "A",
               "category": "coarse perception", "l2_category": "image scene and topic", "bench": "MMBench"}]
    a = load_benchmark("mmstar", path=_write(inline, tmp_path / f"inline.{fmt}", fmt)).samples[0]
    columns = [{"index": 7, "question": "What is shown?", "A": "None", "B": "a cat", "C": "a dog", "D": "NA", "answer": "A",
                "category": "coarse perception", "l2-category": "image scene and topic", "bench": "MMBench"}]
    b = load_benchmark("mmstar", path=_write(columns, tmp_path / f"columns.{fmt}", fmt)).samples[0]
    for s in (a, b):
        assert (s.id, s.question, s.options, s.answer) == ("7", "What is shown?", ["None", "a cat", "a dog", "NA"], "A")
        assert s.l2_category == "image scene and topic" and s.meta["source_benchmark"] == "MMBench"


def test_mathvista_vlmevalkit_table_keeps_multiple_choice(tmp_path):
    rows = [{"index": 12, "question": "Which is larger?", "answer": "None", "choices": "['None', 'the circle']",
             "question_type": "multi_choice", "answer_type": "text", "image": _b64_png()},
            {"index": 13, "question": "How many?", "answer": "3", "choices": "", "question_type": "free_form",
             "answer_type": "integer", "image": _b64_png()}]
    b = load_benchmark("mathvista", path=_write(rows, tmp_path / "MathVista_MINI.tsv", "tsv"))
    mc, free = b.samples
    assert (mc.id, mc.options, mc.answer, mc.answer_type) == ("12", ["None", "the circle"], "A", "letter")
    assert (free.id, free.options, free.answer, free.answer_type) == ("13", [], "3", "integer")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "jsonl", "parquet"])
def test_na_looking_option_texts_are_options_in_every_format(fmt, tmp_path):
    """'None', 'NA', 'null', 'N/A', 'nan' stay texts; '' (or a real null) is an absent trailing option."""
    rows = [{"index": 1, "question": "Pick one", "A": NA_LOOKING[0], "B": NA_LOOKING[1], "C": NA_LOOKING[2], "D": NA_LOOKING[3],
             "E": NA_LOOKING[4], "F": "", "answer": "E", "category": "c"}]
    path = tmp_path / f"mmbench.{fmt}"
    if fmt == "jsonl":
        path.write_text(json.dumps({**rows[0], "F": None}) + "\n")
    elif fmt == "parquet":
        pd.DataFrame([{**rows[0], "F": None}]).to_parquet(path)
    else:
        _write(rows, path, fmt)
    s = load_benchmark("mmbench", path=path).samples[0]
    assert s.options == NA_LOOKING and s.answer == "E"


def test_vlmevalkit_result_xlsx_with_a_none_option_imports_and_scores(tmp_path):
    rows = _vlmevalkit_rows()
    for r, pred in zip(rows, ["C", "A", "B"]):
        r["prediction"] = pred
    x = _write(rows, tmp_path / "VILA1.5-13B_MMStar.xlsx", "xlsx")
    bench = load_benchmark("mmstar", path=x)
    s = import_predictions(x, format="vlmevalkit", model="vila", condition="vision", benchmark=bench, run_dir=tmp_path / "run")
    assert s.n_matched == 3 and s.accuracy == pytest.approx(200 / 3)
