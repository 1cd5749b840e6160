#!/usr/bin/env python
"""Letter-scoring throughput of a 7B model on one GPU (H100/H200), transformers vs vLLM, no network.

Weights: ``--model FOLDER`` (a local Hugging Face folder), else random weights of the
Llama-2-7B shape built from its config (4096 hidden, 32 layers, 32 heads, 11008 MLP,
32000 vocabulary; bf16), which costs exactly what the real model costs per token. The
tokenizer is leakaudit's offline byte-level one: prompts are token ids anyway.

Prompts are shaped like MMMU-validation's 2-shot text-only prompts: a shared prefix
(system message + two solved demonstrations, ``--prefix-tokens``) then the question and
its options (``--question-tokens``); the model scores the option letters from one forward
pass, as ``leakaudit run --scoring letter`` does:

- transformers: ``HFBackend``'s letter path (prefix KV cache computed once, length-batched);
- vLLM: ``SamplingParams(max_tokens=1, logprob_token_ids=letters)`` with prefix caching on.

It prints prompt tokens/s and questions/s per engine and projects MMMU-validation
(900 questions) x 22 LLMs, 2-shot, on this one GPU, against the targets (>= 20,000 prompt
tokens/s for 7B; the 22-LLM sweep under 1.5 h; the 22 LLMs are 1.8B-34B, so the projection
scales by each zoo LLM's size relative to 7B). It stops each engine after ``--seconds`` and
is sized to finish within 8 minutes. Without CUDA it exits with status 2 and says so.

    python scripts/bench_gpu.py                    # random Llama-2-7B weights
    python scripts/bench_gpu.py --model /data/Llama-2-7b-chat-hf --engines vllm
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

LLAMA2_7B = dict(
    architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=4096, intermediate_size=11008,
    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
    max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu",
    tie_word_embeddings=False, torch_dtype="bfloat16", bos_token_id=1, eos_token_id=2,
)
MMMU_VALIDATION = 900
N_LLMS = 22
TARGET_TOKENS_PER_S = 20_000
TARGET_SWEEP_HOURS = 1.5


def open_llm_sizes() -> list[float]:
    """Sizes (billions) of the zoo's MMStar-22 LLMs that run on a GPU (the API models cost no GPU time)."""
    from leakaudit.models.zoo import load_zoo

    return [s.size for s in load_zoo().group("mmstar-22") if s.size and s.backend != "openai"]


def need_cuda() -> None:
    try:
        import torch
    except ModuleNotFoundError:
        print("bench_gpu.py needs PyTorch with CUDA; torch is not installed here", file=sys.stderr)
        sys.exit(2)
    if not torch.cuda.is_available():
        print("bench_gpu.py needs a CUDA GPU (one H100/H200): torch.cuda.is_available() is False on this machine. "
              "Run scripts/bench_engines.py for the CPU comparison.", file=sys.stderr)
        sys.exit(2)


def model_folder(args) -> Path:
    """The weights folder: --model, or a folder with the Llama-2-7B config and an offline tokenizer."""
    if args.model:
        return Path(args.model)
    from leakaudit.models.backends.tiny_vlm import build_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="bench_gpu_llama7b_"))
    (folder / "config.json").write_text(json.dumps(LLAMA2_7B), encoding="utf-8")
    build_tokenizer().save_pretrained(folder)
    return folder


def make_prompts(n: int, prefix_tokens: int, question_tokens: int, seed: int = 0) -> list[list[int]]:
    """n prompts of token ids: one shared prefix, then each question's own tokens."""
    rng = random.Random(seed)
    prefix = [rng.randrange(300, 31000) for _ in range(prefix_tokens)]
    return [prefix + [rng.randrange(300, 31000) for _ in range(question_tokens)] for _ in range(n)]


LETTER_IDS = [319, 350, 315, 360]  # any four ids: the cost is the same


def bench_transformers(folder: Path, args, prompts: list[list[int]]) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from leakaudit.models.backends.transformers_backend import HFBackend, _Encoded

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if args.model:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, device_map="cuda")
    else:
        with torch.device("cuda"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=torch.bfloat16)
    lm = HFBackend("bench-7b", model=model, tokenizer=tokenizer, batch_size=args.hf_batch_size, max_batch_tokens=args.hf_batch_tokens)
    load_s = time.perf_counter() - t0
    encoded = [_Encoded(ids, args.prefix_tokens) for ids in prompts]
    lm._next_token_logprobs(encoded[:4])  # warm-up
    torch.cuda.synchronize()
    done, tokens, t0 = 0, 0, time.perf_counter()
    step = 64
    while done < len(encoded) and time.perf_counter() - t0 < args.seconds:
        rows = lm._next_token_logprobs(encoded[done:done + step])
        _ = [float(torch.logsumexp(r[LETTER_IDS[:1]], 0)) for r in rows]
        tokens += sum(len(e.ids) for e in encoded[done:done + step])
        done += len(rows)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    del lm, model
    gc.collect()
    torch.cuda.empty_cache()
    return {"engine": "transformers", "load_s": load_s, "questions": done, "seconds": seconds, "prompt_tokens": tokens}


def bench_vllm(folder: Path, args, prompts: list[list[int]]) -> dict:
    from vllm import LLM, SamplingParams

    t0 = time.perf_counter()
    llm = LLM(model=str(folder), tokenizer=str(folder), dtype="bfloat16", load_format="auto" if args.model else "dummy",
              gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.prefix_tokens + args.question_tokens + 16,
              enable_prefix_caching=True, enforce_eager=args.enforce_eager, seed=0)
    load_s = time.perf_counter() - t0
    params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=len(LETTER_IDS), logprob_token_ids=LETTER_IDS)
    llm.generate([{"prompt_token_ids": p} for p in prompts[:4]], params, use_tqdm=False)  # warm-up
    done, tokens, t0 = 0, 0, time.perf_counter()
    step = 256
    while done < len(prompts) and time.perf_counter() - t0 < args.seconds:
        chunk = prompts[done:done + step]
        outs = llm.generate([{"prompt_token_ids": p} for p in chunk], params, use_tqdm=False)
        assert all(len(o.outputs[0].logprobs[0]) >= len(LETTER_IDS) for o in outs)
        tokens += sum(len(p) for p in chunk)
        done += len(chunk)
    seconds = time.perf_counter() - t0
    del llm
    gc.collect()
    return {"engine": "vLLM", "load_s": load_s, "questions": done, "seconds": seconds, "prompt_tokens": tokens}


def project(row: dict) -> dict:
    """Prompt tokens/s, and the 22-LLM MMMU-validation 2-shot sweep time on this GPU."""
    tps = row["prompt_tokens"] / row["seconds"]
    qps = row["questions"] / row["seconds"]
    # cost per question scales with parameters; the 7B rate sets the scale, API models cost nothing here
    sizes = open_llm_sizes()
    sweep_s = sum(MMMU_VALIDATION / (qps * 7.0 / size) for size in sizes)
    return {**row, "tokens_per_s": tps, "questions_per_s": qps, "sweep_hours": sweep_s / 3600, "sweep_models": len(sizes),
            "sweep_hours_all_7b": N_LLMS * MMMU_VALIDATION / qps / 3600}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="local weights folder (default: random Llama-2-7B weights)")
    parser.add_argument("--engines", default="transformers,vllm")
    parser.add_argument("--questions", type=int, default=MMMU_VALIDATION, help="prompts per engine (default 900, MMMU validation)")
    parser.add_argument("--prefix-tokens", type=int, default=480, help="shared system + 2-shot prefix (MMMU 2-shot: ~480)")
    parser.add_argument("--question-tokens", type=int, default=270, help="each question with its options (MMMU: ~270)")
    parser.add_argument("--seconds", type=float, default=90.0, help="stop each engine after this long (the run fits in 8 minutes)")
    parser.add_argument("--hf-batch-size", type=int, default=32)
    parser.add_argument("--hf-batch-tokens", type=int, default=32768)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    parser.add_argument("--enforce-eager", action=argparse.BooleanOptionalAction, default=True,
                        help="skip CUDA graph capture / compilation (saves minutes of start-up; prefill barely gains)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    need_cuda()
    import torch

    started = time.perf_counter()
    folder = model_folder(args)
    prompts = make_prompts(args.questions, args.prefix_tokens, args.question_tokens)
    print(f"GPU: {torch.cuda.get_device_name(0)}; weights: {args.model or 'random Llama-2-7B (bf16)'}; "
          f"{len(prompts)} prompts of {args.prefix_tokens}+{args.question_tokens} tokens", flush=True)
    rows = []
    for engine in [e.strip().lower() for e in args.engines.split(",") if e.strip()]:
        try:
            row = bench_transformers(folder, args, prompts) if engine == "transformers" else bench_vllm(folder, args, prompts)
        except ModuleNotFoundError as exc:
            print(f"{engine}: skipped ({exc})", flush=True)
            continue
        rows.append(project(row))
        r = rows[-1]
        print(f"{r['engine']}: {r['tokens_per_s']:,.0f} prompt tokens/s, {r['questions_per_s']:.1f} questions/s "
              f"(load {r['load_s']:.0f} s, {r['questions']} questions in {r['seconds']:.1f} s)", flush=True)
    print()
    print(f"{'engine':<13}{'prompt tok/s':>14}{'q/s':>9}{'x transformers':>16}{'22 LLMs x MMMU-val 2-shot':>28}")
    base = next((r["tokens_per_s"] for r in rows if r["engine"] == "transformers"), None)
    for r in rows:
        ratio = f"{r['tokens_per_s'] / base:.2f}" if base else "-"
        print(f"{r['engine']:<13}{r['tokens_per_s']:>14,.0f}{r['questions_per_s']:>9.1f}{ratio:>16}{r['sweep_hours']:>24.2f} h")
    for r in rows:
        ok_t = "meets" if r["tokens_per_s"] >= TARGET_TOKENS_PER_S else "misses"
        ok_s = "meets" if r["sweep_hours"] <= TARGET_SWEEP_HOURS else "misses"
        print(f"{r['engine']}: {ok_t} the {TARGET_TOKENS_PER_S:,} tokens/s target; sweep {r['sweep_hours']:.2f} h {ok_s} the "
              f"{TARGET_SWEEP_HOURS} h target (all 22 at 7B: {r['sweep_hours_all_7b']:.2f} h)")
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":  # vLLM starts its workers by spawn: this module must import without side effects
    main()
