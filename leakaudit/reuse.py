"""Answers one model gives that another, equivalent run already gave: copied, not recomputed.

The OCR composite (``ocr+smollm2``) run *blind* with ``drop`` shows its wrapped LLM the very
prompt the text-only run of that LLM saw (no image, so no OCR line; with cloze scoring
the text and blind prompts are identical): the answers are the same by construction.
Asking again cost a quarter of the demo scan. ``copy_equivalent_answers`` copies the
stored answers whose full key matches except for model and condition (same sample hash,
prompt hash, shots, scoring, rotation), marks them ``source = copy:<model>/<condition>``,
and leaves the rest to the runner. A prompt that differs (letter scoring adds MMStar's
"Answer with the option's letter" line to text prompts only) has a different prompt hash
and is never copied.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

from .store import STORE_FILE, AnswerStore

log = logging.getLogger(__name__)


def equivalent_source(spec: Any, condition: str, blind_mode: str) -> tuple[str, str] | None:
    """(model, condition) whose stored answers equal ``spec``'s under ``condition``, or None.

    Today: an OCR composite without its image (blind, ``drop``) is its wrapped LLM, text only.
    """
    if spec is None:
        return None
    if getattr(spec, "backend", None) == "ocr" and getattr(spec, "wraps", None) and condition == "blind" and blind_mode == "drop":
        return spec.wraps, "text"
    return None


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


__all__ = ["copy_equivalent_answers", "equivalent_source"]
