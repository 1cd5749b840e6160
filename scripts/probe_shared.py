"""Blind-probe accuracy vs chance on the shared real benchmark samples and the demos (issue 11).

    python scripts/probe_shared.py [--data ../shared/data]

Prints, per benchmark: questions, probe accuracy with its Wilson 95% interval, chance, the
p-value against chance, and the probe's time as a ratio of the time to load the benchmark
(measured in the same run: the probe should cost about as much as reading the data).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from leakaudit.benchmark import load_benchmark
from leakaudit.demo import evidence_demo_dir
from leakaudit.evidence_tests.probe import probe

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
    print(f"{'benchmark':18} {'n':>5} {'accuracy':>9} {'95% CI':>16} {'chance':>7} {'p':>9} {'probe s':>8} {'load s':>7} {'ratio':>6}")
    for name, path in targets:
        t0 = time.perf_counter()
        bench = load_benchmark("demo" if name.startswith("demo") else name, path=path)
        t1 = time.perf_counter()
        s = probe(bench).summary
        t2 = time.perf_counter()
        ci = f"[{s['ci'][0]:.1%}, {s['ci'][1]:.1%}]"
        print(f"{name:18} {s['n']:>5} {s['accuracy']:>9.1%} {ci:>16} {s['chance']:>7.1%} {s['p_value_vs_chance']:>9.2g} "
              f"{t2 - t1:>8.1f} {t1 - t0:>7.1f} {(t2 - t1) / max(t1 - t0, 1e-9):>6.1f}")


if __name__ == "__main__":
    main()
