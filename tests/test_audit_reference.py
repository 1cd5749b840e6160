"""The vectorised audit against a straightforward per-answer reference on a fixed small store.

The store mixes what the fast paths must get right: 3 to 5 options, scored and unscored
answers, NaN and null scores, answers without a letter, two LVLMs on one base LLM, an
LLM also run 2-shot, three capabilities, and every rotation of a few questions
(circular). The reference below loops over answers in plain Python, as the audit did
before it was vectorised; every number must be equal, not merely close.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from leakaudit.audit import audit
from leakaudit.audit.metrics import bootstrap_blocks, bootstrap_weights, option_confidences
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.audit.signals import binomial_p, max_text_hits
from leakaudit.answers.store import Answer, AnswerStore

LLMS = ["l0", "l1", "l2", "l3"]
BASES = {"v0": "l0", "v1": "l0", "v2": "l2"}  # v0 and v1 share their base LLM
CATS = ("cat-a", "cat-b", "cat-c")
N_BOOT = 200


def reference_confidence(scores, chosen) -> float:
    """Softmax share of the chosen option, one answer at a time (the audit's definition)."""
    if not isinstance(scores, (list, tuple)) or not isinstance(chosen, str) or len(chosen) != 1:
        return math.nan
    idx = ord(chosen.upper()) - ord("A")
    vals = [float(v) if v is not None and not math.isnan(float(v)) else -math.inf for v in scores]
    if not 0 <= idx < len(vals) or vals[idx] == -math.inf:
        return math.nan
    top = max(vals)
    weights = [math.exp(v - top) for v in vals]
    return weights[idx] / sum(weights)


def build_store(run_dir, seed: int = 7) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = [Sample(id=f"q{i:02d}", benchmark="ref", question=f"question {i}?", options=[f"o{j}-{i}" for j in range(3 + i % 3)],
                      answer=LETTERS[i % (3 + i % 3)], category=CATS[i % 3]) for i in range(36)]
    jobs = [(m, "text", 0) for m in LLMS] + [("l1", "text", 2)] + [(v, c, 0) for v in BASES for c in ("vision", "blind")]
    with AnswerStore(run_dir) as store:
        store.add_samples(samples)
        for k, (model, cond, shots) in enumerate(jobs):
            for s in samples:
                for rot in range(len(s.options) if s.id < "q06" else 1):  # q00..q05: every rotation
                    n = len(s.options)
                    scores = [round(float(x), 3) for x in rng.normal(0, 1.5, n)]
                    kind = rng.integers(10)
                    if kind == 0:
                        scores = None  # an unscored (free-text) answer
                    elif kind == 1:
                        scores[int(rng.integers(n))] = float("nan")
                    chosen = None if kind == 2 else LETTERS[int(np.argmax([-1e9 if v != v else v for v in scores]))] if scores else LETTERS[int(rng.integers(n))]
                    store.add(Answer(benchmark="ref", sample_id=s.id, sample_hash=s.content_hash, model=model, condition=cond,
                                     prompt_hash="p", scoring="letter", correct=chosen == LETTERS[(s.answer_index + rot) % n] or kind == 3,
                                     shots=shots, rotation=rot, blind_mode="drop" if cond == "blind" else "", option_scores=scores,
                                     chosen=chosen, created_at=1.0 + k))
    return samples


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref")
    return path, build_store(path)


def reference_correct(answers: pd.DataFrame, samples: list[Sample], *, circular: bool, min_confidence: float | None = None):
    """{(condition, model, shots): {sample_hash: (correct, confidence)}} by plain loops."""
    n_opt = {s.content_hash: len(s.options) for s in samples}
    by: dict = {}
    for r in answers.itertuples(index=False):
        by.setdefault((r.condition, r.model, r.shots, r.sample_hash), {})[r.rotation] = (bool(r.correct), reference_confidence(r.option_scores, r.chosen))
    out: dict = {}
    for (cond, model, shots, h), rots in by.items():
        if circular:
            need = n_opt[h]
            if sorted(rots) != list(range(need)):
                continue
            ok, conf = all(v[0] for v in rots.values()), min(v[1] for v in rots.values())
        else:
            if 0 not in rots:
                continue
            ok, conf = rots[0]
        out.setdefault((cond, model, shots), {})[h] = (ok, conf)
    return out


@pytest.mark.parametrize("circular,min_confidence", [(False, None), (False, 0.5), (True, None)])
def test_audit_equals_reference(run, circular, min_confidence):
    run_dir, samples = run
    res = audit(run_dir, base_llms=BASES, circular=circular, min_confidence=min_confidence, n_boot=N_BOOT, seed=3)
    with AnswerStore(run_dir, read_only=True) as store:
        answers = store.answers()
    ref = reference_correct(answers, samples, circular=circular)
    hashes = [s.content_hash for s in samples]

    # per answer: confidence, and the answers table in (sample_id, model, condition, shots, rotation) order
    table = res.answers
    expect = sorted(answers.itertuples(index=False), key=lambda r: (r.sample_id, r.model, r.condition, r.shots, r.rotation))
    assert list(table["sample_hash"]) == [r.sample_hash for r in expect]
    assert np.array_equal(table["confidence"].to_numpy(), [reference_confidence(r.option_scores, r.chosen) for r in expect], equal_nan=True)

    # per question: text hits (inspectors at 0 shots), blind hits, leakage, vision hits, p-value
    def sure(ok, conf):
        return ok and not (min_confidence and conf == conf and conf < min_confidence)

    ev = res.samples.set_index("sample_hash")
    for s in samples:
        h, n = s.content_hash, len(s.options)
        text = {m: ref[("text", m, 0)][h] for m in LLMS if h in ref.get(("text", m, 0), {})}
        right = sorted(m for m, (ok, conf) in text.items() if sure(ok, conf))
        blind = {v: ref[("blind", v, 0)][h] for v in BASES if h in ref.get(("blind", v, 0), {})}
        b_right = sorted(v for v, (ok, conf) in blind.items() if sure(ok, conf))
        vision = [v for v in BASES if h in ref.get(("vision", v, 0), {}) and ref[("vision", v, 0)][h][0]]
        leaked = [v for v in b_right if BASES[v] in text and not sure(*text[BASES[v]])]
        row = ev.loc[h]
        assert (row["text_hits"], row["text_n"], list(row["text_models"])) == (len(right), len(text), right), s.id
        assert (row["blind_hits"], row["blind_n"], list(row["blind_models"])) == (len(b_right), len(blind), b_right), s.id
        assert list(row["leaked_models"]) == leaked and row["vision_hits"] == len(vision), s.id
        chance = 1.0 / n
        assert np.array_equal([row["p_value"]], [binomial_p(len(right), len(text), chance ** n if circular else chance)], equal_nan=True)
        assert row["text_threshold"] == max_text_hits(len(text))

    # metrics: point scores, counts and bootstrap intervals, whole benchmark and per capability
    groups = [(None, list(range(len(samples))))] + [(c, [i for i, s in enumerate(samples) if s.category == c]) for c in CATS]
    for cat, idx in groups:
        W = bootstrap_weights(len(idx), N_BOOT, 3, f"ref\x00{cat}")

        def score(cond, model, weights=None):
            got = ref.get((cond, model, 0), {})
            vals = [(i, float(got[hashes[j]][0])) for i, j in enumerate(idx) if hashes[j] in got]
            if weights is None:
                return 100.0 * sum(v for _, v in vals) / len(vals) if vals else math.nan, len(vals)
            reps = []
            for w in weights:
                den = sum(w[i] for i, _ in vals)
                reps.append(100.0 * sum(w[i] * v for i, v in vals) / den if den else math.nan)
            return np.array(reps)

        for v, base in BASES.items():
            row = res.metrics[(res.metrics["model"] == v) & (res.metrics["category"].isna() if cat is None else res.metrics["category"] == cat)].iloc[0]
            (sv, nv), (swv, nwv), (st, nt) = score("vision", v), score("blind", v), score("text", base)
            assert (row["n_v"], row["n_wv"], row["n_t"]) == (nv, nwv, nt), (v, cat)
            for name, point in (("S_v", sv), ("S_wv", swv), ("S_t", st), ("MG", sv - swv), ("ML", max(0.0, swv - st))):
                assert row[name] == pytest.approx(point, abs=1e-12), (v, cat, name)
            reps = {"S_v": score("vision", v, W), "S_wv": score("blind", v, W), "S_t": score("text", base, W)}
            reps["MG"] = reps["S_v"] - reps["S_wv"]
            reps["ML"] = np.maximum(0.0, reps["S_wv"] - reps["S_t"])
            for name, r in reps.items():
                r = r[~np.isnan(r)]
                lo, hi = np.percentile(r, [2.5, 97.5])
                assert (row[f"{name}_lo"], row[f"{name}_hi"]) == pytest.approx((lo, hi), abs=1e-9), (v, cat, name)


def test_bootstrap_blocks_are_the_whole_draw():
    """Drawing the resamples block by block gives exactly the all-at-once matrix."""
    whole = bootstrap_weights(50, 37, 1, "k")
    assert np.array_equal(np.vstack(list(bootstrap_blocks(50, 37, 1, "k", block=50 * 4))), whole)
    assert whole.shape == (37, 50) and (whole.sum(axis=1) == 50).all()


def test_option_confidences_match_one_at_a_time():
    scores = [[0.5, -1.0, 2.0], None, [float("nan"), 1.0], [1.0, None, 0.0, 3.0], [], "x", [float("inf"), 0.0], [0.0] * 10]
    chosen = ["C", "A", "A", "d", "A", "A", "B", "j"]
    expect = [reference_confidence(s, c) for s, c in zip(scores, chosen)]
    assert np.array_equal(option_confidences(scores, chosen), expect, equal_nan=True)
    assert np.array_equal(option_confidences(scores, pd.Series(chosen, dtype="str")), expect, equal_nan=True)


def test_answers_table_orders_rows_as_a_stable_sort_by_the_key_columns():
    """answers_table sorts on factorized codes (no copy of the key columns); the reference is pandas' stable sort."""
    import numpy as np
    import pandas as pd

    from leakaudit.audit.result import ANSWER_COLUMNS, answers_table

    rng = np.random.default_rng(0)
    n = 3000
    answers = pd.DataFrame({
        "benchmark": rng.choice(["mmstar", "demo", "ai2d"], n), "sample_hash": rng.choice([f"h{i}" for i in range(40)], n),
        "sample_id": rng.choice(["10", "9", "a", "B", "b2"], n), "model": rng.choice(["m-b", "m-a", "Z"], n),
        "condition": rng.choice(["text", "vision", "blind"], n), "shots": rng.integers(0, 3, n), "rotation": rng.integers(0, 2, n),
        "correct": rng.integers(0, 2, n), "chosen": rng.choice(["A", "B", None], n), "option_scores": [None] * n,
        "seq": np.arange(n),  # the original row, to see ties kept in order
    })
    samples = answers[["benchmark", "sample_hash"]].drop_duplicates().iloc[:100]
    keys = ["benchmark", "sample_id", "model", "condition", "shots", "rotation"]
    audited = pd.MultiIndex.from_arrays([answers["benchmark"], answers["sample_hash"]]).isin(
        pd.MultiIndex.from_arrays([samples["benchmark"], samples["sample_hash"]]))
    expected = answers[audited].sort_values(keys, kind="mergesort")
    got = answers_table(answers.copy(), samples)
    assert list(got.columns) == [c for c in ANSWER_COLUMNS if c in answers.columns or c == "confidence"]
    assert got[keys].reset_index(drop=True).equals(expected[keys].reset_index(drop=True).astype({"shots": int, "rotation": int}))
    assert (got["chosen"].fillna("-").to_numpy() == expected["chosen"].fillna("-").to_numpy()).all()  # ties kept in input order
