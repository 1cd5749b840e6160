"""Published files as their authors publish them, against the numbers they publish.

Needs copies of the public files (never committed) in ``../realfiles`` or
``$LEAKAUDIT_REALFILES``, laid out as ``scripts/reproduce_published.py`` describes:
MathVista ``data/testmini.json`` and ``results/*/output_*.json`` + ``scores_*.json``
(lupantech/MathVista), MMMU-Pro ``output/*.jsonl`` (MMMU-Benchmark/MMMU), MMStar's
VLMEvalKit xlsx (MMStar-Benchmark/MMStar ``eval/submits``), ScienceQA ``problems.json`` and
``results/gpt3/*.json`` (lupantech/ScienceQA), and VLMEvalKit's own result folders
``vlmevalkit/vila_*_<bench>.xlsx``, ``_openai_result.xlsx`` and ``_acc.csv`` (open-compass/VLMEvalKit
``assets/benchmarks/vila_13b``, ``vila_8b`` at commit c03bc048). Each group skips, saying why, when absent.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from leakaudit.data.benchmark import load_benchmark
from leakaudit.answers.imports import import_predictions

REAL = Path(os.environ.get("LEAKAUDIT_REALFILES", Path(__file__).resolve().parents[2] / "realfiles"))
MV = REAL / "mathvista"
MV_OUTPUTS = sorted((MV / "results").glob("*/output_*.json")) if (MV / "results").is_dir() else []
#: the leaderboard template's output is the frequent-guess output, but its scores file is the random guess's
MISMATCHED_SCORES = {"output_testmini_template_for_leaderboard_submission.json"}

pytestmark = pytest.mark.realfiles


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} absent: copy the published file there (see scripts/reproduce_published.py)")
    return path


@pytest.fixture(scope="module")
def testmini():
    return load_benchmark("mathvista", path=_need(MV / "data" / "testmini.json"), no_images=True)


def test_mathvista_testmini_as_published_loads_with_no_images(testmini):
    assert len(testmini) == 1000 and testmini.samples[0].id == "1"
    assert sum(s.is_multiple_choice for s in testmini.samples) == 540 and all(s.meta["image_refs"] for s in testmini.samples)


@pytest.mark.parametrize("output", MV_OUTPUTS or [MV / "results" / "absent" / "output_absent.json"], ids=lambda p: p.name)
def test_mathvista_output_reproduces_its_published_accuracy(testmini, output, tmp_path):
    _need(output)
    s = import_predictions(output, format="mathvista", model=output.stem, condition="text", benchmark=testmini, run_dir=tmp_path)
    assert s.n_matched == 1000 and s.verdict_column == "true_false"
    data = json.loads(output.read_text())
    own = 100 * sum(v.get("true_false") is True for v in data.values()) / 1000
    assert s.accuracy == pytest.approx(own, abs=1e-9)
    scores = output.with_name(output.name.replace("output_", "scores_", 1))
    if scores.is_file() and output.name not in MISMATCHED_SCORES:
        assert abs(s.accuracy - float(json.loads(scores.read_text())["average"]["accuracy"])) <= 0.05


def test_vlmevalkit_xlsx_is_question_and_prediction_file(tmp_path):
    x = _need(REAL / "vlmevalkit" / "llava_next_yi_34b_MMStar.xlsx")
    bench = load_benchmark("mmstar", path=x)
    s = import_predictions(x, format="vlmevalkit", model="llava-next-34b", condition="vision", benchmark=bench, run_dir=tmp_path)
    assert len(bench) == 1500 and s.n_matched == 1500 and round(s.accuracy, 1) == 52.1  # MMStar's Overall for LLaVA-Next-34B


@pytest.mark.parametrize("name", ["gpt-4o_standard(10 options)_cot.jsonl", "gpt-4o_vision_direct.jsonl"])
def test_mmmu_pro_output_loads_and_imports(name, tmp_path):
    f = _need(REAL / "mmmu_pro" / name)
    bench = load_benchmark("mmmu_pro", path=f, no_images=True, on_error="skip")
    assert len(bench) == 1728 and sorted(r.row for r in bench.skipped) == [81, 246]  # nested list, 12 options
    rows = [json.loads(line) for line in f.open()]
    kept = {s.id for s in bench.samples}
    published = 100 * sum(bool(r["if_right"]) for r in rows if r["id"] in kept) / len(kept)
    s = import_predictions(f, format="mmmu-pro", model="gpt-4o", condition="vision", benchmark=bench, run_dir=tmp_path,
                           verdict_column="if_right", on_error="skip")
    assert s.accuracy == pytest.approx(published) and sorted(s.unmatched_ids) == ["test_Computer_Science_61", "validation_Accounting_29"]


def test_scienceqa_gpt3_result_matches_every_row_to_its_question(tmp_path):
    problems = _need(REAL / "scienceqa" / "data" / "scienceqa" / "problems.json")
    result = _need(REAL / "scienceqa" / "results" / "gpt3" / "final_test_QCM-ALE_2_seed_3.json")
    bench = load_benchmark("scienceqa", path=problems, split="test", no_images=True)
    s = import_predictions(result, format="scienceqa", model="gpt3", condition="text", benchmark=bench, run_dir=tmp_path, shots=2)
    assert s.n_matched == 4241 and abs(s.accuracy - json.loads(result.read_text())["acc"]) <= 0.05


# -- the CLI path a user takes: `leakaudit import` then `leakaudit audit --json` (issue 20) ------------------
#: MathVista's text-only LLMs (their outputs are text-only runs); every other results/ folder is a vision model
MV_TEXT_ONLY = {"gpt4", "chatgpt", "claude"}


def _cli(*args: str) -> str:
    from click.testing import CliRunner

    from leakaudit.cli import main

    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def _overall(doc: dict) -> dict:
    return next(r for r in doc["metrics"] if r["category"] == "all")


MV_SCORED = [o for o in MV_OUTPUTS if o.with_name(o.name.replace("output_", "scores_", 1)).is_file() and o.name not in MISMATCHED_SCORES]


@pytest.mark.parametrize("output", MV_SCORED or [MV / "results" / "absent" / "output_absent.json"], ids=lambda p: p.name)
def test_mathvista_output_gives_its_published_accuracy_through_import_and_audit(output, tmp_path):
    _need(output)
    text_only = output.parent.name in MV_TEXT_ONLY
    _cli("import", str(output), "--format", "mathvista", "--model", output.stem, "--condition", "text" if text_only else "vision",
         "--benchmark", "mathvista", "--path", str(_need(MV / "data" / "testmini.json")), "--no-images", "--run-dir", str(tmp_path))
    doc = json.loads(_cli("audit", "--run-dir", str(tmp_path), "--json", "--n-boot", "0"))
    published = float(json.loads(output.with_name(output.name.replace("output_", "scores_", 1)).read_text())["average"]["accuracy"])
    assert abs(_overall(doc)["S_t" if text_only else "S_v"] - published) <= 0.05
    assert doc["verdict"] is None and "without a panel" in doc["verdict_reason"]  # imported runs are no panel


def test_mmstar_xlsx_through_import_and_audit_gives_s_v_52_1_and_no_verdict(tmp_path):
    x = _need(REAL / "vlmevalkit" / "llava_next_yi_34b_MMStar.xlsx")
    _cli("import", str(x), "--format", "vlmevalkit", "--model", "llava-next-34b", "--condition", "vision", "--benchmark", "mmstar",
         "--path", str(x), "--run-dir", str(tmp_path))
    doc = json.loads(_cli("audit", "--run-dir", str(tmp_path), "--json"))
    assert round(_overall(doc)["S_v"], 1) == 52.1 and doc["verdict"] is None


#: VLMEvalKit's own result folders (open-compass/VLMEvalKit ``assets/benchmarks/vila_13b``, ``vila_8b`` at commit c03bc048):
#: ``<model>_<bench>.xlsx`` (questions + prediction), ``_openai_result.xlsx`` (+ each row's ``hit``), ``_acc.csv`` (``Overall``)
VLMEVALKIT_BENCHES = {"ScienceQA_TEST": "scienceqa", "ScienceQA_VAL": "scienceqa", "MMStar": "mmstar"}
#: VLMEvalKit's MMStar xlsx holds three empty option cells (268, 273, 391: MMStar's own option text "nan", lost when
#: VLMEvalKit wrote the file), so its questions come from MMStar's hub copy in ../shared/data
MMSTAR_HUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmstar_text" / "mmstar_text.parquet"
VLMEVALKIT_RESULTS = sorted(p for p in (REAL / "vlmevalkit").glob("*_openai_result.xlsx")
                            if any(p.name.endswith(f"_{b}_openai_result.xlsx") for b in VLMEVALKIT_BENCHES))


@pytest.mark.parametrize("result", VLMEVALKIT_RESULTS or [REAL / "vlmevalkit" / "absent_ScienceQA_TEST_openai_result.xlsx"],
                         ids=lambda p: p.name)
def test_vlmevalkit_result_through_import_and_audit_gives_its_acc_csv_overall(result, tmp_path):
    """VLMEvalKit's own verdicts (``hit``), taken as they are, reproduce its ``_acc.csv`` Overall exactly."""
    import pandas as pd

    _need(result)
    stem = result.name[: -len("_openai_result.xlsx")]
    bench = next(b for suffix, b in VLMEVALKIT_BENCHES.items() if stem.endswith(f"_{suffix}"))
    overall = 100 * float(pd.read_csv(_need(result.with_name(f"{stem}_acc.csv")))["Overall"].iloc[0])
    questions = MMSTAR_HUB if bench == "mmstar" else result.with_name(f"{stem}.xlsx")
    _cli("import", str(result), "--format", "vlmevalkit", "--model", stem, "--condition", "vision", "--benchmark", bench,
         "--path", str(_need(questions)), "--verdict-column", "hit", "--run-dir", str(tmp_path))
    doc = json.loads(_cli("audit", "--run-dir", str(tmp_path), "--json", "--n-boot", "0"))
    assert _overall(doc)["S_v"] == pytest.approx(overall, abs=1e-9) and doc["verdict"] is None


def test_vlmevalkit_mmstar_predictions_scored_here_on_mmstars_questions_give_vila_13b_overall(tmp_path):
    """Scored by leakaudit (no ``hit``): VILA-13B's predictions on MMStar's own questions give VLMEvalKit's 44.27 exactly."""
    import pandas as pd

    x = _need(REAL / "vlmevalkit" / "vila_13b_MMStar.xlsx")
    overall = 100 * float(pd.read_csv(_need(REAL / "vlmevalkit" / "vila_13b_MMStar_acc.csv"))["Overall"].iloc[0])
    s = import_predictions(x, format="vlmevalkit", model="vila-13b", condition="vision", benchmark="mmstar", path=_need(MMSTAR_HUB),
                           run_dir=tmp_path, no_images=True)
    assert s.n_matched == 1500 and s.accuracy == pytest.approx(overall, abs=1e-9)


def test_vlmevalkit_mmstar_xlsx_as_its_own_question_file_names_the_empty_option_and_the_way_out(tmp_path):
    from leakaudit.errors import DataError

    x = _need(REAL / "vlmevalkit" / "vila_8b_MMStar.xlsx")
    with pytest.raises(DataError) as err:
        import_predictions(x, format="vlmevalkit", model="vila-8b", condition="vision", benchmark="mmstar", path=x, run_dir=tmp_path)
    assert err.value.row == 268 and err.value.field == "A" and "own file (--path)" in err.value.message
    s = import_predictions(x, format="vlmevalkit", model="vila-8b", condition="vision", benchmark="mmstar", path=x, run_dir=tmp_path,
                           on_error="skip")
    assert s.n_matched == 1497 and sorted(s.unmatched_ids) == ["268", "273", "391"]
    assert any("3 question rows" in n and "row 268" in n for n in s.notes)
