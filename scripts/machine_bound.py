"""How far a scoring run is from what this machine's matrix units allow (bench_speed, bench_engines).

``matmul_gflops`` measures the machine: the best of a few n x n x n torch matmuls, in fp32
and in bf16. ``attention_gflops`` measures PyTorch's CPU flash-attention kernel the same way,
since a small model spends a large share of its time there and that kernel need not run at
the matmul rate (on a CPU without AMX its bf16 runs at about its fp32 rate). ``WorkCounter`` counts the tokens a model's forward passes compute and their
FLOPs: two per weight of the body and token, the output head only for the rows of logits
computed, and the attention's products over the context (see the class). A run's bound is
``FLOPs / rate`` seconds (each dtype at its own rate), and ``seconds / bound`` says how
close the run came to it (1.0 = the matmul rate).
"""
from __future__ import annotations

import time

from leakaudit.models.backends.shared_prefix import text_config


def _best_seconds(call, repeat: int) -> float:
    """The fastest of ``repeat`` timed calls, after one untimed warm-up (thread pool, kernel choice)."""
    call()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _torch_dtype(dtype: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]


def matmul_gflops(dtype: str, n: int = 2048, repeat: int = 5) -> float | None:
    """Best GFLOP/s of an n^3 matmul in ``dtype`` ("fp32" or "bf16"); None where torch cannot."""
    import torch

    kind = _torch_dtype(dtype)
    try:
        a, b = torch.randn(n, n, dtype=kind), torch.randn(n, n, dtype=kind)
        best = _best_seconds(lambda: torch.mm(a, b), repeat)
    except RuntimeError:
        return None
    return 2.0 * n**3 / best / 1e9


def attention_gflops(dtype: str, head_dim: int = 64, queries: int = 2048, keys: int = 512,
                     heads: int = 4, repeat: int = 5) -> float | None:
    """Best GFLOP/s (4 x heads x queries x keys x head_dim per call: scores and values) of
    PyTorch's CPU flash-attention kernel, non-causal, in ``dtype``; None where torch lacks it."""
    import torch

    kind = _torch_dtype(dtype)
    kernel = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if kernel is None:
        return None
    try:
        q = torch.randn(1, heads, queries, head_dim, dtype=kind)
        k, v = (torch.randn(1, heads, keys, head_dim, dtype=kind) for _ in range(2))
        best = _best_seconds(lambda: kernel(q, k, v, 0.0, False, scale=head_dim ** -0.5), repeat)
    except (RuntimeError, NotImplementedError):
        return None
    return 4.0 * heads * queries * keys * head_dim / best / 1e9


def head_dim_of(model) -> int:
    """The attention head width of a transformers model (its text tower's)."""
    config = text_config(model)
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


class WorkCounter:
    """Counts the tokens and FLOPs every forward pass of ``model`` computes, while installed
    (a context manager).

    Per call with ``input_ids`` of B rows x T tokens after a context of P tokens (a KV cache,
    or explicit ``position_ids``), padding included (padding is computed too):

    - body: 2 x (parameters without the input embedding and the output head) x B x T;
    - head: 2 x vocabulary x hidden x the rows of logits computed (``logits_to_keep``: only
      those; otherwise every token);
    - attention: 4 x layers x heads x head_dim x B x (T x P + T (T + 1) / 2), the score and
      value products of full causal attention (sliding windows are not subtracted).

    ``flops`` maps a dtype ("fp32", "bf16") to FLOPs: the head is counted at its own dtype
    (leakaudit's bf16 models keep an fp32 head). ``attention`` maps a dtype to the part of
    ``flops`` that is attention (see ``kernel_bound``)."""

    def __init__(self, model):
        self.model, self.tokens, self.flops, self.attention, self._hook = model, 0, {}, {}, None
        head, embed = model.get_output_embeddings(), model.get_input_embeddings()
        skip = {id(m.weight) for m in (head, embed) if m is not None}
        self.body_params = sum(p.numel() for p in model.parameters() if id(p) not in skip)
        self.head_params = head.weight.numel() if head is not None else 0
        config = text_config(model)
        self.head_dim = head_dim_of(model)
        self.attention_width = config.num_hidden_layers * config.num_attention_heads * self.head_dim
        self.body_dtype = _dtype_name(next(model.parameters()).dtype)
        self.head_dtype = _dtype_name(head.weight.dtype) if head is not None else self.body_dtype

    def _add(self, dtype: str, flops: float, attention: float = 0.0) -> None:
        self.flops[dtype] = self.flops.get(dtype, 0.0) + flops + attention
        if attention:
            self.attention[dtype] = self.attention.get(dtype, 0.0) + attention

    def _count(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None or not hasattr(ids, "shape") or ids.dim() != 2:
            return
        rows, width = int(ids.shape[0]), int(ids.shape[1])
        self.tokens += rows * width
        context = 0
        positions = kwargs.get("position_ids")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if positions is not None:
            context = int(positions.reshape(-1)[0])
        elif cache is not None and hasattr(cache, "get_seq_length"):
            context = int(cache.get_seq_length())
        keep = kwargs.get("logits_to_keep", 0)
        kept = width if isinstance(keep, int) and keep == 0 else (keep if isinstance(keep, int) else int(keep.numel()))
        self._add(self.body_dtype, 2.0 * self.body_params * rows * width,
                  attention=4.0 * self.attention_width * rows * (width * context + width * (width + 1) / 2))
        self._add(self.head_dtype, 2.0 * self.head_params * rows * kept)

    def __enter__(self) -> "WorkCounter":
        self._hook = self.model.register_forward_pre_hook(self._count, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._hook.remove()


def _dtype_name(dtype) -> str:
    return {"torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(str(dtype), "fp32")


def total(*works: dict[str, float]) -> dict[str, float]:
    """FLOPs by dtype, summed over counters."""
    out: dict[str, float] = {}
    for work in works:
        for dtype, flops in work.items():
            out[dtype] = out.get(dtype, 0.0) + flops
    return out


def machine_rates(head_dim: int | None = None) -> dict[str, float | None]:
    """Measured matmul GFLOP/s of this machine, fp32 and bf16; with ``head_dim``, also the
    flash-attention kernel's at that head width (``attention_fp32``, ``attention_bf16``)."""
    rates = {"fp32": matmul_gflops("fp32"), "bf16": matmul_gflops("bf16")}
    if head_dim:
        rates.update(attention_head_dim=head_dim, attention_fp32=attention_gflops("fp32", head_dim),
                     attention_bf16=attention_gflops("bf16", head_dim))
    return rates


def kernel_bound(rates: dict[str, float | None], work: dict[str, float], attention: dict[str, float]) -> float | None:
    """Seconds the work takes with each dtype's matmuls at the matmul rate and its attention at
    the flash kernel's measured rate (``machine_rates(head_dim)``): the best these kernels
    allow, where the plain bound assumes attention at the matmul rate. None where a rate is missing."""
    seconds = 0.0
    for dtype, flops in work.items():
        part = attention.get(dtype, 0.0)
        matmul, kernel = rates.get(dtype), rates.get(f"attention_{dtype}")
        if not matmul or (part and not kernel):
            return None
        seconds += (flops - part) / (matmul * 1e9) + (part / (kernel * 1e9) if part else 0.0)
    return seconds


def bound_lines(rates: dict[str, float | None], runs: list[tuple[str, float, "float | dict[str, float] | None"]]) -> list[str]:
    """Lines (<= 80 columns): the machine's rates, then per run its TFLOPs, the bound at each
    rate and seconds / bound. ``runs``: (name, seconds, FLOPs or None where not counted); FLOPs
    may be split by dtype ({"bf16": ..., "fp32": ...}: a bf16 run with fp32 re-scoring), which
    adds a line with the bound of each part at its own rate."""
    fmt = {k: (f"{v:.0f} GFLOP/s" if v else "n/a") for k, v in rates.items()}
    lines = [f"matmul 2048^3 on this machine: fp32 {fmt['fp32']}, bf16 {fmt['bf16']}"]
    if rates.get("attention_head_dim"):
        lines.append(f"flash attention kernel, head dim {rates['attention_head_dim']}: "
                     f"fp32 {fmt['attention_fp32']}, bf16 {fmt['attention_bf16']}")
    lines += [f"{'run':<22}{'TFLOP':>7}{'bound fp32':>12}{'x':>6}{'bound bf16':>12}{'x':>6}{'seconds':>9}"]
    mixed = []
    for name, seconds, work in runs:
        parts = work if isinstance(work, dict) else ({"all": work} if work else {})
        flops = sum(parts.values()) if parts else None
        cells = []
        for dtype in ("fp32", "bf16"):
            rate = rates.get(dtype)
            bound = flops / (rate * 1e9) if flops and rate else None
            cells += [f"{bound:>10.1f} s" if bound else f"{'-':>12}", f"{seconds / bound:>6.2f}" if bound else f"{'-':>6}"]
        tflop = f"{flops / 1e12:>7.2f}" if flops else f"{'-':>7}"
        lines.append(f"{name[:21]:<22}{tflop}{cells[0]}{cells[1]}{cells[2]}{cells[3]}{seconds:>9.1f}")
        if isinstance(work, dict) and len(work) > 1 and all(rates.get(d) for d in work):
            bound = sum(f / (rates[d] * 1e9) for d, f in work.items())
            split = " + ".join(f"{d} {f / 1e12:.2f}" for d, f in work.items())
            mixed.append(f"{name}, each dtype at its rate ({split} TFLOP): bound {bound:.1f} s, x {seconds / bound:.2f}")
    lines += mixed
    lines.append("work: 2 x body params x tokens + head on the logits computed + attention over")
    lines.append("the context; x: seconds / bound (1.0 = matmul rate)")
    return lines
