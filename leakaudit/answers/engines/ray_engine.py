"""Ray engine: the pending questions of a run, split by (model, shard), over Ray actors.

Each actor holds one backend at a time (loaded through the zoo, as locally: hf, llamacpp,
vllm...) and answers whole shards; an actor that finished a shard takes the next shard of
the model it already holds, so a model is loaded once per actor, not once per shard. An
idle actor with nothing left of its model picks the model with the most remaining shards
per actor already on it. Images are attached on the driver, so workers need no access to
the benchmark's files.

Answers stream back shard by shard to the driver, which alone writes the store (the
runner's ``sink``). A shard whose actor dies (killed, out of memory, node lost) is put back
in the queue and retried on a fresh actor, up to ``max_retries`` times; answers of other
shards already stored stay stored. An error raised by the backend itself (a model that
cannot load) is not retried: it is raised as a ``LeakauditError`` naming the model.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from leakaudit.answers.engines.base import ModelWork
from leakaudit.errors import LeakauditError, MissingDependencyError

log = logging.getLogger(__name__)

#: environment variables the workers need to see the same caches and offline settings
_ENV_PREFIXES = ("LEAKAUDIT_", "HF_", "TRANSFORMERS_", "VLLM_", "OMP_NUM_THREADS")


def _ray():
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("--engine ray needs Ray: pip install 'leakaudit[ray]'") from exc
    return ray


def init_ray(address: str | None = None, attempts: int = 3, **kwargs: Any) -> None:
    """``ray.init`` with the workers' environment; a local start is retried (Ray gives a new
    node 30 s to register, which a machine busier than its cores can miss)."""
    ray = _ray()
    if address is None:
        # Ray nices its workers to 15 by default: on a machine shared with other jobs they then
        # barely run, and here the workers are the ones doing the work
        os.environ.setdefault("RAY_worker_niceness", "0")
    env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
    kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "include_dashboard": False, **kwargs}
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, **kwargs)
            return
        except Exception as exc:  # noqa: BLE001 - connection errors are long; say what was tried
            ray.shutdown()
            if address is not None or attempt == attempts or "timed out during startup" not in str(exc):
                raise LeakauditError(f"could not start or reach a Ray cluster (address={address or 'local'}): {exc}") from exc
            log.warning("Ray did not start in time (attempt %d of %d); retrying", attempt, attempts)


@dataclass
class _Shard:
    model: str
    index: int
    items: list[tuple[tuple, Any]]
    attempts: int = 0


@dataclass
class _Slot:
    """One actor and what it holds."""

    actor: Any
    model: str | None = None
    busy: bool = False
    infos: dict[str, dict] = field(default_factory=dict)


class _Worker:
    """The Ray actor: a zoo and at most one loaded backend."""

    def __init__(self, specs: dict, groups: dict, source: str):
        from leakaudit.models.zoo import Zoo

        self.zoo = Zoo(specs, groups, source=source)
        self.model: tuple[str, str] | None = None  # (zoo name, overrides) of the loaded backend
        self.lm = None

    def _lm(self, model: str, overrides: dict):
        wanted = (model, repr(sorted(overrides.items())))
        if self.model != wanted:
            if self.lm is not None:
                self.zoo.unload(self.model[0])
            self.lm, self.model = None, None
            self.lm = self.zoo.load(model, **overrides)
            self.model = wanted
        return self.lm

    def answer(self, model: str, condition: str, items: list, batch_size: int, max_new_tokens: int,
               overrides: dict | None = None) -> tuple[list[dict], float, dict]:
        """Answer a shard (items carry their images); returns results, seconds, backend info."""
        from leakaudit.answers.runner import _answer_batch, _check_modality

        lm = self._lm(model, overrides or {})
        _check_modality(model, condition, supports_images=lm.supports_images)
        t0 = time.perf_counter()
        results: list[dict] = []
        for start in range(0, len(items), batch_size):
            results += _answer_batch(lm, items[start:start + batch_size], max_new_tokens=max_new_tokens)
        return results, time.perf_counter() - t0, {**lm.info(), "worker_pid": os.getpid()}

    def pid(self) -> int:
        return os.getpid()


class RayEngine:
    """Run the pending work of ``runner.run`` on Ray actors; the driver writes the store."""

    local = False

    def __init__(self, address: str | None = None, workers: int | None = None, gpus_per_worker: float = 0.0,
                 cpus_per_worker: float = 1.0, shard_size: int | None = None, max_retries: int = 2,
                 init_kwargs: dict[str, Any] | None = None):
        if workers is not None and workers < 1:
            raise LeakauditError(f"--workers must be at least 1, not {workers}")
        if gpus_per_worker < 0 or cpus_per_worker <= 0:
            raise LeakauditError("--gpus-per-worker must be >= 0 and cpus per worker > 0")
        self.address = address
        self.workers = workers
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = float(cpus_per_worker)
        self.shard_size = shard_size
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})
        self._slots: list[_Slot] = []
        self._zoo_key: Any = None
        self._actor_cls: Any = None
        self.stats = {"shards": 0, "retried": 0, "actors_started": 0}

    # -- cluster and actors -----------------------------------------------------------
    def _init(self):
        ray = _ray()
        if not ray.is_initialized():
            init_ray(self.address, **self.init_kwargs)
        if self._actor_cls is None:
            self._actor_cls = ray.remote(_Worker)
        return ray

    def _n_workers(self, ray) -> int:
        if self.workers:
            return self.workers
        res = ray.cluster_resources()
        if self.gpus_per_worker:
            return max(1, int(res.get("GPU", 0) // self.gpus_per_worker))
        return max(1, int(res.get("CPU", 1) // self.cpus_per_worker))

    def _new_actor(self, zoo: Any):
        self.stats["actors_started"] += 1
        return self._actor_cls.options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker).remote(
            dict(zoo.specs), dict(zoo.groups), str(zoo.source))

    def _ensure_actors(self, ray, zoo: Any) -> None:
        key = (id(zoo), tuple(zoo.specs))
        if self._slots and self._zoo_key == key:
            return
        self.close(shutdown=False)
        self._zoo_key = key
        self._slots = [_Slot(self._new_actor(zoo)) for _ in range(self._n_workers(ray))]

    def close(self, shutdown: bool = False) -> None:
        """Kill this engine's actors (their models go with them)."""
        if self._slots:
            ray = _ray()
            for slot in self._slots:
                try:
                    ray.kill(slot.actor)
                except Exception:  # noqa: BLE001 - already dead
                    pass
        self._slots = []
        if shutdown:
            _ray().shutdown()

    def actor_pids(self) -> list[int]:
        """Process ids of the live actors (tests kill one to check the retry)."""
        ray = _ray()
        return ray.get([s.actor.pid.remote() for s in self._slots])

    # -- scheduling ----------------------------------------------------------------------
    def _shards(self, work: list[ModelWork], batch_size: int, n_workers: int) -> deque[_Shard]:
        shards: deque[_Shard] = deque()
        for w in work:
            size = self.shard_size or max(batch_size, -(-len(w.pending) // (n_workers * 4)))
            size = max(1, min(size, 8 * batch_size))
            for i, start in enumerate(range(0, len(w.pending), size)):
                shards.append(_Shard(w.name, i, w.pending[start:start + size]))
        return shards

    @staticmethod
    def _pick(queue: deque[_Shard], slot: _Slot, slots: list[_Slot]) -> _Shard | None:
        if not queue:
            return None
        for shard in queue:
            if shard.model == slot.model:
                queue.remove(shard)
                return shard
        remaining: dict[str, int] = {}
        for shard in queue:
            remaining[shard.model] = remaining.get(shard.model, 0) + 1
        on = {m: sum(1 for s in slots if s.model == m) for m in remaining}
        model = max(remaining, key=lambda m: (remaining[m] / (1 + on[m]), -list(remaining).index(m)))
        for shard in queue:
            if shard.model == model:
                queue.remove(shard)
                return shard
        return None  # pragma: no cover

    def execute(self, work: list[ModelWork], *, zoo: Any, condition: str, batch_size: int, max_new_tokens: int,
                prepare: Callable[[Any], Any], sink: Callable[[str, list, list[dict], float], int],
                progress: bool = True) -> dict[str, dict[str, Any]]:
        """Answer every pending item; ``sink(model, chunk, results, seconds_per_item)`` stores them.

        Returns per model: ``new`` (answers the sink stored), ``seconds`` and ``info`` (the
        backend's, from the last actor that answered for it).
        """
        from tqdm.auto import tqdm

        ray = self._init()
        self._ensure_actors(ray, zoo)
        queue = self._shards(work, batch_size, len(self._slots))
        out: dict[str, dict[str, Any]] = {w.name: {"new": 0, "seconds": 0.0, "info": None} for w in work}
        inflight: dict[Any, tuple[int, _Shard, float]] = {}
        total = sum(len(w.pending) for w in work)
        with tqdm(total=total, desc=f"ray x{len(self._slots)}", unit="q", disable=not progress, file=sys.stderr) as bar:
            while queue or inflight:
                for i, slot in enumerate(self._slots):
                    if slot.busy:
                        continue
                    shard = self._pick(queue, slot, self._slots)
                    if shard is None:
                        break
                    items = [prepare(it) for _, it in shard.items]
                    ref = slot.actor.answer.remote(shard.model, condition, items, batch_size, max_new_tokens)
                    slot.busy, slot.model = True, shard.model
                    inflight[ref] = (i, shard, time.perf_counter())
                    self.stats["shards"] += 1
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    i, shard, t0 = inflight.pop(ref)
                    slot = self._slots[i]
                    slot.busy = False
                    try:
                        results, seconds, info = ray.get(ref)
                    except ray.exceptions.RayActorError as exc:
                        # the actor died (killed, OOM, node lost): a fresh actor retries the shard
                        shard.attempts += 1
                        self.stats["retried"] += 1
                        log.warning("worker for %s died on shard %d (%s); retrying (%d/%d)", shard.model, shard.index,
                                    type(exc).__name__, shard.attempts, self.max_retries)
                        if shard.attempts > self.max_retries:
                            raise LeakauditError(f"model {shard.model!r}: shard {shard.index} failed on {shard.attempts} workers; last error: {exc}") from exc
                        self._slots[i] = _Slot(self._new_actor(zoo))
                        queue.appendleft(shard)
                        continue
                    except ray.exceptions.RayTaskError as exc:
                        cause = getattr(exc, "cause", None) or exc
                        if isinstance(cause, LeakauditError):
                            raise type(cause)(str(cause)) from exc
                        raise LeakauditError(f"model {shard.model!r} failed on a Ray worker: {type(cause).__name__}: {cause}") from exc
                    per_item = seconds / max(1, len(results))
                    out[shard.model]["new"] += sink(shard.model, shard.items, results, per_item)
                    out[shard.model]["seconds"] += time.perf_counter() - t0
                    out[shard.model]["info"] = {**info, "engine": "ray"}
                    bar.update(len(shard.items))
        return out

    def info(self) -> dict[str, Any]:
        return {"engine": "ray", "address": self.address, "workers": len(self._slots), "gpus_per_worker": self.gpus_per_worker, **self.stats}


__all__ = ["ModelWork", "RayEngine", "init_ray"]
