"""Where the questions of a run are answered: in this process (``local``) or on Ray actors (``ray``).

The runner decides *what* to ask (store keys computed before anything loads, already stored
keys skipped); an engine decides *where*. A remote engine gets the pending work of every
model of a run as (model, shard of questions) and streams answers back; the runner's process
alone writes the SQLite store, so resume, "no model call" on a rerun and "nothing stored
twice" hold exactly as in a local run.

``use_engine(engine)`` makes an engine the default of every ``runner.run`` inside the block,
which is how ``scan`` and ``gate`` (that call ``run`` once per model and condition) use it.
"""
from __future__ import annotations

from typing import Any

from leakaudit.answers.engines.base import ModelWork, current_engine, use_engine
from leakaudit.errors import LeakauditError

ENGINES = ("local", "ray")

def make_engine(name: str = "local", *, address: str | None = None, workers: int | None = None,
                gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0, **kwargs: Any) -> Any:
    """``local`` (None: the runner's own loop) or a ``RayEngine``; bad options are named."""
    if name == "local":
        if address or workers or gpus_per_worker:
            raise LeakauditError("--address, --workers and --gpus-per-worker apply to --engine ray")
        return None
    if name == "ray":
        from leakaudit.answers.engines.ray_engine import RayEngine

        return RayEngine(address=address, workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker, **kwargs)
    raise LeakauditError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")


__all__ = ["ENGINES", "ModelWork", "current_engine", "make_engine", "use_engine"]
