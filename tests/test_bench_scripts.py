"""The GPU benchmark script refuses a machine without CUDA clearly (status 2, one line why)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_without_cuda_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: scripts/bench_gpu.py would run the benchmark")
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--seconds", "1"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert "needs a CUDA GPU" in res.stderr and "torch.cuda.is_available() is False" in res.stderr
    assert "Traceback" not in res.stderr


def test_bench_gpu_projection_arithmetic():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bench_gpu
    finally:
        sys.path.pop(0)
    row = bench_gpu.project({"engine": "x", "load_s": 1.0, "questions": 900, "seconds": 30.0, "prompt_tokens": 900 * 750})
    assert row["tokens_per_s"] == pytest.approx(22_500)
    assert row["questions_per_s"] == pytest.approx(30.0)
    # 22 LLMs all at 7B: 22 x 900 questions / 30 q/s = 660 s
    assert row["sweep_hours_all_7b"] == pytest.approx(660 / 3600)
    sizes = bench_gpu.open_llm_sizes()
    assert row["sweep_hours"] == pytest.approx(sum(900 / (30.0 * 7 / s) for s in sizes) / 3600)
    prompts = bench_gpu.make_prompts(3, 10, 5)
    assert all(len(p) == 15 for p in prompts) and prompts[0][:10] == prompts[2][:10]


def test_work_counter_counts_body_head_and_attention_flops():
    """The bound's FLOPs: 2 per body weight and token, the head only on the logits computed,
    the attention's products over the context; embeddings (a lookup) cost nothing."""
    torch = pytest.importorskip("torch")
    import transformers

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from machine_bound import WorkCounter, bound_lines, kernel_bound, total
    finally:
        sys.path.pop(0)
    cfg = transformers.LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(cfg).eval()
    counter = WorkCounter(model)
    body = sum(p.numel() for p in model.parameters()) - 2 * 100 * 32
    assert (counter.body_params, counter.head_params, counter.attention_width) == (body, 100 * 32, 2 * 4 * 8)
    with torch.inference_mode(), counter:
        out = model(input_ids=torch.ones(1, 10, dtype=torch.long), use_cache=True)  # a prefix of 10 tokens
        model(input_ids=torch.ones(3, 4, dtype=torch.long), cache=_repeat(out.past_key_values, 3),
              logits_to_keep=1)  # 3 rows of 4 tokens after it, logits of the last token only
    attention = 4 * 64 * (1 * (10 * 0 + 10 * 11 / 2) + 3 * (4 * 10 + 4 * 5 / 2))
    assert counter.tokens == 10 + 12
    assert counter.flops == {"fp32": pytest.approx(2 * body * 22 + 2 * 3200 * (10 + 3) + attention)}
    assert counter.attention == {"fp32": pytest.approx(attention)} and counter.head_dim == 8
    # the attention at the flash kernel's rate instead of the matmul's: 1e11 FLOPs at 100 + 1e11 at 50 GFLOP/s
    rates = {"fp32": 100.0, "bf16": 400.0, "attention_head_dim": 8, "attention_fp32": 50.0, "attention_bf16": 50.0}
    assert kernel_bound(rates, {"fp32": 2e11}, {"fp32": 1e11}) == pytest.approx(3.0)
    assert kernel_bound({"fp32": 100.0}, {"fp32": 2e11}, {"fp32": 1e11}) is None  # no kernel rate measured
    assert "flash attention kernel, head dim 8: fp32 50 GFLOP/s, bf16 50 GFLOP/s" in bound_lines(rates, [])
    assert total({"bf16": 1.0, "fp32": 2.0}, {"fp32": 3.0}) == {"bf16": 1.0, "fp32": 5.0}
    lines = bound_lines({"fp32": 100.0, "bf16": 400.0}, [("mixed", 2.0, {"bf16": 4e11, "fp32": 1e11}), ("plain", 1.0, {"fp32": 1e11})])
    assert any(line.startswith("mixed, each dtype at its rate") and "bound 2.0 s, x 1.00" in line for line in lines)
    assert not any(line.startswith("plain, each dtype") for line in lines)


def test_attention_gflops_measures_the_flash_kernel():
    """The rate bench_speed prints beside the matmul's: a positive GFLOP/s in both dtypes."""
    pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from machine_bound import attention_gflops
    finally:
        sys.path.pop(0)
    for dtype in ("fp32", "bf16"):
        rate = attention_gflops(dtype, head_dim=16, queries=64, keys=32, heads=2, repeat=1)
        assert rate is not None and rate > 0


def _repeat(cache, rows: int):
    import copy

    cache = copy.deepcopy(cache)
    cache.batch_repeat_interleave(rows)
    return cache
