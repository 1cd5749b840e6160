"""Asking one model a list of (possibly altered) questions, with the runner's own scoring.

The evidence tests ask variants of a question (options shuffled, options removed, the image
swapped or replaced by text). They reuse ``leakaudit.runner``'s batch answering and
``leakaudit.prompts``' prompts so that a variant differs from the stored answer only in what
the test changes.
"""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Sequence

from ..backends.base import LM, Prompt
from ..errors import LeakauditError
from ..prompts import build_prompt
from ..runner import _answer_batch, _Item
from ..schema import LETTERS, Sample

SCORINGS = ("letter", "cloze", "generate")


def check_scoring(scoring: str) -> None:
    if scoring not in SCORINGS:
        raise LeakauditError(f"scoring must be one of {', '.join(SCORINGS)}, not {scoring!r}")


def ask(lm: LM, samples: Sequence[Sample], prompts: Sequence[Prompt], *, scoring: str, batch_size: int = 8,
        max_new_tokens: int = 32) -> list[dict[str, Any]]:
    """One result dict per sample (``chosen``, ``correct``, ``raw_response``...), in order."""
    check_scoring(scoring)
    items = [_Item(sample=s, original=s, rotation=0, scoring="generate" if s.is_open else scoring, prompt=p)
             for s, p in zip(samples, prompts)]
    out: list[dict[str, Any]] = []
    for i in range(0, len(items), batch_size):
        out.extend(_answer_batch(lm, items[i:i + batch_size], max_new_tokens=max_new_tokens))
    return out


def text_prompt(sample: Sample, scoring: str) -> Prompt:
    """The text-only (``text`` condition, 0-shot) prompt of the runner."""
    return build_prompt(sample, "text", scoring=scoring, images=False)


def permuted(sample: Sample, order: Sequence[int]) -> Sample:
    """``sample`` with options in ``order`` (``order[i]`` = old index of new option i)."""
    opts = [sample.options[j] for j in order]
    new = replace(sample, options=opts, answer=LETTERS[list(order).index(sample.answer_index)],
                  meta={**sample.meta, "option_order": list(order)})
    new._hash = None
    return new


def moving_permutations(n: int, k: int, gold: int, rng: random.Random) -> list[list[int]]:
    """``k`` seeded permutations of ``range(n)`` that each move the gold option elsewhere."""
    perms: list[list[int]] = []
    for _ in range(1000):
        if len(perms) == k:
            break
        p = list(range(n))
        rng.shuffle(p)
        if p.index(gold) != gold and p not in perms:
            perms.append(p)
    return perms
