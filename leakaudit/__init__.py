"""leakaudit: audit multimodal benchmarks for data leakage and vision dependency.

The Python API mirrors the CLI and follows the data flow:
``load_benchmark`` -> ``run`` (answers into an ``AnswerStore``) -> ``audit`` -> ``filter`` /
``regenerate`` / ``report`` / ``gate``.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .benchmark import Benchmark, available_benchmarks, load_benchmark
from .errors import DataError, LeakauditError
from .schema import LETTERS, Sample
from .store import Answer, AnswerStore

#: stage functions, imported on first use (torch and pandas load only when a stage runs);
#: ``audit``, ``scan`` and ``gate`` share their module's name: import them from
#: ``leakaudit.audit``, ``leakaudit.scan`` and ``leakaudit.gate``
_LAZY = {
    "run": ("leakaudit.runner", "run"),
    "AuditResult": ("leakaudit.audit", "AuditResult"),
    "filter_benchmark": ("leakaudit.filter", "filter_benchmark"),
    "import_predictions": ("leakaudit.imports", "import_predictions"),
    "build_report": ("leakaudit.report", "build_report"),
    "regenerate": ("leakaudit.regen", "regenerate"),
    "load_zoo": ("leakaudit.zoo", "load_zoo"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'leakaudit' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "Answer",
    "AnswerStore",
    "Benchmark",
    "DataError",
    "LETTERS",
    "LeakauditError",
    "Sample",
    "__version__",
    "available_benchmarks",
    "load_benchmark",
]
