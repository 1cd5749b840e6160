"""The audit: MMStar's metrics (S_v, S_wv, S_t, MG, ML) and per-question evidence from the answer store.

``audit(run_dir)`` reads the answers a run (or an import) stored and returns an
``AuditResult`` with ``.metrics`` (one row per model x benchmark x category), ``.samples``
(one row per question: who answers it without the image, and its label) and ``.summary``.
"""
from __future__ import annotations

from leakaudit.audit.evidence import (LABELS, LEAKED, MMSTAR_K, MMSTAR_N, TEXT_ANSWERABLE, UNKNOWN, VISION_DEPENDENT, binomial_p,
                                      compute_evidence, label_quality, max_text_hits, threshold_rule)
from leakaudit.audit.metrics import AVERAGE, MissingBaseLLMError, ModelRole, compute_metrics, model_roles, question_correctness
from leakaudit.audit.result import AuditResult, audit, jsonable

__all__ = [
    "AVERAGE",
    "AuditResult",
    "LABELS",
    "LEAKED",
    "MMSTAR_K",
    "MMSTAR_N",
    "MissingBaseLLMError",
    "ModelRole",
    "TEXT_ANSWERABLE",
    "UNKNOWN",
    "VISION_DEPENDENT",
    "audit",
    "binomial_p",
    "compute_evidence",
    "compute_metrics",
    "jsonable",
    "label_quality",
    "max_text_hits",
    "model_roles",
    "question_correctness",
    "threshold_rule",
]
