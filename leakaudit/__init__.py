"""leakaudit: audit multimodal benchmarks for data leakage and vision dependency.

The Python API mirrors the CLI and follows the data flow:
``load_benchmark`` -> ``run`` (answers into an ``AnswerStore``) -> ``audit`` -> ``filter`` /
``regenerate`` / ``report`` / ``gate``. The package is laid out the same way, one
sub-package per stage, each importing only the stages before it (``tests/test_layers.py``):
``data`` (questions) -> ``models`` -> ``answers`` -> ``audit`` (metrics and signals) ->
``report`` -> ``workflows`` (scan, gate) -> ``regen`` -> ``cli``; the words every stage
shares (``errors``, ``types``, ``registry``, ``outputs``, ``version``) sit at the top.
"""
from __future__ import annotations

from leakaudit import _moved

_moved.install()  # the module paths from before the stage sub-packages (leakaudit.store...), for one release

from leakaudit.answers.store import Answer, AnswerStore  # noqa: E402
from leakaudit.data.benchmark import Benchmark, available_benchmarks, load_benchmark  # noqa: E402
from leakaudit.data.schema import LETTERS, Sample  # noqa: E402
from leakaudit.errors import DataError, LeakauditError  # noqa: E402
from leakaudit.version import __version__  # noqa: E402

#: stage functions, imported on first use (torch and pandas load only when a stage runs);
#: ``audit``, ``scan`` and ``gate`` share their module's name: import them from
#: ``leakaudit.audit``, ``leakaudit.workflows.scan`` and ``leakaudit.workflows.gate``
_LAZY = {
    "run": ("leakaudit.answers.runner", "run"),
    "AuditResult": ("leakaudit.audit", "AuditResult"),
    "filter_benchmark": ("leakaudit.audit.filter", "filter_benchmark"),
    "import_predictions": ("leakaudit.answers.imports", "import_predictions"),
    "build_report": ("leakaudit.report", "build_report"),
    "regenerate": ("leakaudit.regen", "regenerate"),
    "load_zoo": ("leakaudit.models.zoo", "load_zoo"),
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
