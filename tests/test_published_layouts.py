"""Question and result files in the layouts benchmark authors publish, loaded as they are.

Small original fixtures in the published layouts (MathVista ``testmini.json`` and
``output_*.json``, ScienceQA ``problems.json`` and ``results/gpt3/*.json``, MMMU-Pro
``output/*.jsonl``, VLMEvalKit xlsx, lm-eval ``--log_samples``); the real files are
checked in ``test_real_published_files.py`` when a copy is present.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from leakaudit.audit import audit
from leakaudit.data.benchmark import load_benchmark
from leakaudit.cli import main
from leakaudit.errors import DataError, LeakauditError
from leakaudit.answers.imports import import_predictions
from leakaudit.answers.store import AnswerStore


def _answers(run_dir) -> pd.DataFrame:
    with AnswerStore(run_dir) as store:
        return store.answers().set_index("sample_id")


# -- MathVista -------------------------------------------------------------------------------------
MV_QUESTIONS = {
    "1": {"question": "What is the area of the shaded square?", "image": "images/1.jpg", "choices": None, "unit": None, "precision": None,
          "answer": "2", "question_type": "free_form", "answer_type": "integer", "pid": "1",
          "metadata": {"split": "testmini", "category": "math-targeted-vqa", "task": "geometry problem solving", "skills": ["algebraic reasoning"]}},
    "2": {"question": "Which bar is tallest?", "image": "images/2.png", "choices": ["red", "green", "blue"], "unit": None, "precision": None,
          "answer": "green", "question_type": "multi_choice", "answer_type": "text", "pid": "2",
          "metadata": {"split": "testmini", "category": "general-vqa", "task": "figure question answering", "skills": ["statistical reasoning"]}},
    "3": {"question": "What is the slope of the line?", "image": "images/3.png", "choices": None, "unit": None, "precision": 1.0,
          "answer": "0.5", "question_type": "free_form", "answer_type": "float", "pid": "3",
          "metadata": {"split": "testmini", "category": "math-targeted-vqa", "task": "textbook question answering", "skills": []}},
    "4": {"question": "Which years does the plot show as peaks?", "image": "images/4.png", "choices": None, "unit": None, "precision": None,
          "answer": "[2000, 2005]", "question_type": "free_form", "answer_type": "list", "pid": "4",
          "metadata": {"split": "testmini", "category": "general-vqa", "task": "figure question answering", "skills": []}},
}


@pytest.fixture
def mathvista_file(tmp_path) -> Path:
    f = tmp_path / "testmini.json"  # the images folder is a separate download: it is absent
    f.write_text(json.dumps(MV_QUESTIONS, indent=1))
    return f


def test_mathvista_testmini_loads_with_no_images(mathvista_file):
    with pytest.raises(DataError, match="image file not found: images/1.jpg.*--no-images"):
        load_benchmark("mathvista", path=mathvista_file)
    with pytest.raises(DataError, match="every one of the 4 rows was skipped"):
        load_benchmark("mathvista", path=mathvista_file, on_error="skip")
    bench = load_benchmark("mathvista", path=mathvista_file, no_images=True)
    assert [s.id for s in bench.samples] == ["1", "2", "3", "4"] and bench.no_images
    s2 = bench.by_id()["2"]
    assert s2.images == [] and s2.meta["image_refs"] == ["images/2.png"] and s2.meta["has_image"] and s2.answer == "B"


def test_inspect_cli_no_images_and_nothing_left_exits_2(mathvista_file, tmp_path):
    ok = CliRunner().invoke(main, ["inspect", "mathvista", "--path", str(mathvista_file), "--no-images", "--json"])
    assert ok.exit_code == 0, ok.output
    stats = json.loads(ok.output)
    assert stats["n_samples"] == 4 and stats["n_without_image"] == 0
    bad = CliRunner().invoke(main, ["inspect", "mathvista", "--path", str(mathvista_file), "--on-error", "skip",
                                    "--out", str(tmp_path / "skipped.csv")])
    assert bad.exit_code == 2 and "nothing is left" in bad.output


def test_vision_and_blind_runs_refuse_no_images(mathvista_file, tmp_path):
    from leakaudit.models.backends.scripted import ScriptedLM
    from leakaudit.answers.runner import run

    bench = load_benchmark("mathvista", path=mathvista_file, no_images=True)
    lvlm = ScriptedLM("seer", lambda p: "B", supports_images=True)
    for condition in ("vision", "blind"):
        with pytest.raises(LeakauditError, match=f"--no-images.*a {condition} run needs the images"):
            run(bench, [lvlm], condition=condition, scoring="generate", run_dir=tmp_path / "r", progress=False)
    summary = run(bench, [ScriptedLM("reader", lambda p: "B")], condition="text", scoring="generate", run_dir=tmp_path / "r", progress=False)
    assert summary is not None and len(_answers(tmp_path / "r")) == 4


MV_OUTPUT = {
    "1": {"question": MV_QUESTIONS["1"]["question"], "response": "The side is 1/2 of 2, so the area is 1/2.", "extraction": "1/2",
          "prediction": None, "true_false": False},
    "2": {"question": MV_QUESTIONS["2"]["question"], "response": "green", "extraction": "green", "prediction": "green", "true_false": True},
    "3": {"question": MV_QUESTIONS["3"]["question"], "response": "slope 0.5", "extraction": "0.5", "prediction": 0.5, "true_false": True},
    "4": {"question": MV_QUESTIONS["4"]["question"], "response": "2000 and 2005", "extraction": "2000 and 2005", "prediction": None,
          "true_false": None},
}


def test_mathvista_output_takes_its_own_verdicts(mathvista_file, tmp_path):
    out = tmp_path / "output_m.json"
    out.write_text(json.dumps(MV_OUTPUT))
    bench = load_benchmark("mathvista", path=mathvista_file, no_images=True)
    s = import_predictions(out, format="mathvista", model="m", condition="vision", benchmark=bench, run_dir=tmp_path / "r")
    assert s.verdict_column == "true_false" and s.accuracy == pytest.approx(50.0)
    assert any("'true_false' column as published" in line for line in s.lines())
    a = _answers(tmp_path / "r")
    assert a.loc["2", "chosen"] == "B" and a.loc["2", "extraction"] == "verdict:true_false|option-text-exact"
    assert a.loc["4", "extraction"].startswith("verdict-missing:true_false") and not a.loc["4", "correct"]
    # scored here: a whole value is compared, never its last number ('1/2' is not 2, '2000 and 2005' is not 2005)
    s2 = import_predictions(out, format="mathvista", model="m2", condition="vision", benchmark=bench, run_dir=tmp_path / "r",
                            verdict_column=None)
    b = _answers(tmp_path / "r")
    b = b[b["model"] == "m2"]
    assert s2.verdict_column is None and list(b.loc[["1", "2", "3", "4"], "correct"]) == [False, True, True, False]
    assert b.loc["1", "extraction"] == "mathvista-value-unparsed"


def test_revised_question_text_matches_with_a_note(mathvista_file, tmp_path):
    out = tmp_path / "output_old.json"
    revised = {"1": {**MV_OUTPUT["1"], "question": "What is the area of the shaded square with side N_0?"}, "2": MV_OUTPUT["2"]}
    q = dict(MV_QUESTIONS)
    q["1"] = {**q["1"], "question": "What is the area of the shaded square with side 1.5?"}
    qf = tmp_path / "q.json"
    qf.write_text(json.dumps(q))
    out.write_text(json.dumps(revised))
    s = import_predictions(out, format="mathvista", model="m", condition="text", benchmark="mathvista", path=qf, no_images=True,
                           run_dir=tmp_path / "r")
    assert s.n_matched == 2 and any("earlier revision" in n for n in s.notes)


# -- ScienceQA ------------------------------------------------------------------------------------------
SQA = {
    "4": {"question": "Which figure of speech is used in this text?", "choices": ["chiasmus", "apostrophe"], "answer": 1, "hint": "",
          "image": None, "task": "closed choice", "grade": "grade11", "subject": "language science", "topic": "figurative-language",
          "category": "Literary devices", "skill": "Classify the figure of speech", "lecture": "", "solution": "", "split": "test"},
    "5": {"question": "Which of these states is farthest north?", "choices": ["West Virginia", "Louisiana", "Arizona", "Oklahoma"],
          "answer": 0, "hint": "", "image": "image.png", "task": "closed choice", "grade": "grade2", "subject": "social science",
          "topic": "geography", "category": "Geography", "skill": "Read a map", "lecture": "", "solution": "", "split": "test"},
    "11": {"question": "What is the name of the colony shown?", "choices": ["Maryland", "New Hampshire"], "answer": 0, "hint": "",
           "image": "image.png", "task": "closed choice", "grade": "grade5", "subject": "social science", "topic": "us-history",
           "category": "Colonial America", "skill": "Identify the colonies", "lecture": "", "solution": "", "split": "test"},
    "1": {"question": "Which tense does the sentence use?", "choices": ["past tense", "future tense", "present tense"], "answer": 1,
          "hint": "", "image": None, "task": "closed choice", "grade": "grade3", "subject": "language science", "topic": "verbs",
          "category": "Verb tense", "skill": "Identify tense", "lecture": "", "solution": "", "split": "train"},
}


@pytest.fixture
def sqa_file(tmp_path) -> Path:
    f = tmp_path / "problems.json"
    f.write_text(json.dumps(SQA))
    return f


def test_scienceqa_problems_keep_pids_and_filter_splits(sqa_file):
    test = load_benchmark("scienceqa", path=sqa_file, no_images=True)
    assert [s.id for s in test.samples] == ["4", "5", "11"] and {s.split for s in test.samples} == {"test"}
    assert test.by_id()["5"].meta["image_refs"] == ["images/test/5/image.png"] and not test.by_id()["4"].meta["has_image"]
    train = load_benchmark("scienceqa", path=sqa_file, split="train", no_images=True)
    assert [s.id for s in train.samples] == ["1"]
    with pytest.raises(DataError, match="no rows of split 'val'; the file has splits test, train"):
        load_benchmark("scienceqa", path=sqa_file, split="val", no_images=True)


def test_scienceqa_images_resolve_under_split_and_pid(sqa_file):
    from PIL import Image

    for pid in ("5", "11"):
        folder = sqa_file.parent / "images" / "test" / pid
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8), "white").save(folder / "image.png")
    bench = load_benchmark("scienceqa", path=sqa_file)
    assert len(bench.by_id()["5"].images) == 1 and bench.by_id()["4"].images == []


def test_scienceqa_pid_results_match_their_own_questions_or_refuse(sqa_file, tmp_path):
    res = tmp_path / "final_test.json"
    res.write_text(json.dumps({"acc": 66.67, "correct": 2, "count": 3, "results": {"4": 1, "5": 1, "11": 0},
                               "outputs": {"4": "The answer is B.", "5": "The answer is B.", "11": "The answer is A."}}))
    bench = load_benchmark("scienceqa", path=sqa_file, no_images=True)
    s = import_predictions(res, format="scienceqa", model="gpt3", condition="text", benchmark=bench, run_dir=tmp_path / "r", shots=2)
    a = _answers(tmp_path / "r")
    assert s.accuracy == pytest.approx(200 / 3) and list(a.loc[["4", "5", "11"], "chosen"]) == ["B", "B", "A"]
    assert a.loc["4", "raw_response"] == "The answer is B." and set(a["extraction"]) == {"option-index"}
    # a pid of another split names no question of this one: refused, with the share
    res.write_text(json.dumps({"results": {"4": 1, "1": 1}}))
    with pytest.raises(DataError, match=r"1 of 2 predictions \(50.0%\).*row 1 id '1': no question with this id"):
        import_predictions(res, format="scienceqa", model="gpt3", condition="text", benchmark=bench, run_dir=tmp_path / "r2")
    # the hub layout has no pids: its ids are row positions, which pid-keyed results must never match
    hub = tmp_path / "hub.jsonl"
    hub.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "split"}) + "\n" for row in SQA.values()))
    res.write_text(json.dumps({"results": {"0": 1, "1": 0}}))
    with pytest.raises(DataError, match="row positions and the row has no question text"):
        import_predictions(res, format="scienceqa", model="gpt3", condition="text", benchmark="scienceqa", path=hub, no_images=True,
                           run_dir=tmp_path / "r3")


# -- MMMU-Pro ---------------------------------------------------------------------------------------------
def _mmmu_pro_rows() -> list[dict]:
    opts = [f"choice {i}" for i in range(10)]
    return [
        {"id": "test_Art_1", "question": "Who painted <image 1>?", "options": str(opts), "answer": "B", "subject": "Art",
         "response": "The style suggests choice 1.\n\nAnswer: B", "pred_indexs": "B", "if_right": True},
        {"id": "test_Art_2", "question": "Which period is <image 1> from?", "options": str(opts), "answer": "C", "subject": "Art",
         "response": "(A) is unlikely. ... Therefore the answer is \\( \\boxed{D} \\)", "pred_indexs": "A", "if_right": False},
        {"id": "validation_Accounting_29", "question": "Which entries balance?", "options": str([["A", "B", "Not enough information"]]),
         "answer": "A", "subject": "Accounting", "response": "Answer: A", "pred_indexs": "A", "if_right": True},
        {"id": "test_Computer_Science_61", "question": "Which statements hold?", "options": str([f"s{i}" for i in range(12)]),
         "answer": "A", "subject": "Computer_Science", "response": "I'm sorry, I can't determine that.", "pred_indexs": "K", "if_right": False},
    ]


def test_mmmu_pro_output_is_question_and_prediction_file(tmp_path):
    f = tmp_path / "gpt-4o_standard(10 options)_cot.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in _mmmu_pro_rows()))
    with pytest.raises(DataError, match=r"row 2, field 'options\[0\]': expected text, got list"):
        load_benchmark("mmmu_pro", path=f, no_images=True)
    bench = load_benchmark("mmmu_pro", path=f, no_images=True, on_error="skip")
    reasons = [r.reason for r in bench.skipped]
    assert [s.id for s in bench.samples] == ["test_Art_1", "test_Art_2"] and len(reasons) == 2 and "12 options; at most 10" in reasons[1]
    ours = import_predictions(f, format="mmmu-pro", model="gpt-4o", condition="vision", benchmark=bench, run_dir=tmp_path / "r",
                              on_error="skip")
    assert ours.verdict_column is None and ours.accuracy == pytest.approx(50.0) and len(ours.unmatched_ids) == 2
    a = _answers(tmp_path / "r")
    assert a.loc["test_Art_2", "chosen"] == "D" and a.loc["test_Art_2", "extraction"] == "boxed"
    published = import_predictions(f, format="mmmu-pro", model="gpt-4o-pub", condition="vision", benchmark=bench,
                                   run_dir=tmp_path / "r", verdict_column="if_right", on_error="skip")
    assert published.verdict_column == "if_right" and published.accuracy == pytest.approx(50.0)
    with pytest.raises(DataError, match="no verdict column 'correct'"):
        import_predictions(f, format="mmmu-pro", model="x", condition="vision", benchmark=bench, run_dir=tmp_path / "r",
                           verdict_column="correct", on_error="skip")
    # a prediction column of the user's choice
    p = import_predictions(f, format="mmmu-pro", model="gpt-4o-idx", condition="vision", benchmark=bench, run_dir=tmp_path / "r",
                           prediction_column="pred_indexs", on_error="skip")
    assert p.accuracy == pytest.approx(50.0)


# -- VLMEvalKit xlsx: question file and prediction file at once -----------------------------------------------
def _mmstar_xlsx(path: Path) -> Path:
    pd.DataFrame({
        "index": [0, 1, 2, 3],
        "question": ["Which animal is shown?\nOptions: A: cat, B: dog, C: bird, D: fish",
                     "What colour is the car?\nOptions: A: red, B: blue, C: green, D: white",
                     "How many people are there?\nOptions: A: 1, B: 2, C: 3, D: 4",
                     "Where is the ball?\nOptions: A: left, B: right, C: top, D: bottom"],
        "answer": ["A", "B", "C", "D"],
        "category": ["coarse perception", "coarse perception", "fine-grained perception", "fine-grained perception"],
        "l2_category": ["recognition", "recognition", "object counting", "localization"],
        "bench": ["MMBench"] * 4,
        "prediction": ["A", "(B) blue", "D", "the answer is d"],
    }).to_excel(path, index=False)
    return path


def test_vlmevalkit_xlsx_is_both_files(tmp_path):
    x = _mmstar_xlsx(tmp_path / "model_MMStar.xlsx")
    bench = load_benchmark("mmstar", path=x)
    assert len(bench) == 4 and bench.format == "xlsx" and bench.by_id()["2"].options == ["1", "2", "3", "4"]
    res = CliRunner().invoke(main, ["import", str(x), "--format", "vlmevalkit", "--model", "m", "--condition", "vision",
                                    "--benchmark", "mmstar", "--path", str(x), "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "accuracy 75.00%" in res.output  # MMStar's rule: 'the answer is d' counts, 'D' for C does not
    kept = bench.subset(["0", "1"]).write(tmp_path / "kept")
    assert kept.suffix == ".xlsx" and len(load_benchmark("mmstar", path=kept)) == 2


def test_corrupt_xlsx_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DataError, match="not a readable Excel .xlsx workbook"):
        load_benchmark("mmstar", path=bad)
    res = CliRunner().invoke(main, ["import", str(bad), "--format", "vlmevalkit", "--model", "m", "--condition", "vision",
                                    "--benchmark", "mmstar", "--path", str(_mmstar_xlsx(tmp_path / "q.xlsx")), "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 2 and "broken.xlsx: not a readable Excel .xlsx workbook (BadZipFile" in res.output


def test_question_text_that_differs_is_refused(tmp_path):
    x = _mmstar_xlsx(tmp_path / "q.xlsx")
    pred = tmp_path / "pred.tsv"
    pd.DataFrame({"index": [0, 1], "question": ["Which animal is shown?", "How tall is the tower?"],
                  "prediction": ["A", "B"]}).to_csv(pred, sep="\t", index=False)
    with pytest.raises(DataError, match=r"1 of 2 predictions \(50.0%\).*row 1 id '1': the file's question 'How tall is the tower\?'"):
        import_predictions(pred, format="vlmevalkit", model="m", condition="vision", benchmark="mmstar", path=x, run_dir=tmp_path / "r")
    s = import_predictions(pred, format="vlmevalkit", model="m", condition="vision", benchmark="mmstar", path=x, run_dir=tmp_path / "r",
                           on_error="skip")
    assert s.mismatched_ids == ["1"] and s.n_matched == 1 and any("whose text differs" in line for line in s.lines())


def test_named_id_and_prediction_columns(tmp_path):
    x = _mmstar_xlsx(tmp_path / "q.xlsx")
    pred = tmp_path / "pred.csv"
    pd.DataFrame({"qid": [0, 1, 2, 3], "model_output": ["A", "B", "C", "A"], "ok": ["yes", "yes", "yes", "no"]}).to_csv(pred, index=False)
    with pytest.raises(DataError, match="no prediction column.*--prediction-column"):
        import_predictions(pred, format="vlmevalkit", model="m", condition="vision", benchmark="mmstar", path=x, run_dir=tmp_path / "r")
    s = import_predictions(pred, format="vlmevalkit", model="m", condition="vision", benchmark="mmstar", path=x, run_dir=tmp_path / "r",
                           id_column="qid", prediction_column="model_output", verdict_column="ok")
    assert s.accuracy == pytest.approx(75.0) and s.verdict_column == "ok"


# -- lm-eval --log_samples --------------------------------------------------------------------------------------
def test_lm_eval_position_needs_the_question_to_confirm(tmp_path):
    x = _mmstar_xlsx(tmp_path / "q.xlsx")
    f = tmp_path / "samples_mmstar.jsonl"
    f.write_text(json.dumps({"doc_id": 0, "doc": {"text": "no id, no question"}, "filtered_resps": ["A"]}) + "\n")
    with pytest.raises(DataError, match="doc_id is a row position and the row has no question text"):
        import_predictions(f, format="lm-eval", model="llm", condition="text", benchmark="mmstar", path=x, run_dir=tmp_path / "r")
    f.write_text(json.dumps({"doc_id": 0, "doc": {"qid": 1, "question": "What colour is the car?"}, "filtered_resps": ["B"]}) + "\n")
    s = import_predictions(f, format="lm-eval", model="llm", condition="text", benchmark="mmstar", path=x, run_dir=tmp_path / "r",
                           id_column="qid")
    assert s.accuracy == pytest.approx(100.0) and _answers(tmp_path / "r").loc["1", "chosen"] == "B"


# -- the panel: imported text-only runs are inspectors only when named ---------------------------------------------
def test_imported_text_runs_join_the_panel_only_when_named(tmp_path):
    x = _mmstar_xlsx(tmp_path / "q.xlsx")
    bench = load_benchmark("mmstar", path=x)
    run = tmp_path / "r"
    for name, preds, shots in (("llm-a", ["A", "B", "C", "D"], 0), ("llm-a", ["A", "A", "A", "A"], 2), ("random", ["B", "B", "B", "B"], 0)):
        f = tmp_path / f"{name}-{shots}.tsv"
        pd.DataFrame({"index": [0, 1, 2, 3], "prediction": preds}).to_csv(f, sep="\t", index=False)
        import_predictions(f, format="vlmevalkit", model=name, condition="text", benchmark=bench, run_dir=run, shots=shots)
    f = tmp_path / "lvlm.tsv"
    pd.DataFrame({"index": [0, 1, 2, 3], "prediction": ["A", "B", "C", "D"]}).to_csv(f, sep="\t", index=False)
    import_predictions(f, format="vlmevalkit", model="lvlm", condition="vision", benchmark=bench, run_dir=run)
    res = audit(run, benchmark=bench, n_boot=0, base_llms={"lvlm": "llm-a"})
    assert res.summary["settings"]["inspectors"] == [] and any("not inspectors unless named" in n for n in res.summary["notes"])
    named = audit(run, benchmark=bench, n_boot=0, base_llms={"lvlm": "llm-a"}, inspectors=["llm-a"])
    assert named.summary["settings"]["inspectors"] == ["llm-a"] and named.summary["settings"]["evidence_shots"] == {"llm-a": 0}
    two = audit(run, benchmark=bench, n_boot=0, base_llms={"lvlm": "llm-a"}, inspectors=["llm-a"], text_shots=2)
    assert two.summary["settings"]["evidence_shots"] == {"llm-a": 2}  # 0-shot and 2-shot answers are kept apart
    assert int(named.samples["text_hits"].sum()) == 4 and int(two.samples["text_hits"].sum()) == 1


# -- --no-images on run and gate --------------------------------------------------------------------------------
def test_run_cli_refuses_a_vision_run_without_images(mathvista_file, tmp_path):
    res = CliRunner().invoke(main, ["run", "mathvista", "--path", str(mathvista_file), "--no-images", "--models", "tiny-llava",
                                    "--condition", "vision", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    assert res.exit_code == 2 and "--no-images" in res.output and "a vision run needs the images" in res.output


def test_gate_no_images_runs_the_text_llms_only(tmp_path):
    from leakaudit.models.backends.scripted import ScriptedLM
    from leakaudit.workflows.gate import EXIT_ERROR, EXIT_PASS, gate

    sub = tmp_path / "sub.jsonl"
    rows = [{"id": f"q{i}", "question": f"Which shape is drawn in picture {i}?", "options": ["circle", "square", "star", "line"],
             "answer": "ABCD"[i % 4], "image": f"images/q{i}.png"} for i in range(8)]
    sub.write_text("".join(json.dumps(r) + "\n" for r in rows))  # the images are not there
    llms = [ScriptedLM(f"llm-{k}", lambda p: "") for k in "ab"]
    lvlm = ScriptedLM("lvlm-x", lambda p: "A", supports_images=True)
    v = gate(sub, out=tmp_path / "out", models=llms + [lvlm], base_llms={"lvlm-x": "llm-a"}, no_images=True)
    assert v.exit_code == EXIT_PASS, v.error
    assert any("lvlm-x: vision and blind runs skipped" in n for n in v.audit.summary["notes"])
    no_mg = gate(sub, out=tmp_path / "out2", models=llms, min_mg=5.0, no_images=True)
    assert no_mg.exit_code == EXIT_ERROR and "--min-mg needs vision runs" in no_mg.error["message"]
    missing = gate(sub, out=tmp_path / "out3", models=llms)
    assert missing.exit_code == EXIT_ERROR and "--no-images" in missing.error["message"]
