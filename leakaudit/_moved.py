"""Module paths from before the stage sub-packages, kept as aliases of the new ones for one release.

``import leakaudit.store`` still works and gives the very module ``leakaudit.answers.store``
(so a plugin's ``isinstance`` check or monkeypatch sees the same objects), with a
``DeprecationWarning`` naming the new path. A package maps its whole subtree
(``leakaudit.backends.llamacpp`` is ``leakaudit.models.backends.llamacpp``); the evidence tests
and the signal wrappers that were two modules each are one module per signal now. The
aliases go in the release after 0.1.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

#: old module -> new module (longest match wins; a package's submodules follow it)
MOVED: dict[str, str] = {
    "leakaudit.adhoc": "leakaudit.models.adhoc",
    "leakaudit.backends": "leakaudit.models.backends",
    "leakaudit.backends.lmeval_backend": "leakaudit.answers.lmeval_backend",
    "leakaudit.benchmark": "leakaudit.data.benchmark",
    "leakaudit.config": "leakaudit.cli.config",
    "leakaudit.demo": "leakaudit.data.demo",
    "leakaudit.engines": "leakaudit.answers.engines",
    "leakaudit.evidence_tests": "leakaudit.audit.signals",
    "leakaudit.evidence_tests._ask": "leakaudit.audit.signals._ask",
    "leakaudit.evidence_tests.ablation": "leakaudit.audit.signals.ablation",
    "leakaudit.evidence_tests.combined": "leakaudit.audit.signals.combined",
    "leakaudit.evidence_tests.evaluate": "leakaudit.audit.signals.evaluate",
    "leakaudit.evidence_tests.mink": "leakaudit.audit.signals.min_k",
    "leakaudit.evidence_tests.open_form": "leakaudit.audit.signals.open_form",
    "leakaudit.evidence_tests.order": "leakaudit.audit.signals.option_order",
    "leakaudit.evidence_tests.probe": "leakaudit.audit.signals.probe",
    "leakaudit.evidence_tests.slot": "leakaudit.audit.signals.slot_guess",
    "leakaudit.extract": "leakaudit.answers.extract",
    "leakaudit.filter": "leakaudit.audit.filter",
    "leakaudit.gate": "leakaudit.workflows.gate",
    "leakaudit.gguf_files": "leakaudit.models.gguf_files",
    "leakaudit.images": "leakaudit.data.images",
    "leakaudit.imports": "leakaudit.answers.imports",
    "leakaudit.inspect": "leakaudit.data.inspect",
    "leakaudit.io": "leakaudit.data.io",
    "leakaudit.pipeline": "leakaudit.workflows.pipeline",
    "leakaudit.plan": "leakaudit.answers.plan",
    "leakaudit.prepare": "leakaudit.models.prepare",
    "leakaudit.prompt_limits": "leakaudit.data.prompt_limits",
    "leakaudit.prompts": "leakaudit.answers.prompts",
    "leakaudit.reuse": "leakaudit.answers.reuse",
    "leakaudit.runner": "leakaudit.answers.runner",
    "leakaudit.scan": "leakaudit.workflows.scan",
    "leakaudit.schema": "leakaudit.data.schema",
    "leakaudit.settings": "leakaudit.answers.settings",
    "leakaudit.signals": "leakaudit.audit.signals",
    "leakaudit.signals.builtin": "leakaudit.audit.signals",
    "leakaudit.signals.extra": "leakaudit.audit.signals",
    "leakaudit.store": "leakaudit.answers.store",
    "leakaudit.store_tools": "leakaudit.answers.store_tools",
    "leakaudit.textsafe": "leakaudit.data.textsafe",
    "leakaudit.zoo": "leakaudit.models.zoo",
}
_LONGEST_FIRST = sorted(MOVED, key=len, reverse=True)


def new_name(old: str) -> str | None:
    """Where module ``old`` lives now (None when it did not move)."""
    for prefix in _LONGEST_FIRST:
        if old == prefix or old.startswith(prefix + "."):
            return MOVED[prefix] + old[len(prefix):]
    return None


#: old packages whose modules were renamed or merged: a stand-in package resolves each old name
_STAND_INS = ("leakaudit.evidence_tests", "leakaudit.signals")


def _stand_in(old: str, new: str) -> ModuleType:
    """A package named ``old``: ``old.x`` is the module ``x`` was moved to, any other name the new package's."""
    module = ModuleType(old, f"{old} moved to {new} (see leakaudit._moved)")
    module.__path__ = []  # a package: its submodules are found by the alias finder

    def __getattr__(name: str):
        if f"{old}.{name}" in MOVED:
            return importlib.import_module(f"{old}.{name}")
        return getattr(importlib.import_module(new), name)

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return module


class _Alias(importlib.abc.Loader):
    """Hands out the already-imported new module under the old name, its own spec untouched."""

    def __init__(self, new: str):
        self.new = new
        self._spec = None

    def create_module(self, spec) -> ModuleType:
        if spec.name in _STAND_INS:
            return _stand_in(spec.name, self.new)
        module = importlib.import_module(self.new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        if self._spec is not None:
            module.__spec__ = self._spec  # importlib set the alias's spec; the module keeps its real one


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path=None, target=None):
        new = new_name(fullname) if fullname.startswith("leakaudit.") else None
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new}; the old path goes in the next release", DeprecationWarning, stacklevel=2)
        return importlib.util.spec_from_loader(fullname, _Alias(new), is_package=importlib.util.find_spec(new).submodule_search_locations is not None)


def install() -> None:
    """Put the alias finder first on ``sys.meta_path`` (once), ahead of the file finder."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
