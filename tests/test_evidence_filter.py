"""Per-question evidence, labels, label quality and MMStar's filter on a synthetic store."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import binomtest

from leakaudit.audit import audit, max_text_hits
from leakaudit.data.benchmark import load_benchmark
from leakaudit.audit.filter import filter_benchmark
from leakaudit.answers.store import Answer, AnswerStore

LLMS = [f"L{i}" for i in range(8)]


@dataclass
class Spec:
    name: str
    kind: str
    base_llm: str | None = None


ZOO = {s.name: s for s in [Spec(m, "llm") for m in LLMS] + [Spec("V0", "lvlm", "L0"), Spec("V1", "lvlm", "L1")]}

# sample -> (LLMs that answer it text-only, LVLMs that answer it blind, ground truth)
PLAN = {
    "s0": ([], [], "vision-dependent"),
    "s1": (["L2", "L3"], [], "vision-dependent"),                    # 2 of 8: still kept
    "s2": (["L2", "L3", "L4"], ["V0"], "text-answerable"),           # 3 of 8: text-answerable
    "s3": (LLMS, ["V0", "V1"], "text-answerable"),
    "s4": (["L5"], ["V0"], "vision-dependent"),                      # V0 blind right, its base L0 wrong: leaked
    "s5": (["L1"], ["V1"], "text-answerable"),                       # V1 right blind but so is its base L1: not leaked
    "s6": ([], [], "vision-dependent"),
    "s7": (["L7"], [], "vision-dependent"),
    "s8": ([], [], "vision-dependent"),
}
CATS = {"s0": "a", "s1": "a", "s2": "a", "s3": "b", "s4": "b", "s5": "b", "s6": "c", "s7": "c", "s8": "c", "s9": "c"}


@pytest.fixture
def bench_and_run(tmp_path):
    """A JSONL benchmark of 10 questions (s9 never run) and a store with 8 LLMs and 2 LVLMs."""
    data = tmp_path / "bench.jsonl"
    data.write_text("".join(json.dumps({"id": sid, "question": f"question {sid}?", "options": ["w", "x", "y", "z"], "answer": "B",
                                        "category": CATS[sid]}) + "\n" for sid in CATS))
    bench = load_benchmark(str(data))
    run = tmp_path / "run"
    with AnswerStore(run) as store:
        for s in bench.samples:
            s.meta["label"] = PLAN[s.id][2] if s.id in PLAN else None
        store.add_samples(bench.samples)
        for s in bench.samples:
            if s.id not in PLAN:
                continue
            text_right, blind_right, _ = PLAN[s.id]
            rows = [(m, "text", m in text_right) for m in LLMS]
            rows += [(v, "blind", v in blind_right) for v in ("V0", "V1")] + [(v, "vision", True) for v in ("V0", "V1")]
            for model, cond, ok in rows:
                store.add(Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition=cond,
                                 prompt_hash="p", scoring="letter", correct=ok, blind_mode="drop" if cond == "blind" else ""))
    return bench, run, data


def test_max_text_hits_rules():
    assert max_text_hits(8) == 2 and max_text_hits(16) == 4 and max_text_hits(3) == 0 and max_text_hits(4) == 1
    assert max_text_hits(8, k=1) == 1 and max_text_hits(22, k=5) == 5          # absolute count
    assert max_text_hits(16, k=3, n=8) == 6 and max_text_hits(10, n=5) == 4     # ratio k/n
    with pytest.raises(ValueError):
        max_text_hits(8, k=1, n=0)


def test_labels_counts_and_pvalues(bench_and_run):
    bench, run, _ = bench_and_run
    ev = audit(run, zoo=ZOO, n_boot=0).samples.set_index("sample_id")
    assert ev.loc["s2", "label"] == "text-answerable" and ev.loc["s3", "label"] == "text-answerable"
    assert ev.loc["s1", "label"] == "vision-dependent" and ev.loc["s0", "label"] == "vision-dependent"
    assert ev.loc["s4", "label"] == "leaked" and ev.loc["s4", "leaked_models"] == ["V0"]
    assert ev.loc["s5", "label"] == "vision-dependent" and ev.loc["s5", "blind_hits"] == 1
    assert ev.loc["s9", "label"] == "unknown" and not ev.loc["s9", "kept"]
    assert ev.loc["s2", "text_models"] == ["L2", "L3", "L4"] and ev.loc["s2", "text_n"] == 8 and ev.loc["s2", "text_threshold"] == 2
    assert ev.loc["s3", "blind_models"] == ["V0", "V1"] and ev.loc["s3", "vision_hits"] == 2 and ev.loc["s3", "vision_n"] == 2
    assert ev.loc["s2", "p_value"] == pytest.approx(binomtest(3, 8, 0.25, alternative="greater").pvalue)
    assert ev.loc["s0", "p_value"] == pytest.approx(1.0) and ev.loc["s0", "chance"] == 0.25
    assert ev.loc["s2", "removed_reason"] == "text-answerable" and "3 of 8" in ev.loc["s2", "removed_detail"]


def test_label_quality_against_ground_truth(bench_and_run):
    _, run, _ = bench_and_run
    res = audit(run, zoo=ZOO, n_boot=0)
    q = res.summary["label_quality"]
    # flagged: s2, s3 (text-answerable), s4 (leaked); truly text-answerable: s2, s3, s5
    assert (q["tp"], q["fp"], q["fn"], q["tn"]) == (2, 1, 1, 5)
    assert res.summary["precision"] == pytest.approx(2 / 3) and res.summary["recall"] == pytest.approx(2 / 3)
    assert res.summary["f1"] == pytest.approx(2 / 3) and q["n_labelled"] == 9
    assert res.summary["share_text_answerable"] == pytest.approx(2 / 9) and res.summary["share_leaked"] == pytest.approx(1 / 9)
    assert res.summary["verdict"]["status"] == "fail"  # 22% text-answerable > 10%


def test_k_and_n_change_the_labels(bench_and_run):
    _, run, _ = bench_and_run
    ev = audit(run, zoo=ZOO, n_boot=0, k=1).samples.set_index("sample_id")   # more than 1 hit
    assert ev.loc["s1", "label"] == "text-answerable"
    ev = audit(run, zoo=ZOO, n_boot=0, k=4, n=8).samples.set_index("sample_id")  # more than 4 of 8
    assert ev.loc["s2", "label"] != "text-answerable" and ev.loc["s3", "label"] == "text-answerable"


def test_filter_default_and_written_in_own_format(bench_and_run, tmp_path):
    bench, run, data = bench_and_run
    res = audit(run, zoo=ZOO, n_boot=0)
    f = filter_benchmark(bench, res)
    assert sorted(f.kept_ids) == ["s0", "s1", "s4", "s5", "s6", "s7", "s8"]
    assert f.reason_counts() == {"text-answerable": 2, "not-audited": 1}
    out = tmp_path / "kept"
    data_file = f.write(out)
    assert data_file.suffix == ".jsonl"
    again = load_benchmark(str(data_file))
    assert [s.id for s in again] == f.kept_ids
    assert [s.content_hash for s in again] == [s.content_hash for s in f.kept.samples]
    removed = pd.read_csv(out / "removed.csv", dtype=str)
    assert dict(zip(removed["sample_id"], removed["reason"])) == {"s2": "text-answerable", "s3": "text-answerable", "s9": "not-audited"}
    assert json.loads((out / "filter.json").read_text())["n_kept"] == 7
    f.apply_to(res)
    assert res.summary["share_kept"] == pytest.approx(0.7)


def test_filter_drop_blind_and_balance(bench_and_run):
    bench, run, _ = bench_and_run
    res = audit(run, zoo=ZOO, n_boot=0)
    f = filter_benchmark(bench, res, drop_blind=True)
    assert sorted(f.kept_ids) == ["s0", "s1", "s6", "s7", "s8"]
    assert f.reason_counts()["blind-answerable"] == 2
    # kept per category: a {s0, s1}, c {s6, s7, s8} -> balance to 2 each; b has none so is not a constraint
    b = filter_benchmark(bench, res, drop_blind=True, balance=True)
    kept = b.decisions[b.decisions["kept"]]
    assert kept.groupby("category").size().to_dict() == {"a": 2, "c": 2}
    assert "s7" not in b.kept_ids  # the one text hit in c goes first
    assert b.reason_counts()["balance"] == 1
    assert filter_benchmark(bench, res, drop_blind=True, balance=True).kept_ids == b.kept_ids  # deterministic


def test_filter_cli(bench_and_run, tmp_path, monkeypatch):
    from leakaudit.cli import main
    import leakaudit.audit.result as result_mod

    _, run, data = bench_and_run
    monkeypatch.setattr(result_mod, "resolve_zoo", lambda zoo=None: ZOO)
    out = tmp_path / "filtered"
    res = CliRunner().invoke(main, ["filter", "--run-dir", str(run), str(data), "--k", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "kept 6 of 10" in res.output
    assert set(pd.read_csv(out / "removed.csv")["sample_id"]) == {"s1", "s2", "s3", "s9"}


def test_chosen_confidence_is_the_softmax_share_of_the_choice():
    import math

    from leakaudit.audit.metrics import chosen_confidence

    assert chosen_confidence([0.0, 0.0], "B") == pytest.approx(0.5)
    assert chosen_confidence([math.log(3), 0.0, None], "A") == pytest.approx(0.75)  # a missing score has no mass
    assert math.isnan(chosen_confidence(None, "A")) and math.isnan(chosen_confidence([0.0, 0.0], None))
    assert math.isnan(chosen_confidence([0.0, 0.0], "C"))  # a letter outside the options


def test_min_confidence_drops_unsure_text_hits_but_keeps_s_t(tmp_path):
    """Three LLMs hit q0: L0 sure (p 0.9), L1 unsure (p 0.3), L2 unscored (generate); only L1's hit is dropped."""
    data = tmp_path / "b.jsonl"
    data.write_text(json.dumps({"id": "q0", "question": "q?", "options": ["w", "x", "y", "z"], "answer": "B"}) + "\n")
    bench = load_benchmark(str(data))
    s = bench.samples[0]
    sure = [math_log(p) for p in (0.05, 0.9, 0.03, 0.02)]
    unsure = [math_log(p) for p in (0.25, 0.3, 0.25, 0.2)]
    with AnswerStore(tmp_path / "run") as store:
        store.add_samples(bench.samples)
        for model, scores in (("L0", sure), ("L1", unsure), ("L2", None)):
            store.add(Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition="text",
                             prompt_hash="p", scoring="cloze" if scores else "generate", option_scores=scores, chosen="B", correct=True))
    plain = audit(tmp_path / "run", n_boot=0, k=1).samples.iloc[0]
    strict = audit(tmp_path / "run", n_boot=0, k=1, min_confidence=0.5)
    row = strict.samples.iloc[0]
    assert plain["text_hits"] == 3 and plain["label"] == "text-answerable"
    assert row["text_hits"] == 2 and row["text_models"] == ["L0", "L2"] and row["label"] == "text-answerable"
    assert strict.metrics.set_index("model").loc["L1", "S_t"] == pytest.approx(100.0)  # S_t counts every hit
    assert "50%" in strict.summary["settings"]["rule"] and strict.summary["settings"]["min_confidence"] == 0.5
    with pytest.raises(Exception, match="between 0 and 1"):
        audit(tmp_path / "run", n_boot=0, min_confidence=2)


def math_log(p: float) -> float:
    import math

    return math.log(p)
