"""Generate the hostile corpus into a folder (outside the repository) and run every case through the real CLI.

    python scripts/hostile_corpus.py /tmp/hostile [--jobs 2] [--timeout 120] [--only NAME,NAME]

Each case is a malformed submission, a bad image, a damaged answer store or a misuse of
the CLI (``tests/hostile/corpus.py``), run with ``inspect`` and ``gate`` (or its own
commands) in fresh processes, each with a timeout, from an empty working directory. The
gate audits with two scripted LLMs (no weights). Prints one line per case that is not
``clear``/``correct`` and the counts: clear / correct / traceback / silent / hang / wrong.
Exit status 0 only when every case is clear or correct.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile.corpus import generate, run_case_subprocess  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="where the corpus is written (not inside the repository)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command before it counts as a hang")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    ap.add_argument("--json", type=Path, default=None, help="also write every result here")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    if args.folder.resolve().is_relative_to(repo):
        ap.error("write the corpus outside the repository")
    t0 = time.perf_counter()
    cases = generate(args.folder)
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c.name in keep]
    def one(case):
        r = run_case_subprocess(case, args.folder, timeout=args.timeout)
        print(f"  {r.verdict:9s} {case.name}", flush=True, file=sys.stderr)
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, cases))
    counts = Counter(r.verdict for r in results)
    for r in results:
        if r.verdict not in ("clear", "correct"):
            print(f"{r.verdict.upper():9s} {r.case} [{r.group}]: {r.detail[:500]}")
    groups = Counter(r.group for r in results)
    print(f"\n{len(results)} cases ({', '.join(f'{n} {g}' for g, n in sorted(groups.items()))}) in {time.perf_counter() - t0:.0f} s")
    print(" / ".join(f"{k} {counts.get(k, 0)}" for k in ("clear", "correct", "traceback", "silent", "hang", "wrong")))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0 if counts.get("clear", 0) + counts.get("correct", 0) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
