"""The evidence demo keeps the 60 demo questions and labels every signal; the probe holds its numbers there."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from leakaudit.data.benchmark import load_benchmark
from leakaudit.data.demo import TRUTH_SIGNALS, generate_demo
from leakaudit.audit.signals.combined import agreement, evidence_matrix
from leakaudit.audit.signals.evaluate import demo_truth, run_signals


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = generate_demo(tmp_path_factory.mktemp("base"))
    ext = generate_demo(tmp_path_factory.mktemp("ext"), extended=True)
    return base, ext


def _rows(folder):
    return [json.loads(line) for line in (folder / "demo.jsonl").read_text().splitlines()]


def test_extension_keeps_the_first_60_questions(folders):
    base, ext = folders
    b, e = _rows(base), _rows(ext)
    assert len(b) == 60 and len(e) == 110
    for rb, re_ in zip(b, e):
        assert {k: v for k, v in re_.items() if k != "truth_signals"} == rb
        assert (base / rb["image"]).read_bytes() == (ext / re_["image"]).read_bytes()
    assert [r["id"] for r in e[60:]] == [f"demo-{n:03d}" for n in range(61, 111)]


def test_every_signal_has_positives_and_negatives(folders):
    rows = _rows(folders[1])
    for key in TRUTH_SIGNALS:
        values = [r["truth_signals"][key] for r in rows]
        assert values.count(True) >= 10 and values.count(False) >= 10, key
    kinds = {r["kind"] for r in rows[60:]}
    assert kinds == {"shortcut", "famous-text", "shuffled-text", "elimination"}
    # labels of new rows only where the truth is clear; the scan's precision/recall counts labelled rows
    assert all(r.get("label") is None for r in rows[60:] if r["kind"] in ("famous-text", "shuffled-text"))


def test_probe_on_evidence_demo(folders):
    bench = load_benchmark("demo", path=folders[1])
    frames = run_signals(bench, ["probe"])
    matrix = evidence_matrix(frames, sample_ids=[s.id for s in bench.samples])
    table = agreement(matrix, demo_truth(bench, ["probe"])).set_index("signal")
    # measured: recall 1.00 (16/16 shortcut questions), precision 0.80, ROC AUC 1.00
    assert table.loc["probe", "recall"] >= 0.9
    assert table.loc["probe", "precision"] >= 0.7
    assert table.loc["probe", "roc_auc"] >= 0.95


def test_demo_truth_needs_truth_signals(folders):
    from leakaudit.errors import LeakauditError

    with pytest.raises(LeakauditError, match="truth_signals"):
        demo_truth(load_benchmark("demo", path=folders[0]), ["probe"])


def test_run_signals_refuses_missing_models(folders):
    from leakaudit.errors import LeakauditError

    bench = load_benchmark("demo", path=folders[1])
    with pytest.raises(LeakauditError, match="text-only LLM"):
        run_signals(bench, ["open-form"])
    with pytest.raises(LeakauditError, match="image-capable"):
        run_signals(bench, ["wrong-image"])
    with pytest.raises(LeakauditError, match="unknown signal"):
        run_signals(bench, ["nope"])
