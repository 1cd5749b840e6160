"""What every engine shares with the runner: the engine in use and the work it is handed.

The runner imports only this module, so an engine (which calls back into the runner on its
workers) never forms an import circle with it.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Iterator

_current = threading.local()


def current_engine() -> Any:
    """The engine set by the innermost ``use_engine`` block (None: run locally)."""
    return getattr(_current, "engine", None)


@contextlib.contextmanager
def use_engine(engine: Any) -> Iterator[Any]:
    """Run every ``runner.run`` in the block on ``engine`` (closed at the end of the block)."""
    previous = current_engine()
    _current.engine = engine
    try:
        yield engine
    finally:
        _current.engine = previous
        if engine is not None and hasattr(engine, "close"):
            engine.close()


@dataclass
class ModelWork:
    """The pending questions of one model: (store key, item) pairs, in run order."""

    name: str
    pending: list[tuple[tuple, Any]]
