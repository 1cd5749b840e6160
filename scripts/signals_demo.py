"""Per-signal precision/recall, ROC AUC and PR AUC on the evidence demo (issue 11).

    python scripts/signals_demo.py                       # all signals, smollm2-135m + ocr+smollm2
    python scripts/signals_demo.py --signals probe       # model-free only (seconds)
    python scripts/signals_demo.py -o matrix.parquet     # also write the evidence matrix

The evidence demo is the 60-question demo plus 50 questions with per-signal labels
(``leakaudit.demo.generate_demo(extended=True)``).
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from leakaudit.benchmark import load_benchmark
from leakaudit.demo import evidence_demo_dir
from leakaudit.evidence_tests.combined import agreement, evidence_matrix
from leakaudit.evidence_tests.evaluate import ALL_SIGNALS, demo_truth, run_signals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", default=",".join(ALL_SIGNALS), help="comma list of signals")
    ap.add_argument("--llm", default="smollm2-135m", help="text-only LLM (zoo name, transformers backend for Min-K%%++)")
    ap.add_argument("--lvlm", default="ocr+smollm2", help="image-capable model for wrong-image (zoo name)")
    ap.add_argument("--scoring", default="letter", choices=["letter", "cloze"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default=None, help="write the evidence matrix (.parquet or .csv)")
    args = ap.parse_args()
    signals = [s.strip() for s in args.signals.split(",") if s.strip()]
    bench = load_benchmark("demo", path=evidence_demo_dir())
    llm = lvlm = None
    if any(s != "probe" and s != "wrong-image" for s in signals) or "wrong-image" in signals:
        from leakaudit.zoo import load_zoo

        zoo = load_zoo()
        if any(s not in ("probe", "wrong-image") for s in signals):
            llm = zoo.load(args.llm)
        if "wrong-image" in signals:
            lvlm = zoo.load(args.lvlm)
    t0 = time.perf_counter()
    frames = {}
    for name in signals:
        t = time.perf_counter()
        frames.update(run_signals(bench, [name], llm=llm, lvlm=lvlm, seed=args.seed, scoring=args.scoring))
        print(f"{name}: {time.perf_counter() - t:.1f}s", flush=True)
    matrix = evidence_matrix(frames, sample_ids=[s.id for s in bench.samples])
    table = agreement(matrix, demo_truth(bench, signals))
    pd.set_option("display.width", 160)
    print(f"\nevidence demo: {len(bench)} questions; llm {args.llm if llm else '-'}, lvlm {args.lvlm if lvlm else '-'}, "
          f"scoring {args.scoring}; {time.perf_counter() - t0:.0f}s")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.out:
        (matrix.to_parquet if args.out.endswith(".parquet") else matrix.to_csv)(args.out)
        print(f"evidence matrix -> {args.out}")


if __name__ == "__main__":
    main()
