"""Per-signal precision/recall, ROC AUC and PR AUC on the evidence demo (issue 11).

    python scripts/signals_demo.py                       # all signals, smollm2-135m + ocr+smollm2
    python scripts/signals_demo.py --signals probe       # model-free only (seconds)
    python scripts/signals_demo.py -o matrix.parquet     # also write the evidence matrix

The evidence demo is the 60-question demo plus 50 questions with per-signal labels
(``leakaudit.data.demo.generate_demo(extended=True)``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from leakaudit.data.benchmark import load_benchmark
from leakaudit.data.demo import evidence_demo_dir
from leakaudit.audit.signals.combined import agreement, evidence_matrix
from leakaudit.audit.signals.evaluate import ALL_SIGNALS, TRUTH_KEY, demo_truth, run_signals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", default=",".join(ALL_SIGNALS), help="comma list of signals")
    ap.add_argument("--llm", default="smollm2-135m", help="text-only LLM (zoo name, transformers backend for Min-K%%++)")
    ap.add_argument("--lvlm", default="ocr+smollm2", help="image-capable model for wrong-image (zoo name)")
    ap.add_argument("--scoring", default="letter", choices=["letter", "cloze"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default=None, help="write the evidence matrix (.parquet or .csv)")
    ap.add_argument("--frames", default=None, help="folder of per-signal frames: a signal found there is read, not recomputed; "
                    "a computed one is written there (lets several processes share the work)")
    ap.add_argument("--no-table", action="store_true", help="only compute (and save) the frames")
    ap.add_argument("--labelled-only", action="store_true", help="run each signal only on the questions labelled for it (faster)")
    args = ap.parse_args()
    signals = [s.strip() for s in args.signals.split(",") if s.strip()]
    bench = load_benchmark("demo", path=evidence_demo_dir())
    frames: dict[str, pd.DataFrame] = {}
    folder = Path(args.frames) if args.frames else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in signals:
            if (folder / f"{name}.parquet").is_file():
                frames[name] = pd.read_parquet(folder / f"{name}.parquet")
    todo = [s for s in signals if s not in frames]
    llm = lvlm = None
    if any(s != "probe" for s in todo):
        from leakaudit.models.zoo import load_zoo

        zoo = load_zoo()
        if any(s not in ("probe", "wrong-image") for s in todo):
            llm = zoo.load(args.llm)
        if "wrong-image" in todo:
            lvlm = zoo.load(args.lvlm)
    t0 = time.perf_counter()
    for name in todo:
        t = time.perf_counter()
        asked = bench
        if args.labelled_only:
            key = TRUTH_KEY[name]
            asked = bench.subset([s.id for s in bench.samples if (s.meta.get("truth_signals") or {}).get(key) is not None])
        frames.update(run_signals(asked, [name], llm=llm, lvlm=lvlm, seed=args.seed, scoring=args.scoring))
        print(f"{name}: {time.perf_counter() - t:.1f}s", flush=True)
        if folder is not None:
            frames[name].to_parquet(folder / f"{name}.parquet", index=False)
    if args.no_table:
        return
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
