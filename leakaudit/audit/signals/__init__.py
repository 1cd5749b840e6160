"""Per-question evidence that a benchmark question needs no image, or was seen in training: one module per signal.

- ``base``: the ``Signal`` interface (and ``EvidenceSignal``, a signal computed by asking a
  model again); ``nulls``: what each signal is read against (chance, a noise floor, a control);
- one module per signal, its computation and its registered class together:
  ``text_hits``, ``blind_hits``, ``leaked`` (hit counts, with ``hits``), ``probe``,
  ``option_order``, ``slot_guess``, ``min_k``, ``open_form`` and ``ablation`` (wrong-image,
  ocr-only and caption-only: one computation, the image swapped three ways);
- ``rules``: the only place evidence becomes a label, a removal, a summary or the fitted
  combined score; ``combined`` and ``evaluate`` score signals against labelled questions.

Signals are registered through the ``leakaudit.signals`` entry point group (``pyproject.toml``).
"""
from __future__ import annotations

from leakaudit.audit.signals.ablation import CaptionOnly, OcrOnly, WrongImage
from leakaudit.audit.signals.base import Check, EvidenceContext, EvidenceSignal, Signal, null_text
from leakaudit.audit.signals.blind_hits import BlindHits
from leakaudit.audit.signals.hits import (LEAKED, MMSTAR_K, MMSTAR_N, TEXT_ANSWERABLE, binomial_p, hit_share, max_text_hits, text_detail,
                                          threshold_rule)
from leakaudit.audit.signals.leaked import Leaked
from leakaudit.audit.signals.min_k import MinK
from leakaudit.audit.signals.open_form import OpenForm
from leakaudit.audit.signals.option_order import OptionOrder
from leakaudit.audit.signals.probe import Probe
from leakaudit.audit.signals.rules import (MIN_PER_CLASS, REASON_BALANCE, REASON_UNAUDITED, UNKNOWN, VISION_DEPENDENT, audited_mask,
                                           compute_columns, curve, decide, evidence_matrix, fit_combined, get, label_questions, label_truth,
                                           registered, removing, report_rows, score_curve, score_curves, summarize, truth_agreement,
                                           truth_of)
from leakaudit.audit.signals.slot_guess import SlotGuess
from leakaudit.audit.signals.text_hits import TextHits

#: the signals that ask a model again or read the benchmark alone (``probe``), beside the hit counts
EXTRA = (Probe, OptionOrder, SlotGuess, MinK, WrongImage, OcrOnly, CaptionOnly, OpenForm)
BUILTIN = (TextHits, BlindHits, Leaked)

__all__ = ["BUILTIN", "BlindHits", "CaptionOnly", "Check", "EXTRA", "EvidenceContext", "EvidenceSignal", "LEAKED", "Leaked", "MIN_PER_CLASS",
           "MMSTAR_K", "MMSTAR_N", "MinK", "OcrOnly", "OpenForm", "OptionOrder", "Probe", "REASON_BALANCE", "REASON_UNAUDITED", "Signal",
           "SlotGuess", "TEXT_ANSWERABLE", "TextHits", "UNKNOWN", "VISION_DEPENDENT", "WrongImage", "audited_mask", "binomial_p",
           "compute_columns", "curve", "decide", "evidence_matrix", "fit_combined", "get", "hit_share", "label_questions", "label_truth",
           "max_text_hits", "null_text", "registered", "removing", "report_rows", "score_curve", "score_curves", "summarize", "text_detail",
           "threshold_rule", "truth_agreement", "truth_of"]
