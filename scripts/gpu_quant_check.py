#!/usr/bin/env python
"""bitsandbytes 4-bit and 8-bit through leakaudit's own transformers backend on one GPU, against bf16, no network.

A Llama of ``--shape`` (default Llama-2-7B: 4096 hidden, 32 layers) with random weights is
saved once as safetensors, then loaded by ``HFBackend`` three times: bf16, ``quantization:
8bit`` and ``quantization: 4bit`` (NF4, compute in bf16), as a zoo entry with that field would
load it. For each it prints the GPU memory the weights take (``torch.cuda.memory_allocated``
after loading), the plan's estimate for the same entry (``leakaudit.answers.plan.gpu_memory_gb``),
the load time, the letter-scoring throughput on MMMU-shaped 2-shot prompts, and how often the
quantized model picks bf16's letter with the largest log-prob difference. Random weights give
near-flat letter distributions, so agreement here is a lower bound on what a trained model
keeps; memory and speed are what the real model costs.

Without CUDA it exits with status 2. Sized for a few minutes on one H100/H200::

    python scripts/gpu_quant_check.py --questions 200
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHAPES = {
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32),
    "llama-1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4),
    "tiny": dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4),  # --device cpu dry run
}
LETTERS = ["A", "B", "C", "D"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama2-7b")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--prefix-tokens", type=int, default=480)
    parser.add_argument("--question-tokens", type=int, default=270)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="cuda", help="cuda (the check); cpu only tries the script on --shape tiny")
    args = parser.parse_args(argv)

    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("gpu_quant_check.py needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    from dataclasses import replace

    from transformers import AutoModelForCausalLM, LlamaConfig

    from leakaudit.answers.plan import gpu_memory_gb
    from leakaudit.models.backends.base import Prompt
    from leakaudit.models.backends.tiny_vlm import build_tokenizer
    from leakaudit.models.backends.transformers_backend import HFBackend
    from leakaudit.models.zoo import ModelSpec

    folder = Path(tempfile.mkdtemp(prefix="gpu_quant_check_"))
    cfg = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **SHAPES[args.shape])
    tok = build_tokenizer()
    t0 = time.perf_counter()
    with torch.device(args.device):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    del model
    gc.collect()
    torch.cuda.empty_cache()
    print(f"{torch.cuda.get_device_name() if cuda else 'CPU'}: random {args.shape} ({n_params / 1e9:.2f}B parameters) saved in {time.perf_counter() - t0:.0f} s")

    rng = random.Random(0)
    words = [f"w{i}" for i in range(2000)]
    prefix = " ".join(rng.choice(words) for _ in range(args.prefix_tokens // 2))
    prompts = []
    for _ in range(args.questions):
        question = " ".join(rng.choice(words) for _ in range(args.question_tokens // 2))
        messages = [{"role": "system", "content": prefix}, {"role": "user", "content": question + "\nAnswer with the option's letter."}]
        prompts.append(Prompt(messages=messages, prefix_len=1))  # the shared prefix is cached, as in a 2-shot run
    letters = [LETTERS] * len(prompts)

    spec = ModelSpec(name="random-" + args.shape, kind="llm", backend="hf", size=round(n_params / 1e9, 2), hf_id=str(folder))
    rows, reference = [], None
    gpu = torch.cuda if cuda else None
    for quant in (None, "8bit", "4bit") if cuda else (None, "4bit"):
        if gpu:
            gpu.empty_cache()
            gpu.reset_peak_memory_stats()
        before = gpu.memory_allocated() if gpu else 0
        t0 = time.perf_counter()
        lm = HFBackend(spec.name, str(folder), dtype="bf16", device=args.device, quantization=quant, prompt_style="plain")
        lm.letter_logprobs(prompts[:2], letters[:2])  # loads the model, warms up
        load_s = time.perf_counter() - t0
        weights_gb = (gpu.memory_allocated() - before) / 1e9 if gpu else float("nan")
        if gpu:
            gpu.synchronize()
        t0 = time.perf_counter()
        scores = lm.letter_logprobs(prompts, letters)
        if gpu:
            gpu.synchronize()
        seconds = time.perf_counter() - t0
        peak_gb = gpu.max_memory_allocated() / 1e9 if gpu else float("nan")
        linear4 = sum(type(m).__name__ == "Linear4bit" for m in lm.model.modules())
        linear8 = sum(type(m).__name__ == "Linear8bitLt" for m in lm.model.modules())
        row = {"quantization": quant or "bf16", "weights_gb": round(weights_gb, 2), "peak_gb": round(peak_gb, 2),
               "plan_gb": gpu_memory_gb(replace(spec, quantization=quant)), "load_s": round(load_s, 1),
               "questions_per_s": round(len(prompts) / seconds, 1), "linear4bit": linear4, "linear8bit": linear8}
        chosen = [max(range(4), key=lambda i: s[i]) for s in scores]
        if reference is None:
            reference = (chosen, scores)
        else:
            row["same_letter_as_bf16"] = sum(a == b for a, b in zip(chosen, reference[0])) / len(chosen)
            row["max_logprob_diff"] = round(max(abs(a - b) for s, r in zip(scores, reference[1]) for a, b in zip(s, r)), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del lm
        gc.collect()

    print(f"\n{'weights':<8}{'GPU GB':>8}{'plan GB':>9}{'peak GB':>9}{'load s':>8}{'q/s':>8}{'same letter':>13}")
    for r in rows:
        same = "-" if "same_letter_as_bf16" not in r else f"{r['same_letter_as_bf16']:.1%}"
        plan = "-" if r["plan_gb"] is None else f"{r['plan_gb']:.1f}"
        print(f"{r['quantization']:<8}{r['weights_gb']:>8.2f}{plan:>9}{r['peak_gb']:>9.2f}{r['load_s']:>8.1f}{r['questions_per_s']:>8.1f}{same:>13}")
    if args.json:
        args.json.write_text(json.dumps({"shape": args.shape, "parameters": n_params, "questions": len(prompts), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
