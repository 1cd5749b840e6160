"""Time ``leakaudit gate`` (what the GitHub Action runs) on submissions of N questions.

The submissions are text-only MMStar questions converted to the submission format
(docs/submission_format.md): ``id``, ``question``, ``options`` (a list), ``answer``,
``category``, ``l2_category``; no images (the vision models then see the question alone);
"nan" placeholder options (two-option MMStar questions) are dropped.
Each size runs in a fresh output folder and a fresh answer store, with the default tiny
zoo group, exactly as a first run of the Action does (model conversions in
``$LEAKAUDIT_CACHE`` are reused when present, as the Action's cache does).

    python scripts/gate_timing.py --sizes 100,300 [--source PATH] [--work DIR]

Prints one line per size: questions, wall seconds, CPU seconds (user + system of the gate
process: on a busy machine the wall time overstates what an idle 2-core runner needs, and
the CPU time bounds it), the load average, and the gate's status.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmstar_text" / "mmstar_text.parquet"


def write_submission(source: Path, n: int, out: Path) -> tuple[Path, int]:
    """The first ``n`` usable MMStar questions as a submission JSON Lines file (options parsed
    out of the text), and how many were written (MMStar's text copy has 1,499 usable ones)."""
    import pandas as pd

    from benchmarks_adapters.common import options_from_inline

    df = pd.read_parquet(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(df.to_dict(orient="records")):
            if written == n:
                break
            question, options = options_from_inline(str(row["question"]), file=str(source), row=i)
            options = [o for o in options if str(o).strip() and str(o).strip().lower() != "nan"]
            if len(options) < 2 or "ABCDEFGHIJ".index(row["answer"]) >= len(options):
                continue  # a few MMStar rows have fewer real options ("nan" placeholders dropped above)
            written += 1
            fh.write(json.dumps({"id": str(row["index"]), "question": question, "options": list(options), "answer": row["answer"],
                                 "category": row["category"], "l2_category": row["l2_category"]}, ensure_ascii=False) + "\n")
    return out, written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,300", help="comma-separated question counts")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="mmstar_text.parquet (text-only MMStar)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gate_timing"))
    args = ap.parse_args()
    if not args.source.is_file():
        print(f"error: {args.source} not found (the text-only MMStar copy in shared/data)", file=sys.stderr)
        return 2
    exe = Path(sys.executable).with_name("leakaudit")
    for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
        sub, written = write_submission(args.source, n, args.work / f"sub{n}" / "questions.jsonl")
        out = args.work / f"out{n}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run([str(exe), "gate", str(sub), "--out", str(out)], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        status = json.loads((out / "verdict.json").read_text())["status"] if (out / "verdict.json").is_file() else "?"
        print(f"{written} questions: wall {dt:.0f} s ({dt / written:.2f} s/question), CPU {cpu:.0f} s, load average at start {load:.1f} "
              f"on {os.cpu_count()} cores, gate {status} (exit {proc.returncode})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
