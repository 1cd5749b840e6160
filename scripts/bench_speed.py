#!/usr/bin/env python
"""Letter-scoring throughput: leakaudit's HF backend vs lm-eval on the same model, in one run.

Scores the same MMStar questions (text only, 2-shot) with SmolLM2-135M twice:

- leakaudit: ``HFBackend.letter_logprobs`` -- one forward pass per question batch over the
  question's own tokens, the shared system + 2-shot prefix encoded once (KV cache) and
  attended to in place (``shared_prefix.py``);
- lm-eval 0.4: a local ``multiple_choice`` task (choices A-D, ``num_fewshot: 2``, same chat
  template, system message and multi-turn few-shot) through ``HFLM(pretrained=<the same
  weights, loaded as its users load them>)``. lm-eval picks its 2 demonstrations with its own sampler, so the two
  prompts differ in which solved questions they show; both have the same structure.

The model loads in the zoo's dtype (``--dtype``): ``auto`` is bf16 with an fp32 head and the
fp32 check of close calls on a CPU with bf16 arithmetic (both copies of the weights are
loaded), fp32 elsewhere; lm-eval gets the same weights with every one in the body's dtype
(bf16 here with a bf16 head and no check: its fastest setting). The runners alternate over
chunks of the questions so that load from other jobs on a shared machine hits both alike;
each chunk pays leakaudit's shared prefix and lm-eval's task setup again (``--chunks 1`` on
a quiet machine: once each, as one run pays them). Then leakaudit scores the same questions in fp32, for the
share of letters bf16 keeps (target >= 98%) and fp32's time. Prints questions/second of
each and the ratios, this machine's measured matmul rate in fp32 and bf16, the FLOPs of the
tokens each runner computed by dtype (body and attention in the body's dtype, the head in
its own, the check's fp32 passes apart) and how far each is from the bound they set
(``machine_bound.py``); then the rate of PyTorch's CPU flash-attention kernel at the model's
head width and leakaudit's bound with its attention at that rate (what these kernels allow). Example::

    python scripts/bench_speed.py --n 200
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(os.environ.get("LEAKAUDIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_DATA = SHARED / "mmstar_text" / "mmstar_text.parquet"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_bound import WorkCounter, bound_lines, head_dim_of, kernel_bound, machine_rates, total  # noqa: E402


def load_questions(path: Path, n: int):
    """n four-option MMStar questions plus the few-shot pool, as leakaudit Samples."""
    from leakaudit import load_benchmark

    bench = load_benchmark("mmstar", path=path)
    four = [s for s in bench.samples if len(s.options) == 4]
    return bench, four[:n]


def run_leakaudit(lm, bench, samples, shots: int) -> tuple[float, float, list[int]]:
    """Seconds, accuracy and chosen options of letter scoring with the prefix cache, prompts built as in a run."""
    from leakaudit.answers.prompts import build_prompt, select_fewshot

    fewshot = select_fewshot(bench, shots)
    prompts = [build_prompt(s, "text", shots=shots, fewshot=fewshot, scoring="letter") for s in samples]
    lm._prefix_cache.clear()  # the shared prefix is computed inside the timed region
    lm._check_prefix_cache.clear()
    start = time.perf_counter()
    scores = lm.letter_logprobs(prompts, [list(s.letters) for s in samples])
    seconds = time.perf_counter() - start
    picks = [row.index(max(row)) for row in scores]
    correct = sum(p == s.answer_index for p, s in zip(picks, samples))
    return seconds, correct / len(samples), picks


def describe(lm) -> str:
    """The dtype a backend scores in, as the run records it: fp32, bf16, or bf16 + fp32 check."""
    info = lm.info()
    if info["dtype"] == "float32":
        return "fp32"
    head = ", fp32 head" if info.get("head_dtype") == "float32" else ""
    check = f", fp32 check of close calls ({info['fp32_check']} nats)" if info.get("fp32_check") else ""
    return f"{info['dtype'].replace('bfloat16', 'bf16')}{head}{check}"


def write_lmeval_task(folder: Path, bench, samples, shots: int) -> str:
    """A local lm-eval task over the same questions (JSON Lines, multiple_choice, A-D)."""
    from leakaudit.answers.prompts import question_block

    def doc(s):
        text = question_block(s, keep_images=False) + "Please select the correct answer from the options above. \n"
        text += "Answer with the option's letter from the given choices directly, such as answer letter 'A' only. \n"
        return {"query": text, "choices": list(s.letters), "gold": s.answer_index}

    asked = {s.id for s in samples}
    pool = [s for s in bench.samples if s.id not in asked and len(s.options) == 4][:50]
    (folder / "test.jsonl").write_text("".join(json.dumps(doc(s)) + "\n" for s in samples), encoding="utf-8")
    (folder / "fewshot.jsonl").write_text("".join(json.dumps(doc(s)) + "\n" for s in pool), encoding="utf-8")
    name = "leakaudit_bench_mmstar"
    (folder / f"{name}.yaml").write_text(
        f"""task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'test.jsonl'}
    train: {folder / 'fewshot.jsonl'}
test_split: test
fewshot_split: train
output_type: multiple_choice
doc_to_text: "{{{{query}}}}"
doc_to_choice: choices
doc_to_target: gold
target_delimiter: ""
num_fewshot: {shots}
metric_list:
  - metric: acc
""",
        encoding="utf-8",
    )
    return name


def lmeval_model(lm):
    """The same weights as lm-eval's users load them: every weight in the body's dtype (a bf16
    head too, no fp32 check), SDPA attention -- lm-eval's fastest setting."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(lm.source, dtype=next(lm.model.parameters()).dtype).eval()


def run_lmeval(lm, model, bench, samples, shots: int, batch_size: int) -> tuple[float, float]:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from leakaudit.answers.prompts import FEWSHOT_SYSTEM

    with tempfile.TemporaryDirectory() as tmp:
        task = write_lmeval_task(Path(tmp), bench, samples, shots)
        model = HFLM(pretrained=model, tokenizer=lm.tokenizer, batch_size=batch_size)
        manager = TaskManager(include_path=tmp)
        start = time.perf_counter()
        results = lm_eval.simple_evaluate(
            model=model, tasks=[task], task_manager=manager, num_fewshot=shots,
            apply_chat_template=True, fewshot_as_multiturn=True, system_instruction=FEWSHOT_SYSTEM,
            log_samples=False, bootstrap_iters=0, verbosity="WARNING",
        )
        seconds = time.perf_counter() - start
    return seconds, float(results["results"][task]["acc,none"])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of MMStar questions (default 200)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mmstar_text.parquet (MMStar questions, text only)")
    parser.add_argument("--model", default="smollm2-135m", help="zoo name of an hf-backend model")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of both runners")
    parser.add_argument("--chunks", type=int, default=4, help="alternate the runners over this many chunks (default 4)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--dtype", default=None, choices=("auto", "bf16", "fp32"), help="the model's dtype (default: the zoo's, auto)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"MMStar questions not found at {args.data} (pass --data or set LEAKAUDIT_SHARED_DATA)")

    import torch

    from leakaudit.models.zoo import load_zoo

    if args.threads:
        torch.set_num_threads(args.threads)
    bench, samples = load_questions(args.data, args.n)
    zoo = load_zoo()
    lm = zoo.load(args.model, batch_size=args.batch_size, **({"dtype": args.dtype} if args.dtype else {}))
    run_leakaudit(lm, bench, samples[:4], args.shots)  # warm-up (first-call allocations)
    lm.stats.update(fp32_checked=0, fp32_rescored=0, fp32_check_seconds=0.0)

    # the two runners alternate chunk by chunk, so a change in machine load (other jobs
    # on a shared machine) hits both alike; each chunk pays its own prefix / task setup
    # (--chunks 1 on a quiet machine: each runner pays them once, as one run does)
    la_s = lm_s = la_hits = lm_hits = 0.0
    picks: list[int] = []
    plain = lmeval_model(lm)
    la_tokens, lm_tokens = WorkCounter(lm.model), WorkCounter(plain)
    check_tokens = WorkCounter(lm._check_model) if lm._check_model is not None else contextlib.nullcontext()
    size = -(-len(samples) // max(1, args.chunks))
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        with la_tokens, check_tokens:
            seconds, acc, chosen = run_leakaudit(lm, bench, chunk, args.shots)
        la_s, la_hits = la_s + seconds, la_hits + acc * len(chunk)
        picks += chosen
        with lm_tokens:
            seconds, acc = run_lmeval(lm, plain, bench, chunk, args.shots, args.batch_size)
        lm_s, lm_hits = lm_s + seconds, lm_hits + acc * len(chunk)
        print(f"{start + len(chunk)}/{len(samples)} questions: leakaudit {la_s:.1f} s, lm-eval {lm_s:.1f} s", flush=True)
    la_acc, lm_acc = la_hits / len(samples), lm_hits / len(samples)
    mode = describe(lm)

    # the reference: the same runner in fp32, for the answers bf16 must keep (and its time)
    ref = lm if mode == "fp32" else zoo.construct(zoo[args.model], batch_size=args.batch_size, dtype="fp32")
    run_leakaudit(ref, bench, samples[:4], args.shots)
    ref_tokens = WorkCounter(ref.model)
    with ref_tokens:
        ref_s, ref_acc, ref_picks = run_leakaudit(ref, bench, samples, args.shots)
    same = sum(a == b for a, b in zip(picks, ref_picks))
    out = {
        "model": args.model,
        "dtype": mode,
        "questions": len(samples),
        "shots": args.shots,
        "batch_size": args.batch_size,
        "chunks": args.chunks,
        "torch_threads": torch.get_num_threads(),
        "leakaudit_seconds": round(la_s, 2),
        "leakaudit_qps": round(len(samples) / la_s, 3),
        "leakaudit_acc": round(la_acc, 4),
        "lmeval_seconds": round(lm_s, 2),
        "lmeval_qps": round(len(samples) / lm_s, 3),
        "lmeval_acc": round(lm_acc, 4),
        "speedup": round(lm_s / la_s, 2),
        "fp32_seconds": round(ref_s, 2),
        "fp32_acc": round(ref_acc, 4),
        "same_letter_as_fp32": same / len(samples),
        "fp32_rescored": lm.stats.get("fp32_rescored", 0),
        "fp32_check_seconds": lm.stats.get("fp32_check_seconds", 0.0),
    }
    rates = machine_rates(head_dim_of(lm.model))
    la_work = total(la_tokens.flops, check_tokens.flops if lm._check_model is not None else {})
    la_attention = total(la_tokens.attention, check_tokens.attention if lm._check_model is not None else {})
    la_kernel = kernel_bound(rates, la_work, la_attention)
    lm_work, ref_work = lm_tokens.flops, ref_tokens.flops
    out.update(body_params=la_tokens.body_params, leakaudit_tokens=la_tokens.tokens, lmeval_tokens=lm_tokens.tokens, fp32_tokens=ref_tokens.tokens,
               leakaudit_flops=la_work, lmeval_flops=lm_work, fp32_flops=ref_work,
               matmul_gflops_fp32=rates["fp32"], matmul_gflops_bf16=rates["bf16"],
               attention_gflops_fp32=rates["attention_fp32"], attention_gflops_bf16=rates["attention_bf16"],
               leakaudit_attention_flops=la_attention, leakaudit_kernel_bound_seconds=la_kernel)
    print(f"\n{args.model}, {len(samples)} MMStar questions, {args.shots}-shot letter scoring, {mode}")
    print(f"{'runner':<30}{'seconds':>9}{'questions/s':>13}{'accuracy':>10}{'tokens':>10}")
    print(f"{'leakaudit (prefix KV cache)':<30}{la_s:>9.1f}{out['leakaudit_qps']:>13.2f}{la_acc:>10.3f}{la_tokens.tokens:>10}")
    print(f"{'lm-eval 0.4 multiple_choice':<30}{lm_s:>9.1f}{out['lmeval_qps']:>13.2f}{lm_acc:>10.3f}{lm_tokens.tokens:>10}")
    if ref is not lm:
        print(f"{'leakaudit in fp32 (reference)':<30}{ref_s:>9.1f}{len(samples) / ref_s:>13.2f}{ref_acc:>10.3f}{ref_tokens.tokens:>10}")
    print(f"speed-up: {out['speedup']:.2f}x (leakaudit / lm-eval questions per second)")
    if ref is not lm:
        print(f"same letter as fp32: {same}/{len(samples)} ({same / len(samples):.1%}; target >= 98%); "
              f"{out['fp32_rescored']} close calls scored again in fp32 ({out['fp32_check_seconds']:.1f} s); {ref_s / la_s:.2f}x fp32's speed")
    print()
    runs = [("leakaudit", la_s, la_work), ("lm-eval", lm_s, lm_work)] + ([("leakaudit fp32", ref_s, ref_work)] if ref is not lm else [])
    for line in bound_lines(rates, runs):
        print(line)
    if la_kernel:
        print(f"leakaudit with its attention ({sum(la_attention.values()) / 1e12:.2f} TFLOP) at the flash kernel's rate:")
        print(f"  bound {la_kernel:.1f} s, x {la_s / la_kernel:.2f} (what PyTorch's CPU kernels allow)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
