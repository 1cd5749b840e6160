"""docs/outputs.md documents every file and column leakaudit writes; the files follow its conventions.

A scan (scripted models on the demo), a gate, an export and a compare produce real files;
every column and top-level key in them must be named in the section of docs/outputs.md that
describes that file, so a new column cannot ship undocumented.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import leakaudit
from leakaudit.audit import AuditResult
from leakaudit.outputs import SCHEMA_VERSION
from leakaudit.answers.store import AnswerStore

from test_gate import models as gate_models
from test_gate import write_submission
from test_report import scan_with_scripted_models

DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"


def documented(heading_part: str) -> set[str]:
    """Every `backticked` name in the section whose heading contains ``heading_part``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("#") and heading_part in line), None)
    assert start is not None, f"docs/outputs.md has no section about {heading_part}"
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    body = []
    for line in lines[start + 1:]:
        if line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            break
        body.append(line)
    return set(re.findall(r"`([^`]+)`", "\n".join(body)))


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "scan"
    scan_with_scripted_models(leakaudit.load_benchmark("demo"), out, report=False)
    return out


@pytest.fixture(scope="module")
def gate_dir(tmp_path_factory) -> Path:
    from leakaudit.workflows.gate import gate

    tmp = tmp_path_factory.mktemp("gate")
    gate(write_submission(tmp / "sub.jsonl"), out=tmp / "out", models=gate_models({"q1", "q2"}))
    return tmp / "out"


@pytest.mark.parametrize("name, section", [
    ("metrics.csv", "`metrics.csv`"), ("averages.csv", "`averages.csv`"), ("samples.csv", "`samples.csv`"),
    ("samples.parquet", "`samples.parquet`"), ("answers.parquet", "`answers.parquet`"), ("kept/removed.csv", "`kept/removed.csv`"),
])
def test_every_scan_column_is_documented(scan_dir, name, section):
    path = scan_dir / name
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = set(frame.columns) - documented(section)
    assert not missing, f"{name}: columns missing from docs/outputs.md: {sorted(missing)}"


def test_every_summary_and_filter_key_is_documented(scan_dir, gate_dir):
    summary = json.loads((scan_dir / "summary.json").read_text())
    doc = documented("`summary.json`")
    assert not set(summary) - doc, sorted(set(summary) - doc)
    for nested in ("settings", "scan", "verdict", "label_quality", "models"):
        assert not set(summary[nested]) - doc, (nested, sorted(set(summary[nested]) - doc))
    gate_summary = json.loads((gate_dir / "summary.json").read_text())
    assert not set(gate_summary["verdict"]) - doc, sorted(set(gate_summary["verdict"]) - doc)
    filt = json.loads((scan_dir / "kept" / "filter.json").read_text())
    assert not set(filt) - documented("`kept/filter.json`")


def test_every_gate_key_is_documented(gate_dir):
    verdict = json.loads((gate_dir / "verdict.json").read_text())
    doc = documented("`verdict.json`")
    assert not set(verdict) - doc, sorted(set(verdict) - doc)
    assert not set(verdict["summary"]) - doc
    assert not {k for c in verdict["checks"] for k in c} - doc
    assert verdict["schema_version"] == SCHEMA_VERSION and verdict["leakaudit_version"] == leakaudit.__version__
    for f in ("junit.xml", "summary.md", "answers.parquet", "samples.parquet"):
        assert (gate_dir / f).is_file(), f


def test_every_export_column_is_documented(scan_dir, tmp_path):
    with AnswerStore(scan_dir / "run") as store:
        pq, csv = store.export(tmp_path / "a.parquet"), store.export(tmp_path / "a.csv")
    doc = documented("leakaudit export") | documented("`answers.parquet`")
    frame = pd.read_parquet(pq)
    assert not set(frame.columns) - doc, sorted(set(frame.columns) - doc)
    # lists stay lists in parquet; CSV holds JSON lists
    assert isinstance(frame["option_scores"].dropna().iloc[0].tolist(), list)
    assert json.loads(pd.read_csv(csv)["option_scores"].dropna().iloc[0])


def test_conventions_hold_in_the_scan_folder(scan_dir):
    summary = json.loads((scan_dir / "summary.json").read_text())
    assert summary["schema_version"] == SCHEMA_VERSION and summary["leakaudit_version"] == leakaudit.__version__
    metrics = pd.read_csv(scan_dir / "metrics.csv")
    assert metrics["category"].notna().all() and "all" in set(metrics["category"])
    # list columns: lists in parquet, JSON lists in CSV (never ';'-joined)
    pq = pd.read_parquet(scan_dir / "samples.parquet")
    csv = pd.read_csv(scan_dir / "samples.csv")
    for col in ("text_models", "blind_models", "leaked_models"):
        assert all(isinstance(v.tolist(), list) for v in pq[col])
        assert all(isinstance(json.loads(v), list) for v in csv[col])
    hit = pq[pq["text_hits"] > 1].iloc[0]
    assert len(hit["text_models"]) == hit["text_hits"]
    # one name for the question id everywhere
    removed = pd.read_csv(scan_dir / "kept" / "removed.csv")
    answers = pd.read_parquet(scan_dir / "answers.parquet")
    for frame in (pq, csv, removed, answers):
        assert "sample_id" in frame.columns and "id" not in frame.columns
    # full precision in files: the bootstrap bounds are not rounded to one decimal
    values = metrics[["S_t", "S_t_lo", "S_t_hi"]].to_numpy().ravel()
    assert any(abs(v * 10 - round(v * 10)) > 1e-6 for v in values if v == v)
    # every model's per-question answers: chosen, correct, confidence
    assert {"chosen", "correct", "confidence"} <= set(answers.columns)
    assert set(answers["model"]) == {"llm-knows", "llm-half", "llm-guess", "lvlm-a"}
    assert answers["confidence"].between(0, 1).all()
    # and the folder loads back to the same evidence, lists included
    back = AuditResult.load(scan_dir)
    assert back.samples["text_models"].map(type).eq(list).all() and back.metrics["category"].isna().any()
    assert len(back.answers) == len(answers)
