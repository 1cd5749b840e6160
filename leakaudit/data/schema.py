"""The one sample schema every stage reads.

Adapters turn benchmark rows into ``Sample`` objects; runs, audit, filter, regeneration
and report only ever see ``Sample``. ``Sample.content_hash`` covers question, options,
answer and image bytes and is the cache key of every later stage: a sample that changes
is a new sample, and an unchanged one is never re-run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from leakaudit.data.images import ImageRef
from leakaudit.errors import DataError

LETTERS = "ABCDEFGHIJ"
MIN_OPTIONS, MAX_OPTIONS = 2, 10

AnswerType = Literal["letter", "integer", "float", "text", "list"]


@dataclass
class Sample:
    """One benchmark question.

    Multiple-choice samples have 2..10 ``options`` (letters A..J in order) and a letter
    ``answer``. Open questions (MMMU open, MathVista free-form) have no options, the
    free-form ``answer`` and its ``answer_type``; they are kept and marked, never dropped.
    """

    id: str
    benchmark: str
    question: str
    answer: str
    options: list[str] = field(default_factory=list)
    split: str = "test"
    hint: str | None = None
    images: list[ImageRef] = field(default_factory=list)
    answer_type: AnswerType = "letter"
    category: str | None = None
    l2_category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    # -- derived ---------------------------------------------------------------
    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.options)

    @property
    def is_open(self) -> bool:
        return not self.options

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.options)]

    @property
    def chance(self) -> float:
        """Chance of a random guess: 1/number of options; 0 for open questions."""
        return 1.0 / len(self.options) if self.options else 0.0

    @property
    def answer_index(self) -> int | None:
        return self.letters.index(self.answer) if self.is_multiple_choice else None

    @property
    def answer_text(self) -> str:
        return self.options[self.answer_index] if self.is_multiple_choice else self.answer

    @property
    def content_hash(self) -> str:
        """sha256 over id, question, hint, options, answer and the bytes of every image.

        The id is included because distinct items can share all their text (MMStar's
        text-only copy has 141 questions whose text repeats another's; only the image differs).
        """
        if self._hash is None:
            h = hashlib.sha256()
            h.update(json.dumps([self.id, self.question, self.hint or "", self.options, self.answer], ensure_ascii=False).encode())
            for img in self.images:
                h.update(b"\x00img\x00")
                h.update(hashlib.sha256(img.raw_bytes()).digest())
            self._hash = h.hexdigest()[:24]
        return self._hash

    def rotated(self, k: int) -> "Sample":
        """The same question with options rotated left by ``k`` (circular evaluation)."""
        if not self.is_multiple_choice:
            raise ValueError("only multiple-choice samples can be rotated")
        n = len(self.options)
        k %= n
        opts = self.options[k:] + self.options[:k]
        new_answer = LETTERS[(self.answer_index - k) % n]
        s = replace(self, options=opts, answer=new_answer, meta={**self.meta, "rotation": k})
        s._hash = None
        return s

    def to_record(self, with_images: bool = False) -> dict[str, Any]:
        """A flat dict for tables (pandas); images as a count unless ``with_images``."""
        rec = {
            "id": self.id,
            "benchmark": self.benchmark,
            "split": self.split,
            "question": self.question,
            "hint": self.hint,
            "options": list(self.options),
            "answer": self.answer,
            "answer_type": self.answer_type,
            "category": self.category,
            "l2_category": self.l2_category,
            "n_images": len(self.images),
            "content_hash": self.content_hash,
        }
        if with_images:
            rec["images"] = [i.path or "<embedded>" for i in self.images]
        return rec

    # -- validation ---------------------------------------------------------------
    def validate(self, file=None, row=None) -> "Sample":
        """Raise DataError (naming file, row and field) when the sample breaks the schema."""
        if not isinstance(self.id, str) or not self.id.strip():
            raise DataError(file, row, "id", "missing or empty id")
        if not isinstance(self.question, str) or not self.question.strip():
            raise DataError(file, row, "question", "missing or empty question")
        if self.options:
            if len(self.options) < MIN_OPTIONS:
                raise DataError(file, row, "options", f"{len(self.options)} option(s); a multiple-choice question needs at least {MIN_OPTIONS}")
            if len(self.options) > MAX_OPTIONS:
                raise DataError(file, row, "options", f"{len(self.options)} options; at most {MAX_OPTIONS} (A..J) are supported")
            for i, opt in enumerate(self.options):
                if not isinstance(opt, str) or not opt.strip():
                    raise DataError(file, row, f"options[{LETTERS[i]}]", "empty option text")
            if self.answer not in self.letters:
                raise DataError(file, row, "answer", f"answer {self.answer!r} is not among the options {', '.join(self.letters)}")
            if self.answer_type != "letter":
                raise DataError(file, row, "answer_type", "multiple-choice samples have answer_type 'letter'")
        else:
            if self.answer is None or str(self.answer).strip() == "":
                raise DataError(file, row, "answer", "missing answer")
            if self.answer_type == "letter":
                raise DataError(file, row, "options", f"fewer than {MIN_OPTIONS} options and no free-form answer type; a multiple-choice question needs at least {MIN_OPTIONS} options")
        return self


def check_unique_ids(samples: list[Sample], file=None) -> None:
    """Raise DataError naming both rows when two samples share an id."""
    seen: dict[str, Any] = {}
    for i, s in enumerate(samples):
        row = s.meta.get("row", i)
        if s.id in seen:
            raise DataError(file, row, "id", f"duplicate id {s.id!r} (first seen at row {seen[s.id]})")
        seen[s.id] = row
