"""Bounded prompts: no question longer than a model's context goes to the model whole.

A submitted 1 MB question would otherwise be tokenized and run as-is (minutes and
gigabytes, then a crash or a meaningless answer). Each model has a prompt budget
(``max_prompt_tokens`` in its zoo entry, a ``max_prompt_tokens`` attribute on an ``LM``
object, else ``DEFAULT_MAX_PROMPT_TOKENS``). Prompts are measured with a tokenizer-free,
conservative estimate (``CHARS_PER_TOKEN``) *before* any model loads, so the stored key of
a truncated prompt is the same on every resume. Over-long prompts are either truncated
(the question and hint are cut, the options and instructions kept) or skipped; either
way the reason is returned for the run record.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

from leakaudit.data.schema import Sample
from leakaudit.errors import LeakauditError

#: characters per token assumed when measuring a prompt (English BPE averages ~4; 3 errs on the long side)
CHARS_PER_TOKEN = 3
DEFAULT_MAX_PROMPT_TOKENS = 4096
LONG_PROMPT_MODES = ("truncate", "skip")
#: set by ``leakaudit --long-prompts``: the mode used when a caller passes none
LONG_PROMPTS_ENV = "LEAKAUDIT_LONG_PROMPTS"
TRUNCATION_MARK = " [...]"


def estimate_tokens(messages: list[dict[str, Any]], answer_prefix: str = "") -> int:
    """Tokens of a chat prompt, estimated from its characters (no tokenizer needed)."""
    chars = sum(len(str(m.get("content", ""))) + 8 for m in messages) + len(answer_prefix)
    return -(-chars // CHARS_PER_TOKEN)


def resolve_mode(mode: str | None) -> str:
    mode = mode or os.environ.get(LONG_PROMPTS_ENV) or "truncate"
    if mode not in LONG_PROMPT_MODES:
        raise LeakauditError(f"long-prompts mode must be one of {', '.join(LONG_PROMPT_MODES)}, not {mode!r}")
    return mode


def tokenizer_max_length(spec: Any) -> int | None:
    """``model_max_length`` from an ``hf`` entry's tokenizer_config.json (a local folder or the hub cache; never downloads).

    Tokenizers without a limit store a huge sentinel (1e30): those count as unknown.
    """
    import json
    from pathlib import Path

    hf_id = getattr(spec, "hf_id", None)
    if getattr(spec, "backend", None) != "hf" or not hf_id:
        return None
    path: Any = Path(hf_id) / "tokenizer_config.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            path = try_to_load_from_cache(hf_id, "tokenizer_config.json", revision=getattr(spec, "revision", None))
        except Exception:  # no hub library, a malformed id: no limit known
            return None
        if not isinstance(path, str):
            return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8")).get("model_max_length")
    except (OSError, ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, (int, float)) and 16 <= value <= 10_000_000 else None


def model_prompt_limit(model: Any, zoo: Any = None) -> int:
    """The prompt budget of a model: its zoo entry's ``max_prompt_tokens``, an LM's attribute, the
    tokenizer's ``model_max_length`` (hf entries, from files already on disk), or the default."""
    limit = getattr(model, "max_prompt_tokens", None)
    if isinstance(model, str) and zoo is not None:
        try:
            spec = zoo[model]
        except Exception:  # not a zoo model: the default applies
            spec = None
        limit = getattr(spec, "max_prompt_tokens", None) if spec is not None else None
        if limit is None and spec is not None:
            limit = tokenizer_max_length(spec)
    return int(limit) if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else DEFAULT_MAX_PROMPT_TOKENS


def fit_prompt(sample: Sample, build: Callable[[Sample], Any], limit: int, mode: str) -> tuple[Sample | None, Any, dict[str, Any] | None]:
    """``(sample as asked, prompt, note)``: the prompt within ``limit`` tokens, or None when skipped.

    ``build(sample) -> Prompt``. ``note`` is None when the prompt fitted as it was, else a
    JSON-ready record of what happened (tokens, limit, action).
    """
    prompt = build(sample)
    tokens = estimate_tokens(prompt.messages, prompt.answer_prefix)
    if tokens <= limit:
        return sample, prompt, None
    note = {"sample_id": sample.id, "estimated_tokens": tokens, "limit": limit, "action": mode}
    if mode == "skip":
        return None, None, note
    fixed = tokens - estimate_tokens([{"content": sample.question + (sample.hint or "")}])
    budget_chars = max(0, (limit - fixed - 8) * CHARS_PER_TOKEN - 2 * len(TRUNCATION_MARK))
    if budget_chars < 40:
        note["action"] = "skip"
        note["reason"] = "the options and instructions alone exceed the limit"
        return None, None, note
    hint = sample.hint or ""
    hint_keep = min(len(hint), budget_chars // 4)
    q_keep = budget_chars - hint_keep
    new_hint = (hint[:hint_keep] + TRUNCATION_MARK) if len(hint) > hint_keep else (sample.hint)
    new_q = (sample.question[:q_keep] + TRUNCATION_MARK) if len(sample.question) > q_keep else sample.question
    cut = dataclasses.replace(sample, question=new_q, hint=new_hint)
    prompt = build(cut)
    note["truncated_to_tokens"] = estimate_tokens(prompt.messages, prompt.answer_prefix)
    if note["truncated_to_tokens"] > limit:
        note["action"] = "skip"
        note["reason"] = "still over the limit after truncating the question"
        return None, None, note
    return cut, prompt, note


__all__ = ["CHARS_PER_TOKEN", "DEFAULT_MAX_PROMPT_TOKENS", "LONG_PROMPT_MODES", "estimate_tokens", "fit_prompt", "model_prompt_limit", "resolve_mode"]
