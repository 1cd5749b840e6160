"""One small registry fed by entry points: benchmarks, backends and signals are added alike.

Built-ins are registered through the same entry point groups as third-party plugins
(``pyproject.toml``), so a plugin is a peer of the built-ins (lm-eval's ``api/registry.py``
idea, with packaging metadata as the single source)::

    [project.entry-points."leakaudit.signals"]
    my-signal = "mypkg.signals:MySignal"

``Registry("leakaudit.signals", "signal").get("text-hits")`` loads the class on first use.
"""
from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, Iterator, TypeVar

from leakaudit.errors import LeakauditError

T = TypeVar("T")

#: entry point groups, one per kind of plugin
BENCHMARKS_GROUP = "leakaudit.benchmarks"
BACKENDS_GROUP = "leakaudit.backends"
SIGNALS_GROUP = "leakaudit.signals"


class Registry(Generic[T]):
    """Name -> loaded object for one entry point group; objects registered in code win.

    ``register`` exists for tests and notebooks (a scripted backend, a signal under
    development); everything shipped goes through entry points.
    """

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._eps: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, T] = {}
        self._local: dict[str, T] = {}

    def _entry_points(self) -> dict[str, EntryPoint]:
        if self._eps is None:
            self._eps = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._eps

    def names(self) -> list[str]:
        return sorted(set(self._entry_points()) | set(self._local))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._local or name in self._entry_points())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        if name in self._local:
            return self._local[name]
        if name not in self._loaded:
            eps = self._entry_points()
            if name not in eps:
                known = ", ".join(self.names()) or "(none: is leakaudit installed with `pip install -e .`?)"
                raise LeakauditError(f"unknown {self.kind} {name!r}; known: {known}")
            try:
                self._loaded[name] = eps[name].load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not a traceback
                raise LeakauditError(f"{self.kind} {name!r} ({eps[name].value}) failed to load: {type(exc).__name__}: {exc}") from exc
        return self._loaded[name]

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]

    def register(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` in this process (tests, notebooks)."""
        self._local[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        self._local.pop(name, None)

    def clear_cache(self) -> None:
        self._eps = None
        self._loaded.clear()


benchmarks: Registry[Any] = Registry(BENCHMARKS_GROUP, "benchmark")
backends: Registry[Any] = Registry(BACKENDS_GROUP, "backend")
signals: Registry[Any] = Registry(SIGNALS_GROUP, "signal")

__all__ = ["BACKENDS_GROUP", "BENCHMARKS_GROUP", "Registry", "SIGNALS_GROUP", "backends", "benchmarks", "signals"]
