"""Inference backends behind the one ``LM`` interface (see ``base.py``).

Backends are found through the ``leakaudit.backends`` entry point group
(``leakaudit.registry.backends``); optional dependencies are imported inside each
backend's constructor, so listing backends never needs them.
"""
from __future__ import annotations

from leakaudit.models.backends.base import LM, Prompt, register_backend

__all__ = ["LM", "Prompt", "register_backend"]
