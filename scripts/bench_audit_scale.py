#!/usr/bin/env python
"""How the audit scales: time and peak memory per stage on a synthetic MMStar-sized panel.

Builds a synthetic benchmark (four-option questions in six capabilities) and a store of
answers as if imported: every LLM answers every question text-only, every LVLM with the
image and without it (``22 LLMs + 16 LVLMs x 20,000 questions = 1.08M answers``); answers
carry option scores, so confidences are computed as for a live letter-scoring run. Then
times the stages a user runs on such a store, each in a fresh Python process so that its
peak resident memory is its own:

- ``import``: write the benchmark file and the answers into ``answers.sqlite``;
- ``audit``:  ``audit(run_dir)`` and saving the audit folder (what ``leakaudit audit --out`` does);
- ``filter``: reload the audit folder and the benchmark, filter, write the kept set;
- ``report``: the PDF from the audit folder;
- ``probe``:  the model-free blind probe on the benchmark.

Runs at two sizes (``--questions`` and a tenth of it by default) so growth shows. Each
stage's peak memory includes the interpreter and its imports (the ``baseline`` row).
``--compare PATH`` also times the audit stage with the leakaudit package found at PATH (an
older checkout) on the same store, so a before/after ratio comes from one run. Example::

    python scripts/bench_audit_scale.py --questions 20000 --llms 22 --lvlms 16 --compare /work/main
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = "synthscale"
CATEGORIES = ("coarse perception", "fine-grained perception", "instance reasoning", "logical reasoning",
              "science & technology", "math")
ROOT = Path(__file__).resolve().parents[1]
STAGES = ("baseline", "import", "audit", "filter", "report", "probe")


# -- the synthetic panel -------------------------------------------------------------------------
def model_names(llms: int, lvlms: int) -> tuple[list[str], dict[str, str]]:
    """LLM names and LVLM -> base LLM (LVLMs share the first LLMs as bases, as MMStar's do)."""
    llm = [f"llm-{i:02d}" for i in range(llms)]
    return llm, {f"lvlm-{j:02d}": llm[j % len(llm)] for j in range(lvlms)}


def write_benchmark(path: Path, questions: int, seed: int) -> None:
    """A JSON Lines benchmark of ``questions`` four-option questions with varied wording."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = np.array("red blue green small large left right circle square count angle river cell metal energy graph "
                     "city tree animal person chart table value number line area speed mass light water".split())
    lines = []
    for i in range(questions):
        q = " ".join(rng.choice(words, 8))
        opts = [" ".join(rng.choice(words, int(rng.integers(1, 4)))) for _ in range(4)]
        lines.append(json.dumps({"id": f"q{i:06d}", "question": f"What is the {q}?", "A": opts[0], "B": opts[1], "C": opts[2],
                                 "D": opts[3], "answer": "ABCD"[int(rng.integers(4))], "category": CATEGORIES[i % len(CATEGORIES)],
                                 "l2_category": f"skill {i % 18}"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def import_answers(run_dir: Path, bench_file: Path, llms: int, lvlms: int, seed: int) -> int:
    """Every model's answers (option scores, chosen letter, correctness) into the store, in bulk."""
    import numpy as np

    from leakaudit import load_benchmark
    from leakaudit.answers.store import Answer, AnswerStore

    bench = load_benchmark(str(bench_file))
    llm, bases = model_names(llms, lvlms)
    gold = np.array([s.answer_index for s in bench.samples])
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.5, len(gold))
    jobs = [(m, "text", "") for m in llm] + [(m, c, "drop" if c == "blind" else "") for m in bases for c in ("vision", "blind")]
    stored = 0
    with AnswerStore(run_dir) as store:
        store.add_samples(bench.samples)
        for k, (model, condition, blind_mode) in enumerate(jobs):
            skill = {"text": -1.0, "blind": -0.5, "vision": 1.0}[condition] + 0.05 * k
            knows = rng.random(len(gold)) < 1.0 / (1.0 + np.exp(difficulty - skill))
            scores = rng.normal(-2.0, 1.0, (len(gold), 4))
            scores[np.arange(len(gold)), gold] += np.where(knows, 3.0, 0.0)
            chosen = scores.argmax(axis=1)
            stored += store.add_many(
                Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition=condition,
                       prompt_hash="synthetic", scoring="letter", correct=bool(c == g), blind_mode=blind_mode,
                       option_scores=[round(float(x), 4) for x in sc], chosen="ABCD"[c], extraction="argmax",
                       source="live", created_at=1.0 + k)
                for s, sc, c, g in zip(bench.samples, scores, chosen, gold))
        store.record_run({"benchmark": bench.name, "source": str(bench_file), "models": llm + list(bases)})
    return stored


# -- the stages, one per process ------------------------------------------------------------------
def run_stage(stage: str, work: Path, llms: int, lvlms: int, seed: int) -> dict:
    run_dir, bench_file = work / "run", work / f"{BENCH}.jsonl"
    audit_dir = work / os.environ.get("BENCH_AUDIT_DIR", "audit")
    out: dict = {}
    if stage == "baseline":
        import leakaudit.audit  # noqa: F401  (what every stage imports)
    elif stage == "import":
        write_benchmark(bench_file, int(os.environ["BENCH_QUESTIONS"]), seed)
        out["answers"] = import_answers(run_dir, bench_file, llms, lvlms, seed)
    elif stage == "audit":
        from leakaudit.audit import audit

        _, bases = model_names(llms, lvlms)
        result = audit(run_dir, base_llms=bases, n_boot=1000, seed=seed)
        result.save(audit_dir)
        out["share_text_answerable"] = result.summary["share_text_answerable"]
    elif stage == "filter":
        from leakaudit import load_benchmark
        from leakaudit.audit import AuditResult
        from leakaudit.audit.filter import filter_benchmark

        res = filter_benchmark(load_benchmark(str(bench_file)), AuditResult.load(audit_dir))
        res.kept.write(work / "kept.jsonl")
        out["kept"] = len(res.kept)
    elif stage == "report":
        from leakaudit.report import build_report

        build_report(audit_dir, work / "audit.pdf")
    elif stage == "probe":
        from leakaudit import load_benchmark
        from leakaudit.audit.signals.probe import probe

        out["probe_accuracy"] = probe(load_benchmark(str(bench_file))).summary.get("accuracy")
    return out


def timed_child(stage: str, work: Path, args: argparse.Namespace, questions: int, code: Path, audit_dir: str = "audit") -> dict:
    """Run one stage in a fresh interpreter importing leakaudit from ``code``; seconds and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(code), "BENCH_QUESTIONS": str(questions), "BENCH_AUDIT_DIR": audit_dir}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--work", str(work),
           "--llms", str(args.llms), "--lvlms", str(args.lvlms), "--seed", str(args.seed)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage} ({questions} questions, code {code}) failed with status {proc.returncode}:\n{stderr[-3000:]}")
    extra = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    # ru_maxrss is in KiB on Linux
    return {"stage": stage, "questions": questions, "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, **extra}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20000, help="questions at the larger size (default 20000)")
    parser.add_argument("--small", type=int, default=None, help="questions at the smaller size (default: a tenth)")
    parser.add_argument("--llms", type=int, default=22)
    parser.add_argument("--lvlms", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default=",".join(STAGES[1:]), help=f"comma-separated stages to time, in order (of {', '.join(STAGES)})")
    parser.add_argument("--compare", type=Path, default=None, help="also time the audit stage with the leakaudit checkout at this path")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--stage", choices=STAGES, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:  # inside a child: run one stage, print its extra numbers as one JSON line
        print(json.dumps(run_stage(args.stage, args.work, args.llms, args.lvlms, args.seed)))
        return []
    stages = ["baseline"] + [s for s in args.stages.split(",") if s and s != "baseline"]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    if "import" not in stages:
        parser.error("the import stage builds the store every other stage reads; keep it in --stages")
    sizes = sorted({args.small or max(1, args.questions // 10), args.questions})
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        for questions in sizes:
            work = Path(tmp) / f"q{questions}"
            work.mkdir()
            for stage in stages:
                row = timed_child(stage, work, args, questions, ROOT)
                rows.append(row)
                print(f"{questions:>7} questions  {stage:<8} {row['seconds']:7.1f} s  {row['peak_mb']:7.0f} MB", flush=True)
                if stage == "audit" and args.compare:
                    old = timed_child("audit", work, args, questions, args.compare.resolve(), "audit-compare")
                    old["stage"] = "audit (compare)"
                    rows.append(old)
                    print(f"{questions:>7} questions  {'audit@' + args.compare.name:<8} {old['seconds']:7.1f} s  {old['peak_mb']:7.0f} MB  "
                          f"new/old time {row['seconds'] / old['seconds']:.2f}, memory {row['peak_mb'] / old['peak_mb']:.2f}", flush=True)
    print_table(rows, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    """Seconds and peak MB per stage at both sizes, and the growth factor (fits 80 columns)."""
    sizes = sorted({r["questions"] for r in rows})
    answers = {r["questions"]: r.get("answers") for r in rows if r["stage"] == "import"}
    print(f"\n{args.llms} LLMs + {args.lvlms} LVLMs; answers: " + ", ".join(f"{q} questions -> {answers.get(q)}" for q in sizes))
    head = f"{'stage':<16}" + "".join(f"{f'{q} q: s':>12}{'MB':>7}" for q in sizes) + (f"{'x time':>8}" if len(sizes) == 2 else "")
    print(head)
    for stage in dict.fromkeys(r["stage"] for r in rows):
        got = {r["questions"]: r for r in rows if r["stage"] == stage}
        line = f"{stage:<16}" + "".join(f"{got[q]['seconds']:12.1f}{got[q]['peak_mb']:7.0f}" if q in got else " " * 19 for q in sizes)
        if len(sizes) == 2 and all(q in got for q in sizes):
            line += f"{got[sizes[1]]['seconds'] / max(got[sizes[0]]['seconds'], 1e-9):8.1f}"
        print(line)


if __name__ == "__main__":
    main()
