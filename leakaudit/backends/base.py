"""One model interface for every backend, in the spirit of lm-eval's ``LM``.

A backend gets chat-style ``Prompt`` objects (messages plus the images of the final user
turn) and answers three kinds of request:

- ``letter_logprobs``: log p(letter | prompt) for each option letter, from one forward pass
  (``letter`` scoring);
- ``loglikelihood``: log-likelihood and token count of each continuation (``cloze`` scoring,
  length-normalised by the caller);
- ``generate``: free text (``generate`` scoring; the caller extracts the answer).

Backends render messages with their own chat template (or a plain format for base
models), so prompts stay backend-independent and their hash is stable.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

from PIL import Image


@dataclass
class Prompt:
    """A chat prompt. ``images`` belong to the final user message (vision condition).

    ``prefix_len`` is how many leading messages are shared by every prompt of a run (the
    system message and few-shot turns); backends may cache their KV state.
    """

    messages: list[dict[str, str]]
    images: list[Image.Image] = field(default_factory=list)
    prefix_len: int = 0
    #: text the assistant turn starts with (e.g. "Answer:"), appended after the template
    answer_prefix: str = ""

    def text_hash(self) -> str:
        """Hash of the text of the prompt (not the pixels): identifies the prompt format."""
        return hashlib.sha256(json.dumps([self.messages, self.answer_prefix], ensure_ascii=False).encode()).hexdigest()[:16]


class LM(ABC):
    """Base class of all backends. ``name`` is the zoo name the answers are stored under."""

    name: str = "lm"
    #: whether the backend can take pixels; a text-only LM refuses ``vision`` runs
    supports_images: bool = False

    @abstractmethod
    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        """For each prompt, log p(letter) of the next answer token for each candidate letter."""

    @abstractmethod
    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        """For each prompt, (sum log p, n_tokens) of each continuation string."""

    @abstractmethod
    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        """Greedy continuation of each prompt."""

    def info(self) -> dict[str, Any]:
        """What the report appendix prints about this model (id, revision, dtype, backend...)."""
        return {"name": self.name, "backend": type(self).__name__}

    def close(self) -> None:
        """Free memory (GPU) held by the model."""


_BACKENDS: dict[str, Callable[..., LM]] = {}


def register_backend(name: str):
    """Class decorator: make a backend constructible from a zoo entry's ``backend`` field."""

    def deco(cls):
        _BACKENDS[name] = cls
        return cls

    return deco


def backend_registry() -> dict[str, Callable[..., LM]]:
    from . import _load_builtin_backends  # noqa: F401  (imports register themselves)

    _load_builtin_backends()
    return dict(_BACKENDS)
