"""Regenerated samples as rows of the input benchmark's own file layout.

``Benchmark.write`` writes the adapter's raw rows, so a regenerated question needs a row
in that layout. It is made from the source sample's row by finding, by value, the columns
that hold the source's question, options, answer, hint and id, and putting the new values
there in the same convention (option list or A..J columns; letter, index or answer text).
The image columns stay as they are: the new question is about the same image. Where the
layout cannot be mapped (options inline in the question text, say), the caller falls back
to the generic submission format.
"""
from __future__ import annotations

import math
from typing import Any

from leakaudit.data.schema import LETTERS, Sample
from leakaudit.errors import LeakauditError
from leakaudit.regen.parsing import norm_text

#: per-question ground truth of the *source* question that is wrong for a new one (demo)
SOURCE_TRUTH_KEYS = ("label", "kind", "rendered_text", "solution", "lecture", "explanation", "rationale", "prediction")


class UnmappableRow(LeakauditError):
    """The source row's layout cannot be rewritten for a new question."""


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _as_list(v: Any) -> list | None:
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    return list(v) if isinstance(v, (list, tuple)) else None


def rewrite_row(raw: dict[str, Any], source: Sample, new: Sample, provenance: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (the source's row) with the new question, options, answer and id, plus provenance columns."""
    row = dict(raw)
    found_question = found_options = False
    answer_key: str | None = None
    letter_columns = [c for c in LETTERS if c in row]
    for key, value in raw.items():
        if isinstance(value, str) and value.strip() == source.question.strip():
            row[key] = new.question
            found_question = True
        elif isinstance(value, str) and source.hint and value.strip() == source.hint.strip():
            row[key] = None
        elif isinstance(value, str) and value == source.id and key not in LETTERS:
            row[key] = new.id
        lst = _as_list(value)
        if lst is not None and [norm_text(str(x)) for x in lst] == [norm_text(o) for o in source.options]:
            row[key] = list(new.options)
            found_options = True
        elif isinstance(value, dict) and [norm_text(str(value.get(L, ""))) for L in source.letters] == [norm_text(o) for o in source.options]:
            row[key] = {L: o for L, o in zip(new.letters, new.options)}
            found_options = True
    if not found_options and letter_columns and [norm_text(str(row.get(L, ""))) for L in source.letters] == [norm_text(o) for o in source.options]:
        for L in letter_columns:
            row[L] = None
        for L, o in zip(new.letters, new.options):
            row[L] = o
        found_options = True
    for key in ("answer", "gt_answer", "correct_answer", "label", "answer_idx", "answer_index", "gold"):
        if key not in raw or _missing(raw[key]):
            continue
        value = raw[key]
        if isinstance(value, str) and value.strip().upper().strip("()") == source.answer:
            row[key] = new.answer
        elif isinstance(value, (int,)) and not isinstance(value, bool) and value == source.answer_index:
            row[key] = new.answer_index
        elif isinstance(value, str) and norm_text(value) == norm_text(source.answer_text):
            row[key] = new.answer_text
        else:
            continue
        answer_key = key
        break
    missing = [what for what, ok in (("question", found_question), ("options", found_options), ("answer", answer_key is not None)) if not ok]
    if missing:
        raise UnmappableRow(f"cannot find the source's {', '.join(missing)} in its row (columns: {', '.join(map(str, raw))})")
    if not any(isinstance(v, str) and v == new.id for v in row.values()):
        row["id"] = new.id
    for key in SOURCE_TRUTH_KEYS:
        if key in row and key in source.meta and key != answer_key:
            row.pop(key)
    row.update(provenance)
    return row
