"""OpenAI-compatible HTTP backend: closed models (GPT-4V, Gemini through a compatible
gateway) and self-hosted vLLM / TGI servers, all through one chat-completions client.

Why one client for all of them: every serious serving stack speaks the OpenAI wire
format, so a zoo entry only names ``base_url``, ``model`` and the environment variable
holding the key. The three request kinds map to the API as follows:

- ``generate``: ``POST /chat/completions`` with ``temperature=0``.
- ``letter_logprobs``: the same call with ``logprobs=true, top_logprobs=20, max_tokens=1``;
  the log-prob of a letter is read from the first generated token's top-20 list
  (``A`` and `` A`` are the same letter and are combined with logsumexp). A letter that is
  not among the top 20 gets ``-inf``. Servers that return no log-probs (many gateways)
  raise ``ScoringNotSupportedError`` telling the user to use ``--scoring generate``.
- ``loglikelihood``: the legacy ``POST /completions`` endpoint with ``echo=true,
  logprobs=1, max_tokens=1`` (what vLLM and lm-eval's ``local-completions`` use). The
  prompt is sent as plain text (that endpoint applies no chat template); the continuation's
  tokens are the echoed tokens whose ``text_offset`` lies inside the continuation. Chat-only
  APIs refuse this endpoint; that becomes a ``ScoringNotSupportedError``.

Transient failures (HTTP 429, 5xx, timeouts, dropped connections) are retried a bounded
number of times with exponential backoff and jitter, honouring ``Retry-After``.
The API key never appears in ``info()``, errors or logs.
"""
from __future__ import annotations

import base64
import io
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from PIL import Image

from leakaudit.errors import ConfigError, LeakauditError, MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV = "LEAKAUDIT_API_BASE"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
#: OpenAI's maximum for ``top_logprobs``; vLLM accepts it too
TOP_LOGPROBS = 20
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
#: spellings of "this entry needs no key" (a local vLLM server started without --api-key)
NO_KEY = frozenset({"", "none", "null", "no"})


class APIRequestError(LeakauditError):
    """An API call failed for good (bad key, bad request, or retries exhausted)."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class ScoringNotSupportedError(LeakauditError):
    """The server cannot do the requested scoring (no log-probs, no completions endpoint)."""


def _sleep(seconds: float) -> None:
    """Indirection so tests can observe backoff delays without waiting."""
    time.sleep(seconds)


def image_data_url(image: Image.Image) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URL (lossless; what the API accepts inline)."""
    buf = io.BytesIO()
    img = image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plain_text(prompt: Prompt) -> str:
    """Render a chat prompt as plain text for the completions endpoint (no chat template there)."""
    parts = [m["content"] for m in prompt.messages if m.get("content")]
    text = "\n\n".join(parts)
    if prompt.answer_prefix:
        text = f"{text}\n{prompt.answer_prefix}" if text else prompt.answer_prefix
    return text


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def letter_scores_from_top(top_logprobs: list[dict[str, Any]], letters: list[str]) -> list[float]:
    """log p(letter) for each letter from one token's ``top_logprobs`` list.

    Tokens equal to the letter after stripping whitespace (``A``, `` A``, ``A\\n``) all
    count as that letter; their probabilities are summed. Letters absent from the list
    get ``-inf`` (the server only shows the top 20).
    """
    by_letter: dict[str, list[float]] = {letter: [] for letter in letters}
    for entry in top_logprobs:
        token = str(entry.get("token", "")).strip()
        if token in by_letter and entry.get("logprob") is not None:
            by_letter[token].append(float(entry["logprob"]))
    return [_logsumexp(by_letter[letter]) for letter in letters]


def continuation_logprob(logprobs: dict[str, Any], context_len: int, prompt_len: int) -> tuple[float, int]:
    """Sum of echoed token log-probs whose text offset falls in ``[context_len, prompt_len)``.

    A token that starts inside the context counts toward the context (as in lm-eval, the
    context/continuation split is at a token boundary). The generated token (offset at or
    past ``prompt_len``) is excluded.
    """
    offsets = logprobs.get("text_offset")
    token_lps = logprobs.get("token_logprobs")
    if offsets is None or token_lps is None:
        raise ScoringNotSupportedError("the completions response has no text_offset/token_logprobs; the server does not support echo with logprobs")
    total, n = 0.0, 0
    for off, lp in zip(offsets, token_lps):
        if context_len <= off < prompt_len:
            if lp is None:
                raise ScoringNotSupportedError("the server returned no log-prob for a continuation token")
            total += float(lp)
            n += 1
    if n == 0:
        raise ScoringNotSupportedError("no echoed token fell inside the continuation; the server's echo output cannot be aligned with the prompt")
    return total, n


def _warn_key_destination(name: str, env: str, base_url: str) -> None:
    """Say so when a key leaves over plain HTTP or to another host than the default API."""
    import logging
    from urllib.parse import urlparse

    url = urlparse(base_url)
    default_host = urlparse(DEFAULT_BASE_URL).hostname
    log = logging.getLogger(__name__)
    if url.scheme != "https" and url.hostname not in ("localhost", "127.0.0.1", "::1"):
        log.warning("model %r: the key in $%s is sent over unencrypted HTTP to %s", name, env, base_url)
    elif url.hostname != default_host:
        log.warning("model %r: the key in $%s is sent to %s, not %s", name, env, url.hostname, default_host)


class OpenAIBackend(LM):
    """A model behind an OpenAI-compatible HTTP API.

    ``api_key_env`` names the environment variable holding the key (the key itself never
    goes into a zoo file); use ``api_key_env: none`` for a local server without auth.
    ``prefill`` sends ``answer_prefix`` as a partial assistant turn that the server continues
    (vLLM's ``continue_final_message``); otherwise it is appended to the last user message,
    which every server accepts. ``concurrency`` requests run in parallel threads;
    ``extra_body`` is merged into every request (server-specific sampling fields).
    A zoo entry passes ``base_url``, ``api_key_env`` and the rest through ``options:``.
    """

    @classmethod
    def from_spec(cls, spec: Any, zoo: Any = None, **overrides: Any) -> "OpenAIBackend":
        """A zoo entry: ``api_model`` is the id the endpoint serves; an ``lvlm`` entry sends images."""
        kwargs: dict[str, Any] = {**spec.options, **overrides}
        kwargs.setdefault("model", spec.api_model)
        kwargs.setdefault("supports_images", spec.kind == "lvlm")
        if zoo is not None:
            kwargs.setdefault("allowed_api_key_env", tuple(getattr(zoo, "allowed_api_key_env", ()) or ()))
        return cls(name=spec.name, **kwargs)

    def __init__(
        self,
        name: str,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = DEFAULT_KEY_ENV,
        supports_images: bool = True,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        concurrency: int = 4,
        prefill: bool = False,
        extra_body: dict[str, Any] | None = None,
        allowed_api_key_env: tuple[str, ...] | list[str] = (),
    ):
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("the 'openai' backend needs httpx: pip install 'leakaudit[api]'") from exc
        self.name = name
        self.model = model or name
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.supports_images = bool(supports_images)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.concurrency = max(1, int(concurrency))
        self.prefill = bool(prefill)
        self.extra_body = dict(extra_body or {})
        if self.max_retries < 0:
            raise ConfigError(f"model {name!r}: max_retries must be >= 0, not {max_retries}")
        headers = {"Content-Type": "application/json"}
        self.api_key_env = api_key_env
        if api_key_env is not None and str(api_key_env).strip().lower() not in NO_KEY:
            from leakaudit.models.zoo import check_api_key_env

            check_api_key_env(name, api_key_env, tuple(allowed_api_key_env))
            key = os.environ.get(api_key_env)
            if not key:
                raise ConfigError(
                    f"model {name!r}: environment variable {api_key_env} is not set. Export your API key as "
                    f"{api_key_env}=..., name another variable with `api_key_env:` in the zoo entry, or set "
                    f"`api_key_env: none` for a local server that needs no key."
                )
            headers["Authorization"] = f"Bearer {key}"
            _warn_key_destination(name, api_key_env, self.base_url)
        self._httpx = httpx
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    # -- HTTP with retries ---------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with jitter: half the step fixed, half random; Retry-After wins."""
        if retry_after:
            try:
                return min(self.backoff_max, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        step = min(self.backoff_max, self.backoff_base * (2**attempt))
        return step / 2 + random.uniform(0, step / 2)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON, retrying 429/5xx/timeouts up to ``max_retries`` times."""
        httpx = self._httpx
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                resp = self._client.post(path, json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 400:
                    try:
                        return resp.json()
                    except ValueError:
                        raise APIRequestError(f"model {self.name!r}: {self.base_url}{path} answered with non-JSON: {resp.text[:200]!r}") from None
                body = resp.text[:500]
                if resp.status_code not in RETRY_STATUS:
                    raise self._http_error(path, resp.status_code, body)
                last = f"HTTP {resp.status_code}: {body}"
                retry_after = resp.headers.get("retry-after")
            if attempt < self.max_retries:
                _sleep(self._backoff(attempt, retry_after))
        raise APIRequestError(f"model {self.name!r}: {self.base_url}{path} failed after {self.max_retries + 1} attempts; last error: {last}")

    def _http_error(self, path: str, status: int, body: str) -> LeakauditError:
        where = f"model {self.name!r} ({self.model}) at {self.base_url}{path}"
        if status in (401, 403):
            hint = f"check the key in ${self.api_key_env}" if self.api_key_env and str(self.api_key_env).lower() not in NO_KEY else "the server wants an API key: set `api_key_env:` in the zoo entry"
            return APIRequestError(f"{where}: HTTP {status} (not authorised; {hint}): {body}", status)
        if status == 404 and path == "/completions":
            return ScoringNotSupportedError(f"{where}: HTTP 404, the server has no legacy completions endpoint, so cloze scoring is not available; use --scoring letter or --scoring generate")
        return APIRequestError(f"{where}: HTTP {status}: {body}", status)

    def _map(self, fn: Callable[[int], Any], n: int) -> list[Any]:
        """Run ``fn(i)`` for i in range(n), ``concurrency`` at a time, results in order."""
        if self.concurrency == 1 or n <= 1:
            return [fn(i) for i in range(n)]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(fn, range(n)))

    # -- request building ---------------------------------------------------------------
    def _messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        if prompt.images and not self.supports_images:
            raise LeakauditError(f"model {self.name!r} is text-only (supports_images: false) but the prompt has {len(prompt.images)} image(s)")
        msgs: list[dict[str, Any]] = [dict(m) for m in prompt.messages]
        last_user = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=None)
        if prompt.answer_prefix and not self.prefill and last_user is not None:
            msgs[last_user]["content"] = f"{msgs[last_user]['content']}\n{prompt.answer_prefix}"
        if prompt.images:
            if last_user is None:
                raise LeakauditError(f"model {self.name!r}: a prompt with images needs a user message to attach them to")
            parts: list[dict[str, Any]] = [{"type": "text", "text": msgs[last_user]["content"]}]
            parts += [{"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in prompt.images]
            msgs[last_user]["content"] = parts
        if prompt.answer_prefix and self.prefill:
            msgs.append({"role": "assistant", "content": prompt.answer_prefix})
        return msgs

    def _chat_payload(self, prompt: Prompt, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "messages": self._messages(prompt), "temperature": 0, **fields}
        if prompt.answer_prefix and self.prefill:
            payload.update({"continue_final_message": True, "add_generation_prompt": False})
        payload.update(self.extra_body)
        return payload

    # -- LM interface -------------------------------------------------------------------
    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        def one(i: int) -> str:
            data = self._post("/chat/completions", self._chat_payload(prompts[i], max_tokens=max_new_tokens))
            try:
                return data["choices"][0]["message"].get("content") or ""
            except (KeyError, IndexError, TypeError, AttributeError):
                raise APIRequestError(f"model {self.name!r}: unexpected chat response shape: {str(data)[:300]}") from None

        return self._map(one, len(prompts))

    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        def one(i: int) -> list[float]:
            payload = self._chat_payload(prompts[i], max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS)
            try:
                data = self._post("/chat/completions", payload)
            except APIRequestError as exc:
                if exc.status == 400 and "logprob" in str(exc).lower():
                    raise self._no_logprobs(str(exc)) from None
                raise
            try:
                content = data["choices"][0]["logprobs"]["content"]
                top = content[0]["top_logprobs"]
            except (KeyError, IndexError, TypeError):
                raise self._no_logprobs(f"response had no choices[0].logprobs.content[0].top_logprobs: {str(data)[:200]}") from None
            if not top:
                raise self._no_logprobs("top_logprobs came back empty")
            return letter_scores_from_top(top, letters[i])

        return self._map(one, len(prompts))

    def _no_logprobs(self, detail: str) -> ScoringNotSupportedError:
        return ScoringNotSupportedError(
            f"model {self.name!r} ({self.model}) at {self.base_url} does not return token log-probabilities, "
            f"so letter scoring is not possible; use --scoring generate ({detail})"
        )

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        pairs = [(pi, c) for pi, conts in enumerate(continuations) for c in conts]
        contexts = [plain_text(p) for p in prompts]
        for p in prompts:
            if p.images:
                raise ScoringNotSupportedError(f"model {self.name!r}: cloze scoring over the API sends plain text to /completions and cannot carry images; use --scoring letter or --scoring generate")

        def one(j: int) -> tuple[float, int]:
            pi, cont = pairs[j]
            ctx = contexts[pi]
            text = ctx + cont
            payload = {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1, **self.extra_body}
            try:
                data = self._post("/completions", payload)
            except APIRequestError as exc:
                if exc.status in (400, 404, 405):
                    raise ScoringNotSupportedError(
                        f"model {self.name!r} ({self.model}) at {self.base_url}: the completions endpoint refused echo+logprobs "
                        f"(HTTP {exc.status}), so cloze scoring is not available here; use --scoring letter or --scoring generate"
                    ) from None
                raise
            try:
                lp = data["choices"][0]["logprobs"]
            except (KeyError, IndexError, TypeError):
                lp = None
            if not lp:
                raise ScoringNotSupportedError(f"model {self.name!r}: the completions response carried no logprobs; use --scoring letter or --scoring generate")
            return continuation_logprob(lp, len(ctx), len(text))

        flat = self._map(one, len(pairs))
        out: list[list[tuple[float, int]]] = [[] for _ in prompts]
        for (pi, _), res in zip(pairs, flat):
            out[pi].append(res)
        return out

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "openai", "model": self.model, "base_url": self.base_url, "supports_images": self.supports_images}

    def close(self) -> None:
        self._client.close()
