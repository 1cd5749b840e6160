"""Reading structured answers out of chatty model text.

Curator and judge models are asked for JSON but small or chat-tuned models wrap it in
prose and code fences, use single quotes, leave trailing commas or stop mid-array. These
helpers find the first usable JSON value in such text (salvaging the complete items of
a truncated array), fall back to the Auto-Bench ``<Question:> <Answer:> <Reasoning:>``
tagged format, and map free-form answers ("(B) cat", "Option B", "cat") to option letters.
"""
from __future__ import annotations

import ast
import json
import re
from typing import Any, Iterator

from leakaudit.data.schema import LETTERS

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|python)?[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_OPENERS = {"{": "}", "[": "]"}


def _scan(text: str, start: int) -> tuple[str, bool]:
    """The bracketed span starting at ``start``; (span, complete).

    Aware of quoted strings (either quote). An unterminated span is cut after its last
    complete element at depth 1 and closed, so the finished items of a truncated array
    survive.
    """
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    last_safe = -1  # index just after the last element closed at depth 1
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            # an apostrophe inside a bare word (don't) is not a quote
            if ch == "'" and i > start and text[i - 1].isalnum():
                continue
            quote = ch
        elif ch in _OPENERS:
            stack.append(_OPENERS[ch])
        elif ch in "}]":
            if not stack or ch != stack[-1]:
                return text[start : i + 1], False
            stack.pop()
            if not stack:
                return text[start : i + 1], True
            if len(stack) == 1:
                last_safe = i + 1
    if last_safe > 0:
        return text[start:last_safe] + stack[0], False
    return text[start:], False


def _loads_relaxed(span: str) -> Any:
    """json.loads, then with trailing commas removed, then as a Python literal (single quotes)."""
    try:
        return json.loads(span)
    except ValueError:
        pass
    fixed = _TRAILING_COMMA.sub(r"\1", span)
    try:
        return json.loads(fixed)
    except ValueError:
        pass
    pyish = re.sub(r"\btrue\b", "True", fixed)
    pyish = re.sub(r"\bfalse\b", "False", pyish)
    pyish = re.sub(r"\bnull\b", "None", pyish)
    try:
        value = ast.literal_eval(pyish)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(value, (dict, list)):
        raise ValueError("not a JSON object or array")
    return value


def iter_json_values(text: str) -> Iterator[Any]:
    """Every JSON object/array found in ``text``, code-fenced blocks first, in order."""
    if not text:
        return
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    seen: set[str] = set()
    for chunk in candidates:
        i = 0
        while i < len(chunk):
            if chunk[i] in _OPENERS:
                span, _complete = _scan(chunk, i)
                if span not in seen:
                    seen.add(span)
                    try:
                        yield _loads_relaxed(span)
                        i += len(span)
                        continue
                    except ValueError:
                        pass
            i += 1


def first_json(text: str, want=(dict, list)) -> Any | None:
    """The first JSON value of one of the ``want`` types in ``text``, or None."""
    for value in iter_json_values(text):
        if isinstance(value, want):
            return value
    return None


# -- the Auto-Bench tagged format -------------------------------------------------------
_TAG_NAMES = ("question", "options", "choices", "answer", "reasoning", "rationale", "explanation")
_TAG = re.compile(r"(?:<\s*|^[ \t]*\**)(" + "|".join(_TAG_NAMES) + r")\s*:?\s*(?:>|\**\s*:)", re.I | re.M)


def parse_tagged(text: str) -> list[dict[str, str]]:
    """Items in the ``<Question:> .. <Options:> .. <Answer:> .. <Reasoning:> ..`` format.

    Tags may also be plain ``Question:`` lines. A new ``Question`` tag starts a new item.
    """
    items: list[dict[str, str]] = []
    matches = list(_TAG.finditer(text or ""))
    for k, m in enumerate(matches):
        name = m.group(1).lower()
        name = {"choices": "options", "rationale": "reasoning", "explanation": "reasoning"}.get(name, name)
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        value = text[m.end() : end].strip()
        if name == "question" or not items:
            items.append({})
        items[-1].setdefault(name, value)
    return [it for it in items if it.get("question")]


# -- options and answers ---------------------------------------------------------------
_LETTER_PREFIX = re.compile(r"^\s*(?:\(([A-J])\)|([A-J])\s*[.:)\]])\s*")
_INLINE_OPTION = re.compile(r"(?:^|\s|\()\(?([A-J])[.:)]\s*")


def strip_letter(text: str) -> str:
    """'(B) a cat' / 'B. a cat' / 'B: a cat' -> 'a cat'."""
    return _LETTER_PREFIX.sub("", str(text), count=1).strip()


def split_inline_options(text: str) -> list[str]:
    """'(A) red (B) blue' or 'A. red\\nB. blue' -> ['red', 'blue'] (letters must run A, B, C...)."""
    marks = [m for m in _INLINE_OPTION.finditer(text)]
    # keep the run of markers A, B, C... in order
    run = []
    for m in marks:
        if m.group(1) == LETTERS[len(run)]:
            run.append(m)
    if len(run) < 2:
        return [p.strip() for p in re.split(r"\s*[;\n|]\s*", text) if p.strip()]
    out = []
    for k, m in enumerate(run):
        end = run[k + 1].start() if k + 1 < len(run) else len(text)
        out.append(text[m.end() : end].strip().rstrip(",;").strip())
    return out


def normalize_options(raw: Any) -> list[str]:
    """Options given as a list, a letter-keyed dict or one string -> a list of option texts."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        keys = list(raw)
        if all(isinstance(k, str) and strip_letter(k + ".") == "" for k in keys):
            keys = sorted(keys, key=lambda k: k.strip("() .:").upper())
        return [str(raw[k]).strip() for k in keys]
    if isinstance(raw, (list, tuple)):
        return [strip_letter(o) if isinstance(o, str) else str(o).strip() for o in raw]
    return split_inline_options(str(raw))


def norm_text(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed (for comparisons and dedup)."""
    return " ".join(re.sub(r"[^\w\s]", " ", str(text).lower()).split())


_ANSWER_PHRASE = re.compile(r"(?:answer\s+is|option|choice)\s*:?\s*\(?([A-J])\b", re.I)
_BARE_LETTER = re.compile(r"^\(?([A-J])(?:\)|\.|:|$)")


def resolve_answer(answer: Any, options: list[str]) -> tuple[str | None, str]:
    """Map an answer ('B', '(B) cat', 'cat', 'Option B') to a letter; (letter or None, why)."""
    if answer is None or str(answer).strip() == "":
        return None, "no answer given"
    text = str(answer).strip()
    letters = LETTERS[: len(options)]
    normed = [norm_text(o) for o in options]
    # 1. the option text itself ("a cat" among the options)
    if norm_text(text) in normed:
        return letters[normed.index(norm_text(text))], "option text"
    # 2. a letter, possibly followed by the option text
    m = _BARE_LETTER.match(text) or _LETTER_PREFIX.match(text) or _ANSWER_PHRASE.search(text)
    if m:
        letter = next(g for g in m.groups() if g)
        if letter not in letters:
            return None, f"answer letter {letter} is not among the options {', '.join(letters)}"
        rest = strip_letter(text) if _LETTER_PREFIX.match(text) else ""
        if rest and norm_text(rest) in normed and norm_text(rest) != normed[letters.index(letter)]:
            return None, f"answer letter {letter} and answer text {rest!r} name different options"
        return letter, "letter"
    return None, f"answer {text!r} is not among the options"
