"""Blind-probe accuracy vs chance on the shared real benchmark samples and the demos (issue 11).

    python scripts/probe_shared.py [--data ../shared/data]

Prints, per benchmark: questions, probe accuracy with its Wilson 95% interval, chance, the
majority-letter baseline, the label-permutation null (mean accuracy of the probe refitted on
200 permutations of the gold letters, folds kept) and the permutation p-value, and the
probe's time (permutations included) as a ratio of the time to load the benchmark.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from leakaudit.data.benchmark import load_benchmark
from leakaudit.data.demo import evidence_demo_dir
from leakaudit.audit.signals.probe import probe

SHARED = (
    ("mmstar", "mmstar_text/mmstar_text.parquet"),
    ("mmbench", "mmbench_samples"),
    ("mmmu_pro", "mmmu_pro_samples"),
    ("mathvision", "mathv_testmini"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()
    targets = [(n, args.data / p) for n, p in SHARED if (args.data / p).exists()]
    if len(targets) < len(SHARED):
        print(f"note: shared samples missing under {args.data}: {[n for n, p in SHARED if not (args.data / p).exists()]}")
    targets += [("demo", None), ("demo (evidence)", evidence_demo_dir())]
    print(f"{'benchmark':16} {'n':>5} {'accuracy':>8} {'95% CI':>15} {'chance':>6} {'major.':>6} {'null':>6} {'p null':>7} {'probe s':>7} "
          f"{'ratio':>6}")
    for name, path in targets:
        t0 = time.perf_counter()
        bench = load_benchmark("demo" if name.startswith("demo") else name, path=path)
        t1 = time.perf_counter()
        s = probe(bench).summary
        t2 = time.perf_counter()
        ci = f"[{s['ci'][0]:.1%}, {s['ci'][1]:.1%}]"
        print(f"{name:16} {s['n']:>5} {s['accuracy']:>8.1%} {ci:>15} {s['chance']:>6.1%} {s['majority_baseline']['accuracy']:>6.1%} "
              f"{s['null_accuracy']:>6.1%} {s['permutation_p']:>7.3f} {t2 - t1:>7.1f} {(t2 - t1) / max(t1 - t0, 1e-9):>6.1f}")


if __name__ == "__main__":
    main()
