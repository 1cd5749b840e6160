"""VLMEvalKit's tables of every benchmark it distributes, and option texts pandas would call missing (issue 20, items 3-4).

VLMEvalKit ships MMStar, MMBench, SEED-Bench, AI2D, ScienceQA and MMMU as TSV (and its
result files as xlsx) with the options in ``A``, ``B``.. columns, MathVista with a ``choices``
list and ``index`` for the pid. Option texts such as "None" (VLMEvalKit's MMStar result for
VILA1.5-13B, row 268) are answers, not missing values; only an empty cell is absent.

Both layouts of one benchmark must give the same questions: the same questions are written
in the hub dataset's own layout (parquet, images as ``{'bytes', 'path'}``) and in VLMEvalKit's
(TSV and xlsx, base64 images; MathVista with its query as the question) and compared.
"""
from __future__ import annotations

import base64
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from leakaudit.data.benchmark import get_adapter, load_benchmark
from leakaudit.errors import DataError
from leakaudit.answers.imports import import_predictions, table_rows

#: option texts pandas' default NA guessing turns into NaN
NA_LOOKING = ["None", "NA", "null", "N/A", "nan"]


def _png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def _b64_png(color: str = "red") -> str:
    return base64.b64encode(_png(color)).decode()


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
    elif fmt == "parquet":  # as HF datasets writes it: image structs kept
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
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


# -- the hub layout and VLMEvalKit's of one benchmark read to the same questions ----------------------
#: (question, options, answer letter, image colour): every option one of pandas' NA strings, or beside one
SAME_QUESTIONS = [
    ("How many tree stumps are there in the image?", ["None", "Two", "One", "Cannot be determined"], "A", "red"),
    ("Which label is printed on the box?", ["NA", "null", "N/A", "nan"], "C", "blue"),
]


def _hub_image(color: str) -> dict:
    return {"bytes": _png(color), "path": f"{color}.png"}


def _hub_rows(bench: str) -> list[dict]:
    """The questions in the hub dataset's own layout (what ``ds.to_parquet()`` of the real dataset holds)."""
    rows = []
    for i, (q, opts, ans, color) in enumerate(SAME_QUESTIONS):
        k = "ABCD".index(ans)
        if bench == "mmstar":
            inline = ", ".join(f"{letter}: {o}" for letter, o in zip("ABCD", opts))
            rows.append({"index": i, "question": f"{q}\nOptions: {inline}", "answer": ans, "category": "c", "l2_category": "l2",
                         "image": _hub_image(color), "meta_info": {"source": "SEEDBench_IMG"}})
        elif bench == "mmbench":
            rows.append({"index": i, "question": q, "hint": None, **dict(zip("ABCD", opts)), "answer": ans, "category": "c",
                         "L2-category": "l2", "image": _hub_image(color)})
        elif bench == "seedbench":
            rows.append({"question_id": str(i), "question": q, **{f"choice_{c}": o for c, o in zip("abcd", opts)}, "answer": ans,
                         "question_type_id": 5, "data_type": "image", "data_id": f"{i}.jpg", "image": [_hub_image(color)]})
        elif bench == "ai2d":
            rows.append({"id": str(i), "question": q, "options": opts, "answer": str(k), "image": _hub_image(color)})
        elif bench == "scienceqa":
            rows.append({"id": str(i), "question": q, "choices": opts, "answer": k, "hint": None, "image": _hub_image(color),
                         "subject": "natural science", "topic": "biology", "category": "c", "skill": "s", "grade": "grade4"})
        elif bench == "mmmu":
            rows.append({"id": f"validation_Art_{i + 1}", "question": f"{q} <image 1>", "options": str(opts), "answer": ans,
                         "question_type": "multiple-choice", "subfield": "Art History", "image_1": _hub_image(color),
                         **{f"image_{n}": None for n in range(2, 8)}})
        elif bench == "mathvista":
            rows.append({"pid": str(i), "question": q, "choices": opts, "answer": opts[k], "question_type": "multi_choice",
                         "answer_type": "text", "unit": None, "precision": None, "decoded_image": _hub_image(color),
                         "metadata": {"category": "general-vqa", "task": "figure question answering", "skills": ["counting"]}})
    return rows


def _mathvista_query(q: str, opts: list[str]) -> str:
    """MathVista's query (its build_query.py), the question column of VLMEvalKit's MathVista_MINI.tsv."""
    choices = "\n".join(f"({letter}) {o}" for letter, o in zip("ABCD", opts))
    return f"Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\nQuestion: {q}\nChoices:\n{choices}"


def _vlmevalkit_same_rows(bench: str) -> list[dict]:
    """The same questions in VLMEvalKit's layout."""
    rows = []
    for i, (q, opts, ans, color) in enumerate(SAME_QUESTIONS):
        if bench == "mathvista":
            rows.append({"index": i, "image": _b64_png(color), "question": _mathvista_query(q, opts), "choices": str(opts),
                         "answer": opts["ABCD".index(ans)], "answer_option": ans, "question_type": "multi_choice", "answer_type": "text",
                         "precision": None, "unit": None, "task": "figure question answering", "skills": "['counting']", "category": "general-vqa"})
            continue
        rows.append({"index": i, "question": q if bench != "mmmu" else f"{q} <image 1>", "hint": None, **dict(zip("ABCD", opts)),
                     "answer": ans, "category": "c", "l2-category": "l2", "image": _b64_png(color), "split": "validation"})
    return rows


def _essentials(bench) -> list[tuple]:
    return [(s.question, s.options, s.answer, s.answer_type, [img.raw_bytes() for img in s.images]) for s in bench]


@pytest.mark.parametrize("bench", ["mmstar", "mmbench", "seedbench", "ai2d", "scienceqa", "mmmu", "mathvista"])
def test_hub_layout_and_vlmevalkit_layout_read_to_the_same_questions(bench, tmp_path):
    adapter = get_adapter(bench)
    want = [(q if bench != "mmmu" else f"{q} <image 1>", opts, ans, "letter", [_png(color)]) for q, opts, ans, color in SAME_QUESTIONS]
    assert _essentials(adapter.load(_write(_hub_rows(bench), tmp_path / "hub.parquet", "parquet"))) == want
    for fmt in ("tsv", "xlsx"):
        assert _essentials(adapter.load(_write(_vlmevalkit_same_rows(bench), tmp_path / f"{bench}.{fmt}", fmt))) == want, fmt


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_columns_tell_vlmevalkits_layout_not_the_file_format(fmt, tmp_path):
    """A CSV, JSON Lines or parquet copy of MMStar.tsv (A..D columns) is still VLMEvalKit's layout, not MMStar's inline one."""
    want = [(q, opts, ans, "letter", [_png(color)]) for q, opts, ans, color in SAME_QUESTIONS]
    assert _essentials(load_benchmark("mmstar", path=_write(_vlmevalkit_same_rows("mmstar"), tmp_path / f"MMStar.{fmt}", fmt))) == want


def test_vlmevalkit_mmmu_image_list_open_question_and_split(tmp_path):
    """MMMU_DEV_VAL.tsv: several images as a list of base64 strings (longer than any text field), an open question, two splits."""
    big = base64.b64encode(_png("white") + bytes(200_000)).decode()  # a large image: the list text is over 200,000 characters
    rows = [
        {"index": 1, "question": "Compare <image 1> with <image 2>.", "A": "same", "B": "different", "C": None, "D": None, "answer": "B",
         "image": str([_b64_png("red"), big]), "split": "validation", "category": "Art", "l2-category": "Art History"},
        {"index": 2, "question": "Area of <image 1>?", "A": None, "B": None, "C": None, "D": None, "answer": "12.5",
         "image": _b64_png("green"), "split": "validation", "category": "Math", "l2-category": "Geometry"},
        {"index": 3, "question": "A dev question <image 1>", "A": "x", "B": "y", "C": None, "D": None, "answer": "A",
         "image": _b64_png("red"), "split": "dev", "category": "Art", "l2-category": "Art History"},
    ]
    path = _write(rows, tmp_path / "MMMU_DEV_VAL.tsv", "tsv")
    mc, op = get_adapter("mmmu").load(path).samples  # the dev row is left out: MMMU's audited split is validation
    assert [img.raw_bytes()[:40] for img in mc.images] == [_png("red")[:40], _png("white")[:40]]
    assert (mc.id, mc.category, mc.l2_category, mc.options, mc.answer) == ("1", "Art", "Art History", ["same", "different"], "B")
    assert op.is_open and (op.answer, op.answer_type) == ("12.5", "float")
    assert [s.id for s in get_adapter("mmmu").load(path, split="dev")] == ["3"]


def test_vlmevalkit_mathvista_free_form_query_with_a_unit(tmp_path):
    rows = [{"index": 7, "image": _b64_png(), "question": "Hint: Please answer the question requiring a floating-point number with one "
             "decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: How long is the bar? (Unit: cm)",
             "choices": None, "answer": "3.5", "answer_option": None, "question_type": "free_form", "answer_type": "float",
             "precision": 1.0, "unit": "cm", "task": "figure question answering", "skills": "['arithmetic reasoning']", "category": "math-targeted-vqa"}]
    (s,) = load_benchmark("mathvista", path=_write(rows, tmp_path / "MathVista_MINI.tsv", "tsv")).samples
    assert (s.id, s.question, s.answer, s.answer_type, s.meta["unit"]) == ("7", "How long is the bar?", "3.5", "float", "cm")
    assert (s.category, s.l2_category, s.meta["skills"]) == ("math-targeted-vqa", "figure question answering", ["arithmetic reasoning"])


@pytest.mark.parametrize("fmt", ["xlsx", "tsv", "csv"])
def test_an_empty_option_before_a_present_one_is_still_a_gap(fmt, tmp_path):
    rows = [{"id": "q1", "question": "How many?", "A": "None", "B": "", "C": "NA", "answer": "A"}]
    with pytest.raises(DataError, match="option B is missing or empty"):
        load_benchmark(str(_write(rows, tmp_path / f"sub.{fmt}", fmt)))


@pytest.mark.parametrize("fmt", ["xlsx", "tsv", "csv"])
def test_a_prediction_none_is_a_text_and_an_empty_cell_is_no_prediction(fmt, tmp_path):
    path = _write([{"index": 0, "prediction": "None"}, {"index": 1, "prediction": ""}], tmp_path / f"pred.{fmt}", fmt)
    assert [r["prediction"] for r in table_rows(path)] == ["None", None]


def test_audit_folder_csvs_keep_na_texts(tmp_path):
    """metrics.csv and samples.csv read back with a model "NA", a category "None", a sample id "NA"; an empty score stays missing."""
    from leakaudit.audit.result import AuditResult

    (tmp_path / "summary.json").write_text("{}")
    pd.DataFrame([{"model": "NA", "kind": "lvlm", "benchmark": "b", "category": "None", "S_v": 50.0, "S_wv": 40.0, "S_t": None, "MG": 10.0,
                   "ML": None}]).to_csv(tmp_path / "metrics.csv", index=False)
    pd.DataFrame([{"benchmark": "b", "sample_id": "NA", "sample_hash": "h", "category": "null", "chance": 0.25, "text_hits": 1,
                   "text_n": 2}]).to_csv(tmp_path / "samples.csv", index=False)
    res = AuditResult.load(tmp_path)
    row = res.metrics.iloc[0]
    assert (row["model"], row["category"], row["S_v"]) == ("NA", "None", 50.0) and pd.isna(row["S_t"])
    assert (res.samples["sample_id"].tolist(), res.samples["category"].tolist()) == (["NA"], ["null"])
