"""Importing published predictions (VLMEvalKit, lm-eval, MathVista) into the answer store."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from leakaudit.audit import audit
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import DataError
from leakaudit.answers.extract import mmstar_match
from leakaudit.answers.imports import import_predictions
from leakaudit.data.schema import Sample
from leakaudit.answers.store import AnswerStore


@pytest.fixture
def toy_bench() -> Benchmark:
    samples = [
        Sample(id=str(i), benchmark="toy", question=f"q{i}?", options=["red", "green", "blue", "yellow"], answer="ABCD"[i % 4],
               category="colour" if i < 3 else "shape")
        for i in range(5)
    ] + [Sample(id="5", benchmark="toy", question="2+2?", answer="4", answer_type="integer", category="math")]
    return Benchmark(name="toy", samples=samples, source="<memory>", format="generated")


def _answers(run_dir) -> pd.DataFrame:
    with AnswerStore(run_dir) as store:
        return store.answers().set_index("sample_id")


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".xlsx", ".parquet"])
def test_vlmevalkit_table_formats(toy_bench, tmp_path, suffix):
    df = pd.DataFrame({
        "index": [0, 1, 2, 3, 4, 5, 99],
        "prediction": ["A", "The answer is B", "", "(A) red", "red is it", "The answer is 4", "C"],
        "answer": ["A", "B", "C", "D", "A", "4", "C"],
    })
    f = tmp_path / f"pred{suffix}"
    {".tsv": lambda: df.to_csv(f, sep="\t", index=False), ".csv": lambda: df.to_csv(f, index=False),
     ".xlsx": lambda: df.to_excel(f, index=False), ".parquet": lambda: df.to_parquet(f, index=False)}[suffix]()
    with pytest.raises(DataError, match=r"1 of 7 predictions \(14.3%\) do not match.*row 6 id '99'"):
        import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path / "run")
    summ = import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path / "run",
                              on_error="skip")
    assert summ.n_rows == 7 and summ.n_stored == 6 and summ.unmatched_ids == ["99"] and summ.n_empty == 1
    a = _answers(tmp_path / "run")
    assert list(a.loc[["0", "1", "2", "3", "4", "5"], "correct"]) == [True, True, False, False, True, True]
    assert a.loc["2", "extraction"] == "empty" and a.loc["3", "chosen"] == "A" and a.loc["4", "chosen"] == "A" and a.loc["4", "extraction"] == "option-text"
    assert set(a["source"]) == {"import:vlmevalkit"} and set(a["condition"]) == {"vision"}
    assert summ.accuracy == pytest.approx(400 / 6)
    # the same file again stores nothing new
    again = import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path / "run",
                               on_error="skip")
    assert again.n_stored == 0 and again.n_existing == 6


def test_vlmevalkit_bad_files_name_the_problem(toy_bench, tmp_path):
    f = tmp_path / "p.tsv"
    pd.DataFrame({"index": [0], "answer": ["A"]}).to_csv(f, sep="\t", index=False)
    with pytest.raises(DataError, match="prediction") as err:
        import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path)
    assert err.value.field == "prediction" and err.value.file == str(f)
    pd.DataFrame({"index": [0, 1, 1], "prediction": ["A", "B", "C"]}).to_csv(f, sep="\t", index=False)
    with pytest.raises(DataError, match="duplicate id '1'") as err:
        import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path)
    assert err.value.row == 2
    pd.DataFrame({"index": [100, 101], "prediction": ["A", "B"]}).to_csv(f, sep="\t", index=False)
    with pytest.raises(DataError, match=r"2 of 2 predictions \(100.0%\) do not match.*wrong benchmark"):
        import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path)


def test_mmstar_rule_is_used_for_mmstar(tmp_path):
    s = Sample(id="0", benchmark="mmstar", question="q?", options=["x", "y", "z", "w"], answer="B")
    bench = Benchmark(name="mmstar", samples=[s], source="<memory>", format="generated")
    f = tmp_path / "p.tsv"
    # "option b" is a hit under MMStar's rule
    pd.DataFrame({"index": [0], "prediction": ["Option B is right"]}).to_csv(f, sep="\t", index=False)
    import_predictions(f, format="vlmevalkit", model="m", condition="vision", benchmark=bench, run_dir=tmp_path / "r")
    a = _answers(tmp_path / "r")
    assert bool(a.loc["0", "correct"]) and a.loc["0", "extraction"] == "mmstar-rule"


def test_lm_eval_samples(toy_bench, tmp_path):
    lines = [
        {"doc_id": 0, "doc": {"id": "0"}, "filtered_resps": [[-1.0, False], [-3.0, False], [-2.0, False], [-5.0, False]], "acc": 1.0},
        {"doc_id": 1, "doc": {"id": "1"}, "filtered_resps": [[-1.0, False], [-3.0, False], [-2.0, False], [-5.0, False]], "acc": 0.0},
        {"doc_id": 2, "doc": {"question": "q2?"}, "resps": [[["-9", "False"]], [["-8", "False"]], [["-1", "True"]], [["-7", "False"]]]},
        {"doc_id": 3, "doc": {"id": "3"}, "filtered_resps": ["The answer is D."]},
    ]
    f = tmp_path / "samples_toy.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    summ = import_predictions(f, format="lm-eval", model="llm", condition="text", benchmark=toy_bench, run_dir=tmp_path / "r", shots=2)
    assert summ.n_stored == 4
    a = _answers(tmp_path / "r")
    assert a.loc["0", "chosen"] == "A" and bool(a.loc["0", "correct"]) and a.loc["0", "scoring"] == "cloze"
    assert a.loc["1", "chosen"] == "A" and not bool(a.loc["1", "correct"])  # lm-eval's own acc counts
    assert a.loc["2", "chosen"] == "C" and bool(a.loc["2", "correct"])  # doc_id position confirmed by the question text
    assert a.loc["3", "chosen"] == "D" and bool(a.loc["3", "correct"]) and a.loc["3", "scoring"] == "generate"
    assert set(a["shots"]) == {2} and a.loc["0", "option_scores"] == [-1.0, -3.0, -2.0, -5.0]
    f.write_text("{not json\n")
    with pytest.raises(DataError, match="invalid JSON on line 1") as err:
        import_predictions(f, format="lm-eval", model="llm", condition="text", benchmark=toy_bench, run_dir=tmp_path / "r")
    assert err.value.row == 0
    f.write_bytes(b'{"doc": {"id": "0"}, "resps": [["A"]]}\n\xff\xfe\n')  # bad UTF-8 on line 2: named, never a traceback
    with pytest.raises(DataError, match="invalid UTF-8 at line 2") as err:
        import_predictions(f, format="lm-eval", model="llm", condition="text", benchmark=toy_bench, run_dir=tmp_path / "r")


def test_mathvista_output(toy_bench, tmp_path):
    out = {
        "0": {"response": "It is red, so (A).", "extraction": "red", "prediction": "red"},
        "1": {"response": "blue", "extraction": "blue", "prediction": "blue"},
        "5": {"response": "The answer is 4", "extraction": "4", "prediction": 4},
        "4": {"response": ""},
    }
    f = tmp_path / "output_mathvista.json"
    f.write_text(json.dumps(out))
    summ = import_predictions(f, format="mathvista", model="m", condition="vision", benchmark=toy_bench, run_dir=tmp_path / "r")
    a = _answers(tmp_path / "r")
    assert a.loc["0", "chosen"] == "A" and bool(a.loc["0", "correct"]) and a.loc["0", "extraction"] == "option-text-exact"
    assert a.loc["1", "chosen"] == "C" and not bool(a.loc["1", "correct"])
    assert bool(a.loc["5", "correct"]) and not bool(a.loc["4", "correct"]) and summ.n_empty == 1


def test_import_cli(toy_bench, tmp_path, monkeypatch):
    from leakaudit.cli import main
    import leakaudit.answers.imports as imports_mod

    monkeypatch.setattr(imports_mod, "load_benchmark", lambda name, path=None, split=None, no_images=False, on_error="raise": toy_bench)
    f = tmp_path / "p.tsv"
    pd.DataFrame({"index": [0, 1], "prediction": ["A", "C"]}).to_csv(f, sep="\t", index=False)
    res = CliRunner().invoke(main, ["import", str(f), "--format", "vlmevalkit", "--model", "m", "--condition", "blind",
                                    "--benchmark", "toy", "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "accuracy 50.00%" in res.output and "colour" in res.output
    a = _answers(tmp_path / "r")
    assert set(a["blind_mode"]) == {"drop"}
    res = CliRunner().invoke(main, ["import", str(tmp_path / "missing.tsv"), "--format", "vlmevalkit", "--model", "m",
                                    "--condition", "vision", "--benchmark", "toy", "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 2 and "not found" in res.output


@pytest.mark.shared_data
def test_mmstar_llava_next_34b_reproduces_published_52_1(shared_data, tmp_path):
    """MMStar's own LLaVA-Next-34B predictions give the S_v its paper publishes: 52.1."""
    from leakaudit.data.benchmark import load_benchmark

    f = shared_data / "mmstar_text" / "mmstar_text.parquet"
    bench = load_benchmark("mmstar", path=f)
    summ = import_predictions(f, format="vlmevalkit", model="llava-next-34b", condition="vision", benchmark=bench, run_dir=tmp_path)
    assert summ.n_rows == 1500 and summ.n_stored == 1500 and not summ.unmatched_ids
    res = audit(tmp_path, n_boot=200)
    row = res.metric("llava-next-34b", "mmstar")
    assert round(row.S_v, 1) == 52.1
    assert row.S_v_lo < row.S_v < row.S_v_hi and row.n_v == 1500
    # per capability: the audit agrees with MMStar's rule applied to the raw file directly
    raw = pd.read_parquet(f)
    raw["hit"] = [mmstar_match(p, g) for p, g in zip(raw["prediction"], raw["answer"])]
    direct = (100 * raw.groupby("category")["hit"].mean()).to_dict()
    per_cat = {c: res.metric("llava-next-34b", "mmstar", c).S_v for c in direct}
    assert per_cat == pytest.approx(direct)
    assert len(per_cat) == 6
