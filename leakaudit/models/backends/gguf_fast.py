"""Faster GGUF reading for transformers' GGUF conversion (same tensors, less Python).

Converting a GGUF to a transformers model spends most of its time in Python, not in
dequantization: ``gguf.GGUFReader`` slices a ``numpy.memmap`` once per metadata item (the
vocabulary and merges: ~440k slices for SmolLM2, each paying memmap's Python hooks), and
transformers builds gguf's tensor-name map once per tensor (~400 times for SmolLM2).
Inside :func:`fast_gguf_reading` the reader works on the file read into memory (a plain
array: the same bytes, so the same tensors bit for bit) and the name map is built once
per architecture. transformers also opens the same file three times (config, tokenizer,
weights); here it is parsed once. Measured on SmolLM2-135M Q4_1 (CPU seconds, busy 2-core
machine): model conversion 26.5 -> 11.7, tokenizer 7.6 -> 5.7; Gemma-3-270M Q4_K_M, whose
262k-token vocabulary dominates, 68.0 -> 20.6 s for the whole conversion (idle 2-core
machine, ``scripts/bench_gguf.py``). All patches are undone on exit.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import types
from typing import Iterator

_lock = threading.RLock()


class _NumpyInMemory(types.ModuleType):
    """``numpy`` as gguf_reader sees it, except that ``memmap(path, mode='r')`` reads the file."""

    def __init__(self, np) -> None:
        super().__init__("numpy")
        self._np = np

    def __getattr__(self, name: str):
        return getattr(self._np, name)

    def memmap(self, path, mode: str = "r", *args, **kwargs):
        if mode == "r" and not args and not kwargs:
            return self._np.fromfile(path, dtype=self._np.uint8)
        return self._np.memmap(path, mode, *args, **kwargs)


@contextlib.contextmanager
def fast_gguf_reading() -> Iterator[None]:
    """Patch ``gguf`` for the duration (no-op when gguf is not installed)."""
    try:
        import gguf
        import gguf.gguf_reader as reader
    except ImportError:
        yield
        return
    with _lock:
        old_np, old_map, old_reader = reader.np, gguf.get_tensor_name_map, gguf.GGUFReader
        reader.np = _NumpyInMemory(old_np)
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(old_map)
        gguf.GGUFReader = _read_once(old_reader)
        try:
            yield
        finally:
            reader.np, gguf.get_tensor_name_map, gguf.GGUFReader = old_np, old_map, old_reader


def _read_once(reader_class):
    """``GGUFReader`` that parses each file once: transformers opens the same GGUF three times
    (config, tokenizer, weights), and parsing Gemma-3's 262k-token vocabulary takes ~15 s each."""
    readers: dict[tuple, object] = {}

    def open_reader(path, mode: str = "r"):
        if mode != "r":
            return reader_class(path, mode)
        key = (os.path.realpath(path), os.stat(path).st_mtime_ns)
        if key not in readers:
            readers[key] = reader_class(path, mode)
        return readers[key]

    return open_reader


__all__ = ["fast_gguf_reading"]
