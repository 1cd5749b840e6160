"""How far a scoring run is from what this machine's matrix units allow (bench_speed, bench_engines).

``matmul_gflops`` measures the machine: the best of a few n x n x n torch matmuls, in fp32
and in bf16. ``TokenCounter`` counts the tokens a model's forward passes compute (the
``input_ids`` of every call, padding included: padding is computed too). The work of a
run is ``2 x parameters x tokens`` FLOPs (a forward pass costs about two FLOPs per weight
and token; attention over short prompts adds little), its bound ``FLOPs / rate`` seconds,
and ``seconds / bound`` says how close the run came to it (1.0 = the matmul rate).
"""
from __future__ import annotations

import time


def matmul_gflops(dtype: str, n: int = 2048, repeat: int = 5) -> float | None:
    """Best GFLOP/s of an n^3 matmul in ``dtype`` ("fp32" or "bf16"); None where torch cannot."""
    import torch

    kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    try:
        a, b = torch.randn(n, n, dtype=kind), torch.randn(n, n, dtype=kind)
        torch.mm(a, b)  # warm-up (thread pool, kernel choice)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    except RuntimeError:
        return None
    return 2.0 * n**3 / best / 1e9


class TokenCounter:
    """Counts the tokens every forward pass of ``model`` computes, while installed (a context manager)."""

    def __init__(self, model):
        self.model, self.tokens, self._hook = model, 0, None

    def _count(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and hasattr(ids, "numel"):
            self.tokens += int(ids.numel())

    def __enter__(self) -> "TokenCounter":
        self._hook = self.model.register_forward_pre_hook(self._count, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._hook.remove()


def machine_rates() -> dict[str, float | None]:
    """Measured matmul GFLOP/s of this machine, fp32 and bf16."""
    return {"fp32": matmul_gflops("fp32"), "bf16": matmul_gflops("bf16")}


def bound_lines(rates: dict[str, float | None], runs: list[tuple[str, float, "float | dict[str, float] | None"]]) -> list[str]:
    """Lines (<= 80 columns): the machine's rates, then per run its TFLOPs, the bound at each
    rate and seconds / bound. ``runs``: (name, seconds, FLOPs or None where not counted); FLOPs
    may be split by dtype ({"bf16": ..., "fp32": ...}: a bf16 run with fp32 re-scoring), which
    adds a line with the bound of each part at its own rate."""
    fmt = {k: (f"{v:.0f} GFLOP/s" if v else "n/a") for k, v in rates.items()}
    lines = [f"matmul 2048^3 on this machine: fp32 {fmt['fp32']}, bf16 {fmt['bf16']}",
             f"{'run':<22}{'TFLOP':>7}{'bound fp32':>12}{'x':>6}{'bound bf16':>12}{'x':>6}{'seconds':>9}"]
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
        if isinstance(work, dict) and all(rates.get(d) for d in work):
            bound = sum(f / (rates[d] * 1e9) for d, f in work.items())
            split = " + ".join(f"{d} {f / 1e12:.2f}" for d, f in work.items())
            mixed.append(f"{name}, each dtype at its rate ({split} TFLOP): bound {bound:.1f} s, x {seconds / bound:.2f}")
    lines += mixed
    lines.append("work: 2 x params x tokens computed; x: seconds / bound (1.0 = matmul rate)")
    return lines
