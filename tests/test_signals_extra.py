"""The evidence tests as registered signals: listed, probe in scan/gate, gate check, precision/recall (issue 11)."""
from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from leakaudit.cli import main


def test_signals_json_lists_the_evidence_tests():
    doc = json.loads(CliRunner().invoke(main, ["signals", "--json"]).stdout)
    names = {d["name"] for d in doc}
    assert len(doc) >= 7 and all(d["name"] and d["description"] for d in doc)
    assert {"probe", "option-order", "slot-guess", "min-k", "wrong-image", "ocr-only", "caption-only", "open-form"} <= names


def test_scan_demo_has_probe_columns_matrix_and_precision_recall(tmp_path):
    from test_scan_demo import scripted_models

    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.workflows.scan import scan

    bench = load_benchmark("demo")
    know_a, know_b, base, reader = scripted_models(bench)
    res = scan(bench, models=[know_a, know_b, reader], base_llms={"reader": "base"}, out=tmp_path / "S", n_boot=0, progress=False,
               report=False, min_confidence=0.0)
    samples = pd.read_parquet(tmp_path / "S" / "samples.parquet")
    assert {"probe_score", "probe_flag", "probe_choice"} <= set(samples.columns)
    assert samples["probe_score"].notna().all()
    sig = res.audit.summary["signals"]
    probe = sig["probe"]
    assert probe["share"] is not None and 0 <= probe["accuracy"] <= 1 and probe["ci"][0] <= probe["accuracy"] <= probe["ci"][1]
    # the 60-question demo has only `label`: text-hits and probe are scored against it
    assert probe["truth"] == "label" and 0 <= probe["precision"] <= 1 and 0 <= probe["recall"] <= 1
    assert sig["text-hits"]["precision"] == res.audit.summary["label_quality"]["precision"]
    # model-based signals not asked for: not computed
    assert sig["open-form"]["share"] is None and samples["open_form_score"].isna().all()
    # the probe labels and removes nothing unless named in remove_signals
    assert set(samples["label"]) <= {"text-answerable", "vision-dependent", "leaked", "unknown"}
    assert "probe-answerable" not in set(samples["removed_reason"].dropna())
    m = pd.read_parquet(tmp_path / "S" / "evidence_matrix.parquet")
    assert len(m) == len(samples) and {"probe", "probe_flag", "text-hits", "combined_score"} <= set(m.columns)
    assert m["combined_score"].between(0, 1).all()
    # graded scores against the labels: AUC and AP in the summary, the curves as a figure
    th = sig["text-hits"]
    assert 0.5 < th["roc_auc"] <= 1 and 0 < th["average_precision"] <= 1
    assert (tmp_path / "S" / "figures" / "signal_curves.png").is_file()
    from test_outputs_doc import documented

    assert not set(m.columns) - documented("`evidence_matrix.parquet`"), sorted(set(m.columns) - documented("`evidence_matrix.parquet`"))


def test_evidence_demo_uses_truth_signals(tmp_path):
    from leakaudit.audit.evidence import compute_evidence
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.data.demo import generate_demo
    from leakaudit.answers.settings import AuditSettings
    from leakaudit.audit.signals import summarize

    bench = load_benchmark("demo", path=generate_demo(tmp_path / "ev", extended=True))
    samples = pd.DataFrame([{"benchmark": s.benchmark, "sample_hash": s.content_hash, "sample_id": s.id, "category": s.category,
                             "l2_category": s.l2_category, "n_options": len(s.options), "answer": s.answer, "label": s.meta.get("label")}
                            for s in bench.samples])
    text = pd.DataFrame([{"benchmark": s.benchmark, "sample_hash": s.content_hash, "model": "m", "correct": 0} for s in bench.samples])
    settings = AuditSettings()
    ev = compute_evidence({"text": text, "text_all": text}, samples, {}, settings, benchmark=bench)
    info = summarize(ev, settings)["probe"]
    assert info["truth"] == "truth_signals" and info["n_labelled"] > 0 and "precision" in info and "recall" in info


def test_gate_probe_threshold_zero_fails(tmp_path):
    from test_gate import models, write_submission

    from leakaudit.workflows.gate import EXIT_FAIL, gate

    sub = write_submission(tmp_path / "sub.jsonl")
    v = gate(sub, out=tmp_path / "out", models=models(set()), signal_thresholds={"probe": 0.0})
    checks = {c.name: c for c in v.checks}
    share = v.audit.summary["signals"]["probe"]["share"]
    assert share > 0 and checks["probe"].value == share and not checks["probe"].passed
    assert checks["text-answerable share"].passed and v.exit_code == EXIT_FAIL
    assert "probe_score" in pd.read_csv(tmp_path / "out" / "samples.csv").columns
    # without the threshold the probe changes no verdict
    assert gate(sub, out=tmp_path / "out2", models=models(set())).exit_code == 0


def test_signal_options_refuse_bad_values(tmp_path):
    bad = CliRunner().invoke(main, ["gate", "x.jsonl", "-o", str(tmp_path), "--signal-threshold", "probe"])
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output
    bad = CliRunner().invoke(main, ["scan", "demo", "--signals", "no-such-signal"])
    assert bad.exit_code == 2 and "unknown signal" in bad.output


def test_score_curves_follow_the_scores():
    from leakaudit.report.figures import signal_curves_figure
    from leakaudit.audit.signals import get, score_curve, score_curves

    truth = ["text-answerable"] * 3 + ["vision-dependent"] * 3
    ev = pd.DataFrame({"benchmark": "b", "sample_id": list("abcdef"), "label": ["text-answerable"] * 2 + ["vision-dependent"] * 4,
                       "truth_label": truth, "text_hits": [3, 2, 1, 1, 0, 0], "text_n": [3] * 6, "text_models": [[]] * 6,
                       "text_threshold": [1] * 6, "p_value": [0.5] * 6, "blind_hits": [0, 1, 0, 1, 0, 1], "blind_n": [2] * 6,
                       "blind_models": [[]] * 6})
    c = score_curve(get("text-hits"), ev)
    assert c["n"] == 6 and c["positives"] == 3 and c["roc_auc"] > 0.9 and c["average_precision"] > 0.9
    assert score_curve(get("blind-hits"), ev)["roc_auc"] < 0.7  # noise: no better than chance
    assert score_curve(get("leaked"), ev) is None  # a flag only
    # 3 labelled questions of each class are too few to fit the combination's weights: no combined curve
    assert [x["signal"] for x in score_curves(ev)] == ["text-hits", "blind-hits"]
    big = pd.concat([ev.assign(sample_id=ev["sample_id"] + str(i)) for i in range(4)], ignore_index=True)
    assert [x["signal"] for x in score_curves(big)] == ["text-hits", "blind-hits", "combined"]
    one_class = ev.assign(truth_label="vision-dependent")
    assert score_curve(get("text-hits"), one_class) is None and signal_curves_figure(one_class) is None
    assert signal_curves_figure(ev) is not None


def test_combined_score_is_fitted_on_labels_out_of_fold_and_leaves_unvalidated_signals_out():
    import numpy as np

    from leakaudit.audit.signals import fit_combined

    rng = np.random.default_rng(0)
    n = 80
    truth = rng.random(n) < 0.5
    seen = truth ^ (rng.random(n) < 0.15)  # informative, with 15% of the questions on the wrong side
    text_hits = np.where(seen, rng.integers(2, 4, n), rng.integers(0, 2, n))
    blind_hits = rng.integers(0, 3, n)  # noise
    ev = pd.DataFrame({"benchmark": "b", "sample_id": [f"q{i}" for i in range(n)],
                       "label": np.where(text_hits > 1, "text-answerable", "vision-dependent"),
                       "truth_label": np.where(truth, "text-answerable", "vision-dependent"),
                       "text_hits": text_hits, "text_n": 3, "text_models": [[]] * n, "text_threshold": 1, "p_value": 0.5,
                       "blind_hits": blind_hits, "blind_n": 2, "blind_models": [[]] * n,
                       # min-k: its score is perfect here, but it is unvalidated, so it must not enter
                       "mink_score": truth.astype(float), "mink_flag": truth, "mink_truth": None})
    scores, info = fit_combined(ev)
    assert info["signals"] == ["text-hits", "blind-hits"] and "min-k" not in info["weights"]
    assert info["weights"]["text-hits"] > 0 and abs(info["weights"]["blind-hits"]) < info["weights"]["text-hits"]
    assert 0.7 < info["roc_auc"] < 0.98
    assert len(info["calibration"]["predicted"]) == len(info["calibration"]["observed"]) >= 2
    assert scores.between(0, 1).all()
    unlabelled = ev.drop(columns=["truth_label"])
    s2, info2 = fit_combined(unlabelled)
    assert s2.isna().all() and info2["method"] is None and "no labelled questions" in info2["reason"]
