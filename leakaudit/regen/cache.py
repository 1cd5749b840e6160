"""A JSON Lines cache of model generations, so a killed regeneration resumes without re-asking.

Curator and judge calls are greedy and therefore repeatable; keying each reply by model
name, prompt text and token budget lets a re-run (or a run with one more round) reuse
every reply already paid for. Each reply is appended and flushed the moment it exists.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from leakaudit.models.backends.base import LM, Prompt


def generation_key(model: str, prompt: Prompt, max_new_tokens: int) -> str:
    payload = json.dumps([model, prompt.messages, prompt.answer_prefix, max_new_tokens, len(prompt.images)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class GenerationCache:
    """Replies by key, read from and appended to ``path`` (None: in memory only)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._replies: dict[str, str] = {}
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self._replies[rec["key"]] = rec["reply"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a kill: that reply is simply asked again

    def __len__(self) -> int:
        return len(self._replies)

    def generate(self, lm: LM, prompts: list[Prompt], max_new_tokens: int) -> list[str]:
        """``lm.generate`` for the prompts whose reply is not cached yet; all replies in order."""
        keys = [generation_key(lm.name, p, max_new_tokens) for p in prompts]
        todo = [i for i, k in enumerate(keys) if k not in self._replies]
        if todo:
            replies = lm.generate([prompts[i] for i in todo], max_new_tokens=max_new_tokens)
            for i, reply in zip(todo, replies):
                self._replies[keys[i]] = reply
                if self.path is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with self.path.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"key": keys[i], "model": lm.name, "reply": reply}, ensure_ascii=False) + "\n")
        return [self._replies[k] for k in keys]
