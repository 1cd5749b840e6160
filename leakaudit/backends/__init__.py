"""Inference backends behind the one ``LM`` interface (see ``base.py``)."""
from __future__ import annotations

import importlib

from .base import LM, Prompt, backend_registry, register_backend

#: modules that register a backend on import; optional dependencies are imported lazily
#: inside each backend's constructor so that listing backends never needs them.
_BUILTIN = ("transformers_backend", "llamacpp", "openai_api", "lmeval_backend", "ocr_composite", "vllm_backend")


def _load_builtin_backends() -> None:
    for mod in _BUILTIN:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as exc:  # a backend module not written yet / missing
            if exc.name != f"{__name__}.{mod}":
                raise


__all__ = ["LM", "Prompt", "backend_registry", "register_backend"]
