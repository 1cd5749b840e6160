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
