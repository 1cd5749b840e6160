"""Answers one model gives that another, equivalent run already gave: copied, not recomputed.

Two runs are equivalent when the same weights see the same prompt:

- the OCR composite (``ocr+smollm2``) without an image shows its wrapped LLM the very
  prompt the text-only run of that LLM saw (no image, so no OCR line; with cloze scoring
  the text, vision and blind prompts of such a question are identical): its blind (``drop``)
  answers, and its vision answers to questions without an image, are the LLM's text answers;
- any vision model asked about a question without an image sees the same input with and
  without "the image": its blind (``drop``) answer is its vision answer.

Asking again cost a quarter of the demo scan, and half the vision passes of a text-only
submission. ``copy_equivalent_answers`` copies the stored answers whose full key matches
except for model and condition (same sample hash, prompt hash, shots, scoring, rotation),
marks them ``source = copy:<model>/<condition>``, and leaves the rest to the runner. A
prompt that differs (letter scoring adds MMStar's "Answer with the option's letter" line to
text prompts only; a question whose text names an image keeps that mention only with the
image) has a different prompt hash and is never copied.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

from leakaudit.answers.store import STORE_FILE, AnswerStore

log = logging.getLogger(__name__)


#: which questions a copy covers: every one, or only those without an image
ALL, NO_IMAGE = "all", "no-image"


def equivalent_sources(spec: Any, name: str, condition: str, blind_mode: str) -> list[tuple[tuple[str, str], str]]:
    """``((model, condition), scope)`` pairs whose stored answers equal ``name``'s under
    ``condition``, ``scope`` saying for which questions (``ALL`` or ``NO_IMAGE``); first match wins.

    ``spec`` is ``name``'s zoo entry (None for a model object outside the zoo).
    """
    sources: list[tuple[tuple[str, str], str]] = []
    wraps = getattr(spec, "wraps", None) if getattr(spec, "backend", None) == "ocr" else None
    if wraps and condition == "blind" and blind_mode == "drop":
        sources.append(((wraps, "text"), ALL))
    if wraps and condition == "vision":
        sources.append(((wraps, "text"), NO_IMAGE))
    if condition == "blind" and blind_mode == "drop":
        sources.append(((name, "vision"), NO_IMAGE))
    return sources


def covers(scope: str, sample: Any) -> bool:
    """True when a copy of ``scope`` (``ALL`` or ``NO_IMAGE``) applies to ``sample``."""
    return scope != NO_IMAGE or not sample.images


def copy_equivalent_answers(run_dir: str | Path, model: str, condition: str, blind_mode: str, source: tuple[str, str],
                            keys: Iterable[tuple]) -> int:
    """Copy ``source``'s stored answers to ``model`` / ``condition`` for the wanted ``keys``; returns how many.

    ``keys`` are the runner's store keys for ``model`` / ``condition``
    (``store.KEY_FIELDS`` order); only source answers with the same benchmark, sample
    hash, shots, prompt hash, scoring and rotation are copied.
    """
    path = Path(run_dir) / STORE_FILE
    if not path.is_file():
        return 0
    src_model, src_condition = source
    wanted = [(k[0], k[1], int(k[5]), k[6], k[7], int(k[8])) for k in keys]
    if not wanted:
        return 0
    n = 0
    with AnswerStore(run_dir) as store:
        now = time.time()
        for bench, sample_hash, shots, phash, scoring, rotation in wanted:
            cur = store.conn.execute(
                """
                INSERT OR IGNORE INTO answers
                SELECT benchmark, sample_id, sample_hash, ?, ?, ?, shots, prompt_hash, scoring, rotation,
                       raw_response, option_scores, chosen, correct, extraction, 0.0, ?, ?
                FROM answers WHERE model = ? AND condition = ? AND blind_mode = '' AND benchmark = ? AND sample_hash = ?
                  AND shots = ? AND prompt_hash = ? AND scoring = ? AND rotation = ?
                """,
                (model, condition, blind_mode, f"copy:{src_model}/{src_condition}", now, src_model, src_condition,
                 bench, sample_hash, shots, phash, scoring, rotation),
            )
            n += max(cur.rowcount, 0)
        store.conn.commit()
    if n:
        log.info("%s (%s): %d answers copied from %s (%s), the same prompt to the same weights", model, condition, n, src_model, src_condition)
    return n


__all__ = ["ALL", "NO_IMAGE", "copy_equivalent_answers", "covers", "equivalent_sources"]
