"""The CI gate: exit codes 0/1/2, verdict.json, junit.xml and the GitHub step summary."""
from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from leakaudit.models.backends.base import Prompt
from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.workflows.gate import EXIT_ERROR, EXIT_FAIL, EXIT_PASS, gate

QUESTIONS = {f"q{i}": (f"Which of these is item number {i}?", [f"alpha{i}", f"beta{i}", f"gamma{i}", f"delta{i}"], "ABCD"[i % 4]) for i in range(10)}


def write_submission(path, broken_row: int | None = None):
    rows = []
    for i, (sid, (q, opts, ans)) in enumerate(QUESTIONS.items()):
        row = {"id": sid, "question": q, "options": opts, "answer": ans, "category": "cat" + str(i % 2)}
        if i == broken_row:
            row["answer"] = "E"  # not among the four options
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def knower(name: str, known: set[str]) -> ScriptedLM:
    """An LLM that answers the questions in ``known`` (cloze: the right option's text) and nothing else."""
    answers = {q: opts["ABCD".index(a)] for sid, (q, opts, a) in QUESTIONS.items() if sid in known}

    def respond(prompt: Prompt) -> str:
        last = prompt.messages[-1]["content"]
        m = re.search(r"Question: (.*)", last)
        return answers.get(m.group(1).strip(), "") if m else ""

    return ScriptedLM(name, respond)


def models(known: set[str]):
    return [knower("llm-a", known), knower("llm-b", known), knower("llm-c", set())]


def test_gate_pass(tmp_path):
    sub = write_submission(tmp_path / "sub.jsonl")
    v = gate(sub, out=tmp_path / "out", models=models(set()), max_text_answerable=0.10)
    assert v.exit_code == EXIT_PASS and v.status == "pass"
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["status"] == "pass" and verdict["checks"][0]["value"] == 0.0
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == 1
    assert (tmp_path / "out" / "summary.json").is_file() and (tmp_path / "out" / "samples.csv").is_file()


def test_gate_fail_on_text_answerable_share(tmp_path, monkeypatch):
    step = tmp_path / "step_summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    sub = write_submission(tmp_path / "sub.jsonl")
    # 2 of 3 LLMs answer 3 of 10 questions: with 3 LLMs, more than floor(3*2/8) = 0 hits is text-answerable
    v = gate(sub, out=tmp_path / "out", models=models({"q1", "q4", "q7"}), max_text_answerable=0.10)
    assert v.exit_code == EXIT_FAIL and v.status == "fail"
    check = v.checks[0]
    assert check.value == pytest.approx(0.3) and not check.passed
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "30.0%" in failure.get("message")
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "FAIL" in md and "| text-answerable share | 30.0% | <= 10.0% | **FAIL** |" in md
    assert step.read_text().startswith("earlier step\n") and "leakaudit gate: FAIL" in step.read_text()
    # a looser threshold passes the same audit, without re-running any model (the store is reused)
    v2 = gate(sub, out=tmp_path / "out2", run_dir=tmp_path / "out" / "run", models=models({"q1", "q4", "q7"}), max_text_answerable=0.5)
    assert v2.exit_code == EXIT_PASS


def test_gate_min_mg(tmp_path):
    sub = write_submission(tmp_path / "sub.jsonl")

    def seer(prompt: Prompt) -> str:  # answers right only when it sees an image... there are none: never right
        return ""

    lvlm = ScriptedLM("lvlm-x", seer, supports_images=True)
    v = gate(sub, out=tmp_path / "out", models=models(set()) + [lvlm], base_llms={"lvlm-x": "llm-c"}, min_mg=5.0)
    assert v.exit_code == EXIT_FAIL
    mg = next(c for c in v.checks if c.name == "multi-modal gain: lvlm-x")
    assert mg.value == 0.0 and not mg.passed and mg.comparison == ">="
    # --min-mg without any vision model is a setup error
    v = gate(sub, out=tmp_path / "out3", models=models(set()), min_mg=5.0)
    assert v.exit_code == EXIT_ERROR and "vision models" in v.error["message"]


def test_gate_broken_row_is_exit_2_naming_file_row_field(tmp_path):
    sub = write_submission(tmp_path / "sub.jsonl", broken_row=3)
    v = gate(sub, out=tmp_path / "out", models=models(set()))
    assert v.exit_code == EXIT_ERROR and v.status == "error"
    assert v.error["file"].endswith("sub.jsonl") and v.error["row"] == 3 and v.error["field"] == "answer"
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["exit_code"] == 2 and verdict["error"]["field"] == "answer"
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert suite.get("errors") == "1" and suite.find("testcase/error") is not None
    assert "row 3" in (tmp_path / "out" / "summary.md").read_text()


def test_gate_cli_exit_codes(tmp_path, monkeypatch):
    from leakaudit.cli import main
    import leakaudit.workflows.gate as gate_mod

    broken = write_submission(tmp_path / "broken.jsonl", broken_row=0)
    res = CliRunner().invoke(main, ["gate", str(broken), "--out", str(tmp_path / "o1")])
    assert res.exit_code == 2 and "row 0" in res.output and "answer" in res.output
    assert json.loads((tmp_path / "o1" / "verdict.json").read_text())["status"] == "error"
    res = CliRunner().invoke(main, ["gate", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o0")])
    assert res.exit_code == 2

    good = write_submission(tmp_path / "good.jsonl")
    monkeypatch.setattr(gate_mod, "gate", functools.partial(gate_mod.gate, models=models({"q2", "q5"})))
    res = CliRunner().invoke(main, ["gate", str(good), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 1, res.output
    assert "FAIL  text-answerable share" in res.output
    res = CliRunner().invoke(main, ["gate", str(good), "--out", str(tmp_path / "o3"), "--max-text-answerable", "0.25"])
    assert res.exit_code == 0, res.output
