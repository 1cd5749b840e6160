"""A deterministic model driven by a Python function, for tests and dry runs.

``ScriptedLM(name, respond)`` answers every request from ``respond(prompt) -> str``:
generation returns that text; letter scoring puts log-prob 0 on the letter it starts
with (and -10 elsewhere); cloze scoring puts 0 on the continuation equal to it. It lets
the runner, audit, judge and regeneration loop be tested without any weights.
"""
from __future__ import annotations

from typing import Callable

from leakaudit.models.backends.base import LM, Prompt

LOW = -10.0


class ScriptedLM(LM):
    def __init__(self, name: str, respond: Callable[[Prompt], str] | str, supports_images: bool = False):
        self.name = name
        if isinstance(respond, str):  # a zoo entry (`options: {respond: "A"}`): one fixed reply, for dry runs of the CLI
            reply = respond
            respond = lambda prompt: reply  # noqa: E731
        self.respond = respond
        self.supports_images = supports_images
        self.calls = 0

    def _answer(self, prompt: Prompt) -> str:
        self.calls += 1
        return self.respond(prompt)

    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        out = []
        for p, ls in zip(prompts, letters):
            ans = self._answer(p).strip()[:1].upper()
            out.append([0.0 if letter == ans else LOW for letter in ls])
        return out

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        out = []
        for p, conts in zip(prompts, continuations):
            ans = self._answer(p).strip()
            out.append([(0.0 if c.strip() == ans else LOW, max(1, len(c.split()))) for c in conts])
        return out

    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        return [self._answer(p) for p in prompts]

    def info(self) -> dict:
        return {"name": self.name, "backend": "scripted"}
