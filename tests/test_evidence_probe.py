"""The model-free blind probe finds planted wording shortcuts and stays at chance without them."""
from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from click.testing import CliRunner

from leakaudit.data.benchmark import Benchmark, load_benchmark
from leakaudit.cli import main
from leakaudit.audit.signals.nulls import wilson_interval
from leakaudit.audit.signals.probe import probe, probe_signal
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.errors import LeakauditError

NOUNS = "apple river candle tiger pencil mirror garden rocket violin marble helmet tunnel jacket bottle carpet planet".split()


def _bench(n: int, shortcut: bool, seed: int = 1) -> Benchmark:
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = rng.sample(NOUNS, 4)
        gold = rng.randrange(4)
        opts = list(words)
        if shortcut:  # the gold option is long and repeats the question's wording
            opts[gold] = f"the {words[gold]} that is {words[gold]}-shaped and clearly visible"
        samples.append(Sample(id=f"q{i}", benchmark="synthetic", question=f"Which thing ({words[gold] if shortcut else 'object'}) is in the image?",
                              options=opts, answer=LETTERS[gold], category="c"))
    return Benchmark(name="synthetic", samples=samples, source="memory", format="generated")


def test_probe_finds_planted_shortcut():
    res = probe(_bench(120, shortcut=True))
    assert res.summary["accuracy"] > 0.9
    assert res.summary["ci"][0] > res.summary["chance"]
    assert res.samples["probe_flag"].mean() > 0.8


def test_probe_at_chance_without_shortcut():
    accs = [probe(_bench(400, shortcut=False, seed=sd), permutations=0).summary["accuracy"] for sd in range(6)]
    # 2,400 questions in all: the mean's standard error is 0.009 around chance (0.25)
    assert 0.22 < sum(accs) / len(accs) < 0.28


def test_probe_is_deterministic_and_out_of_fold():
    b = _bench(80, shortcut=True)
    a1, a2 = probe(b, seed=7, permutations=20).samples, probe(b, seed=7, permutations=20).samples
    assert a1["p_gold"].tolist() == a2["p_gold"].tolist()
    # a question's fold never trained on it: identical-text duplicates share a fold
    dup = Benchmark(name="d", samples=[*b.samples, *[Sample(id=s.id + "x", benchmark="d", question=s.question, options=s.options, answer=s.answer) for s in b.samples[:10]]],
                    source="m", format="generated")
    res = probe(dup).samples.set_index("sample_id")
    for s in b.samples[:10]:
        assert res.loc[s.id, "fold"] == res.loc[s.id + "x", "fold"]


def test_probe_result_does_not_depend_on_the_threads():
    # the (1 + permutations) x folds fits run on a thread pool; order and numbers must be a single thread's
    b = _bench(90, shortcut=False, seed=4)
    one, three = probe(b, seed=5, permutations=12, jobs=1), probe(b, seed=5, permutations=12, jobs=3)
    pd.testing.assert_frame_equal(one.samples, three.samples, check_exact=True)
    assert one.summary == three.summary
    # the null is the permutations' own: a pool that mixed up which fit belongs to which permutation moves it
    assert 0 < one.summary["permutation_p"] <= 1 and one.samples["p_gold_null"].nunique() > 10
    with pytest.raises(LeakauditError, match="--jobs"):
        probe(b, jobs=0)


def test_probe_signal_columns_and_open_questions():
    b = _bench(20, shortcut=True)
    b.samples.append(Sample(id="open", benchmark="synthetic", question="How many?", answer="3", answer_type="integer"))
    df = probe_signal(b)
    assert list(df.columns) == ["sample_id", "sample_hash", "p_gold", "probe_choice", "probe_correct", "probe_flag", "p_gold_null",
                                "p_gold_excess", "probe_null_hit"]
    assert len(df) == 21 and df.set_index("sample_id").loc["open", "probe_flag"] == False  # noqa: E712


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)


def test_probe_cli_json_and_errors(tmp_path):
    path = tmp_path / "b.jsonl"
    rows = [{"id": s.id, "question": s.question, "options": s.options, "answer": s.answer} for s in _bench(40, shortcut=True).samples]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    runner = CliRunner()
    res = runner.invoke(main, ["probe", str(path), "--json", "--jobs", "2", "-o", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["n"] == 40 and out["accuracy"] > out["chance"] and len(out["samples"]) == 40
    assert {"sample_id", "p_gold"} <= set(out["samples"][0])
    assert (tmp_path / "p.csv").is_file()
    res = runner.invoke(main, ["probe", str(path), "--folds", "1"])
    assert res.exit_code == 2 and "folds" in res.output
    res = runner.invoke(main, ["probe", str(path), "--jobs", "0"])
    assert res.exit_code == 2 and "--jobs" in res.output
    tiny = tmp_path / "t.jsonl"
    tiny.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n")
    res = runner.invoke(main, ["probe", str(tiny)])
    assert res.exit_code == 2 and "at least 4" in res.output


def test_probe_mmstar_all_questions(shared_data):
    bench = load_benchmark("mmstar", path=shared_data / "mmstar_text" / "mmstar_text.parquet")
    res = probe(bench)
    assert res.summary["n"] == 1500
    # MMStar's wording gives a measurable edge over chance (34% vs 25% when measured)
    assert res.summary["ci"][0] > res.summary["chance"]


def _letter_prior_bench(n: int, seed: int = 3) -> Benchmark:
    """No wording shortcut, but 60% of the gold letters are B: chance is the wrong bar."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = rng.sample(NOUNS, 4)
        gold = 1 if rng.random() < 0.6 else rng.choice([0, 2, 3])
        samples.append(Sample(id=f"q{i}", benchmark="prior", question="Which object is in the image?", options=words,
                              answer=LETTERS[gold], category="c"))
    return Benchmark(name="prior", samples=samples, source="memory", format="generated")


def test_letter_prior_beats_chance_but_not_the_permutation_null():
    res = probe(_letter_prior_bench(200), permutations=200)
    s = res.summary
    assert s["p_value_vs_chance"] < 1e-6  # "far above chance" ...
    assert s["majority_baseline"]["letter"] == "B" and abs(s["accuracy"] - s["majority_baseline"]["accuracy"]) < 0.08
    assert s["permutation_p"] > 0.05  # ... but no better than a model that learned only the letter prior
    assert s["null_accuracy"] > 0.45 and s["null_accuracy_range"][0] < s["accuracy"]
    assert res.samples["probe_null_hit"].between(0, 1).all()


def test_planted_shortcut_is_far_above_the_permutation_null():
    res = probe(_bench(120, shortcut=True), permutations=200)
    s = res.summary
    assert s["permutation_p"] == pytest.approx(1 / 201)  # no permutation reached it
    assert s["excess_over_null"] > 0.5 and s["excess_over_null_ci"][0] > 0.4
    assert (res.samples["p_gold_excess"] > 0).mean() > 0.8


def test_probe_cli_json_carries_the_baselines(tmp_path):
    f = tmp_path / "b.jsonl"
    f.write_text("".join(json.dumps({"id": s.id, "question": s.question, "options": s.options, "answer": s.answer}) + "\n"
                         for s in _letter_prior_bench(40).samples))
    res = CliRunner().invoke(main, ["probe", str(f), "--json", "--permutations", "50"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["majority_baseline"]["letter"] == "B" and 0 < doc["permutation_p"] <= 1 and doc["permutations"] == 50


def test_vectorised_softmax_and_argmax_by_question_match_the_per_question_loop():
    """The permutation null calls these 200 times per probe: they are vectorised; the plain loop is the reference."""
    import numpy as np
    import pandas as pd

    from leakaudit.audit.signals.probe import _argmax_by_group, _softmax_by_group

    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 6, size=300)
    q = np.repeat(np.arange(300), sizes)
    pos = np.concatenate([np.arange(n) for n in sizes])
    scores = rng.normal(size=len(q))
    reference = np.empty_like(scores)
    for qi in range(300):
        idx = q == qi
        e = np.exp(scores[idx] - scores[idx].max())
        reference[idx] = e / e.sum()
    assert np.abs(_softmax_by_group(scores, q) - reference).max() < 1e-12
    probs = reference.copy()
    probs[1] = probs[0]  # a tie goes to the first option, as pandas' idxmax gives it
    frame = pd.DataFrame({"q": q, "p": probs, "pos": pos})
    expected = frame.loc[frame.groupby("q")["p"].idxmax()].sort_values("q")["pos"].to_numpy()
    assert (_argmax_by_group(probs, q, pos) == expected).all()
    with pytest.raises(ValueError, match="grouped by question"):
        _softmax_by_group(scores[::-1], q[::-1])
