"""Where leakaudit keeps what it builds once: converted weights, assembled GGUFs, tiny models, the demo.

``$LEAKAUDIT_CACHE`` names the folder (default ``~/.cache/leakaudit``); ``cache_lock`` makes
two processes preparing the same entry do it once.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

CACHE_ENV = "LEAKAUDIT_CACHE"


def cache_root() -> Path:
    """Where converted weights, assembled GGUFs and built tiny models live ($LEAKAUDIT_CACHE)."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "leakaudit"
    base.mkdir(parents=True, exist_ok=True)
    return base


@contextlib.contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock named after ``path`` (``.NAME.lock`` beside it) across processes.

    Two processes preparing the same cache entry (a background conversion and the run that
    needs it, Ray workers on one machine) then do it once: the second waits and finds it
    made. Where ``fcntl`` does not exist (Windows) it is a no-op; the entries are still
    written to a temporary name and renamed, so the worst case is duplicate work.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
