"""The OpenAI-compatible backend against a fake server on 127.0.0.1.

The fake speaks just enough of the OpenAI wire format (chat completions with logprobs,
legacy completions with echo) to check what the backend sends (Authorization header,
image data URLs, temperature 0) and how it parses answers, retries and fails.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

pytest.importorskip("httpx")

from leakaudit import registry  # noqa: E402
from leakaudit.models.backends import openai_api  # noqa: E402
from leakaudit.models.backends.base import Prompt  # noqa: E402
from leakaudit.models.backends.openai_api import (  # noqa: E402
    APIRequestError,
    OpenAIBackend,
    ScoringNotSupportedError,
    continuation_logprob,
    letter_scores_from_top,
)
from leakaudit.errors import ConfigError  # noqa: E402

KEY = "sk-test-123"
TOKEN_RE = re.compile(r"\s*\S+|\s+")


class FakeOpenAI:
    """A scripted OpenAI-compatible server; ``fail_with`` statuses are answered first, in order."""

    def __init__(self):
        self.fail_with: list[int] = []
        self.retry_after: str | None = None
        self.logprobs = True
        self.completions = True
        self.slow_first = 0.0
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if fake.slow_first:
                    delay, fake.slow_first = fake.slow_first, 0.0
                    time.sleep(delay)
                if fake.fail_with:
                    status = fake.fail_with.pop(0)
                    headers = {"Retry-After": fake.retry_after} if fake.retry_after else {}
                    return self._send(status, {"error": {"message": f"scripted {status}"}}, headers)
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    return self._send(401, {"error": {"message": "bad key"}})
                if self.path == "/v1/chat/completions":
                    return self._send(200, fake.chat(body))
                if self.path == "/v1/completions" and fake.completions:
                    return self._send(200, fake.complete(body))
                return self._send(404, {"error": {"message": "not found"}})

            def _send(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that timed out hung up
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def chat(self, body: dict) -> dict:
        choice: dict = {"index": 0, "message": {"role": "assistant", "content": "The answer is B."}, "finish_reason": "stop"}
        if body.get("logprobs"):
            if not self.logprobs:
                choice["logprobs"] = None
            else:
                top = [
                    {"token": " B", "logprob": math.log(0.5)},
                    {"token": "B", "logprob": math.log(0.2)},
                    {"token": "The", "logprob": math.log(0.2)},
                    {"token": "A", "logprob": math.log(0.1)},
                ]
                choice["logprobs"] = {"content": [{"token": " B", "logprob": math.log(0.5), "top_logprobs": top}]}
                choice["message"]["content"] = " B"
        return {"id": "x", "object": "chat.completion", "choices": [choice]}

    @staticmethod
    def token_logprob(tok: str) -> float:
        return -0.5 * len(tok.strip())

    def complete(self, body: dict) -> dict:
        prompt = body["prompt"]
        toks = TOKEN_RE.findall(prompt)
        offsets, pos = [], 0
        for t in toks:
            offsets.append(pos)
            pos += len(t)
        lps = [None] + [self.token_logprob(t) for t in toks[1:]]
        # the generated token comes after the echoed prompt
        toks.append(" gen")
        offsets.append(pos)
        lps.append(-0.1)
        return {"choices": [{"index": 0, "text": prompt + " gen", "logprobs": {"tokens": toks, "text_offset": offsets, "token_logprobs": lps, "top_logprobs": None}}]}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.close()


@pytest.fixture
def sleeps(monkeypatch):
    delays: list[float] = []
    monkeypatch.setattr(openai_api, "_sleep", delays.append)
    return delays


@pytest.fixture
def backend(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lm = OpenAIBackend("fake-gpt", "gpt-fake", base_url=fake.url, concurrency=1, timeout=5)
    yield lm
    lm.close()


def prompt(text="Which is blue?\nA. grass\nB. sky", images=(), prefix=""):
    return Prompt(messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}], images=list(images), answer_prefix=prefix)


def test_registered_as_openai():
    assert registry.backends.get("openai") is OpenAIBackend


def test_generate_retries_429_twice_with_growing_backoff(fake, backend, sleeps):
    fake.fail_with = [429, 429]
    out = backend.generate([prompt()], max_new_tokens=7)
    assert out == ["The answer is B."]
    assert len(fake.requests) == 3 and len(sleeps) == 2
    # equal jitter: attempt k waits in [base*2^k/2, base*2^k]
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    body = fake.requests[-1]["body"]
    assert body["temperature"] == 0 and body["max_tokens"] == 7 and body["model"] == "gpt-fake"
    assert all(r["auth"] == f"Bearer {KEY}" for r in fake.requests)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_retry_after_header_is_honoured_and_capped(fake, backend, sleeps):
    fake.fail_with, fake.retry_after = [503, 429], "0.25"
    assert backend.generate([prompt()]) == ["The answer is B."]
    assert sleeps == [0.25, 0.25]
    fake.fail_with, fake.retry_after = [429], "3600"
    backend.generate([prompt()])
    assert sleeps[-1] == backend.backoff_max


def test_retries_are_bounded(fake, monkeypatch, sleeps):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lm = OpenAIBackend("fake-gpt", "gpt-fake", base_url=fake.url, max_retries=3, concurrency=1)
    fake.fail_with = [500] * 10
    with pytest.raises(APIRequestError, match=r"failed after 4 attempts; last error: HTTP 500"):
        lm.generate([prompt()])
    assert len(fake.requests) == 4 and len(sleeps) == 3
    assert sleeps[2] >= sleeps[0]


def test_timeout_is_retried(fake, monkeypatch, sleeps):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lm = OpenAIBackend("fake-gpt", "gpt-fake", base_url=fake.url, timeout=0.2, concurrency=1)
    fake.slow_first = 0.6
    assert lm.generate([prompt()]) == ["The answer is B."]
    assert len(sleeps) == 1


def test_bad_key_is_not_retried(fake, monkeypatch, sleeps):
    monkeypatch.setenv("MY_GATEWAY_API_KEY", "wrong")
    lm = OpenAIBackend("gw", "gemini-pro", base_url=fake.url, api_key_env="MY_GATEWAY_API_KEY")
    with pytest.raises(APIRequestError, match=r"HTTP 401.*MY_GATEWAY_API_KEY"):
        lm.generate([prompt()])
    assert sleeps == [] and len(fake.requests) == 1


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"'gpt4v'.*OPENAI_API_KEY is not set.*api_key_env"):
        OpenAIBackend("gpt4v", "gpt-4-vision-preview")


def test_base_url_from_environment(monkeypatch):
    monkeypatch.setenv(openai_api.BASE_URL_ENV, "http://127.0.0.1:9/v1/")
    lm = OpenAIBackend("local", "m", api_key_env="none")
    assert lm.base_url == "http://127.0.0.1:9/v1"
    assert lm.info() == {"name": "local", "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "supports_images": True}
    monkeypatch.delenv(openai_api.BASE_URL_ENV)
    assert OpenAIBackend("x", "m", api_key_env="none").base_url == openai_api.DEFAULT_BASE_URL


def test_image_goes_as_base64_data_url(fake, backend):
    img = Image.new("RGB", (5, 3), (10, 200, 30))
    backend.generate([prompt(images=[img], prefix="Answer:")])
    user = fake.requests[-1]["body"]["messages"][-1]
    assert user["role"] == "user"
    text_part, image_part = user["content"]
    assert text_part == {"type": "text", "text": "Which is blue?\nA. grass\nB. sky\nAnswer:"}
    url = image_part["image_url"]["url"]
    assert image_part["type"] == "image_url" and url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (5, 3) and decoded.convert("RGB").getpixel((2, 1)) == (10, 200, 30)


def test_text_only_model_refuses_images(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lm = OpenAIBackend("txt", "m", base_url=fake.url, supports_images=False)
    with pytest.raises(Exception, match="text-only"):
        lm.generate([prompt(images=[Image.new("RGB", (2, 2))])])
    assert fake.requests == []


def test_prefill_sends_partial_assistant_turn(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lm = OpenAIBackend("vllm", "m", base_url=fake.url, prefill=True)
    lm.generate([prompt(prefix="Answer:")])
    body = fake.requests[-1]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "Answer:"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_letter_logprobs_parse_top20(fake, backend, sleeps):
    fake.fail_with = [429, 429]
    scores = backend.letter_logprobs([prompt(), prompt()], [["A", "B"], ["A", "B", "C"]])
    body = fake.requests[-1]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1 and body["temperature"] == 0
    # " B" and "B" are the same letter: 0.5 + 0.2
    assert scores[0] == pytest.approx([math.log(0.1), math.log(0.7)])
    assert scores[1][:2] == pytest.approx([math.log(0.1), math.log(0.7)]) and scores[1][2] == -math.inf
    assert len(sleeps) == 2


def test_letter_logprobs_unsupported_says_use_generate(fake, backend):
    fake.logprobs = False
    with pytest.raises(ScoringNotSupportedError, match=r"--scoring generate"):
        backend.letter_logprobs([prompt()], [["A", "B"]])


def test_loglikelihood_via_echo_completions(fake, backend):
    p = prompt(prefix="Answer:")
    res = backend.loglikelihood([p], [[" sky", " green grass"]])
    sent = [r["body"] for r in fake.requests]
    assert all(b["echo"] is True and b["logprobs"] == 1 and b["max_tokens"] == 1 for b in sent)
    ctx = openai_api.plain_text(p)
    assert ctx == "Be brief.\n\nWhich is blue?\nA. grass\nB. sky\nAnswer:"
    assert sent[0]["prompt"] == ctx + " sky"
    assert res == [[(pytest.approx(-1.5), 1), (pytest.approx(-2.5 - 2.5), 2)]]


def test_loglikelihood_without_completions_endpoint(fake, backend):
    fake.completions = False
    with pytest.raises(ScoringNotSupportedError, match=r"cloze scoring is not available.*--scoring letter or --scoring generate"):
        backend.loglikelihood([prompt()], [[" sky"]])


def test_concurrent_requests_keep_order(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lm = OpenAIBackend("c", "m", base_url=fake.url, concurrency=4)
    res = lm.loglikelihood([prompt(), prompt("Q2")], [[" a", " bb", " ccc"], [" dddd"]])
    assert [[logprob for logprob, _ in r] for r in res] == [[-0.5, -1.0, -1.5], [-2.0]]


def test_parsers_directly():
    assert letter_scores_from_top([{"token": "C\n", "logprob": -0.1}], ["C", "D"]) == [-0.1, -math.inf]
    lp = {"text_offset": [0, 3, 7, 10], "token_logprobs": [None, -1.0, -2.0, -3.0]}
    assert continuation_logprob(lp, context_len=7, prompt_len=10) == (-2.0, 1)
    with pytest.raises(ScoringNotSupportedError):
        continuation_logprob({"tokens": []}, 0, 1)


def test_zoo_entry_builds_the_backend(fake, monkeypatch, sleeps):
    from leakaudit.models.zoo import zoo_from_dict

    monkeypatch.setenv("GATEWAY_KEY", KEY)
    # GATEWAY_KEY does not end in _API_KEY: the zoo file must list it to send it
    zoo = zoo_from_dict({"allowed_api_key_env": ["GATEWAY_KEY"],
                         "models": {"gw-llm": {"kind": "llm", "backend": "openai", "api_model": "gpt-fake", "options": {"base_url": fake.url, "api_key_env": "GATEWAY_KEY", "concurrency": 1}}}})
    lm = zoo.load("gw-llm")
    assert isinstance(lm, OpenAIBackend) and lm.model == "gpt-fake" and lm.supports_images is False
    fake.fail_with = [502]
    assert lm.generate([prompt()]) == ["The answer is B."] and len(sleeps) == 1
    assert fake.requests[-1]["body"]["model"] == "gpt-fake"
