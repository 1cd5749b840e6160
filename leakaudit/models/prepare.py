"""One-off model preparation ahead of its turn, in a background process.

On a fresh machine each GGUF model is dequantized once into the cache (see
``dequantized_gguf_dir``). That conversion is single-threaded Python: ~9 s for SmolLM2-135M
and ~20 s for Gemma-3-270M on the 2-core machine the demo is measured on, while the other
core idles. So while the first model converts and answers, the later ones convert in a
child process on the other core, and the run's torch takes one thread fewer meanwhile. The cache's lock (``zoo.cache_lock``) makes a model
whose turn comes before its conversion ends wait for it instead of converting twice; a
conversion that fails in the background is simply done again (and reported) in its turn.
Nothing runs when every conversion is already cached, so reruns pay nothing.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any, Iterable, Sequence

log = logging.getLogger(__name__)

#: backends that load a GGUF through its dequantized safetensors copy
CONVERTING_BACKENDS = ("hf", "vllm")

#: the conversions running now (``poll_active`` gives the thread back as soon as one ends)
_ACTIVE: list["BackgroundConversions"] = []


def needs_conversion(spec: Any) -> bool:
    """True when ``spec`` loads a GGUF whose dequantized copy is not in the cache yet."""
    if not getattr(spec, "gguf", None) or getattr(spec, "backend", None) not in CONVERTING_BACKENDS:
        return False
    from leakaudit.models.backends.transformers_backend import converted_dir
    from leakaudit.models.cache import cache_root

    gguf = spec.gguf
    if ("assemble" in gguf or "parts" in gguf) and not (cache_root() / "gguf" / gguf["file"]).is_file():
        return True  # assembled into the cache first: surely not converted either
    try:
        path = spec.resolve_gguf()
    except Exception:  # noqa: BLE001 - a missing package is reported when the model's turn comes
        return False
    return not (converted_dir(path) / "config.json").is_file()


def specs_in_order(models: Iterable[Any], zoo: Any) -> list[Any]:
    """The zoo entries behind ``models`` (names or LM objects) in order, a wrapped LLM before its composite."""
    out: list[Any] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        if zoo is None or name in seen or name not in zoo:
            return
        spec = zoo[name]
        if getattr(spec, "wraps", None):
            add(spec.wraps)
        seen.add(name)
        out.append(spec)

    for model in models:
        if isinstance(model, str):
            add(model)
    return out


class BackgroundConversions:
    """Converts every GGUF of ``specs`` but the first missing one (the caller's own first
    load does that), in order, in one child process.

    The child is ``python -m leakaudit.models.prepare``, not a ``multiprocessing`` worker: spawning
    one re-imports the caller's ``__main__``, which would rerun a user's script that calls
    ``scan`` without an ``if __name__ == "__main__"`` guard.
    """

    def __init__(self, specs: Sequence[Any]) -> None:
        pending = [s for s in specs if needs_conversion(s)]
        self.specs = pending[1:]
        self._proc: subprocess.Popen | None = None
        self._torch_threads: int | None = None

    def start(self) -> "BackgroundConversions":
        if not self.specs:
            return self
        payload = json.dumps([spec.to_dict() for spec in self.specs])
        # niced: it takes the cores the run leaves idle, not the ones its models compute on
        self._proc = subprocess.Popen([sys.executable, "-m", "leakaudit.models.prepare"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                                      preexec_fn=_lower_priority if hasattr(os, "nice") else None)
        try:
            self._proc.stdin.write(payload)  # type: ignore[union-attr]
            self._proc.stdin.close()  # type: ignore[union-attr]
        except OSError:  # the child died at once: each model converts in its turn
            pass
        log.info("converting %s in the background", ", ".join(s.name for s in self.specs))
        self._lend_a_core()
        _ACTIVE.append(self)
        return self

    def _lend_a_core(self) -> None:
        """One torch thread fewer while the child converts: two busy threads on one core make
        both slower (measured: no wall time saved on 2 cores) than one each."""
        try:
            import torch
        except ImportError:
            return
        threads = torch.get_num_threads()
        if threads > 1:
            self._torch_threads = threads
            torch.set_num_threads(threads - 1)

    def _take_back_the_core(self) -> None:
        if self._torch_threads is not None:
            import torch

            torch.set_num_threads(self._torch_threads)
            self._torch_threads = None

    def poll(self) -> None:
        """Between models: once the child is done, the models get their thread back."""
        if self._proc is not None and self._proc.poll() is not None:
            self._take_back_the_core()

    def stop(self, *, cancel: bool = False) -> None:
        """Wait for the child (what it converts, the run was about to need), or with
        ``cancel`` end it now (a failed or interrupted run); a half-written copy is a
        temporary folder the next conversion removes."""
        self._take_back_the_core()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._proc is None:
            return
        if cancel and self._proc.poll() is None:
            self._proc.terminate()
        try:
            self._proc.wait(timeout=None if not cancel else 30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.returncode not in (0, None) and not cancel:
            log.debug("background conversion ended with exit %s (each model converts in its turn)", self._proc.returncode)
        self._proc = None


def poll_active() -> None:
    """Called by the runner between batches: a model whose turn came while the child still
    converted (one thread lent) gets its thread back mid-pass, not only at the next model
    (measured: Gemma's demo pass ran 22.8 s on one thread instead of 17 s on two)."""
    for conversions in list(_ACTIVE):
        conversions.poll()


def _lower_priority() -> None:
    os.nice(10)


def _convert_all(docs: list[dict[str, Any]]) -> int:
    """In the child: each spec's GGUF assembled and dequantized into the cache, in order."""
    from leakaudit.models.backends.transformers_backend import dequantized_gguf_dir
    from leakaudit.models.zoo import ModelSpec

    failed = 0
    for doc in docs:
        try:
            dequantized_gguf_dir(ModelSpec(**doc).resolve_gguf())
        except Exception:  # noqa: BLE001 - the run converts (and reports) it in the model's turn
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_convert_all(json.load(sys.stdin)))


__all__ = ["BackgroundConversions", "needs_conversion", "poll_active", "specs_in_order"]
