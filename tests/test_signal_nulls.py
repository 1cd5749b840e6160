"""Every signal against its null (issue 23): a flag rate is read as an excess over what guessing gives."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import binom

from leakaudit.cli import main
from leakaudit.audit.filter import compare_with_random, random_lines
from leakaudit.answers.settings import AuditSettings
from leakaudit.audit.signals import get, summarize
from leakaudit.audit.signals.nulls import paired_vs_null, rate_vs_null


def test_rate_vs_null_reads_a_flag_rate_against_its_control():
    at_chance = rate_vs_null(np.r_[np.ones(25), np.zeros(75)], np.full(100, 0.25), "guessing")
    assert at_chance["excess"] == pytest.approx(0.0) and at_chance["excess_ci"][0] < 0 < at_chance["excess_ci"][1]
    above = rate_vs_null(np.r_[np.ones(60), np.zeros(40)], np.full(100, 0.25), "guessing")
    assert above["excess"] == pytest.approx(0.35) and above["excess_ci"][0] > 0.2 and above["p_vs_null"] < 1e-10
    paired = paired_vs_null(np.r_[np.ones(30), np.zeros(10)], np.r_[np.ones(28), np.zeros(12)], "control")
    assert paired["excess"] == pytest.approx(0.05) and paired["excess_ci"][0] < 0  # two more fills than the control: noise


def _evidence(text_hits, text_n=8, blind_hits=None, n_options=4):
    n = len(text_hits)
    return pd.DataFrame({"benchmark": "b", "sample_id": [f"q{i}" for i in range(n)], "sample_hash": [f"h{i}" for i in range(n)],
                         "n_options": n_options, "chance": 1 / n_options, "answer": "A", "label": "vision-dependent",
                         "text_hits": text_hits, "text_n": text_n, "text_models": [[]] * n, "text_threshold": 2, "p_value": 0.5,
                         "blind_hits": blind_hits if blind_hits is not None else [0] * n, "blind_n": 2, "blind_models": [[]] * n,
                         "leaked_models": [[]] * n, "vision_hits": 0, "vision_n": 0})


def test_text_hits_null_is_the_binomial_share_of_guessing_inspectors():
    rng = np.random.default_rng(1)
    guessing = rng.binomial(8, 0.25, size=4000)  # 8 inspectors that only guess
    info = summarize(_evidence(guessing), AuditSettings(k=2, n=8))["text-hits"]
    assert info["null"] == pytest.approx(binom.sf(2, 8, 0.25))  # 32.1% of questions flagged by guessing alone
    assert abs(info["excess"]) < 0.03 and info["excess_ci"][0] < 0 < info["excess_ci"][1]
    knowing = np.where(rng.random(4000) < 0.5, 8, guessing)  # half the questions answered by every inspector
    info = summarize(_evidence(knowing), AuditSettings(k=2, n=8))["text-hits"]
    assert info["excess"] > 0.3 and info["excess_ci"][0] > 0.3
    assert "excess" in " ".join(v for _, v in get("text-hits").report_rows({"signals": {"text-hits": info}}))


def test_filter_removal_is_ranked_against_random_removals_of_the_same_size():
    n = 200
    rng = np.random.default_rng(2)
    leaky = np.zeros(n, dtype=bool)
    leaky[rng.choice(n, 40, replace=False)] = True
    ev = _evidence(np.where(leaky, 8, rng.binomial(8, 0.1, n)))
    planted = compare_with_random(ev, leaky, seeds=1000)
    c = planted["text_accuracy"]
    assert planted["n_removed"] == 40 and c["after"] < c["before"]
    assert c["percentile"] == 0.0 and c["after"] < c["random_range"][0]  # below every random removal
    at_random = compare_with_random(ev, rng.permutation(leaky), seeds=1000)["text_accuracy"]
    assert 0.02 < at_random["percentile"] < 0.98 and at_random["random_range"][0] <= at_random["after"] <= at_random["random_range"][1]
    assert "is smaller than every random removal's" in random_lines(planted)[0]
    assert compare_with_random(ev, np.zeros(n, dtype=bool)) == {}  # nothing removed: nothing to compare


def test_signals_json_says_what_each_measures_its_null_and_whether_it_is_validated():
    res = CliRunner().invoke(main, ["signals", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert {"text-hits", "blind-hits", "probe", "min-k", "option-order", "slot-guess", "open-form", "wrong-image", "ocr-only",
            "caption-only"} <= set(rows)
    for name, r in rows.items():
        assert r["measures"] and r["null"], name
        assert isinstance(r["validated"], bool) and (r["validated_on"] if r["validated"] else True), name
    assert rows["min-k"]["validated"] is False and "2504.18349" in rows["min-k"]["unvalidated_reason"]
    assert rows["probe"]["validated"] and "permutation" in rows["probe"]["null"]


def test_option_order_flips_count_only_when_the_same_order_rerun_agrees():
    from leakaudit.models.backends.base import LM
    from leakaudit.data.benchmark import Benchmark
    from leakaudit.audit.signals.option_order import order_signal
    from leakaudit.data.schema import Sample

    samples = [Sample(id=f"q{i}", benchmark="o", question=f"Question {i}?", options=["w", "x", "y", "z"], answer="A") for i in range(6)]

    class Flaky(LM):
        """Always answers A: right in the published order (A is gold), wrong once the options move;
        on the same-order rerun it answers B to q0..q2 (decoding noise without any order change)."""

        name = "flaky"

        def __init__(self):
            self.published_asks: dict[str, int] = {}

        def letter_logprobs(self, prompts, letters):
            out = []
            for p, ls in zip(prompts, letters):
                text = p.messages[-1]["content"]
                q = next(s for s in samples if f"{s.question}\n" in text)
                choice = 0
                if "A. w" in text:  # the published order
                    seen = self.published_asks.get(q.id, 0)
                    self.published_asks[q.id] = seen + 1
                    choice = 1 if seen and q.id in {"q0", "q1", "q2"} else 0
                out.append([0.0 if i == choice else -5.0 for i in range(len(ls))])
            return out

        def loglikelihood(self, prompts, continuations):
            raise NotImplementedError

        def generate(self, prompts, max_new_tokens=64):
            raise NotImplementedError

    frame = order_signal(Benchmark(name="o", samples=samples, source="memory", format="generated"), Flaky(), shuffles=2)
    assert frame["rerun_flip"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert frame["order_flag"].tolist() == [False, False, False, True, True, True]  # noise flips do not count
