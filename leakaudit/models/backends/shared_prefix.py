"""Attention over a shared prefix without copying it per row (Hydragen-style, on CPU).

A batch of questions that follow the same few-shot prefix used to get its own copy of the
prefix's KV cache per row (``batch_repeat_interleave``), and SDPA then attended every row
over its copy: many small attention problems plus the copies. Attention splits exactly
into a part over the prefix and a part over the row's own tokens, merged by their
log-sum-exps; the prefix part is then ONE attention problem for all rows of the batch (the
rows' queries stacked against the prefix's single K/V), and the own-tokens part is small
and causal. The prefix K/V are read from the cache, never copied.

Used by ``HFBackend`` for batched extensions of a cached state on CPU, for model types whose
attention is plain causal softmax attention (``supports``): no sliding window shorter than
the sequence, no logit soft-capping, no attention sinks. Everything else runs as before.
Both parts use PyTorch's CPU flash-attention kernel, which returns the log-sum-exp that the
merge needs and accumulates in fp32 as SDPA does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NAME = "leakaudit_shared_prefix"
# model types whose attention modules were checked against the cache path (tests/test_shared_prefix.py)
MODEL_TYPES = {"llama", "qwen2", "qwen3", "mistral", "gemma3_text"}


@dataclass
class SharedPrefix:
    """Per layer, the prefix's keys and values (batch 1) and its length in tokens."""

    keys: list[Any]
    values: list[Any]
    length: int

    @classmethod
    def from_cache(cls, cache, length: int) -> "SharedPrefix":
        layers = cache.layers
        return cls([layer.keys for layer in layers], [layer.values for layer in layers], length)


def _flash(query, key, value, causal: bool, scale: float):
    import torch

    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, causal, scale=scale)
    return out, lse


def shared_prefix_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                            scaling: float | None = None, shared_prefix: SharedPrefix | None = None, **kwargs):
    """The attention function registered as ``NAME``: SDPA unless a ``shared_prefix`` is passed.

    query: (rows, heads, tokens, dim); key/value: (rows, kv_heads, tokens, dim), the rows' own
    tokens only (no cache is passed alongside a shared prefix)."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    rows, heads, tokens, dim = query.shape
    prefix_k, prefix_v = shared_prefix.keys[module.layer_idx], shared_prefix.values[module.layer_idx]
    kv_heads = prefix_k.shape[1]
    groups = heads // kv_heads
    scale = scaling if scaling is not None else dim ** -0.5
    # prefix part: every row's queries of one kv head stacked into one sequence (no mask: all see the prefix)
    stacked = query.view(rows, kv_heads, groups, tokens, dim).transpose(0, 1).reshape(1, kv_heads, rows * groups * tokens, dim)
    out_p, lse_p = _flash(stacked, prefix_k.to(query.dtype), prefix_v.to(query.dtype), False, scale)

    def unstack(t):  # (1, kv_heads, rows*groups*tokens, ...) -> (rows, heads, tokens, ...)
        tail = t.shape[3:]
        return t.reshape(kv_heads, rows, groups, tokens, *tail).transpose(0, 1).reshape(rows, heads, tokens, *tail)

    out_p, lse_p = unstack(out_p), unstack(lse_p)
    # own-tokens part: causal within each row (right padding needs no mask)
    out_s, lse_s = _flash(query, repeat_kv(key, groups), repeat_kv(value, groups), True, scale)
    lse = torch.logaddexp(lse_p, lse_s)
    out = out_p.float() * torch.exp(lse_p - lse).unsqueeze(-1) + out_s.float() * torch.exp(lse_s - lse).unsqueeze(-1)
    return out.to(query.dtype).transpose(1, 2).contiguous(), None


def _register() -> None:
    """Make ``NAME`` a valid ``attn_implementation`` (its masks are SDPA's)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    if NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(NAME, shared_prefix_attention)
        AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def text_config(model):
    """The config of a model's text tower (the model's own for a text model; None without one)."""
    config = getattr(model, "config", None)
    return config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config


def _window(config) -> int | None:
    """The shortest sliding window any layer uses (None: all layers attend to everything)."""
    window = getattr(config, "sliding_window", None)
    if not window:
        return None
    types = getattr(config, "layer_types", None)
    if types is not None:
        return window if "sliding_attention" in types else None
    return window if getattr(config, "use_sliding_window", True) else None


def enable(model) -> bool:
    """Switch an SDPA model on CPU to ``NAME`` (SDPA itself unless a shared prefix is passed).

    False, with the model untouched, where its attention is not plain causal softmax
    attention, it runs off the CPU, or it uses another attention implementation."""
    config = text_config(model)
    if config is None or getattr(config, "model_type", None) not in MODEL_TYPES:
        return False
    if getattr(config, "attn_logit_softcapping", None) or getattr(config, "use_sinks", False):
        return False
    if str(getattr(model, "device", "cpu")) != "cpu" or model.config._attn_implementation not in ("sdpa", NAME):
        return False
    _register()
    model.set_attn_implementation(NAME)
    return model.config._attn_implementation == NAME


def supports(model, total_length: int) -> bool:
    """Whether ``model`` attends this way over ``total_length`` tokens (prefix + own tokens):
    ``enable`` switched it, and no sliding window is shorter than that."""
    config = text_config(model)
    if config is None or getattr(config, "_attn_implementation", None) != NAME:
        return False
    window = _window(config)
    return window is None or total_length <= window
