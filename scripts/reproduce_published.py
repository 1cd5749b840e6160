"""Import published result files as they are and compare with the numbers their authors publish.

Usage: python scripts/reproduce_published.py REALFILES_DIR [--out table.md]

REALFILES_DIR holds copies of public files (nothing here is committed):
  mathvista/data/testmini.json, mathvista/results/*/output_*.json + scores_*.json   (lupantech/MathVista)
  mmmu_pro/*.jsonl                                                                  (MMMU-Benchmark/MMMU mmmu-pro/output)
  vlmevalkit/llava_next_yi_34b_MMStar.xlsx                                          (MMStar-Benchmark/MMStar eval/submits)
  scienceqa/data/scienceqa/problems.json + scienceqa/results/gpt3/*.json            (lupantech/ScienceQA)
Missing groups are reported as skipped. Prints one markdown table: file, published, leakaudit.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from leakaudit.data.benchmark import load_benchmark
from leakaudit.errors import LeakauditError
from leakaudit.answers.imports import import_predictions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    root: Path = args.root
    rows: list[tuple[str, str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="leakaudit-published-"))

    mv = root / "mathvista"
    if (mv / "data" / "testmini.json").is_file():
        bench = load_benchmark("mathvista", path=mv / "data" / "testmini.json", no_images=True)
        rows.append(("mathvista/data/testmini.json (--no-images)", "1000 questions", f"{len(bench)} questions", ""))
        for out in sorted((mv / "results").glob("*/output_*.json")):
            scores = out.with_name(out.name.replace("output_", "scores_", 1))
            published = json.loads(scores.read_text())["average"]["accuracy"] if scores.is_file() else "-"
            s = import_predictions(out, format="mathvista", model=out.stem, condition="text", benchmark=bench, run_dir=tmp / "mv")
            own = import_predictions(out, format="mathvista", model=out.stem + "-scored", condition="text", benchmark=bench,
                                     run_dir=tmp / "mv", verdict_column=None)
            rows.append((f"mathvista/{out.relative_to(mv / 'results')}", str(published), f"{s.accuracy:.2f}",
                         f"scored here without true_false: {own.accuracy:.2f}"))
    else:
        rows.append(("mathvista", "-", "skipped (files absent)", ""))

    for f in sorted((root / "mmmu_pro").glob("*.jsonl")) if (root / "mmmu_pro").is_dir() else []:
        try:
            bench = load_benchmark("mmmu_pro", path=f, no_images=True, on_error="skip")
        except LeakauditError as exc:
            rows.append((f"mmmu_pro/{f.name}", "-", f"error: {exc}", ""))
            continue
        pub = import_predictions(f, format="mmmu-pro", model=f.stem, condition="vision", benchmark=bench, run_dir=tmp / "mp",
                                 verdict_column="if_right", on_error="skip")
        ours = import_predictions(f, format="mmmu-pro", model=f.stem + "-extracted", condition="vision", benchmark=bench,
                                  run_dir=tmp / "mp", on_error="skip")
        n_all = sum(1 for line in f.open() if line.strip())
        right = sum(bool(json.loads(line)["if_right"]) for line in f.open() if line.strip())
        rows.append((f"mmmu_pro/{f.name}", f"{100 * right / n_all:.2f} (if_right, {n_all} rows)",
                     f"{pub.accuracy:.2f} ({len(bench)} loadable rows, if_right)",
                     f"extracted here: {ours.accuracy:.2f}; {len(bench.skipped)} rows skipped as bad options"))

    x = root / "vlmevalkit" / "llava_next_yi_34b_MMStar.xlsx"
    if x.is_file():
        bench = load_benchmark("mmstar", path=x)
        s = import_predictions(x, format="vlmevalkit", model="llava-next-34b", condition="vision", benchmark=bench, run_dir=tmp / "vk")
        rows.append(("vlmevalkit/llava_next_yi_34b_MMStar.xlsx (question + prediction file)", "52.1 (MMStar paper, Overall)", f"{s.accuracy:.2f}", ""))

    sq = root / "scienceqa"
    problems = sq / "data" / "scienceqa" / "problems.json"
    for f in sorted((sq / "results").glob("*/*.json")) if (sq / "results").is_dir() else []:
        if not problems.is_file():
            rows.append((f"scienceqa/{f.relative_to(sq)}", str(json.loads(f.read_text()).get("acc")), "skipped (problems.json absent)", ""))
            continue
        bench = load_benchmark("scienceqa", path=problems, split="test", no_images=True)
        s = import_predictions(f, format="scienceqa", model=f.stem, condition="text", benchmark=bench, run_dir=tmp / "sq")
        rows.append((f"scienceqa/{f.relative_to(sq)}", f"{json.loads(f.read_text()).get('acc'):.2f}", f"{s.accuracy:.2f}", ""))

    lines = ["| file | published | leakaudit | note |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
