"""Asking one model a list of (possibly altered) questions, with the runner's own scoring.

The evidence tests ask variants of a question (options shuffled, options removed, the image
swapped or replaced by text). They reuse ``leakaudit.answers.runner``'s batch answering and
``leakaudit.answers.prompts``' prompts so that a variant differs from the stored answer only in what
the test changes.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from leakaudit.answers.prompts import build_prompt, prompt_hash
from leakaudit.answers.runner import _answer_batch, _Item
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.types import KEY_FIELDS, answer_key

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


def ask_stored(lm: LM, samples: Sequence[Sample], prompts: Sequence[Prompt], *, scoring: str, condition: str,
               run_dir: str | Path, salts: Sequence[str] | None = None, batch_size: int = 8,
               max_new_tokens: int = 32) -> list[dict[str, Any]]:
    """``ask``, with the answers kept in ``run_dir``'s answer store under ``condition``.

    A rerun (the same model, question, prompt and scoring) reads them instead of asking,
    and ``leakaudit export`` lists them. ``salts`` add what the prompt text does not show
    to the key (e.g. which question lent a ``wrong-image`` its picture).
    """
    from leakaudit.answers.store import Answer, AnswerStore

    keys = []
    for i, (s, p) in enumerate(zip(samples, prompts)):
        phash = prompt_hash(p)
        if salts is not None:
            phash = hashlib.sha256(f"{phash}|{salts[i]}".encode()).hexdigest()[:16]
        keys.append(answer_key(benchmark=s.benchmark, sample_hash=s.content_hash, model=lm.name, condition=condition,
                               prompt_hash=phash, scoring="generate" if s.is_open else scoring))
    with AnswerStore(run_dir) as store:
        stored = store.existing_keys(model=lm.name, condition=condition)
        missing = [i for i, k in enumerate(keys) if k not in stored]
        if missing:
            store.add_samples([samples[i] for i in missing])
            fresh = ask(lm, [samples[i] for i in missing], [prompts[i] for i in missing], scoring=scoring,
                        batch_size=batch_size, max_new_tokens=max_new_tokens)
            store.add_many(Answer(sample_id=samples[i].id, **keys[i]._asdict(), **res) for i, res in zip(missing, fresh))
        rows = store.answers(model=lm.name, condition=condition)
    by_key = {answer_key(**{f: r[f] for f in KEY_FIELDS}): r for r in rows.to_dict("records")}
    return [{"chosen": by_key[k]["chosen"], "correct": bool(by_key[k]["correct"]), "raw_response": by_key[k]["raw_response"]}
            for k in keys]


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


__all__ = ["SCORINGS", "ask", "ask_stored", "check_scoring", "moving_permutations", "permuted", "text_prompt"]
