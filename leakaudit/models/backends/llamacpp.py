"""llama.cpp backend (``llamacpp``) for GGUF models on CPU, through the prebuilt ``xllamacpp`` wheel.

xllamacpp embeds llama.cpp's server; requests are its ``/completion`` JSON. What it can
and cannot give, and how each ``LM`` request is answered:

- ``letter_logprobs``: one request per prompt with ``n_predict=1`` and ``n_probs=top_k``
  returns the top-k next-token log-probs from the raw logits (``post_sampling_probs``
  off). Letters found there are summed over their variants ("A", " A") as in the hf
  backend. A letter outside the top-k is looked up exactly by forcing it with a grammar
  by its vocabulary id (the forced token's reported log-prob is still the raw one); only
  a letter with no token of its own gets ``floor`` -- counted in ``stats``.
- ``loglikelihood``: the server returns no log-probs for prompt tokens, so the
  continuation's tokens are generated under a grammar of exactly those token ids
  (``<[id]>``) and their raw log-probs summed. The ids come from the GGUF's tokenizer
  read by transformers (the canonical tokenization; a string grammar would let llama.cpp
  pick odd splits such as " " + "Berlin"), and the context is sent as the same ids.
- ``generate``: greedy (temperature 0).

The server keeps the previous prompt's KV cache (``cache_prompt``), so the shared
system + few-shot prefix of consecutive questions is not recomputed. Prompts are
rendered with the GGUF's own chat template (read from its metadata) by the same
Jinja renderer transformers uses, so both backends see the same text.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakaudit.errors import LeakauditError, MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.models.zoo import ModelSpec, Zoo

DEFAULT_FLOOR = -50.0


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _gguf_metadata(path: Path) -> dict[str, Any]:
    """Chat template and special tokens from the GGUF header (the tokenizer lives in the file)."""
    import gguf

    reader = gguf.GGUFReader(str(path))

    def value(key: str):
        f = reader.fields.get(key)
        return f.contents() if f is not None else None

    field = reader.fields.get("tokenizer.ggml.tokens")
    tokens = field.contents() if field is not None else []

    def token(key: str) -> str | None:
        idx = value(key)
        return tokens[int(idx)] if idx is not None and int(idx) < len(tokens) else None

    return {
        "vocab": {t: i for i, t in enumerate(tokens)},
        "chat_template": value("tokenizer.chat_template"),
        "add_bos": bool(value("tokenizer.ggml.add_bos_token")),
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "name": value("general.name"),
    }


GGML_TYPE_F32 = 0  # ggml_type enum
FLASH_ATTN_DISABLED = 0  # llama_flash_attn_type: -1 auto, 0 disabled, 1 enabled


class LlamaCppBackend(LM):
    """A GGUF model run by llama.cpp (CPU), answering the same requests as ``HFBackend``."""

    def __init__(
        self,
        name: str,
        gguf_file: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        top_k: int = 100,
        floor: float = DEFAULT_FLOOR,
        prompt_style: str = "chat",
        chat_template: str | None = None,
        verbosity: int = 0,
        precise: bool = True,
    ):
        try:
            import xllamacpp
        except ModuleNotFoundError as exc:
            raise MissingDependencyError("the llamacpp backend needs xllamacpp: pip install 'leakaudit[llamacpp]'") from exc
        self.name = name
        self.gguf_file = Path(gguf_file)
        if not self.gguf_file.is_file():
            raise LeakauditError(f"model {name!r}: GGUF file not found: {self.gguf_file}")
        self.top_k = top_k
        self.floor = floor
        self.prompt_style = prompt_style
        self.n_ctx = n_ctx
        self.precise = precise
        self.stats = {"requests": 0, "letters_from_topk": 0, "letters_forced": 0, "letters_floored": 0}
        self.meta = _gguf_metadata(self.gguf_file)
        if chat_template:
            from leakaudit.models.backends.transformers_backend import CHAT_TEMPLATES

            self.meta["chat_template"] = CHAT_TEMPLATES.get(chat_template, chat_template)
        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf_file)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.warmup = False
        params.verbosity = verbosity
        if precise:
            # scoring, not chatting: an f32 KV cache and plain attention bring the letter
            # log-probs of the Q4_1 SmolLM2 within 0.12 nats of transformers' (f16 cache with
            # flash attention: 0.23); the cache of a small model stays small
            params.cache_type_k = params.cache_type_v = GGML_TYPE_F32
            params.flash_attn_type = FLASH_ATTN_DISABLED
        threads = n_threads or os.cpu_count() or 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        self._hf_tokenizer = None
        self._server = xllamacpp.Server(params)

    @classmethod
    def from_spec(cls, spec: "ModelSpec", zoo: "Zoo | None" = None, **overrides: Any) -> "LlamaCppBackend":
        kwargs = {"prompt_style": spec.prompt_style, "chat_template": spec.chat_template, **spec.options, **overrides}
        return cls(spec.name, spec.resolve_gguf(), **kwargs)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": "llamacpp",
            "gguf_file": str(self.gguf_file),
            "gguf_name": self.meta.get("name"),
            "top_k": self.top_k,
            "kv_cache": "f32, no flash attention" if self.precise else "llama.cpp defaults",
            "floor": self.floor,
            "prompt_style": self.prompt_style,
            **self.stats,
        }

    def close(self) -> None:
        self._server = None

    # -- rendering --------------------------------------------------------------------------
    def render(self, prompt: Prompt) -> str:
        """Same text as the hf backend: the GGUF's chat template (or plain ``Role: content``)."""
        template = self.meta.get("chat_template")
        if template and self.prompt_style == "chat":
            text = self._apply_template(template, prompt.messages)
        else:
            text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in prompt.messages) + "Assistant:"
        bos = self.meta.get("bos_token")
        if self.meta.get("add_bos") and bos and text.startswith(bos):
            text = text[len(bos):]  # llama.cpp adds BOS itself
        return text + prompt.answer_prefix

    def _apply_template(self, template: str, messages: list[dict[str, str]]) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        kwargs = {"bos_token": self.meta.get("bos_token") or "", "eos_token": self.meta.get("eos_token") or ""}
        try:
            rendered, _ = render_jinja_template([messages], chat_template=template, add_generation_prompt=True, **kwargs)
        except Exception:  # templates without a system role
            if len(messages) < 2 or messages[0]["role"] != "system":
                raise
            merged = [{"role": messages[1]["role"], "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}] + list(messages[2:])
            rendered, _ = render_jinja_template([merged], chat_template=template, add_generation_prompt=True, **kwargs)
        return rendered[0]

    # -- requests -------------------------------------------------------------------------
    def _complete(self, text: str | list[int], **fields: Any) -> list[dict[str, Any]]:
        """One /completion request; returns the per-token entries (token, logprob, top_logprobs)."""
        request = {"prompt": text, "temperature": 0.0, "post_sampling_probs": False, "cache_prompt": True, **fields}
        response = self._server.handle_completions(request)
        self.stats["requests"] += 1
        if not isinstance(response, dict) or "choices" not in response:
            raise LeakauditError(f"model {self.name!r}: llama.cpp refused the request: {response}")
        choice = response["choices"][0]
        return (choice.get("logprobs") or {}).get("content") or []

    def _check_images(self, prompt: Prompt) -> None:
        if prompt.images:
            raise LeakauditError(f"model {self.name!r} (llama.cpp, text only) cannot take images")

    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        out = []
        for prompt, ls in zip(prompts, letters):
            self._check_images(prompt)
            text = self.render(prompt)
            top = self._top_logprobs(text)
            if any(not self._from_top(top, letter) for letter in ls):
                # llama.cpp's numbers depend slightly (~0.1 nat) on whether the last prompt token
                # ran in a batch or alone (cached prompt); forced lookups run it alone, so the
                # whole row is re-read that way to keep its letters comparable
                top = self._top_logprobs(text)
            row = []
            for letter in ls:
                found = self._from_top(top, letter)
                if found:
                    self.stats["letters_from_topk"] += 1
                else:
                    found = self._forced_letter(text, letter)
                if not found:
                    self.stats["letters_floored"] += 1
                    found = [self.floor]
                row.append(_logsumexp(found))
            out.append(row)
        return out

    def _top_logprobs(self, text: str) -> dict[str, float]:
        entries = self._complete(text, n_predict=1, n_probs=self.top_k)
        return {t["token"]: t["logprob"] for t in (entries[0]["top_logprobs"] if entries else [])}

    @staticmethod
    def _from_top(top: dict[str, float], letter: str) -> list[float]:
        return [top[v] for v in (letter, " " + letter) if v in top]

    def _variant_token_ids(self, letter: str) -> list[int]:
        """Vocabulary ids of "A" and " A" (stored as "ĠA" in byte-level BPE, "▁A" in SentencePiece)."""
        vocab = self.meta["vocab"]
        ids: list[int] = []
        for spelling in (letter, "Ġ" + letter, "▁" + letter):
            if spelling in vocab and vocab[spelling] not in ids:
                ids.append(vocab[spelling])
        return ids

    def _forced_letter(self, text: str, letter: str) -> list[float]:
        """Exact log-probs of a letter outside the top-k: force its token with a token-id grammar."""
        values = []
        for token_id in self._variant_token_ids(letter):
            entries = self._complete(text, n_predict=1, n_probs=1, grammar=f"root ::= <[{token_id}]>")
            if entries and entries[0]["id"] == token_id:
                values.append(entries[0]["logprob"])
        if values:
            self.stats["letters_forced"] += 1
        return values

    def _tokenizer(self):
        """The GGUF's tokenizer through transformers: the server tokenizes but does not expose it."""
        if self._hf_tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._hf_tokenizer = AutoTokenizer.from_pretrained(self.gguf_file.parent, gguf_file=self.gguf_file.name)
            except Exception as exc:
                raise LeakauditError(
                    f"model {self.name!r}: cloze scoring with llama.cpp needs the GGUF's tokenizer, which transformers "
                    f"could not read ({exc}); use letter scoring, or the hf backend for this model"
                ) from exc
        return self._hf_tokenizer

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        tok = self._tokenizer()
        out = []
        for prompt, conts in zip(prompts, continuations):
            self._check_images(prompt)
            text = self.render(prompt)
            ctx_ids = tok(text, add_special_tokens=False).input_ids
            bos_id = tok.bos_token_id
            prompt_ids = ([bos_id] if self.meta.get("add_bos") and bos_id is not None else []) + ctx_ids
            scores = []
            for cont in conts:
                full = tok(text + cont, add_special_tokens=False).input_ids
                ids = full[len(ctx_ids):] if full[: len(ctx_ids)] == ctx_ids else tok(cont, add_special_tokens=False).input_ids
                if not ids:
                    scores.append((0.0, 0))
                    continue
                # force exactly these token ids; the reported log-probs are the raw ones
                grammar = "root ::= " + " ".join(f"<[{i}]>" for i in ids)
                entries = self._complete(prompt_ids, n_predict=len(ids), n_probs=1, grammar=grammar)
                got = [e["id"] for e in entries[: len(ids)]]
                if got != ids:
                    raise LeakauditError(f"model {self.name!r}: llama.cpp did not follow the forced continuation {cont[:40]!r} ({got} != {ids})")
                scores.append((float(sum(e["logprob"] for e in entries[: len(ids)])), len(ids)))
            out.append(scores)
        return out

    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        out = []
        for prompt in prompts:
            self._check_images(prompt)
            request = {"prompt": self.render(prompt), "temperature": 0.0, "n_predict": max_new_tokens, "cache_prompt": True}
            response = self._server.handle_completions(request)
            self.stats["requests"] += 1
            if not isinstance(response, dict) or "choices" not in response:
                raise LeakauditError(f"model {self.name!r}: llama.cpp refused the request: {response}")
            out.append(response["choices"][0]["text"].strip())
        return out
