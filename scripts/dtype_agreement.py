#!/usr/bin/env python
"""Does bf16 change the answers? Letter agreement of bf16 vs fp32 on the same MMStar questions.

The hf backend's ``dtype: auto`` stays fp32 on a CPU, even one with bf16 arithmetic
(avx512_bf16, amx_bf16, ARM bf16): bf16 is opt-in until it gives the same answers. This
measures that. It scores the same four-option MMStar questions (text only, 2-shot
letter scoring, prompts built as in a run) with each model twice, in fp32 and in bf16, and
prints the share of questions where both pick the same letter (target >= 98%), each
dtype's accuracy and the bf16/fp32 time ratio of the two runs on this machine. Example::

    python scripts/dtype_agreement.py --n 200 --models smollm2-135m,gemma3-270m
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import DEFAULT_DATA, load_questions  # noqa: E402


def letters(lm, bench, samples, shots: int) -> tuple[list[int], float]:
    """The chosen option of every question and the seconds it took (shared prefix cached)."""
    from leakaudit.answers.prompts import build_prompt, select_fewshot

    fewshot = select_fewshot(bench, shots)
    prompts = [build_prompt(s, "text", shots=shots, fewshot=fewshot, scoring="letter") for s in samples]
    start = time.perf_counter()
    scores = lm.letter_logprobs(prompts, [list(s.letters) for s in samples])
    return [row.index(max(row)) for row in scores], time.perf_counter() - start


def compare(model: str, bench, samples, shots: int, batch_size: int) -> dict:
    from leakaudit.models.backends.transformers_backend import HFBackend
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    picks, seconds = {}, {}
    for dtype in ("fp32", "bf16"):
        lm = HFBackend.from_spec(zoo[model], zoo, dtype=dtype, batch_size=batch_size)
        letters(lm, bench, samples[:2], shots)  # warm-up
        picks[dtype], seconds[dtype] = letters(lm, bench, samples, shots)
        lm.close()
    gold = [s.answer_index for s in samples]
    same = sum(a == b for a, b in zip(picks["fp32"], picks["bf16"]))
    return {"model": model, "questions": len(samples), "same_letter": same, "agreement": same / len(samples),
            "acc_fp32": sum(p == g for p, g in zip(picks["fp32"], gold)) / len(samples),
            "acc_bf16": sum(p == g for p, g in zip(picks["bf16"], gold)) / len(samples),
            "time_ratio_bf16_fp32": seconds["bf16"] / seconds["fp32"]}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of four-option MMStar questions (default 200)")
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m", help="comma-separated zoo names of hf-backend models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mmstar_text.parquet (MMStar questions, text only)")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"MMStar questions not found at {args.data} (pass --data or set LEAKAUDIT_SHARED_DATA)")
    from leakaudit.models.backends.transformers_backend import cpu_bf16

    flag = cpu_bf16()
    print(f"CPU bf16 arithmetic: {flag or 'none (bf16 is emulated here; dtype auto stays fp32)'}")
    bench, samples = load_questions(args.data, args.n)
    rows = []
    print(f"{'model':<16}{'questions':>10}{'same letter':>13}{'acc fp32':>10}{'acc bf16':>10}{'time bf16/fp32':>16}")
    for model in [m for m in args.models.split(",") if m]:
        r = compare(model, bench, samples, args.shots, args.batch_size)
        rows.append(r)
        print(f"{model:<16}{r['questions']:>10}{r['agreement']:>12.1%} {r['acc_fp32']:>10.3f}{r['acc_bf16']:>10.3f}{r['time_ratio_bf16_fp32']:>16.2f}",
              flush=True)
    print("target: >= 98% of questions answered with the same letter in bf16 as in fp32")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
