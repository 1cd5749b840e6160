#!/usr/bin/env python
"""Does bf16 change the answers? Agreement of each bf16 mode with fp32 on the same MMStar questions.

The hf backend's ``dtype: auto`` on a CPU with bf16 arithmetic (avx512_bf16, amx_bf16, ARM
bf16) runs the model in bf16 with an fp32 output head and scores every close call again in
fp32 (``fp32_check``). This measures what each part buys. It scores the same four-option
MMStar questions (text only, 2-shot, prompts built as in a run; letter or cloze scoring)
with each model four times:

- ``fp32``: the reference;
- ``bf16``: every weight and the logits in bf16 (``fp32_head: false, fp32_check: 0``);
- ``bf16 + fp32 head``: the body in bf16, the head in fp32 (``fp32_check: 0``);
- ``auto``: bf16 + fp32 head + the fp32 check of close calls (what ``dtype: auto`` runs here);

and prints per mode the share of questions answered with the same option as fp32 (target
>= 98%), the share with the same *audit hit* (the gold option chosen with at least 50% of
the option probability, the default ``min_confidence``), the accuracy, the share of
questions the check scored again and the time relative to fp32. ``--offset`` picks other
questions than the ones ``FP32_CHECK_MARGIN`` was chosen on. Example::

    python scripts/dtype_agreement.py --n 200 --models smollm2-135m,gemma3-270m
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import DEFAULT_DATA, load_questions  # noqa: E402

#: mode -> HFBackend options (dtype first)
MODES = {
    "fp32": {"dtype": "fp32"},
    "bf16": {"dtype": "bf16", "fp32_head": False, "fp32_check": 0},
    "bf16 + fp32 head": {"dtype": "bf16", "fp32_check": 0},
    "auto": {"dtype": "bf16"},  # fp32_check is filled in from the script's --margin
}


def option_scores(lm, bench, samples, shots: int, scoring: str) -> tuple[list[list[float]], float]:
    """Each question's option scores (as the run scores them) and the seconds it took."""
    from leakaudit.answers.prompts import build_prompt, cloze_continuations, select_fewshot

    fewshot = select_fewshot(bench, shots)
    prompts = [build_prompt(s, "text", shots=shots, fewshot=fewshot, scoring=scoring) for s in samples]
    start = time.perf_counter()
    if scoring == "letter":
        scores = lm.letter_logprobs(prompts, [list(s.letters) for s in samples])
    else:  # cloze: per-token mean log-likelihood of each option text, as the runner picks
        lls = lm.loglikelihood(prompts, [cloze_continuations(s) for s in samples])
        scores = [[total / max(1, n) for total, n in row] for row in lls]
    return scores, time.perf_counter() - start


def audit_hit(scores: list[float], gold: int, min_confidence: float = 0.5) -> bool:
    """The audit's text-only hit: the gold option chosen with >= ``min_confidence`` of the option probability."""
    top = max(scores)
    weights = [math.exp(x - top) for x in scores]
    return scores.index(top) == gold and weights[gold] / sum(weights) >= min_confidence


def compare(model: str, bench, samples, shots: int, batch_size: int, scoring: str, margin: float,
            modes: list[str] | None = None) -> list[dict]:
    from leakaudit.models.backends.transformers_backend import HFBackend
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    gold = [s.answer_index for s in samples]
    rows, reference = [], None
    for mode, options in MODES.items():
        if modes and mode != "fp32" and mode not in modes:  # fp32 is the reference: always run
            continue
        options = {**options, **({"fp32_check": margin} if mode == "auto" else {})}
        lm = HFBackend.from_spec(zoo[model], zoo, batch_size=batch_size, **options)
        option_scores(lm, bench, samples[:2], shots, scoring)  # warm-up
        lm.stats.update(fp32_checked=0, fp32_rescored=0)
        scores, seconds = option_scores(lm, bench, samples, shots, scoring)
        picks = [row.index(max(row)) for row in scores]
        hits = [audit_hit(row, g) for row, g in zip(scores, gold)]
        if reference is None:
            reference = {"picks": picks, "hits": hits, "seconds": seconds}
        n = len(samples)
        rows.append({
            "model": model, "mode": mode, "scoring": scoring, "questions": n,
            "same_option": sum(a == b for a, b in zip(picks, reference["picks"])) / n,
            "same_hit": sum(a == b for a, b in zip(hits, reference["hits"])) / n,
            "accuracy": sum(p == g for p, g in zip(picks, gold)) / n,
            "rescored": lm.stats.get("fp32_rescored", 0) / n,
            "seconds": seconds, "time_vs_fp32": seconds / reference["seconds"],
        })
        lm.close()
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    from leakaudit.models.backends.transformers_backend import FP32_CHECK_MARGIN, cpu_bf16

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of four-option MMStar questions (default 200)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many four-option questions first (default 0)")
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m", help="comma-separated zoo names of hf-backend models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mmstar_text.parquet (MMStar questions, text only)")
    parser.add_argument("--scoring", choices=("letter", "cloze"), default="letter")
    parser.add_argument("--margin", type=float, default=FP32_CHECK_MARGIN, help=f"fp32 check margin of 'auto' in nats (default {FP32_CHECK_MARGIN})")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of: {', '.join(MODES)} (fp32 always runs)")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; known: {', '.join(MODES)}")
    if not args.data.is_file():
        parser.error(f"MMStar questions not found at {args.data} (pass --data or set LEAKAUDIT_SHARED_DATA)")

    flag = cpu_bf16()
    print(f"CPU bf16 arithmetic: {flag or 'none (bf16 is emulated here, slowly; dtype auto is fp32 on this CPU)'}")
    bench, samples = load_questions(args.data, args.offset + args.n)
    samples = samples[args.offset:]
    rows = []
    print(f"{len(samples)} questions, {args.scoring} scoring, {args.shots}-shot; fp32 check margin {args.margin} nats")
    print(f"{'model':<20}{'mode':<18}{'same option':>12}{'same hit':>10}{'accuracy':>10}{'re-scored':>11}{'time/fp32':>11}")
    for model in [m for m in args.models.split(",") if m]:
        for r in compare(model, bench, samples, args.shots, args.batch_size, args.scoring, args.margin, modes):
            rows.append(r)
            print(f"{model[:19]:<20}{r['mode']:<18}{r['same_option']:>11.1%} {r['same_hit']:>9.1%} {r['accuracy']:>9.3f} "
                  f"{r['rescored']:>10.1%} {r['time_vs_fp32']:>10.2f}", flush=True)
    print("target: >= 98% of questions answered with the same option as in fp32")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
