"""MMStar's metrics from synthetic answer stores with hand-computed expectations."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pandas as pd
import pytest
from click.testing import CliRunner

from leakaudit.audit import AVERAGE, AuditResult, audit
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.answers.store import Answer, AnswerStore


@dataclass
class Spec:
    name: str
    kind: str
    base_llm: str | None = None


class FakeZoo(dict):
    """The part of leakaudit.models.zoo.Zoo the audit reads: ``name in zoo`` and ``zoo[name]``."""

    def __init__(self, *specs: Spec):
        super().__init__({s.name: s for s in specs})


ZOO = FakeZoo(Spec("l1", "llm"), Spec("l2", "llm"), Spec("v1", "lvlm", "l1"), Spec("v2", "lvlm", "l2"))


def make_samples(n: int = 4, categories=("cat-a", "cat-b"), n_options: int = 4) -> list[Sample]:
    return [
        Sample(id=f"q{i}", benchmark="toy", question=f"question {i}?", options=[f"opt{j}-{i}" for j in range(n_options)],
               answer=LETTERS[i % n_options], category=categories[i % len(categories)])
        for i in range(n)
    ]


def put(store: AnswerStore, samples: list[Sample], model: str, condition: str, hits: list[bool], *, shots: int = 0, rotation: int = 0) -> None:
    for s, ok in zip(samples, hits):
        store.add(Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition=condition,
                         prompt_hash="p", scoring="letter", correct=ok, shots=shots, rotation=rotation,
                         blind_mode="drop" if condition == "blind" else ""))


@pytest.fixture
def toy_run(tmp_path):
    """v1: S_v 75, S_wv 50, base l1 S_t 25 -> MG 25, ML 25. v2: 50/50, l2 75 -> MG 0, ML clipped to 0."""
    samples = make_samples()
    with AnswerStore(tmp_path) as store:
        store.add_samples(samples)
        put(store, samples, "v1", "vision", [True, True, True, False])
        put(store, samples, "v1", "blind", [True, True, False, False])
        put(store, samples, "l1", "text", [True, False, False, False])
        put(store, samples, "v2", "vision", [True, False, True, False])
        put(store, samples, "v2", "blind", [False, True, False, True])
        put(store, samples, "l2", "text", [True, True, True, False])
    return tmp_path, samples


def test_mg_ml_hand_computed(toy_run):
    run_dir, _ = toy_run
    res = audit(run_dir, zoo=ZOO, n_boot=200)
    v1 = res.metric("v1")
    assert (v1.S_v, v1.S_wv, v1.S_t, v1.MG, v1.ML) == (75.0, 50.0, 25.0, 25.0, 25.0)
    assert v1.base_llm == "l1" and v1.kind == "lvlm" and v1.text_shots == 0
    v2 = res.metric("v2")
    assert (v2.S_v, v2.S_wv, v2.S_t, v2.MG) == (50.0, 50.0, 75.0, 0.0)
    assert v2.ML == 0.0  # S_wv - S_t = -25, clipped at 0
    l2 = res.metric("l2")
    assert l2.kind == "llm" and l2.S_t == 75.0 and math.isnan(l2.S_v) and math.isnan(l2.MG)
    avg = res.averages[(res.averages["model"] == AVERAGE) & res.averages["category"].isna()].iloc[0]
    assert avg.MG == 12.5 and avg.ML == 12.5 and avg.S_v == 62.5
    assert res.summary["mean_MG"] == 12.5 and res.summary["mean_ML"] == 12.5


def test_per_category_rows(toy_run):
    run_dir, _ = toy_run
    res = audit(run_dir, zoo=ZOO, n_boot=0)
    # cat-a = q0, q2; cat-b = q1, q3
    a = res.metric("v1", category="cat-a")
    b = res.metric("v1", category="cat-b")
    assert (a.S_v, a.S_wv, a.S_t, a.MG, a.ML) == (100.0, 50.0, 50.0, 50.0, 0.0)
    assert (b.S_v, b.S_wv, b.S_t, b.MG, b.ML) == (50.0, 50.0, 0.0, 0.0, 50.0)
    assert a.n == 2 and a.chance == 25.0
    assert math.isnan(a.S_v_lo)  # n_boot=0: no intervals
    assert set(res.metrics["category"].dropna()) == {"cat-a", "cat-b"}


def test_bootstrap_intervals_seeded_and_cover_point(tmp_path):
    samples = make_samples(60)
    with AnswerStore(tmp_path) as store:
        store.add_samples(samples)
        put(store, samples, "v1", "vision", [i % 3 != 0 for i in range(60)])
        put(store, samples, "v1", "blind", [i % 2 == 0 for i in range(60)])
        put(store, samples, "l1", "text", [i % 4 == 0 for i in range(60)])
    r1 = audit(tmp_path, zoo=ZOO, n_boot=300, seed=1).metric("v1")
    r2 = audit(tmp_path, zoo=ZOO, n_boot=300, seed=1).metric("v1")
    for name in ("S_v", "S_wv", "S_t", "MG", "ML"):
        assert r1[f"{name}_lo"] <= r1[name] <= r1[f"{name}_hi"], name
        assert r1[f"{name}_lo"] == r2[f"{name}_lo"] and r1[f"{name}_hi"] == r2[f"{name}_hi"]
    assert r1.S_v_hi - r1.S_v_lo > 5  # 60 questions: intervals are wide, not degenerate
    # paired bootstrap: the MG interval is narrower than the independent-sum width would be
    assert (r1.MG_hi - r1.MG_lo) < (r1.S_v_hi - r1.S_v_lo) + (r1.S_wv_hi - r1.S_wv_lo)


def test_unknown_base_llm_gives_null_ml_with_a_note_not_zero_and_not_a_refusal(toy_run):
    run_dir, _ = toy_run
    zoo = FakeZoo(Spec("l1", "llm"), Spec("v1", "lvlm", "l1"), Spec("v2", "lvlm", "ghost-llm"), Spec("l2", "llm"))
    res = audit(run_dir, zoo=zoo, n_boot=0)
    v2 = res.metric("v2")
    assert not math.isnan(v2.MG) and math.isnan(v2.S_t) and math.isnan(v2.ML)  # MG needs no base LLM
    assert "ghost-llm was never run text-only" in v2.note
    # an LVLM that is not in the zoo at all: ML is null, the note says how to name its base LLM
    res = audit(run_dir, zoo=FakeZoo(Spec("l1", "llm"), Spec("v1", "lvlm", "l1")), n_boot=0)
    v2 = res.metric("v2")
    assert math.isnan(v2.ML) and "base LLM of v2 unknown (it is not in the model zoo)" in v2.note and "--base-llm v2=LLM" in v2.note
    assert res.summary["models"]["unknown_base_llm"] == ["v2"] and any("--base-llm v2=LLM" in n for n in res.summary["notes"])
    assert res.metric("v1").ML == res.metric("v1").ML  # v1 keeps its ML
    # ...and the caller can name it
    res = audit(run_dir, zoo=FakeZoo(Spec("l1", "llm"), Spec("v1", "lvlm", "l1")), base_llms={"v2": "l2"}, n_boot=0)
    assert res.metric("v2").ML == 0.0 and res.summary["models"]["unknown_base_llm"] == []


def test_base_llm_never_run_gives_null_st_and_ml_with_note(tmp_path):
    samples = make_samples()
    zoo = FakeZoo(Spec("l1", "llm"), Spec("v1", "lvlm", "l1"))
    with AnswerStore(tmp_path) as store:
        store.add_samples(samples)
        put(store, samples, "v1", "vision", [True, True, True, False])
        put(store, samples, "v1", "blind", [True, False, False, False])
    res = audit(tmp_path, zoo=zoo, n_boot=0)
    v1 = res.metric("v1")
    assert v1.MG == 50.0 and math.isnan(v1.S_t) and math.isnan(v1.ML)
    assert "never run text-only" in v1.note
    assert any("never run text-only" in n for n in res.summary["notes"])


def test_text_shots_selects_st_and_is_recorded(tmp_path):
    samples = make_samples()
    with AnswerStore(tmp_path) as store:
        store.add_samples(samples)
        put(store, samples, "v1", "vision", [True] * 4)
        put(store, samples, "v1", "blind", [True, True, True, False])
        put(store, samples, "l1", "text", [True, False, False, False], shots=0)
        put(store, samples, "l1", "text", [True, True, True, False], shots=2)
    zoo = FakeZoo(Spec("l1", "llm"), Spec("v1", "lvlm", "l1"))
    r0 = audit(tmp_path, zoo=zoo, n_boot=0, text_shots=0)
    r2 = audit(tmp_path, zoo=zoo, n_boot=0, text_shots=2)
    assert (r0.metric("v1").S_t, r0.metric("v1").ML, r0.metric("v1").text_shots) == (25.0, 50.0, 0)
    assert (r2.metric("v1").S_t, r2.metric("v1").ML, r2.metric("v1").text_shots) == (75.0, 0.0, 2)
    assert r2.summary["settings"]["text_shots"] == 2 and "2-shot" in r2.summary["settings"]["text_shots_note"]
    r5 = audit(tmp_path, zoo=zoo, n_boot=0, text_shots=5)
    assert math.isnan(r5.metric("v1").S_t) and "only at shots=[0, 2]" in r5.metric("v1").note


def test_circular_always_c_gets_no_credit(tmp_path):
    """A model that always answers "C" scores ~25% plain and 0% circular."""
    samples = make_samples(40)
    with AnswerStore(tmp_path) as store:
        store.add_samples(samples)
        for s in samples:
            for r in range(4):
                rs = s.rotated(r)
                for model, cond in (("v1", "vision"), ("v1", "blind"), ("l1", "text")):
                    store.add(Answer(benchmark="toy", sample_id=s.id, sample_hash=s.content_hash, model=model, condition=cond,
                                     prompt_hash="p", scoring="letter", correct=rs.answer == "C", chosen="C", rotation=r,
                                     blind_mode="drop" if cond == "blind" else ""))
    zoo = FakeZoo(Spec("l1", "llm"), Spec("v1", "lvlm", "l1"))
    plain = audit(tmp_path, zoo=zoo, n_boot=0)
    circ = audit(tmp_path, zoo=zoo, n_boot=0, circular=True)
    assert plain.metric("v1").S_v == 25.0 and plain.metric("l1").S_t == 25.0
    assert circ.metric("v1").S_v == 0.0 and circ.metric("v1").S_wv == 0.0 and circ.metric("l1").S_t == 0.0
    assert circ.summary["settings"]["circular"] is True
    # plain evaluation flags the C-answer questions; circular evaluation flags none
    assert (circ.samples["text_hits"] == 0).all()
    assert (plain.samples["text_hits"] > 0).sum() == 10


def test_circular_needs_every_rotation(tmp_path):
    samples = make_samples(4)
    with AnswerStore(tmp_path) as store:
        store.add_samples(samples)
        for s in samples:
            for r in range(4 if s.id != "q0" else 2):  # q0 lacks two rotations
                store.add(Answer(benchmark="toy", sample_id=s.id, sample_hash=s.content_hash, model="l1", condition="text",
                                 prompt_hash="p", scoring="letter", correct=True, rotation=r))
    res = audit(tmp_path, zoo=FakeZoo(Spec("l1", "llm")), n_boot=0, circular=True)
    row = res.metric("l1")
    assert row.S_t == 100.0 and row.n_t == 3


def test_save_load_and_json_has_nulls_not_nan(toy_run, tmp_path):
    run_dir, _ = toy_run
    res = audit(run_dir, zoo=ZOO, n_boot=50)
    out = res.save(tmp_path / "out")
    for f in ("summary.json", "metrics.csv", "samples.csv", "samples.parquet", "averages.csv"):
        assert (out / f).is_file(), f
    back = AuditResult.load(out)
    pd.testing.assert_frame_equal(back.samples.reset_index(drop=True), res.samples.reset_index(drop=True), check_dtype=False)
    assert back.metric("v1").MG == 25.0 and back.summary["n_samples"] == 4
    doc = res.to_json()
    text = json.dumps(doc, allow_nan=False)  # raises on NaN
    l1 = next(r for r in doc["metrics"] if r["model"] == "l1" and r["category"] == "all")
    assert l1["S_v"] is None and l1["MG"] is None and l1["S_t"] == 25.0
    assert "NaN" not in text


def test_audit_cli_json(toy_run, monkeypatch):
    from leakaudit.cli import main
    import leakaudit.audit.result as result_mod

    run_dir, _ = toy_run
    monkeypatch.setattr(result_mod, "resolve_zoo", lambda zoo=None: ZOO)
    out = CliRunner().invoke(main, ["audit", "--run-dir", str(run_dir), "--json", "--n-boot", "20"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    rows = {(r["model"], r["category"]): r for r in doc["metrics"]}
    assert set(rows) == {(m, c) for m in ("v1", "v2", "l1", "l2") for c in ("all", "cat-a", "cat-b")}
    for r in doc["metrics"]:
        assert {"model", "benchmark", "category", "S_v", "S_wv", "S_t", "MG", "ML"} <= set(r)
    assert rows[("v1", "all")]["MG"] == 25.0 and rows[("v2", "all")]["ML"] == 0.0
    assert rows[("l1", "all")]["S_v"] is None


def test_audit_cli_missing_store_exits_2(tmp_path):
    from leakaudit.cli import main

    out = CliRunner().invoke(main, ["audit", "--run-dir", str(tmp_path / "nothing")])
    assert out.exit_code == 2 and "no answer store" in out.output
