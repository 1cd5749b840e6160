"""Answers from free text, with the method that found them recorded.

VLMEvalKit falls back to a GPT judge and, after three failures, to a *random* option; that
hides how often a model did not answer at all. Here an answer that no rule finds is
``(None, "unmatched")`` and counts as wrong, and every stored answer says which rule
matched, so an audit can show how much of a score rests on lenient extraction.
``mmstar_match`` is MMStar's own scoring rule, kept exact to reproduce published numbers.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Any

from leakaudit.data.schema import Sample

UNMATCHED = "unmatched"
#: the extraction method of a reply that declines to answer (stored as unanswered, counted wrong)
REFUSAL = "refusal"

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_ANSWER_LEAD = re.compile(r"(?:the\s+)?(?:final\s+|correct\s+)?answer\s*(?:is|:|=)\s*", re.IGNORECASE)


# -- MMStar's rule --------------------------------------------------------------------------
def mmstar_match(prediction: Any, gold_letter: str) -> bool:
    """MMStar's scoring rule (eval/vlmeval/evaluate/mmstar.py), exactly.

    Lowercase both; a hit when the gold letter is the prediction's first character, or the
    character right after a leading ``(``, ``option `` or ``the answer is ``.
    """
    answer = str(gold_letter).lower().strip().replace("\n", " ")
    predict = str(prediction).lower().strip().replace("\n", " ")
    if not predict:
        return False  # MMStar's predict[0] raises and the sample scores 0
    if answer == predict[0]:
        return True
    for lead in ("(", "option ", "the answer is "):
        if predict.startswith(lead) and len(predict) > len(lead) and answer == predict[len(lead)]:
            return True
    return False


# -- multiple choice ------------------------------------------------------------------------
#: after a leading "A" (or "I" with 9+ options) a lowercase word usually means an article /
#: pronoun ("A dog is ..."); these words mean the letter is the answer ("A is correct")
_LETTER_VERBS = ("is", "was", "would", "should", "seems", "appears", "because", "since", "as", "and")


def _letter_patterns(letters: str) -> list[tuple[str, re.Pattern]]:
    cls = f"[{letters}]"
    verbs = "|".join(_LETTER_VERBS)
    return [
        # "B", "b", "B.", "(B)", "B)" and nothing else
        ("letter-only", re.compile(rf"^\s*\(?({cls})\)?\s*[.:)]?\s*$", re.IGNORECASE)),
        # "B. The red one", "B: ...", "B is correct"; not "A dog is ..." nor "I think ..."
        ("first-char", re.compile(rf"^\s*({cls})(?=$|[.:),\n]|\s+(?:(?:{verbs})\b|[^a-z])|(?<=[^AI])\s)")),
        ("the-answer-is", re.compile(rf"(?i:(?:answer|option|choice)\s+is)\s*:?\s*\(?\**\s*({cls})(?![A-Za-z'])")),
        ("answer-colon", re.compile(rf"(?i:answer)\s*\**\s*:\s*\**\s*\(?\**\s*({cls})(?![A-Za-z'])")),
        ("option", re.compile(rf"(?i:\boption)\s*\**\s*\(?({cls})(?![A-Za-z'])", re.IGNORECASE)),
        ("paren", re.compile(rf"\(({cls})\)")),
    ]


def _norm_text(text: str) -> str:
    text = text.lower()
    text = re.sub(r"[^\w\s.%-]", " ", text)
    return re.sub(r"\s+", " ", text).strip(" .")


def _option_text_match(text: str, sample: Sample) -> str | None:
    """The one option whose text appears in ``text`` (word-bounded); None when 0 or several."""
    pred = f" {_norm_text(text)} "
    hits = []
    for letter, option in zip(sample.letters, sample.options):
        opt = _norm_text(option)
        if opt and re.search(rf"(?<!\w){re.escape(opt)}(?!\w)", pred):
            hits.append((letter, opt))
    if len(hits) == 1:
        return hits[0][0]
    if len(hits) > 1:
        # "dark red" contains "red": the longest hit wins only when it contains every other hit
        longest = max(hits, key=lambda h: len(h[1]))
        if all(h is longest or h[1] in longest[1] for h in hits):
            return longest[0]
    return None


#: LaTeX wrappers models put around a final answer: ``\boxed{B}``, ``\text{Answer: B}``, ``\( ... \)``
_LATEX_WRAP = re.compile(r"\\(?:boxed|text|textbf|mathrm|mathbf|fbox)\s*\{([^{}]*)\}")
_LATEX_DELIM = re.compile(r"\\[()\[\]]|\$+")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{\s*(?:\\text\s*\{)?\s*\(?([A-J])\)?\s*\}?\s*\}")
#: refusals and non-answers (checked only when no answer lead or boxed answer was found)
_REFUSAL = re.compile(
    r"\b(?:i\s*(?:am|'m)\s+(?:sorry|unable|not able)|i\s+(?:can\s*not|can't|cannot|do\s+not|don't)\s+"
    r"(?:determine|tell|answer|see|view|know|identify|provide|help|access|analy[sz]e|interpret|make\s+out)|unable\s+to\s+(?:determine|answer|see|view|identify|tell|analy[sz]e|interpret)"
    r"|cannot\s+be\s+determined|can't\s+be\s+determined|not\s+possible\s+to\s+(?:determine|tell|answer)"
    r"|none\s+of\s+the\s+(?:above|options|choices)\s+(?:is|are)\s+correct|no\s+image\s+(?:is\s+)?(?:provided|attached|shown))",
    re.IGNORECASE,
)


def strip_latex(text: str) -> str:
    """``Answer: \\( \\boxed{B} \\)`` -> ``Answer:  B``: LaTeX wrappers and math delimiters removed."""
    prev = None
    while prev != text:  # nested wrappers: \boxed{\text{B}}
        prev, text = text, _LATEX_WRAP.sub(r"\1", text)
    return _LATEX_DELIM.sub(" ", text)


def extract_choice(text: Any, sample: Sample) -> tuple[str | None, str]:
    """The option letter a free-text answer picks, and the rule that found it.

    In order: the whole reply is a letter (``letter-only``); a LaTeX ``\\boxed{X}``
    (``boxed``); the *last* ``The answer is X`` / ``Answer: X`` (``the-answer-is`` /
    ``answer-colon``: a chain of thought states its final answer last, after discussing
    every option); a reply that starts with the letter (``first-char``, MMStar's rule;
    "J. Cannot be determined" picks J); the last ``option X`` / ``(X)`` mention
    (``option`` / ``paren``, not the first "(A)" of a discussion); a refusal
    (``(None, "refusal")``: unanswered, counted wrong); the one option whose text the reply contains
    (``option-text``); ``(None, "unmatched")`` otherwise. Only letters of this sample's
    options count (a 4-option question cannot be answered "E"). LaTeX wrappers
    (``\\text{}``, ``\\( \\)``) are removed first.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, UNMATCHED
    text = str(text).strip()
    if not text or not sample.is_multiple_choice:
        return None, UNMATCHED
    letters = sample.letters
    boxed = [m.group(1).upper() for m in _BOXED.finditer(text) if m.group(1).upper() in letters]
    plain = strip_latex(text).strip()
    patterns = dict(_letter_patterns(letters))
    m = patterns["letter-only"].search(plain)
    if m:
        return m.group(1).upper(), "letter-only"
    if boxed:
        return boxed[-1], "boxed"
    leads = [(mm.start(), mm.group(1).upper(), name) for name in ("the-answer-is", "answer-colon") for mm in patterns[name].finditer(plain)]
    if leads:
        _, letter, name = max(leads)
        return letter, name
    m = patterns["first-char"].search(plain)
    if m:  # before the refusal check: "J. Cannot be determined" picks option J
        return m.group(1).upper(), "first-char"
    mentions = [(mm.start(), mm.group(1).upper(), name) for name in ("option", "paren") for mm in patterns[name].finditer(plain)]
    if mentions:  # "... if only one must be selected, let's choose (G)": the last one named
        _, letter, name = max(mentions)
        return letter, name
    if _REFUSAL.search(plain):
        return None, REFUSAL
    letter = _option_text_match(plain, sample)
    if letter is not None:
        return letter, "option-text"
    return None, UNMATCHED


# -- open questions -------------------------------------------------------------------------
def _to_number(token: str) -> float | None:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return None


def _answer_part(text: str) -> tuple[str, str]:
    """The text after an "answer is" / "answer:" lead when there is one."""
    matches = list(_ANSWER_LEAD.finditer(text))
    if matches:
        return text[matches[-1].end():], "answer-lead"
    return text, "whole"


def _numbers(text: str) -> list[float]:
    out = []
    for tok in _NUMBER.findall(text):
        v = _to_number(tok)
        if v is not None and math.isfinite(v):
            out.append(v)
    return out


def _decimals(gold: str) -> int:
    g = gold.strip().replace(",", "")
    return len(g.split(".", 1)[1]) if "." in g and "e" not in g.lower() else 0


def extract_open(pred: Any, answer_type: str) -> tuple[str | None, str]:
    """The short answer inside a free-text reply (for storing as ``chosen``) and how it was found.

    Numbers: the first number after an "answer is" lead, else the last number in the
    reply (a worked answer ends with its result). Text: the reply after any lead, trimmed.
    """
    if pred is None or (isinstance(pred, float) and math.isnan(pred)):
        return None, UNMATCHED
    text = str(pred).strip()
    if not text:
        return None, UNMATCHED
    part, how = _answer_part(text)
    if answer_type in ("integer", "float"):
        nums = _numbers(part)
        if not nums:
            return None, UNMATCHED
        value = nums[0] if how == "answer-lead" else nums[-1]
        shown = str(int(value)) if value == int(value) and answer_type == "integer" else repr(value)
        return shown, f"number-{how}"
    if answer_type == "list":
        m = re.search(r"\[.*?\]", part, re.DOTALL)
        return (m.group(0), f"list-{how}") if m else (None, UNMATCHED)
    line = part.strip().split("\n", 1)[0].strip().strip(".").strip()
    return (line, f"text-{how}") if line else (None, UNMATCHED)


def _parse_list(text: str) -> list[str] | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        inner = text.strip().strip("[]")
        value = [v for v in (x.strip().strip("'\"") for x in inner.split(",")) if v]
    if not isinstance(value, (list, tuple)):
        return None
    return [_norm_text(str(v)) for v in value]


def match_open(pred: Any, gold: Any, answer_type: str, *, precision: int | None = None) -> bool:
    """Whether a free-form reply matches the gold answer of an open question.

    integer: equal as integers; float: equal to ``precision`` decimals (default: as many as
    the gold answer shows, e.g. gold 3.14 accepts 3.1416); text: case- and
    punctuation-insensitive equality; list: element-wise equality. No rule, no credit.
    """
    value, method = extract_open(pred, answer_type)
    if value is None:
        return False
    gold_s = str(gold).strip()
    if answer_type == "integer":
        g = _to_number(gold_s)
        v = _to_number(value)
        return g is not None and v is not None and round(v) == v and int(v) == round(g)
    if answer_type == "float":
        g = _to_number(gold_s)
        v = _to_number(value)
        if g is None or v is None:
            return False
        digits = _decimals(gold_s) if precision is None else precision
        return abs(v - g) <= 0.5 * 10 ** (-digits) + 1e-9 * max(1.0, abs(g))
    if answer_type == "list":
        p, g = _parse_list(value), _parse_list(gold_s)
        return p is not None and g is not None and p == g
    norm_gold = _norm_text(gold_s)
    return bool(norm_gold) and (_norm_text(value) == norm_gold or _norm_text(str(pred)) == norm_gold)


__all__ = ["REFUSAL", "UNMATCHED", "extract_choice", "strip_latex", "extract_open", "match_open", "mmstar_match"]
