"""Answer extraction: MMStar's exact rule, general letter/option-text rules, open answers."""
from __future__ import annotations

import pytest

from leakaudit.answers.extract import extract_choice, extract_open, match_open, mmstar_match
from leakaudit.data.schema import Sample

SAMPLE = Sample(id="x", benchmark="toy", question="Which colour?", options=["red", "dark red", "blue", "12"], answer="B")


# -- MMStar's rule, case by case (eval/vlmeval/evaluate/mmstar.py) ----------------------------
@pytest.mark.parametrize(
    "prediction, gold, hit",
    [
        ("B", "B", True),
        ("b", "B", True),  # lowercased
        ("  B. dark red", "B", True),  # stripped, first character
        ("(b) dark red", "B", True),
        ("Option B", "B", True),
        ("The answer is B.", "B", True),
        ("The answer is (B)", "B", False),  # "(" after the lead is not in MMStar's rule
        ("I think the answer is B", "B", False),  # the lead must start the prediction
        ("Answer: B", "B", False),
        ("A", "B", False),
        ("", "B", False),  # MMStar's predict[0] raises: scored 0
        ("option ", "B", False),
        ("a cat", "A", True),  # MMStar's rule is that lenient: the article counts
        ("nan", "N", True),  # str(NaN) as MMStar reads a missing prediction
    ],
)
def test_mmstar_match_reproduces_the_published_rule(prediction, gold, hit):
    assert mmstar_match(prediction, gold) is hit


# -- general extraction ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, letter, method",
    [
        ("B", "B", "letter-only"),
        ("b", "B", "letter-only"),
        ("(C)", "C", "letter-only"),
        ("D.", "D", "letter-only"),
        ("B. dark red", "B", "first-char"),
        ("C: blue", "C", "first-char"),
        ("B is correct", "B", "first-char"),
        ("A is the right one", "A", "first-char"),
        ("A\nbecause it is red", "A", "first-char"),
        ("The answer is C.", "C", "the-answer-is"),
        ("I believe the answer is (D)", "D", "the-answer-is"),
        ("Answer: D", "D", "answer-colon"),
        ("**Answer:** B", "B", "answer-colon"),
        ("I would pick option c here", "C", "option"),
        ("It must be (A) given the hue", "A", "paren"),
        ("dark red", "B", "option-text"),  # contains "red" too: the longer hit wins
        ("It is blue!", "C", "option-text"),
        ("12 apples", "D", "option-text"),
    ],
)
def test_extract_choice_rules(text, letter, method):
    assert extract_choice(text, SAMPLE) == (letter, method)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        None,
        float("nan"),
        "A dog is standing there",  # an article, not option A
        "the answer is a mystery",  # lowercase 'a' after the lead is a word
        "It's either red or blue",  # two options named: ambiguous
        "E",  # not one of this question's letters
        "the number 2",  # "2" is not an option ("12" is, word-bounded)
    ],
)
def test_unmatched_answers_are_none_never_a_guess(text):
    assert extract_choice(text, SAMPLE) == (None, "unmatched")


def test_letters_follow_the_number_of_options():
    ten = Sample(id="t", benchmark="toy", question="q", options=[f"opt{i}" for i in range(10)], answer="J")
    assert extract_choice("J", ten) == ("J", "letter-only")
    assert extract_choice("I think it is opt3", ten) == ("D", "option-text")  # "I" as a pronoun
    two = Sample(id="t2", benchmark="toy", question="q", options=["yes", "no"], answer="A")
    assert extract_choice("C", two) == (None, "unmatched")


# -- open questions ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pred, gold, answer_type, ok",
    [
        ("6", "6", "integer", True),
        ("The answer is 6.", "6", "integer", True),
        ("2 + 4 = 6", "6", "integer", True),  # worked answers end with the result
        ("6.0", "6", "integer", True),
        ("6.5", "6", "integer", False),
        ("1,000", "1000", "integer", True),
        ("seven", "7", "integer", False),
        ("3.1416", "3.14", "float", True),  # to the gold answer's precision
        ("3.1", "3.14", "float", False),
        ("3.146", "3.14", "float", False),
        ("-0.5", "-0.50", "float", True),
        ("Paris.", "paris", "text", True),
        ("The answer is Paris", "Paris", "text", True),
        ("Lyon", "Paris", "text", False),
        ("[1, 2, 3]", "[1,2,3]", "list", True),
        ("[1, 3, 2]", "[1,2,3]", "list", False),
        ("", "6", "integer", False),
        (None, "6", "integer", False),
    ],
)
def test_match_open(pred, gold, answer_type, ok):
    assert match_open(pred, gold, answer_type) is ok


def test_match_open_precision_override_and_extraction_method():
    assert match_open("3.1", "3.14", "float", precision=1)
    assert extract_open("So the answer is 12 and not 3", "integer") == ("12", "number-answer-lead")
    assert extract_open("no number here", "integer") == (None, "unmatched")


@pytest.mark.shared_data
def test_mmstar_rule_reproduces_llava_next_34b_published_score(shared_data):
    """LLaVA-Next-34B's released MMStar predictions score 52.1 (the paper's Table) under the rule."""
    import pandas as pd

    df = pd.read_parquet(shared_data / "mmstar_text" / "mmstar_text.parquet")
    assert len(df) == 1500
    score = 100 * sum(mmstar_match(p, a) for p, a in zip(df["prediction"], df["answer"])) / len(df)
    assert round(score, 1) == 52.1
    # the general extractor agrees on these (letter-style) predictions and never guesses
    four = Sample(id="x", benchmark="mmstar", question="q", options=["w", "x", "y", "z"], answer="A")
    picked = [extract_choice(p, four)[0] for p in df["prediction"]]
    assert 100 * sum(p == a for p, a in zip(picked, df["answer"])) / len(df) == pytest.approx(score)
