"""The LLaVA-Critic style judge: reply parsing, retries, agreement, the `leakaudit judge` command."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.errors import DataError
from leakaudit.regen.judge import (
    Judge,
    agreement,
    make_answer_pairs,
    normalize_label,
    parse_preference,
    parse_score,
    preference_from_scores,
    read_pairs,
)


@pytest.mark.parametrize("text,score,how", [
    ('{"score": 70, "reason": "mostly right"}', 70, "json"),
    ("```json\n{'Score': '85/100', 'explanation': 'ok'}\n```", 85, "json"),
    ("Score: 85. The answer names the right colour.", 85, "score-label"),
    ("The overall score is 42 because it misses the count.", 42, "score-label"),
    ("I would rate it 60 out of 100.", 60, "rating"),
    ("The response deserves 75/100.", 75, "out-of-100"),
    ("[[92]]", 92, "brackets"),
    ("85\nThe answer is right.", 85, "leading-number"),
])
def test_parse_score(text, score, how):
    got, _reason, method = parse_score(text)
    assert got == score and method == how


@pytest.mark.parametrize("text", ["no idea", "Score the response out of 100 and explain", "score of 150", "", "It scored 12 percent of points%"])
def test_parse_score_unreadable_is_none(text):
    assert parse_score(text)[0] is None


def test_parse_score_reason_from_json():
    assert parse_score('{"score": 10, "reason": "wrong colour"}')[1] == "wrong colour"


@pytest.mark.parametrize("text,verdict", [
    ("The first answer is better.", "first"),
    ("Response 2 is better than response 1 because it counts correctly.", "second"),
    ("I prefer the second response.", "second"),
    ("Tie", "tie"),
    ("Both answers are equally good.", "tie"),
    ("Both answers are good, but the first response is better.", "first"),
    ("Better: second\nIt reads the sign.", "second"),
    ('{"winner": "B", "reason": "more precise"}', "second"),
    ("[[A]]", "first"),
    ("The better answer is the first one.", "first"),
    ("While the first response is detailed, the second response is more accurate.", "second"),
])
def test_parse_preference(text, verdict):
    assert parse_preference(text)[0] == verdict


@pytest.mark.parametrize("text", ["hmm, hard to say", "", "The question is about a cat."])
def test_parse_preference_unreadable(text):
    assert parse_preference(text)[0] is None


def test_labels_and_score_preferences():
    assert [normalize_label(x) for x in ("first", "B", 1, 2, 0, "Tie", "response a", "maybe", True)] == \
        ["first", "second", "first", "second", "tie", "tie", "first", None, None]
    assert preference_from_scores(80, 20) == "first" and preference_from_scores(20, 80) == "second"
    assert preference_from_scores(50, 50) == "tie" and preference_from_scores(None, 3) is None


def test_agreement_with_and_without_ties_and_kappa():
    pred = ["first", "second", None, "tie", "first", "second"]
    gold = ["first", "first", "second", "tie", "first", "tie"]
    a = agreement(pred, gold)
    assert a.n == 6 and a.n_human_ties == 2 and a.n_unreadable == 1
    assert a.accuracy_with_ties == pytest.approx(100 * 3 / 6)
    assert a.accuracy_without_ties == pytest.approx(100 * 2 / 4)  # pairs humans did not call a tie
    expected = cohen_kappa_score(gold, ["first", "second", "unreadable", "tie", "first", "second"])
    assert a.kappa == pytest.approx(expected)


def test_agreement_constant_labels_has_no_kappa():
    a = agreement(["first", "first"], ["first", "first"])
    assert a.accuracy_with_ties == 100.0 and a.kappa is None
    assert agreement([], []).accuracy_with_ties is None


# -- the judge around a model -------------------------------------------------------------------
def test_pointwise_retries_an_unreadable_reply_once_with_the_format():
    replies = iter(["I think it is fine.", " 80 - correct and grounded"])  # the retry's reply continues "Score:"
    prompts = []
    lm = ScriptedLM("j", lambda p: (prompts.append(p), next(replies))[1])
    [v] = Judge(lm, retries=1).pointwise(["What colour?"], ["Blue."], descriptions=["blue: 40%"])
    assert v.score == 80 and v.parsed_by == "score-label" and lm.calls == 2
    first = prompts[0].messages[0]["content"]
    assert "Score the response out of 100" in first and "Question: [What colour?]" in first and "The LMM response: [Blue.]" in first
    assert "cannot see the image" in first and "blue: 40%" in first
    assert prompts[1].messages[-1]["role"] == "user" and "Score: " in prompts[1].messages[-1]["content"]
    assert prompts[0].answer_prefix == "" and prompts[1].answer_prefix == "Score:" and v.raw == "Score: 80 - correct and grounded"


def test_pointwise_still_unreadable_stays_none():
    lm = ScriptedLM("j", lambda p: "no numbers here")
    [v] = Judge(lm, retries=2).pointwise(["q"], ["r"])
    assert v.score is None and v.parsed_by == "unmatched" and lm.calls == 3


def test_image_goes_to_a_vision_judge_and_description_to_a_text_judge():
    seen = []
    img = Image.new("RGB", (4, 4), "red")
    vision = ScriptedLM("v", lambda p: (seen.append(p), "Score: 50")[1], supports_images=True)
    Judge(vision).pointwise(["q"], ["r"], images=[img], descriptions=["red: 100%"])
    assert len(seen[0].images) == 1 and "cannot see" not in seen[0].messages[0]["content"]
    text = ScriptedLM("t", lambda p: (seen.append(p), "Score: 50")[1])
    Judge(text).pointwise(["q"], ["r"], images=[img], descriptions=["red: 100%"])
    assert seen[1].images == [] and "red: 100%" in seen[1].messages[0]["content"]


def test_pairwise_prompt_and_verdicts():
    prompts = []
    replies = iter(["The second response is better.", "Tie: both are the same", "{\"winner\": \"first\"}"])
    lm = ScriptedLM("j", lambda p: (prompts.append(p), next(replies))[1])
    vs = Judge(lm).pairwise(["q1", "q2", "q3"], ["a1", "a2", "a3"], ["b1", "b2", "b3"])
    assert [v.winner for v in vs] == ["second", "tie", "first"]
    text = prompts[0].messages[0]["content"]
    assert "Determine which answer is better" in text and "The first response: [a1]" in text and "The second response: [b1]" in text


# -- pair files and the CLI ---------------------------------------------------------------------
def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_read_pairs_names_the_bad_line_and_field(tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"question": "q", "response_a": "a", "response_b": "b", "label": "first"},
                                       {"question": "q", "response_a": "a"}])
    with pytest.raises(DataError) as err:
        read_pairs(f, "pairwise")
    assert err.value.row == 1 and err.value.line == 2 and err.value.field == "response_b"
    f = _write(tmp_path / "l.jsonl", [{"question": "q", "response_a": "a", "response_b": "b", "label": "maybe"}])
    with pytest.raises(DataError, match="first, second or tie"):
        read_pairs(f, "pairwise")
    f = _write(tmp_path / "s.jsonl", [{"question": "q", "response": "a"}])
    with pytest.raises(DataError, match="pairwise judging needs"):
        read_pairs(f, "pairwise")
    f = _write(tmp_path / "i.jsonl", [{"question": "q", "response": "a", "image": "../../etc/passwd"}])
    with pytest.raises(DataError, match="escapes"):
        read_pairs(f, "pointwise")


def _pair_judge(prompt) -> str:
    """Prefers the response that names option (A): right on pairs whose correct answer is A."""
    text = prompt.messages[0]["content"]
    first = text.split("The first response: [")[1].split("]")[0]
    second = text.split("The second response: [")[1].split("]")[0]
    return "The first answer is better." if "(A)" in first else "Response 2 is better." if "(A)" in second else "Tie"


def test_cli_judge_pairwise_prints_agreement_and_writes_results(tmp_path, use_models):
    rows = [
        {"question": "q1", "response_a": "The answer is (A) red.", "response_b": "The answer is (B) blue.", "label": "first"},
        {"question": "q2", "response_a": "The answer is (C) x.", "response_b": "The answer is (A) y.", "label": "second"},
        {"question": "q3", "response_a": "The answer is (B) x.", "response_b": "The answer is (C) y.", "label": "first"},
        {"question": "q4", "response_a": "(B) z", "response_b": "(B) z.", "label": "tie"},
    ]
    f = _write(tmp_path / "pairs.jsonl", rows)
    use_models(ScriptedLM("critic", _pair_judge))
    from leakaudit.cli import main

    out = tmp_path / "res.jsonl"
    res = CliRunner().invoke(main, ["judge", "pairwise", "--model", "critic", "--input", str(f), "--out", str(out)])
    assert res.exit_code == 0, res.output
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["verdict"] for r in results] == ["first", "second", "tie", "tie"]
    assert results[0]["line"] == 1 and "raw" in results[0]
    # 3 of 4 right with ties; 2 of 3 without the human tie
    assert "75.0" in res.output and "66.7" in res.output


def test_cli_judge_pointwise_on_pairs_and_bad_input(tmp_path, use_models):
    def score(prompt):
        return "Score: 90" if "(A)" in prompt.messages[0]["content"].split("The LMM response: [")[1] else "Score: 20"

    f = _write(tmp_path / "pairs.jsonl", [
        {"question": "q1", "response_a": "(A) red", "response_b": "(B) blue", "label": "first"},
        {"question": "q2", "response_a": "(B) red", "response_b": "(A) blue", "label": "second"},
    ])
    use_models(ScriptedLM("critic", score))
    from leakaudit.cli import main

    res = CliRunner().invoke(main, ["judge", "pointwise", "--model", "critic", "--input", str(f)])
    assert res.exit_code == 0, res.output
    assert "100.0" in res.output  # both pairs decided by the scores 90 vs 20, both right
    bad = _write(tmp_path / "bad.jsonl", [{"question": ""}])
    res = CliRunner().invoke(main, ["judge", "pointwise", "--model", "critic", "--input", str(bad)])
    assert res.exit_code == 2 and "row 0 (line 1)" in res.output and "question" in res.output


def test_make_answer_pairs_labels_are_true_by_construction(demo):
    bench = demo
    pairs = make_answer_pairs(bench.samples, n=20, seed=3)
    assert len(pairs) == 20 and {p["label"] for p in pairs} <= {"first", "second", "tie"}
    by_id = bench.by_id()
    for p in pairs:
        s = by_id[p["id"]]
        good = f"({s.answer})"
        if p["label"] == "first":
            assert good in p["response_a"] and good not in p["response_b"]
        elif p["label"] == "second":
            assert good in p["response_b"] and good not in p["response_a"]
        else:
            assert s.answer_text in p["response_a"] and s.answer_text in p["response_b"]


@pytest.mark.slow
def test_cli_judge_with_real_smollm2(tmp_path, smollm2_path):
    """SmolLM2-135M as a judge end to end: its replies are parsed into real verdicts, and each
    recorded verdict is what the parser reads from the recorded reply."""
    from leakaudit import load_benchmark
    from leakaudit.cli import main

    pairs = make_answer_pairs(load_benchmark("demo").samples, n=3, seed=0)
    f = _write(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "res.jsonl"
    res = CliRunner().invoke(main, ["judge", "pairwise", "--model", "smollm2-135m", "--input", str(f), "--out", str(out), "--max-new-tokens", "48"])
    assert res.exit_code == 0, res.output
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == 3
    parsed = [r for r in results if r["verdict"] is not None]
    assert parsed, f"no reply of the real judge could be read: {[r['raw'] for r in results]}"
    for r in results:
        assert r["verdict"] == parse_preference(r["raw"])[0], r
        assert (r["verdict"] is None) == (r["parsed_by"] == "unmatched"), r
    assert all(r["verdict"] in ("first", "second", "tie") for r in parsed)
    assert "kappa" in res.output
