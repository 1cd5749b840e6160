"""Hugging Face transformers backend (``hf``): hub ids, local folders, GGUF, bitsandbytes, LVLMs.

Letter scoring is the hot path of an audit (thousands of questions x dozens of models),
so it is built for throughput without changing the numbers:

- every option letter is scored from ONE forward pass: the next-token log-probs at the
  start of the assistant turn, summed (logsumexp) over the tokenizations a letter can
  take there ("A" and " A");
- the shared prefix of a run (system message + few-shot turns, ``Prompt.prefix_len``
  messages) is encoded once; its KV cache is copied for every batch, so each question
  only pays for its own tokens;
- questions are batched by length (right padding, so the causal mask alone keeps pads
  out of the real positions) and only the needed logits are computed.

On a CPU with bf16 arithmetic, ``dtype: auto`` runs the body in bf16 and keeps fp32 answers:
the output head (last hidden state x vocabulary, one token per question) stays in fp32, since
bf16 logits near 16 come in steps of 0.125 and letters tie; and every question whose two best
options are within ``fp32_check`` nats is scored again by an fp32 copy of the model (see
``CPU_BF16_BY_DEFAULT``). Generation runs on the fp32 copy.

Cloze scoring reuses the same prefix cache, encodes each question once, and scores all
its continuations from a copy of that state. A GGUF file is dequantized by transformers
once and cached as safetensors (reload ~1 s instead of ~13 s). LVLMs go through
``AutoProcessor`` + ``AutoModelForImageTextToText`` with the processor's chat template.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import inspect
import logging
import math
import os
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from leakaudit.errors import ConfigError, LeakauditError, MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.models.backends.shared_prefix import SharedPrefix, enable as enable_shared_prefix, supports as supports_shared_prefix

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from leakaudit.models.zoo import ModelSpec, Zoo

log = logging.getLogger(__name__)

#: templates for models whose tokenizer ships none (MMStar's Vicuna, Baichuan2, Qwen-7B)
CHAT_TEMPLATES = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "vicuna_v1.1": (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }} "
        "{% elif m['role'] == 'user' %}USER: {{ m['content'] }} "
        "{% else %}ASSISTANT: {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    ),
    "baichuan2": (
        "{% for m in messages %}{% if m['role'] == 'user' %}<reserved_106>{{ m['content'] }}"
        "{% elif m['role'] == 'assistant' %}<reserved_107>{{ m['content'] }}{% else %}{{ m['content'] }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<reserved_107>{% endif %}"
    ),
}

DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
GGUF_CACHE_DIR = "hf-from-gguf"


#: /proc/cpuinfo flags of CPUs with bf16 arithmetic: x86 AVX512-BF16 and AMX-BF16, ARM's BF16 extension
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_bf16(cpuinfo: str | None = None) -> str | None:
    """The /proc/cpuinfo flag by which this CPU computes in bf16 natively, or None.

    Read from the flags (x86 ``flags``, ARM ``Features``), never guessed from a model name;
    None where the file is missing (macOS, Windows) or names none of ``CPU_BF16_FLAGS``.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return next((f for f in CPU_BF16_FLAGS if f in flags), None)


#: ``dtype: auto`` on a CPU with bf16 arithmetic runs bf16 (2.6x the fp32 matmul rate with
#: avx512_bf16, 6x with AMX) and keeps fp32's answers. Same letter as fp32 on 200 MMStar
#: questions (``scripts/dtype_agreement.py``, issue 22, the bar is 98%): all-bf16 gave SmolLM2
#: 83.5% and Qwen2.5-Coder-1.5B 93% (bf16 logits tie: 29 of 33 flips were exact ties); an fp32
#: head gave 99.5% and 93% (the 1.5B has questions its fp32 letters split by 0.004 nats); the
#: fp32 re-check of close calls below gives 100% on all four models tried
CPU_BF16_BY_DEFAULT = True

#: two options within this many nats (log-probs, or per-token means in cloze) are a close
#: call that bf16 may flip: the question is scored again in fp32. bf16's error of a gap
#: between two letters was at most 0.08-0.23 nats on the four models and every flip had a
#: bf16 gap <= 0.064 (scripts/dtype_agreement.py); 0 turns the check off
FP32_CHECK_MARGIN = 0.1


def auto_dtype(on_cuda: bool) -> str:
    """What ``dtype: auto`` means here: bf16 on a GPU that has it (else fp16); on a CPU bf16
    where it computes bf16 natively (``CPU_BF16_BY_DEFAULT``, with the fp32 check), else fp32."""
    if on_cuda:
        return "bf16" if _torch().cuda.is_bf16_supported() else "fp16"
    return "bf16" if CPU_BF16_BY_DEFAULT and cpu_bf16() else "fp32"


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (``MemAvailable`` of /proc/meminfo), or None."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def close_call(scores: list[float], margin: float) -> bool:
    """True when the two best of ``scores`` are within ``margin`` (or a score is not finite):
    a choice that bf16's rounding may have made."""
    if len(scores) < 2:
        return False
    if not all(math.isfinite(x) for x in scores):
        return True
    top = sorted(scores, reverse=True)
    return top[0] - top[1] < margin


def _untie_in_fp32(head) -> None:
    """The head's own fp32 copy of its weight (and bias), untied from the input embedding."""
    torch = _torch()
    head.weight = torch.nn.Parameter(head.weight.detach().float(), requires_grad=False)
    if getattr(head, "bias", None) is not None:
        head.bias = torch.nn.Parameter(head.bias.detach().float(), requires_grad=False)


def _fp32_head_hook(head, args):
    """Before the head runs: its input in fp32, and its weight in fp32 again where somebody
    tied it back to the bf16 embedding (lm-eval's HFLM calls ``tie_weights()``)."""
    if head.weight.dtype != _torch().float32:
        _untie_in_fp32(head)
    return (args[0].float(), *args[1:])


def head_to_fp32(model) -> bool:
    """Give ``model`` an fp32 output head (untied from a bf16/fp16 input embedding); False
    where it has no plain linear head or the head is fp32 already."""
    torch = _torch()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if not isinstance(weight, torch.nn.Parameter) or weight.dtype not in (torch.bfloat16, torch.float16):
        return False
    if weight.device.type == "meta":  # offloaded by accelerate: its hook loads the stored dtype back
        return False
    _untie_in_fp32(head)
    head.register_forward_pre_hook(_fp32_head_hook)
    return True


def _torch():
    import torch

    return torch


# -- weights on disk ---------------------------------------------------------------------
def converted_dir(gguf_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`dequantized_gguf_dir` keeps the copy of ``gguf_path`` (keyed by path, size and mtime)."""
    from leakaudit.models.cache import cache_root

    gguf_path = Path(gguf_path).resolve()
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    return Path(cache_dir or cache_root() / GGUF_CACHE_DIR) / f"{gguf_path.stem}-{key}"


def dequantized_gguf_dir(gguf_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A safetensors copy of a GGUF model, made once (transformers dequantizes GGUF on load).

    Loading GGUF through transformers dequantizes every tensor (~13 s for 135M params);
    the saved copy reloads in ~1 s, and bitsandbytes can quantize it (not the GGUF).
    Under the cache lock: a second process (a background conversion, a Ray worker) that
    wants the same copy waits for it instead of converting again.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from leakaudit.models.cache import cache_lock

    gguf_path = Path(gguf_path).resolve()
    target = converted_dir(gguf_path, cache_dir)
    if (target / "config.json").is_file():
        return target
    with cache_lock(target):
        if (target / "config.json").is_file():  # converted while this process waited
            return target
        log.info("dequantizing %s into %s (once)", gguf_path.name, target)
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a killed conversion
            shutil.rmtree(stale, ignore_errors=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        from leakaudit.models.backends.gguf_fast import fast_gguf_reading

        with fast_gguf_reading():  # the same tensors, less Python (see gguf_fast)
            tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=_torch().float32)
        # the weights are plain fp32 now: drop the GGUF "quantizer" so they save as safetensors
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def built_model_dir(builder: str) -> Path:
    """The folder of an offline random VLM (``leakaudit.models.backends.tiny_vlm`` builds and caches it)."""
    from leakaudit.models.zoo import BUILDERS

    try:
        from leakaudit.models.backends import tiny_vlm
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(f"builder {builder!r} needs leakaudit.models.backends.tiny_vlm, which is not available") from exc
    return Path(getattr(tiny_vlm, BUILDERS[builder])())


# -- the backend ---------------------------------------------------------------------------
@dataclass
class _Encoded:
    """A rendered, tokenized prompt; ``n_prefix`` leading tokens are the shared prefix."""

    ids: list[int]
    n_prefix: int


@dataclass
class _State:
    """The model's state after some tokens: KV cache (batch 1) and the next-token log-probs."""

    cache: Any
    next_logprobs: "torch.Tensor"
    length: int


class HFBackend(LM):
    """A transformers model behind the ``LM`` interface (causal LM, or LVLM with a processor)."""

    def __init__(
        self,
        name: str,
        source: str | Path | None = None,
        *,
        gguf_file: str | Path | None = None,
        kind: str = "llm",
        revision: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        device_map: str | dict | None = None,
        quantization: str | None = None,
        prompt_style: str = "chat",
        chat_template: str | None = None,
        trust_remote_code: bool = False,
        text_tower: bool = False,
        batch_size: int = 16,
        max_batch_tokens: int = 8192,
        use_prefix_cache: bool = True,
        prefix_cache_size: int = 4,
        fp32_head: bool = True,
        fp32_check: float | None = None,
        shared_prefix: bool = True,
        model: Any = None,
        tokenizer: Any = None,
        processor: Any = None,
    ):
        self.name = name
        self.source = str(source) if source is not None else None
        self.gguf_file = Path(gguf_file) if gguf_file else None
        self.kind = kind
        self.revision = revision
        self.dtype_name = dtype
        self.quantization = quantization
        self.prompt_style = prompt_style
        self.trust_remote_code = trust_remote_code
        self.text_tower = text_tower
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.use_prefix_cache = use_prefix_cache
        self.stats = {"prefix_cache_hits": 0, "prefix_cache_misses": 0, "prefix_unaligned": 0, "forward_passes": 0}
        if fp32_check is not None and (isinstance(fp32_check, bool) or not isinstance(fp32_check, (int, float))
                                       or not math.isfinite(fp32_check) or fp32_check < 0):
            raise ConfigError(f"model {name!r}, option 'fp32_check': {fp32_check!r} is not a margin in nats >= 0 (0: no check)")
        self.fp32_check = fp32_check
        self.fp32_head = bool(fp32_head)
        self.check_margin = 0.0  # the fp32 check's margin in effect (0: none); set by _load
        self._check_model: Any = None  # the fp32 copy that re-scores close calls
        self._check_prefix_cache: OrderedDict[tuple[int, ...], _State] = OrderedDict()
        self._prefix_cache: OrderedDict[tuple[int, ...], _State] = OrderedDict()
        self._prefix_cache_size = prefix_cache_size
        self._variant_ids: dict[str, list[int]] = {}
        if quantization not in (None, "4bit", "8bit"):
            raise ConfigError(f"model {name!r}, field 'quantization': {quantization!r} is not 4bit or 8bit")
        if model is not None:
            self.model, self.tokenizer, self.processor = model, tokenizer, processor
            if self.tokenizer is None:
                self.tokenizer = getattr(processor, "tokenizer", None)
            if self.tokenizer is None:
                raise ConfigError(f"model {name!r}: pass tokenizer= (or processor=) with a preloaded model")
        else:
            self._load(device=device, device_map=device_map)
        self.supports_images = self.processor is not None and not text_tower
        if chat_template:
            template = CHAT_TEMPLATES.get(chat_template, chat_template)
            self.tokenizer.chat_template = template
            if self.processor is not None:
                self.processor.chat_template = template
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.eval()
        self.head_dtype = "float32" if self.fp32_head and head_to_fp32(self.model) else None
        # batches after a cached prefix attend to it in place (shared_prefix.py) where the model allows
        self.shared_prefix = bool(shared_prefix) and self.processor is None and all(
            enable_shared_prefix(m) for m in (self.model, self._check_model) if m is not None)
        forward_args = inspect.signature(self.model.forward).parameters
        self._keeps_logits = "logits_to_keep" in forward_args
        # transformers 5.2x renamed past_key_values to cache (the old name warns on every call)
        self._cache_arg = "cache" if "cache" in forward_args else "past_key_values"

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: "ModelSpec", zoo: "Zoo | None" = None, **overrides: Any) -> "HFBackend":
        """Construct from a zoo entry: GGUF and builders are resolved to local folders here."""
        kwargs: dict[str, Any] = dict(
            kind=spec.kind,
            revision=spec.revision,
            dtype=spec.dtype,
            device_map=spec.device_map,
            quantization=spec.quantization,
            prompt_style=spec.prompt_style,
            chat_template=spec.chat_template,
            trust_remote_code=spec.trust_remote_code,
            text_tower=spec.text_tower,
        )
        source: str | Path | None = spec.hf_id
        if spec.gguf:
            kwargs["gguf_file"] = spec.resolve_gguf()
            source = None
        elif spec.builder:
            source = built_model_dir(spec.builder)
        kwargs.update(spec.options)
        kwargs.update(overrides)
        return cls(spec.name, source, **kwargs)

    def _resolve_dtype(self, on_cuda: bool):
        torch = _torch()
        if self.dtype_name == "auto":
            return getattr(torch, DTYPE_NAMES[auto_dtype(on_cuda)])
        if self.dtype_name not in DTYPE_NAMES:
            raise ConfigError(f"model {self.name!r}, field 'dtype': {self.dtype_name!r} is not one of auto, bf16, fp16, fp32")
        return getattr(torch, DTYPE_NAMES[self.dtype_name])

    def _load(self, device: str | None, device_map: str | dict | None) -> None:
        import transformers

        torch = _torch()
        on_cuda = torch.cuda.is_available() and device != "cpu"
        source = self.source
        if self.gguf_file is not None:
            # GGUF -> safetensors once; bitsandbytes then quantizes the dequantized copy
            source = str(dequantized_gguf_dir(self.gguf_file))
            self.source = source
        if source is None:
            raise ConfigError(f"model {self.name!r}: no hf_id, local folder or gguf file to load")
        common: dict[str, Any] = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        load_kw: dict[str, Any] = {**common, "dtype": self._resolve_dtype(on_cuda)}
        if self.quantization:
            try:
                import bitsandbytes  # noqa: F401
            except ModuleNotFoundError as exc:
                raise MissingDependencyError("4bit/8bit quantization needs bitsandbytes: pip install 'leakaudit[gpu]'") from exc
            from transformers import BitsAndBytesConfig

            if self.quantization == "4bit":
                qcfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=load_kw["dtype"], bnb_4bit_quant_type="nf4")
            else:
                qcfg = BitsAndBytesConfig(load_in_8bit=True)
            load_kw["quantization_config"] = qcfg
        if device_map is not None:
            load_kw["device_map"] = device_map
        elif on_cuda:
            load_kw["device_map"] = "auto"
        elif self.quantization:
            load_kw["device_map"] = "cpu"
        self.check_margin = self._check_margin(on_cuda, load_kw["dtype"])
        if not self.check_margin:
            self.model, self.tokenizer, self.processor = self._from_pretrained(source, load_kw, common)
        else:
            # the fp32 reference first: where a bf16 copy does not fit beside it, it runs alone
            fp32, self.tokenizer, self.processor = self._from_pretrained(source, {**load_kw, "dtype": torch.float32}, common)
            need = 2 * sum(p.numel() for p in fp32.parameters())  # bytes of a bf16 copy
            free = None if on_cuda else available_memory()
            if free is not None and free < 1.2 * need:
                log.warning("model %s: dtype auto runs fp32 alone: its bf16 copy (%.1f GB) does not fit in the %.1f GB "
                            "of memory left beside the fp32 weights the close calls are checked with",
                            self.name, need / 1e9, free / 1e9)
                self.model, self.check_margin = fp32, 0.0
            else:
                self.model = self._from_pretrained(source, load_kw, common)[0]
                self._check_model = fp32.eval()
        if "device_map" not in load_kw:
            for model in (self.model, self._check_model):
                if model is not None:
                    model.to("cuda" if on_cuda else "cpu")
        log.info("loaded %s with transformers %s", self.name, transformers.__version__)

    def _from_pretrained(self, source: str, load_kw: dict[str, Any], common: dict[str, Any]) -> tuple[Any, Any, Any]:
        """(model, tokenizer, processor or None) from a hub id or folder; a clear error when absent."""
        from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer

        try:
            if self.kind == "lvlm" or self.text_tower:
                from transformers import AutoModelForImageTextToText

                processor = AutoProcessor.from_pretrained(source, **common)
                vlm = AutoModelForImageTextToText.from_pretrained(source, **load_kw)
                tokenizer = getattr(processor, "tokenizer", processor)
                if self.text_tower:
                    return _text_tower(vlm), tokenizer, None
                return vlm, tokenizer, processor
            tokenizer = AutoTokenizer.from_pretrained(source, **common)  # first: its error names a folder with no model best
            return AutoModelForCausalLM.from_pretrained(source, **load_kw), tokenizer, None
        except OSError as exc:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            raise LeakauditError(
                f"model {self.name!r}: could not load {source!r} ({exc})"
                + (" -- HF_HUB_OFFLINE=1 is set, so only cached or local models load" if offline else "")
            ) from exc

    def _check_margin(self, on_cuda: bool, dtype: Any) -> float:
        """The fp32 check's margin: the explicit ``fp32_check``, else ``FP32_CHECK_MARGIN`` where
        ``auto`` chose bf16 on a CPU; 0 for fp32 weights and bitsandbytes (no fp32 reference)."""
        torch = _torch()
        if dtype == torch.float32 or self.quantization:
            return 0.0
        if self.fp32_check is not None:
            return float(self.fp32_check)
        return FP32_CHECK_MARGIN if self.dtype_name == "auto" and not on_cuda else 0.0

    @property
    def device(self):
        return next(self.model.parameters()).device

    def info(self) -> dict[str, Any]:
        cfg = getattr(self.model, "config", None)
        return {
            "name": self.name,
            "backend": "hf",
            "source": self.source,
            "gguf_file": str(self.gguf_file) if self.gguf_file else None,
            "revision": self.revision or getattr(cfg, "_commit_hash", None),
            "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
            "head_dtype": self.head_dtype,
            "fp32_check": self.check_margin or None,
            "shared_prefix": self.shared_prefix,
            "quantization": self.quantization,
            "device": str(self.device),
            "prompt_style": self.prompt_style,
            "architecture": (getattr(cfg, "architectures", None) or [type(self.model).__name__])[0],
            "n_params": sum(p.numel() for p in self.model.parameters()),
            **self.stats,
        }

    def close(self) -> None:
        self._prefix_cache.clear()
        self._check_prefix_cache.clear()
        torch = _torch()
        self.model = self._check_model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- rendering ------------------------------------------------------------------------
    def _has_template(self) -> bool:
        holder = self.processor if self.processor is not None else self.tokenizer
        return bool(getattr(holder, "chat_template", None)) and self.prompt_style == "chat"

    def render(self, prompt: Prompt, n_messages: int | None = None, generation: bool = True) -> str:
        """The text the model sees: chat template (or plain ``Role: content``) + answer prefix."""
        messages = prompt.messages if n_messages is None else prompt.messages[:n_messages]
        if not self._has_template():
            text = self._render_plain(messages, generation)
        else:
            text = self._render_template(messages, images=len(prompt.images) if n_messages is None else 0, generation=generation)
        if generation and prompt.answer_prefix:
            text += prompt.answer_prefix
        return text

    def _render_plain(self, messages: list[dict[str, str]], generation: bool) -> str:
        bos = self.tokenizer.bos_token or ""
        probe = self.tokenizer("a").input_ids
        text = bos if bos and probe and probe[0] == self.tokenizer.bos_token_id else ""
        text += "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages)
        return text + ("Assistant:" if generation else "")

    def _render_template(self, messages: list[dict[str, str]], images: int, generation: bool) -> str:
        def build(msgs):
            if self.processor is None:
                return msgs
            out = []
            for i, m in enumerate(msgs):
                content = [{"type": "text", "text": m["content"]}]
                if i == len(msgs) - 1 and m["role"] == "user" and images:
                    content = [{"type": "image"}] * images + content
                out.append({"role": m["role"], "content": content})
            return out

        apply = (self.processor or self.tokenizer).apply_chat_template
        try:
            return apply(build(messages), tokenize=False, add_generation_prompt=generation)
        except Exception as exc:  # e.g. Mistral's template rejects the system role
            if not messages or messages[0]["role"] != "system" or len(messages) < 2:
                raise LeakauditError(f"model {self.name!r}: its chat template failed: {exc}") from exc
            merged = [{"role": messages[1]["role"], "content": messages[0]["content"] + "\n\n" + messages[1]["content"]}] + list(messages[2:])
            return apply(build(merged), tokenize=False, add_generation_prompt=generation)

    # -- tokenization -------------------------------------------------------------------
    def _encode(self, prompt: Prompt) -> _Encoded:
        """Tokenize the rendered prompt; mark how many leading tokens are the shared prefix."""
        text = self.render(prompt)
        n_prefix_msgs = prompt.prefix_len if self.use_prefix_cache else 0
        if n_prefix_msgs <= 0 or n_prefix_msgs >= len(prompt.messages):
            return _Encoded(self.tokenizer(text, add_special_tokens=False).input_ids, 0)
        prefix_text = self.render(prompt, n_messages=n_prefix_msgs, generation=False)
        if not text.startswith(prefix_text):
            self.stats["prefix_unaligned"] += 1
            return _Encoded(self.tokenizer(text, add_special_tokens=False).input_ids, 0)
        try:
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = enc.input_ids, enc.offset_mapping
            n_prefix = 0
            while n_prefix < len(ids) and offsets[n_prefix][1] <= len(prefix_text):
                n_prefix += 1
        except (NotImplementedError, ValueError, TypeError):  # slow tokenizers give no offsets
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
            pre = self.tokenizer(prefix_text, add_special_tokens=False).input_ids
            n_prefix = len(pre) if ids[: len(pre)] == pre else 0
        return _Encoded(ids, min(n_prefix, len(ids) - 1))

    def letter_token_ids(self, letter: str) -> list[int]:
        """Token ids a letter answer can start with at the assistant turn ("A", " A", "▁A")."""
        if letter not in self._variant_ids:
            context = self.render(Prompt(messages=[{"role": "user", "content": "?"}]))
            ctx_ids = self.tokenizer(context, add_special_tokens=False).input_ids
            found: list[int] = []
            for variant in (letter, " " + letter):
                full = self.tokenizer(context + variant, add_special_tokens=False).input_ids
                candidates = [full[len(ctx_ids):]] if full[: len(ctx_ids)] == ctx_ids else []
                candidates.append(self.tokenizer(variant, add_special_tokens=False).input_ids)
                for toks in candidates:
                    if len(toks) == 1 and toks[0] not in found:
                        found.append(toks[0])
            if not found:
                raise LeakauditError(f"model {self.name!r}: the letter {letter!r} is not a single token in its vocabulary")
            self._variant_ids[letter] = found
        return self._variant_ids[letter]

    # -- forward passes -----------------------------------------------------------------
    def _prefix_state(self, prefix: tuple[int, ...]) -> _State:
        if prefix in self._prefix_cache:
            self.stats["prefix_cache_hits"] += 1
            self._prefix_cache.move_to_end(prefix)
            return self._prefix_cache[prefix]
        self.stats["prefix_cache_misses"] += 1
        state = self._extend(None, [list(prefix)], want_state=True)[1]
        self._prefix_cache[prefix] = state
        while len(self._prefix_cache) > self._prefix_cache_size:
            self._prefix_cache.popitem(last=False)
        return state

    def _extend(
        self,
        state: _State | None,
        suffixes: list[list[int]],
        positions: list[list[int]] | None = None,
        want_state: bool = False,
    ) -> tuple[list["torch.Tensor"], _State | None]:
        """Run ``suffixes`` (one batch, right-padded) after ``state``.

        Returns, per row, the log-probs (len(positions[i]) x vocab) predicted AT the given
        suffix positions (default: the last token), and for a single row the new state.
        Right padding needs no attention mask: causal attention keeps later pads out.
        """
        torch = _torch()
        lengths = [len(s) for s in suffixes]
        width = max(lengths)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in suffixes], device=self.device)
        if positions is None:
            positions = [[n - 1] for n in lengths]
        wanted = sorted({p for row in positions for p in row})
        kwargs: dict[str, Any] = {"use_cache": True}
        if state is not None and not want_state and self.shared_prefix and supports_shared_prefix(self.model, state.length + width):
            # every row attends to the one cached prefix in place: no copy per row
            self.stats["shared_prefix_passes"] = self.stats.get("shared_prefix_passes", 0) + 1
            kwargs.update(use_cache=False, shared_prefix=SharedPrefix.from_cache(state.cache, state.length),
                          position_ids=torch.arange(state.length, state.length + width, device=self.device).expand(len(suffixes), -1))
        elif state is not None:
            cache = copy.deepcopy(state.cache)
            if len(suffixes) > 1:
                cache.batch_repeat_interleave(len(suffixes))
            kwargs[self._cache_arg] = cache
        keep_index = None
        if self._keeps_logits:
            keep_index = torch.tensor(wanted, device=self.device)
            kwargs["logits_to_keep"] = keep_index
        with torch.inference_mode():
            out = self.model(input_ids=ids, **kwargs)
        self.stats["forward_passes"] += 1
        logits = out.logits
        col = {p: (i if keep_index is not None else p) for i, p in enumerate(wanted)}
        rows = [torch.log_softmax(logits[b, [col[p] for p in positions[b]]].float(), dim=-1) for b in range(len(suffixes))]
        new_state = None
        if want_state and len(suffixes) == 1:
            base = state.length if state is not None else 0
            new_state = _State(out["cache"] if "cache" in out else out.past_key_values, rows[0][-1], base + lengths[0])
        return rows, new_state

    def _batches(self, items: list[tuple[int, int]]) -> list[list[int]]:
        """Group item indices (sorted by length) into batches under the size and token budget."""
        order = sorted(range(len(items)), key=lambda i: items[i][1])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            length = items[i][1]
            if current and (len(current) >= self.batch_size or length * (len(current) + 1) > self.max_batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _next_token_logprobs(self, encoded: list[_Encoded]) -> list["torch.Tensor"]:
        """Log-probs of the next token after each prompt (prefix cache + length batching)."""
        results: list[Any] = [None] * len(encoded)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, e in enumerate(encoded):
            groups.setdefault(tuple(e.ids[: e.n_prefix]), []).append(i)
        for prefix, members in groups.items():
            state = self._prefix_state(prefix) if prefix else None
            n = len(prefix)
            for batch in self._batches([(i, len(encoded[i].ids) - n) for i in members]):
                idx = [members[j] for j in batch]
                rows, _ = self._extend(state, [encoded[i].ids[n:] for i in idx])
                for i, row in zip(idx, rows):
                    results[i] = row[-1]
        return results

    # -- the fp32 check ------------------------------------------------------------------
    @contextlib.contextmanager
    def _in_fp32(self):
        """Run the enclosed calls on the fp32 copy (with its own prefix cache); a no-op without one."""
        if self._check_model is None:
            yield
            return
        saved = self.model, self._prefix_cache
        self.model, self._prefix_cache = self._check_model, self._check_prefix_cache
        try:
            yield
        finally:
            self.model, self._prefix_cache = saved

    def _checked(self, score: Callable[[list[Prompt], list], list], prompts: list[Prompt], per_prompt: list,
                 choices: Callable[[Any], list[list[float]]] | None = None) -> list:
        """``score(prompts, per_prompt)``, then the close calls scored again in fp32 (``check_margin``).

        ``choices`` turns one result into the lists of numbers an option is chosen by
        (default: the result itself)."""
        results = score(prompts, per_prompt)
        if not self.check_margin:
            return results
        pick = choices or (lambda r: [r])
        close = [i for i, r in enumerate(results) if any(close_call(c, self.check_margin) for c in pick(r))]
        self.stats["fp32_checked"] = self.stats.get("fp32_checked", 0) + len(results)
        self.stats["fp32_rescored"] = self.stats.get("fp32_rescored", 0) + len(close)
        if close:
            start = time.perf_counter()
            with self._in_fp32():
                again = score([prompts[i] for i in close], [per_prompt[i] for i in close])
            # what the check costs, in the run record beside its counts
            self.stats["fp32_check_seconds"] = round(self.stats.get("fp32_check_seconds", 0.0) + time.perf_counter() - start, 3)
            for i, r in zip(close, again):
                results[i] = r
        return results

    # -- LM interface -------------------------------------------------------------------
    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        return self._checked(self._letter_logprobs, prompts, letters)

    def _letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        if any(p.images for p in prompts) or self.processor is not None:
            rows = [self._lvlm_next_logprobs(p) for p in prompts]
        else:
            rows = self._next_token_logprobs([self._encode(p) for p in prompts])
        torch = _torch()
        out = []
        for row, ls in zip(rows, letters):
            out.append([float(torch.logsumexp(row[self.letter_token_ids(letter)], dim=0)) for letter in ls])
        return out

    def _continuation_ids(self, context_ids: list[int], context: str, continuation: str) -> list[int]:
        """Tokens of ``continuation`` after ``context``, as the model would tokenize the whole."""
        full = self.tokenizer(context + continuation, add_special_tokens=False).input_ids
        if full[: len(context_ids)] == context_ids and len(full) > len(context_ids):
            return full[len(context_ids):]
        return self.tokenizer(continuation, add_special_tokens=False).input_ids

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        def by(row: list[tuple[float, int]]) -> list[list[float]]:  # cloze picks by the per-token mean; others by the sum
            return [[total for total, _ in row], [total / max(1, n) for total, n in row]]

        return self._checked(self._loglikelihood, prompts, continuations, by)

    def _loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        if any(p.images for p in prompts) or self.processor is not None:
            return [[self._lvlm_loglikelihood(p, c) for c in conts] for p, conts in zip(prompts, continuations)]
        out: list[list[tuple[float, int]]] = []
        for prompt, conts in zip(prompts, continuations):
            enc = self._encode(prompt)
            text = self.render(prompt)
            prefix = tuple(enc.ids[: enc.n_prefix])
            state = self._prefix_state(prefix) if prefix else None
            # the question once, then every continuation from a copy of its state
            _, ctx_state = self._extend(state, [enc.ids[enc.n_prefix:]], want_state=True)
            cont_ids = [self._continuation_ids(enc.ids, text, c) for c in conts]
            scores: list[tuple[float, int]] = [(0.0, 0)] * len(conts)
            nonempty = [(i, ids) for i, ids in enumerate(cont_ids) if ids]
            for batch in self._batches([(i, len(ids)) for i, ids in nonempty]):
                chosen = [nonempty[j] for j in batch]
                positions = [list(range(len(ids) - 1)) or [0] for _, ids in chosen]
                rows, _ = self._extend(ctx_state, [ids for _, ids in chosen], positions=positions)
                for (i, ids), row in zip(chosen, rows):
                    total = float(ctx_state.next_logprobs[ids[0]])
                    for k, tok in enumerate(ids[1:]):
                        total += float(row[k, tok])
                    scores[i] = (total, len(ids))
            out.append(scores)
        return out

    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        """Greedy answers; with an fp32 check they come from the fp32 copy (a bf16 token can
        change every token after it, and no margin says when)."""
        with self._in_fp32():
            return self._generate(prompts, max_new_tokens)

    def _generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        torch = _torch()
        outputs = []
        for prompt in prompts:
            if prompt.images or self.processor is not None:
                inputs = self._lvlm_inputs(prompt)
                kwargs: dict[str, Any] = {}
            else:
                enc = self._encode(prompt)
                inputs = {"input_ids": torch.tensor([enc.ids], device=self.device)}
                kwargs = {}
                if enc.n_prefix:
                    kwargs[self._cache_arg] = copy.deepcopy(self._prefix_state(tuple(enc.ids[: enc.n_prefix])).cache)
            n_in = inputs["input_ids"].shape[1]
            with torch.inference_mode():
                gen = self.model.generate(
                    **inputs, **kwargs, max_new_tokens=max_new_tokens, do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            self.stats["forward_passes"] += 1
            text = self.tokenizer.decode(gen[0, n_in:], skip_special_tokens=True)
            if not self._has_template():  # a base model writes the next "User:" turn itself
                text = text.split("\n\nUser:")[0]
            outputs.append(text.strip())
        return outputs

    # -- vision-language models -----------------------------------------------------------
    def _lvlm_inputs(self, prompt: Prompt, extra_text: str = ""):
        if prompt.images and self.processor is None:
            raise LeakauditError(f"model {self.name!r} is text-only and cannot take images")
        text = self.render(prompt) + extra_text
        if self.processor is None:
            return self.tokenizer(text, add_special_tokens=False, return_tensors="pt").to(self.device)
        images = [img.convert("RGB") for img in prompt.images] or None
        inputs = self.processor(text=[text], images=images, return_tensors="pt", add_special_tokens=False)
        dtype = next(self.model.parameters()).dtype
        return {k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)) for k, v in inputs.items()}

    def _lvlm_next_logprobs(self, prompt: Prompt):
        torch = _torch()
        inputs = self._lvlm_inputs(prompt)
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        self.stats["forward_passes"] += 1
        return torch.log_softmax(logits[0, -1].float(), dim=-1)

    def _lvlm_loglikelihood(self, prompt: Prompt, continuation: str) -> tuple[float, int]:
        torch = _torch()
        n_ctx = self._lvlm_inputs(prompt)["input_ids"].shape[1]
        inputs = self._lvlm_inputs(prompt, continuation)
        ids = inputs["input_ids"][0]
        if len(ids) <= n_ctx:
            return 0.0, 0
        with torch.inference_mode():
            logits = self.model(**inputs).logits[0]
        self.stats["forward_passes"] += 1
        logprobs = torch.log_softmax(logits[n_ctx - 1 : len(ids) - 1].float(), dim=-1)
        target = ids[n_ctx:]
        return float(logprobs.gather(1, target[:, None]).sum()), int(len(target))


def _text_tower(vlm):
    """The language model of a vision-language model, as a standalone causal LM."""
    from transformers import AutoModelForCausalLM

    text_config = vlm.config.get_text_config(decoder=True)
    causal = AutoModelForCausalLM.from_config(text_config)
    language_model = vlm.get_decoder()  # LLaVA's language_model, Idefics3's text_model, ...
    missing, unexpected = causal.model.load_state_dict(language_model.state_dict(), strict=False)
    if unexpected or [m for m in missing if "rotary" not in m]:
        raise LeakauditError(f"could not extract the text tower of {type(vlm).__name__}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    causal.lm_head.load_state_dict(vlm.lm_head.state_dict())
    return causal.to(next(vlm.parameters()).dtype)
