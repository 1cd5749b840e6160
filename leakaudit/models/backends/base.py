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
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.models.zoo import ModelSpec, Zoo


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
    """Base class of all backends. ``name`` is the zoo name the answers are stored under.

    A backend is registered under the entry point group ``leakaudit.backends`` (built-ins
    in leakaudit's ``pyproject.toml``, plugins in theirs); a zoo entry's ``backend`` field
    names it and ``Zoo.load`` calls its ``from_spec``.
    """

    name: str = "lm"
    #: whether the backend can take pixels; a text-only LM refuses ``vision`` runs
    supports_images: bool = False

    @classmethod
    def from_spec(cls, spec: "ModelSpec", zoo: "Zoo | None" = None, **overrides: Any) -> "LM":
        """Construct from a zoo entry: ``cls(name, **options, **overrides)``.

        Backends whose constructor needs more of the entry (a GGUF path, a wrapped model,
        an API model id) override this; ``zoo`` lets a composite load the model it wraps.
        """
        return cls(name=spec.name, **{**spec.options, **overrides})

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


def register_backend(name: str):
    """Class decorator registering a backend in this process only (tests, notebooks).

    Shipped backends, leakaudit's own included, register through the ``leakaudit.models.backends``
    entry point group instead, so ``leakaudit models`` and zoo validation see them.
    """
    from leakaudit.registry import backends

    def deco(cls):
        backends.register(name, cls)
        return cls

    return deco
