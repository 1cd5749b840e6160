"""Metrics need no panel; verdicts do (issue 20, items 1 and 2).

A store holding only one vision model's published predictions must give its S_v (and MG
where blind answers exist) with exit 0 and ``verdict: null`` plus the reason; an LVLM whose
base LLM nobody knows gets ML = null with a note, and ``filter`` works without it. The gate
keeps refusing (exit 2) where it would have to judge without a panel.
"""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from leakaudit.data.benchmark import load_benchmark
from leakaudit.cli import main
from leakaudit.answers.store import Answer, AnswerStore

#: 8 questions, gold letter B everywhere
IDS = [f"q{i}" for i in range(8)]


def _bench(tmp_path):
    data = tmp_path / "bench.jsonl"
    data.write_text("".join(json.dumps({"id": i, "question": f"what is shown in picture {i}?", "options": ["w", "x", "y", "z"],
                                        "answer": "B", "category": "cat"}) + "\n" for i in IDS))
    return data, load_benchmark(str(data))


def _store(run, bench, rows):
    """rows: (model, condition, set of ids answered right); every other question is answered wrong."""
    with AnswerStore(run) as store:
        store.add_samples(bench.samples)
        for model, cond, right in rows:
            for s in bench.samples:
                store.add(Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition=cond,
                                 prompt_hash="p", scoring="letter", correct=s.id in right, chosen="B" if s.id in right else "A",
                                 shots=0, rotation=0, blind_mode="drop" if cond == "blind" else "", source="import:published.xlsx"))


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_audit_of_one_imported_vision_model_prints_s_v_and_a_null_verdict(tmp_path):
    _, bench = _bench(tmp_path)
    run = tmp_path / "run"
    _store(run, bench, [("published-lvlm", "vision", set(IDS[:6]))])  # S_v = 6/8 = 75%

    res = _run(["audit", "--run-dir", str(run), "--json", "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    row = next(r for r in doc["metrics"] if r["model"] == "published-lvlm" and r["category"] == "all")
    assert row["S_v"] == 75.0 and row["S_wv"] is None and row["MG"] is None
    assert doc["verdict"] is None and doc["summary"]["verdict"] is None
    assert "no text-answerable verdict without a panel" in doc["verdict_reason"]
    assert doc["summary"]["share_kept"] is None  # nothing judged, nothing kept

    res = _run(["audit", "--run-dir", str(run)])
    assert res.exit_code == 0, res.output
    assert "75.0" in res.output and "verdict: none: no text-answerable verdict without a panel" in res.output
    assert "weak panel" not in res.output  # no panel is said once, by the verdict line

    # the gate, which must give a verdict, still refuses (exit 2 = cannot decide, never pass/fail)
    from leakaudit.audit import audit
    from leakaudit.errors import LeakauditError
    from leakaudit.workflows.gate import evaluate_checks

    with pytest.raises(LeakauditError, match="no inspector LLM answered text-only"):
        evaluate_checks(audit(run, n_boot=0))


def test_vision_and_blind_answers_without_a_known_base_llm_give_mg_and_a_null_ml(tmp_path):
    data, bench = _bench(tmp_path)
    run = tmp_path / "run"
    inspectors = [(f"llm-{k}", "text", {"q0"}) for k in "abc"]  # q0 is text-answerable for the panel
    _store(run, bench, inspectors + [("mystery-lvlm", "vision", set(IDS[:6])), ("mystery-lvlm", "blind", set(IDS[:2]))])

    res = _run(["audit", "--run-dir", str(run), "--json", "--n-boot", "0", "--inspectors", "llm-a,llm-b,llm-c", "--k", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    row = next(r for r in doc["metrics"] if r["model"] == "mystery-lvlm" and r["category"] == "all")
    assert (row["S_v"], row["S_wv"], row["MG"]) == (75.0, 25.0, 50.0)
    assert row["ML"] is None and "--base-llm mystery-lvlm=LLM" in row["note"]
    assert doc["verdict"]["status"] in {"pass", "fail"}  # a panel answered, so there is a verdict

    # naming the base LLM gives ML: llm-a answers q0 only (12.5%), blind 25% -> ML 12.5
    res = _run(["audit", "--run-dir", str(run), "--json", "--n-boot", "0", "--inspectors", "llm-a,llm-b,llm-c", "--k", "1",
                "--base-llm", "mystery-lvlm=llm-a"])
    row = next(r for r in json.loads(res.stdout)["metrics"] if r["model"] == "mystery-lvlm" and r["category"] == "all")
    assert row["ML"] == 12.5 and not row["note"]

    # the filter needs no base LLM: q0 is removed as text-answerable, the rest kept
    out = tmp_path / "filtered"
    res = _run(["filter", str(data), "--run-dir", str(run), "--inspectors", "llm-a,llm-b,llm-c", "--k", "1", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["n_kept"] == 7 and doc["removed"] == {"text-answerable": 1}
    # ...and takes --base-llm wherever a message suggests it
    res = _run(["filter", str(data), "--run-dir", str(run), "--inspectors", "llm-a,llm-b,llm-c", "--k", "1", "-o", str(out),
                "--base-llm", "mystery-lvlm=llm-a"])
    assert res.exit_code == 0, res.output


def test_gate_max_leaked_refuses_when_a_base_llm_is_unknown(tmp_path):
    from leakaudit.audit import audit
    from leakaudit.errors import LeakauditError
    from leakaudit.workflows.gate import evaluate_checks

    _, bench = _bench(tmp_path)
    run = tmp_path / "run"
    _store(run, bench, [(f"llm-{k}", "text", {"q0"}) for k in "abc"] + [("mystery-lvlm", "blind", set(IDS[:2]))])
    result = audit(run, n_boot=0, inspectors=["llm-a", "llm-b", "llm-c"])
    assert result.summary["models"]["unknown_base_llm"] == ["mystery-lvlm"]
    evaluate_checks(result, max_text_answerable=0.5)  # without --max-leaked the base LLM is not needed
    try:
        evaluate_checks(result, max_text_answerable=0.5, max_leaked=0.1)
    except LeakauditError as exc:
        assert "--base-llm mystery-lvlm=LLM" in str(exc)
    else:
        raise AssertionError("a leaked-share check without the base LLM would be a silent 0")
    assert math.isnan(result.metric("mystery-lvlm").ML)


def test_no_panel_leaves_the_panel_shares_unmeasured_and_fits_80_columns(tmp_path):
    _, bench = _bench(tmp_path)
    run = tmp_path / "run"
    _store(run, bench, [("mystery-lvlm", "vision", set(IDS[:6])), ("mystery-lvlm", "blind", set(IDS[:2]))])
    doc = json.loads(_run(["audit", "--run-dir", str(run), "--json", "--n-boot", "0"]).stdout)
    summary = doc["summary"]
    # blind answers label questions, but none was judged text-answerable: 0% would read as a pass
    assert summary["share_text_answerable"] is None and summary["share_vision_dependent"] is None
    assert summary["benchmarks"][bench.name]["share_text_answerable"] is None and summary["n_audited"] == len(IDS)
    res = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--n-boot", "0"], env={"COLUMNS": "80"})
    assert res.exit_code == 0 and "text-answerable -," in res.output and "50.0" in res.output  # MG 75 - 25
    assert max(len(line) for line in res.output.splitlines()) <= 80


def test_probe_on_a_store_with_no_audited_question(tmp_path):
    """The probe runs on the questions (--path); with none audited it flags no share of them (it crashed: TypeError)."""
    data, bench = _bench(tmp_path)
    run = tmp_path / "run"
    _store(run, bench, [("published-lvlm", "vision", set(IDS[:6]))])
    res = _run(["audit", "--run-dir", str(run), "--n-boot", "0", "--path", str(data)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "probe accuracy" in text and "flagged share not measured (no question audited)" in text


def test_the_probe_in_audit_and_filter_shows_its_bar_unless_told_not_to(tmp_path):
    """The probe's fits take minutes on a large benchmark: audit and filter show their bar on stderr, as `probe` does;
    --no-progress, --json and --quiet keep stderr free of it, and stdout never carries it."""
    data, bench = _bench(tmp_path)
    run = tmp_path / "run"
    _store(run, bench, [("published-lvlm", "vision", set(IDS[:6])), ("reader-llm", "text", set(IDS[:3]))])
    bar = "probe (5-fold fits)"
    audit = ["audit", "--run-dir", str(run), "--n-boot", "0", "--path", str(data)]
    filt = ["filter", str(data), "--run-dir", str(run), "--inspectors", "reader-llm", "-o", str(tmp_path / "kept")]
    for args in (audit, filt):
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert bar in res.stderr and "201/201" in res.stderr and bar not in res.stdout
        for quiet_args in (args + ["--no-progress"], args + ["--json"], ["--quiet", *args]):
            res = CliRunner().invoke(main, quiet_args, catch_exceptions=False)
            assert res.exit_code == 0, res.output
            assert bar not in res.stderr, quiet_args


def test_report_and_compare_show_metrics_without_a_panel(tmp_path):
    _, bench = _bench(tmp_path)
    run = tmp_path / "run"
    _store(run, bench, [("mystery-lvlm", "vision", set(IDS[:6])), ("mystery-lvlm", "blind", set(IDS[:2]))])
    res = _run(["report", str(run), "--no-images", "-o", str(tmp_path / "a.pdf")])
    assert res.exit_code == 0 and "verdict: none: no text-answerable verdict without a panel" in res.output
    assert (tmp_path / "a.pdf").is_file()
    res = _run(["compare", str(run / "audit"), "-o", str(tmp_path / "c.pdf")])
    assert res.exit_code == 0, res.output
    assert "text-answerable n/a (no panel)" in res.output and "mean MG 50.0" in res.output


def test_scan_without_a_panel_writes_the_metrics_and_no_kept_set(tmp_path):
    from leakaudit.models.backends.scripted import ScriptedLM
    from leakaudit.workflows.scan import scan

    _, bench = _bench(tmp_path)
    seer = ScriptedLM("seer", lambda prompt: "x", supports_images=True)  # cloze: "x" is option B, the gold answer
    res = scan(bench, models=[seer], out=tmp_path / "scan", report=False, progress=False, n_boot=0)
    assert res.filter is None and res.kept_file is None and not (tmp_path / "scan" / "kept").exists()
    assert res.audit.summary["verdict"] is None and "without a panel" in res.audit.summary["verdict_reason"]
    row = res.audit.metric("seer")
    assert (row.S_v, row.S_wv, row.MG) == (100.0, 100.0, 0.0) and math.isnan(row.ML) and "--base-llm seer=LLM" in row.note
    saved = json.loads((tmp_path / "scan" / "summary.json").read_text())
    assert saved["verdict"] is None and saved["scan"]["kept_file"] is None

    # the gate's run of the same flow refuses instead (exit 2): it must judge, and nothing could be judged
    from leakaudit.errors import LeakauditError
    from leakaudit.workflows.pipeline import audit_run
    from leakaudit.answers.settings import AuditSettings

    with pytest.raises(LeakauditError, match="no inspector LLM"):
        audit_run(tmp_path / "scan" / "run", AuditSettings(n_boot=0), require_inspectors=True)


@pytest.mark.parametrize("command", ["audit", "filter", "report", "scan", "gate"])
def test_base_llm_option_wherever_the_note_suggests_it(command):
    assert "--base-llm" in _run([command, "--help"]).output
