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

__all__ = [
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
