"""Regeneration: Auto-Bench style curation of new vision-dependent questions and a LLaVA-Critic judge.

``describe_image`` turns a sample's images into text, ``Curator`` writes candidate
questions from it, ``Judge`` scores or compares answers, and ``regenerate`` runs the whole
loop on the failing samples of an audit (re-auditing every candidate before keeping it).
"""
from __future__ import annotations

from leakaudit.regen.curator import CAPABILITIES, Candidate, CurationResult, Curator, capability_for, check_item
from leakaudit.regen.describe import SymbolicDescription, colour_summary, describe_image
from leakaudit.regen.judge import (Agreement, Judge, PairwiseVerdict, PointwiseVerdict, agreement, make_answer_pairs, parse_preference,
                                   parse_score)
from leakaudit.regen.loop import RegenResult, RoundStats, regenerate

__all__ = [
    "Agreement",
    "CAPABILITIES",
    "Candidate",
    "CurationResult",
    "Curator",
    "Judge",
    "PairwiseVerdict",
    "PointwiseVerdict",
    "RegenResult",
    "RoundStats",
    "SymbolicDescription",
    "agreement",
    "capability_for",
    "check_item",
    "colour_summary",
    "describe_image",
    "make_answer_pairs",
    "parse_preference",
    "parse_score",
    "regenerate",
]
