#!/usr/bin/env python
"""The same questions, model and shots through every engine in one run: questions/s and ratios.

SmolLM2-135M (one GGUF) answers the same benchmark questions with letter scoring through
leakaudit's ``LM`` interface on each engine that is installed:

- transformers (``smollm2-135m``: the GGUF dequantized to a safetensors folder, prefix KV cache),
- llama.cpp (``smollm2-135m-llamacpp``: the GGUF itself),
- vLLM (``smollm2-135m-vllm``: the same safetensors folder; only where vLLM imports, i.e. in
  the environment of ``install.sh --vllm``),
- lm-eval (``backend: lmeval``: HFLM over the transformers model; letters as continuations).

Each engine is loaded (load time printed apart), warmed up on 4 questions, then times
``letter_logprobs`` on all questions. The table gives questions/s, the ratio to
transformers measured in this run, and how often each engine picks transformers' letter;
then this machine's matmul rate in fp32 and bf16, the FLOPs of the tokens transformers
computed for these questions and each engine's seconds against that bound.
The transformers and lm-eval engines run in fp32 (``--dtype``), the weights vLLM's CPU build
computes with, so every engine does the same arithmetic; ``bench_speed.py`` measures bf16.
On a shared machine, run it when it is quiet; ``--repeat`` takes the best of several passes.
Example::

    python scripts/bench_engines.py                   # the demo, 2-shot
    python scripts/bench_engines.py --bench mmstar --path ../shared/data/mmstar_text/mmstar_text.parquet --n 200
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_bound import WorkCounter, bound_lines, machine_rates  # noqa: E402

ENGINES = {
    "transformers": "smollm2-135m",
    "llama.cpp": "smollm2-135m-llamacpp",
    "vLLM": "smollm2-135m-vllm",
    "lm-eval": "smollm2-135m-lmeval",
}


def _zoo():
    """The bundled zoo plus an lm-eval entry on the same GGUF as ``smollm2-135m``."""
    from dataclasses import replace

    from leakaudit.models.zoo import Zoo, load_zoo

    zoo = load_zoo()
    specs = dict(zoo.specs)
    specs["smollm2-135m-lmeval"] = replace(specs["smollm2-135m"], name="smollm2-135m-lmeval", backend="lmeval")
    return Zoo(specs, zoo.groups, source=zoo.source + " (+ smollm2-135m-lmeval)")


def _available(engine: str) -> str | None:
    """None when the engine can run here, else why not."""
    import importlib.util

    need = {"llama.cpp": "xllamacpp", "vLLM": "vllm", "lm-eval": "lm_eval"}.get(engine)
    if need and importlib.util.find_spec(need) is None:
        return f"{need} not installed" + (" (VENV=path bash scripts/install.sh --vllm)" if need == "vllm" else "")
    if engine == "vLLM":
        try:
            import vllm  # noqa: F401
        except Exception as exc:  # noqa: BLE001
            return f"vllm does not import: {type(exc).__name__}: {exc}"
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", default="demo", help="benchmark adapter (default demo)")
    parser.add_argument("--path", default=None, help="local copy of the benchmark")
    parser.add_argument("--n", type=int, default=None, help="only the first N questions")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="timed passes per engine (the best is kept)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {', '.join(ENGINES)}")
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "auto"),
                        help="dtype of the transformers and lm-eval engines (default fp32: the weights vLLM's CPU build runs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.prompts import build_prompt, select_fewshot

    bench = load_benchmark(args.bench, path=args.path)
    samples = [s for s in bench.samples if s.is_multiple_choice][: args.n]
    fewshot = select_fewshot(bench, args.shots) if args.shots else []
    prompts = [build_prompt(s, "text", shots=args.shots, fewshot=fewshot, scoring="letter") for s in samples]
    letters = [list(s.letters) for s in samples]
    zoo = _zoo()

    rows: list[dict] = []
    reference: list[int] | None = None
    work: dict | None = None  # tokens and FLOPs of transformers' timed pass
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if engine not in ENGINES:
            parser.error(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        why = _available(engine)
        if why:
            rows.append({"engine": engine, "model": ENGINES[engine], "skipped": why})
            print(f"{engine}: skipped ({why})", flush=True)
            continue
        t0 = time.perf_counter()
        lm = zoo.load(ENGINES[engine], **({"dtype": args.dtype} if engine in ("transformers", "lm-eval") else {}))
        load_s = time.perf_counter() - t0
        lm.letter_logprobs(prompts[:4], letters[:4])  # warm-up (first-call allocations, compilation)
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            if hasattr(lm, "_prefix_cache"):
                lm._prefix_cache.clear()  # the shared prefix is paid inside the timed region
            counter = WorkCounter(lm.model) if engine == "transformers" else contextlib.nullcontext()
            with counter:
                t0 = time.perf_counter()
                scores = lm.letter_logprobs(prompts, letters)
                best = min(best, time.perf_counter() - t0)
        if engine == "transformers":
            work = {"tokens": counter.tokens, "flops": counter.flops, "head_dim": counter.head_dim}
        chosen = [row.index(max(row)) for row in scores]
        correct = sum(c == s.answer_index for c, s in zip(chosen, samples)) / len(samples)
        if engine == "transformers":
            reference = chosen
        agree = None if reference is None else sum(a == b for a, b in zip(chosen, reference)) / len(samples)
        rows.append({"engine": engine, "model": ENGINES[engine], "load_seconds": round(load_s, 1), "seconds": round(best, 2),
                     "qps": round(len(samples) / best, 2), "accuracy": round(correct, 3), "agree_with_transformers": agree})
        print(f"{engine}: {len(samples) / best:.2f} questions/s (load {load_s:.1f} s)", flush=True)
        zoo.unload(ENGINES[engine])
        del lm
        gc.collect()

    base = next((r["qps"] for r in rows if r["engine"] == "transformers" and "qps" in r), None)
    for r in rows:
        if "qps" in r and base:
            r["ratio_vs_transformers"] = round(r["qps"] / base, 2)

    import torch

    print(f"\nSmolLM2-135M, {len(samples)} {bench.name} questions, {args.shots}-shot letters "
          f"({torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs)")
    print(f"{'engine':<14}{'load s':>8}{'seconds':>9}{'q/s':>8}{'x transf.':>11}{'accuracy':>10}{'same letter':>13}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['engine']:<14}skipped: {r['skipped']}"[:80])
            continue
        agree = "-" if r["agree_with_transformers"] is None else f"{r['agree_with_transformers']:.1%}"
        print(f"{r['engine']:<14}{r['load_seconds']:>8.1f}{r['seconds']:>9.2f}{r['qps']:>8.2f}"
              f"{r.get('ratio_vs_transformers', float('nan')):>11.2f}{r['accuracy']:>10.3f}{agree:>13}")
    print("same letter: share of questions where the engine picks transformers' letter\n")
    rates = machine_rates(work.get("head_dim") if work else None)
    # the same questions through the same weights: transformers' count (prefix cache included) is the work of every engine
    flops = work["flops"] if work else None
    for line in bound_lines(rates, [(r["engine"], r["seconds"], flops) for r in rows if "seconds" in r]):
        print(line)
    out = {"benchmark": bench.name, "questions": len(samples), "shots": args.shots, "rows": rows, "work": work,
           "matmul_gflops": rates}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


if __name__ == "__main__":  # vLLM starts its workers by spawn: this module must import without side effects
    main()
