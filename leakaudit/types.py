"""The words of an audit, named once: conditions, scorings, blind modes and the answer key.

Every module (prompts, runner, store, imports, the lm-eval path, the CLI's choices) takes
these from here, so adding a scoring or a blind mode is one edit and a typo is an import
error rather than a silently empty query. The store key is built by ``answer_key`` only:
the runner computes it before loading a model (to skip what is stored), the store writes
and reads it, and nothing reads a key by position.
"""
from __future__ import annotations

from typing import Literal, NamedTuple, get_args

Condition = Literal["text", "vision", "blind"]
Scoring = Literal["letter", "cloze", "generate"]
BlindMode = Literal["drop", "grey", "noise"]
Kind = Literal["llm", "lvlm"]

#: ``text``: an LLM without the image; ``vision``: an LVLM with it; ``blind``: the same LVLM without it
CONDITIONS: tuple[str, ...] = get_args(Condition)
#: image ablations, stored beside the conditions: another question's image (an LVLM), RapidOCR's
#: text or a caption in place of the image (a text-only LLM); asked by the signals of these names
Ablation = Literal["wrong-image", "ocr-only", "caption-only"]
ABLATIONS: tuple[str, ...] = get_args(Ablation)
#: ``letter``: option-letter log-probs; ``cloze``: option-text log-likelihood; ``generate``: free text
SCORINGS: tuple[str, ...] = get_args(Scoring)
#: what a blind run shows instead of the image (MMStar drops it; a few models need a grey one)
BLIND_MODES: tuple[str, ...] = get_args(BlindMode)
KINDS: tuple[str, ...] = get_args(Kind)
#: published prediction files ``leakaudit import`` reads
ImportFormat = Literal["vlmevalkit", "lm-eval", "mathvista", "mmmu-pro", "scienceqa"]
IMPORT_FORMATS: tuple[str, ...] = get_args(ImportFormat)
#: LLaVA-Critic's two judging protocols: a score per answer, or the better of two
JudgeMode = Literal["pointwise", "pairwise"]
JUDGE_MODES: tuple[str, ...] = get_args(JudgeMode)


class AnswerKey(NamedTuple):
    """The store's primary key: one stored answer per key (``answers`` table, same order)."""

    benchmark: str
    sample_hash: str
    model: str
    condition: str
    blind_mode: str
    shots: int
    prompt_hash: str
    scoring: str
    rotation: int


#: the key's column names, in the store's order
KEY_FIELDS: tuple[str, ...] = AnswerKey._fields


def stored_blind_mode(condition: str, blind: str | None) -> str:
    """The ``blind_mode`` part of a key: the mode for ``blind`` answers, '' for the others."""
    return (blind or "") if condition == "blind" else ""


def answer_key(
    *,
    benchmark: str,
    sample_hash: str,
    model: str,
    condition: str,
    prompt_hash: str,
    scoring: str,
    blind_mode: str = "",
    shots: int = 0,
    rotation: int = 0,
) -> AnswerKey:
    """The one way to build a store key (ints normalised, so a key from SQLite compares equal)."""
    return AnswerKey(benchmark, sample_hash, model, condition, blind_mode or "", int(shots), prompt_hash, scoring, int(rotation))


class RunSetting(NamedTuple):
    """The settings that change a prompt: one example prompt per setting in the report."""

    condition: str
    blind_mode: str
    shots: int
    scoring: str


__all__ = [
    "AnswerKey",
    "BLIND_MODES",
    "BlindMode",
    "ABLATIONS",
    "CONDITIONS",
    "Condition",
    "IMPORT_FORMATS",
    "ImportFormat",
    "JUDGE_MODES",
    "JudgeMode",
    "KEY_FIELDS",
    "KINDS",
    "Kind",
    "RunSetting",
    "SCORINGS",
    "Scoring",
    "answer_key",
    "stored_blind_mode",
]
