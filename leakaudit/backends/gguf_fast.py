"""Faster GGUF reading for transformers' GGUF conversion (same tensors, less Python).

Converting a GGUF to a transformers model spends most of its time in Python, not in
dequantization: ``gguf.GGUFReader`` slices a ``numpy.memmap`` once per metadata item (the
vocabulary and merges: ~440k slices for SmolLM2, each paying memmap's Python hooks), and
transformers builds gguf's tensor-name map once per tensor (~400 times for SmolLM2).
Inside :func:`fast_gguf_reading` the reader works on the file read into memory (a plain
array: the same bytes, so the same tensors bit for bit) and the name map is built once
per architecture. Measured on SmolLM2-135M Q4_1 (CPU seconds, busy 2-core machine):
model conversion 26.5 -> 11.7, tokenizer 7.6 -> 5.7. Both patches are undone on exit.
"""
from __future__ import annotations

import contextlib
import functools
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
        old_np, old_map = reader.np, gguf.get_tensor_name_map
        reader.np = _NumpyInMemory(old_np)
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(old_map)
        try:
            yield
        finally:
            reader.np, gguf.get_tensor_name_map = old_np, old_map


__all__ = ["fast_gguf_reading"]
