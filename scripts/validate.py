#!/usr/bin/env python
"""Validation study of the ``small-real`` panel on real benchmark files (docs/validation.md).

    python scripts/validate.py --runs DIR prepare          # question files into DIR/data (shuffled, seeded)
    python scripts/validate.py --runs DIR run mmstar       # the panel's text-only answers, slice by slice
    python scripts/validate.py --runs DIR run others       # MathVista MC, MATH-Vision MC, MMBench, MMMU-Pro
    python scripts/validate.py --runs DIR run small        # only the three small samples (a lane beside others)
    python scripts/validate.py --runs DIR tables           # the tables of docs/validation.md (markdown)
    python scripts/validate.py --runs DIR all              # all of the above in order

Every answer goes to ``DIR/<benchmark>/answers.sqlite`` the moment it exists, so a killed run
resumes where it stopped and ``tables`` reuses whatever is stored. Questions are asked in a
seeded random order, in slices (``--slice``, default 100) that every model finishes before the
next slice starts: whatever has finished is a complete panel on a random sample of the benchmark,
and ``tables`` reports exactly the questions all inspectors answered.

The settings are the project's defaults (``leakaudit.answers.settings.AuditSettings``): text only,
cloze scoring, 0-shot, a hit counts at >= 0.5 of the option probability, and MMStar's rule
(text-answerable when more than floor(N*2/8) of the N inspectors hit: 2 of 4 here).
Each ``leakaudit run`` is a subprocess whose wall time is logged in ``DIR/timings.jsonl``.

Inputs (never in the repository): ``../shared/data`` ($LEAKAUDIT_SHARED_DATA) for the MMStar
text file and the MATH-Vision, MMBench and MMMU-Pro samples; ``../realfiles``
($LEAKAUDIT_REALFILES) for MathVista's ``data/testmini.json`` and the published text-only
2-shot outputs of GPT-4, ChatGPT and Claude-2 (``results/*/output_*_2shot_solution.json``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEAKAUDIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
REAL = Path(os.environ.get("LEAKAUDIT_REALFILES", ROOT.parent / "realfiles"))

GROUP = "small-real"
SEED = 0
#: the published text-only MathVista outputs the panel's flag is compared with (lupantech/MathVista results/)
MATHVISTA_REFERENCES = {
    "GPT-4": "gpt4/output_gpt4_2shot_solution.json",
    "ChatGPT": "chatgpt/output_chatgpt_2shot_solution.json",
    "Claude-2": "claude/output_claude_2shot_solution.json",
}
#: benchmark -> (adapter, question file made by ``prepare`` or read as published)
BENCHES = {
    "mmstar": ("mmstar", "data/mmstar_text_shuffled.parquet"),
    "mathvista": ("mathvista", "data/mathvista_testmini_mc_shuffled.json"),
    "mathvision": ("mathvision", "data/mathvision_testmini_mc.jsonl"),
    "mmbench": ("mmbench", SHARED / "mmbench_samples"),
    "mmmu_pro": ("mmmu_pro", SHARED / "mmmu_pro_samples"),
}
LANES = {"mmstar": ["mmstar"], "others": ["mathvista", "mathvision", "mmbench", "mmmu_pro"],
         "small": ["mmbench", "mmmu_pro", "mathvision"]}
#: slice ends (questions): small first, so a complete panel exists early; each model restarts once per slice
SLICES = {"mmstar": [50, 100, 200, 400, 700, 1000, 1500], "mathvista": [60, 120, 240, 540], "mathvision": [50]}
#: bf16 weights for the Qwen models on the hf backend: about 2.6x the fp32 matmul throughput of this CPU
#: (avx512_bf16), and the study's long pole; the small models keep the zoo's fp32
DTYPES = {"qwen2.5-coder-0.5b": "bf16", "qwen2.5-coder-1.5b": "bf16"}
#: the backend check: the Qwen models through llama.cpp on the first questions the hf lane asks
SPEED_MODELS = ["qwen2.5-coder-0.5b-llamacpp", "qwen2.5-coder-1.5b-llamacpp"]
SPEED_QUESTIONS = 20


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"missing input {path}: see the module docstring (LEAKAUDIT_SHARED_DATA / LEAKAUDIT_REALFILES)")
    return path


# -- prepare: the question files, in a seeded order ---------------------------------------------
def prepare(runs: Path) -> None:
    """MMStar shuffled; MathVista's multiple-choice questions shuffled; MATH-Vision's multiple-choice rows."""
    import pandas as pd

    data = runs / "data"
    data.mkdir(parents=True, exist_ok=True)
    mm = pd.read_parquet(need(SHARED / "mmstar_text" / "mmstar_text.parquet"))
    mm.sample(frac=1.0, random_state=SEED).reset_index(drop=True).to_parquet(data / "mmstar_text_shuffled.parquet")
    tm = json.loads(need(REAL / "mathvista" / "data" / "testmini.json").read_text(encoding="utf-8"))
    mc = [pid for pid, row in tm.items() if row.get("question_type") == "multi_choice"]
    random.Random(SEED).shuffle(mc)
    (data / "mathvista_testmini_mc_shuffled.json").write_text(json.dumps({pid: tm[pid] for pid in mc}, ensure_ascii=False), encoding="utf-8")
    rows = [json.loads(line) for line in need(SHARED / "mathv_testmini" / "testmini.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    with open(data / "mathvision_testmini_mc.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            if row.get("options"):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    log(f"prepared {data}: MMStar {len(mm)}, MathVista MC {len(mc)} of {len(tm)}, "
        f"MATH-Vision MC {sum(bool(r.get('options')) for r in rows)} of {len(rows)}")


def bench_path(runs: Path, bench: str) -> Path:
    p = BENCHES[bench][1]
    return p if isinstance(p, Path) else runs / p


# -- run: every inspector of the panel, slice by slice ---------------------------------------------
def inspectors(zoo=None) -> list[str]:
    from leakaudit.models.zoo import resolve_zoo

    zoo = resolve_zoo(zoo)
    return [s.name for s in zoo.group(GROUP) if s.kind == "llm"]


def n_questions(runs: Path, bench: str) -> int:
    from leakaudit.data.benchmark import load_benchmark

    return len(load_benchmark(BENCHES[bench][0], path=bench_path(runs, bench), no_images=True))


def run_command(runs: Path, bench: str, model: str, limit: int, run_dir: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "leakaudit", "run", BENCHES[bench][0], "--path", str(bench_path(runs, bench)), "--no-images",
            "--models", model, "--condition", "text", "--limit", str(limit), "--run-dir", str(run_dir or runs / bench),
            "--no-progress", "--json"] + (["--dtype", DTYPES[model]] if model in DTYPES else []) \
        + (["--model-args", "n_threads=1"] if model.endswith("-llamacpp") else [])  # one thread: the spin-waits of two cost more on a busy machine


def run_lane(runs: Path, lane: str) -> None:
    if lane == "speed":
        jobs = [("mmstar", m, SPEED_QUESTIONS, runs / "speed-llamacpp") for m in SPEED_MODELS]
    else:
        jobs = []
        for bench in LANES[lane]:
            total = n_questions(runs, bench)
            ends = [n for n in SLICES.get(bench, []) if n < total] + [total]
            jobs += [(bench, model, limit, None) for limit in ends for model in inspectors()]
    for bench, model, limit, run_dir in jobs:
        cmd = run_command(runs, bench, model, limit, run_dir)
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.time() - t0
        new = None
        if proc.returncode == 0:
            try:
                new = json.loads(proc.stdout)["new"]
            except (ValueError, KeyError):
                pass
        rec = {"bench": bench if run_dir is None else f"{bench}:{run_dir.name}", "model": model, "limit": limit, "wall_s": round(wall, 1), "new": new, "rc": proc.returncode,
               "load1": round(os.getloadavg()[0], 1), "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with open(runs / "timings.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        log(f"{bench} {model} first {limit}: {new} new answers in {wall:.0f} s (rc {proc.returncode})")
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            sys.exit(f"leakaudit run failed: {' '.join(cmd)}")


# -- tables: what the stored answers say ---------------------------------------------------------
def wilson(hits: int, n: int) -> tuple[float, float]:
    from leakaudit.audit.signals.nulls import wilson_interval

    return wilson_interval(hits, n) if n else (math.nan, math.nan)


def answered_by_all(runs: Path, bench: str, models: list[str]):
    """The benchmark restricted to the first questions (seeded order) that every inspector answered."""
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.store import AnswerStore

    full = load_benchmark(BENCHES[bench][0], path=bench_path(runs, bench), no_images=True)
    store_file = runs / bench / "answers.sqlite"
    if not store_file.is_file():
        return full, full.subset([])
    with AnswerStore(store_file, read_only=True) as store:
        answers = store.answers()
    text = answers[(answers["condition"] == "text") & answers["model"].isin(models)]
    per_model = [set(text.loc[text["model"] == m, "sample_hash"]) for m in models]
    done = set.intersection(*per_model) if per_model else set()
    # the longest prefix of the seeded order: a slice cut short stores its questions by length, not by order
    prefix = []
    for s in full.samples:
        if s.content_hash not in done:
            break
        prefix.append(s.id)
    return full, full.subset(prefix)


def mathvista_reference(pids: list[str]) -> dict[str, int]:
    """Per MathVista pid: how many of the 3 published text-only 2-shot outputs are correct (their own true_false)."""
    counts = {pid: 0 for pid in pids}
    for rel in MATHVISTA_REFERENCES.values():
        data = json.loads(need(REAL / "mathvista" / "results" / rel).read_text(encoding="utf-8"))
        for pid in pids:
            counts[pid] += int(data[pid].get("true_false") is True)
    return counts


def agreement(flag: list[bool], ref: list[bool], n_boot: int = 1000) -> dict:
    """Cohen's kappa (bootstrap 95% interval), precision and recall of ``flag`` against ``ref``."""
    import numpy as np
    from sklearn.metrics import cohen_kappa_score, precision_score, recall_score

    f, r = np.array(flag, bool), np.array(ref, bool)
    kappa = float(cohen_kappa_score(r, f)) if len(set(f) | set(r)) > 1 else math.nan
    rng = np.random.default_rng(SEED)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(f), len(f))
        if len(set(f[i])) > 1 or len(set(r[i])) > 1:
            boots.append(cohen_kappa_score(r[i], f[i]))
    lo, hi = (float(np.nanpercentile(boots, 2.5)), float(np.nanpercentile(boots, 97.5))) if boots else (math.nan, math.nan)
    return {"kappa": kappa, "kappa_ci": [lo, hi], "precision": float(precision_score(r, f, zero_division=0)),
            "recall": float(recall_score(r, f, zero_division=0)), "tp": int((f & r).sum()), "fp": int((f & ~r).sum()),
            "fn": int((~f & r).sum()), "tn": int((~f & ~r).sum()), "reference_positive": int(r.sum())}


def timings(runs: Path, bench: str) -> dict:
    """Wall seconds of the ``leakaudit run`` processes for ``bench`` (load included) and model seconds per answer."""
    wall, rows = 0.0, []
    path = runs / "timings.jsonl"
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["bench"] == bench]
    wall = sum(r["wall_s"] for r in rows)
    loads = [r["load1"] for r in rows]
    return {"wall_s": round(wall), "processes": len(rows), "load1_min": min(loads, default=None), "load1_max": max(loads, default=None)}


def bench_numbers(runs: Path, bench: str, models: list[str]) -> dict:
    """Flagged share (Wilson 95%), hit counts, per-model accuracy, the probe and (MathVista) agreement."""
    from leakaudit.audit.evidence import TEXT_ANSWERABLE
    from leakaudit.audit.signals.probe import probe
    from leakaudit.workflows.pipeline import audit_run
    from leakaudit.answers.settings import AuditSettings

    full, done = answered_by_all(runs, bench, models)
    out: dict = {"bench": bench, "questions": len(full), "audited": len(done), "timing": timings(runs, bench)}
    pr = probe(full)
    out["probe"] = {k: pr.summary.get(k) for k in ("n", "accuracy", "chance", "ci", "p_value_vs_chance", "n_flagged", "majority_letter_accuracy")}
    if not len(done):
        return out
    settings = AuditSettings(inspectors=models)
    result = audit_run(runs / bench, settings, benchmark=done)
    ev = result.samples
    flagged = ev["label"] == TEXT_ANSWERABLE
    k = int(flagged.sum())
    out.update(flagged=k, share_flagged=k / len(ev), ci=list(wilson(k, len(ev))), rule=result.summary["settings"]["rule"],
               panel=result.summary["panel"]["text"], hits={int(h): int(c) for h, c in ev["text_hits"].value_counts().sort_index().items()})
    ans = result.answers
    text = ans[(ans["condition"] == "text") & ans["model"].isin(models)]
    out["accuracy"] = {}
    for m in models:
        c = text.loc[text["model"] == m, "correct"].astype(int)
        lo, hi = wilson(int(c.sum()), len(c))
        out["accuracy"][m] = {"n": int(len(c)), "accuracy": float(c.mean()), "ci": [lo, hi], "seconds": float(text.loc[text["model"] == m, "seconds"].sum())}
    out["chance"] = float(ev["chance"].mean())
    ids = dict(zip(ev["sample_hash"], ev["sample_id"]))
    probe_flag = pr.samples.set_index("sample_id")["probe_flag"] if "sample_id" in pr.samples else None
    if probe_flag is not None:
        pf = [bool(probe_flag.get(ids[h], False)) for h in ev["sample_hash"]]
        out["probe_vs_panel"] = {"both": int(sum(a and b for a, b in zip(pf, flagged))), "probe_only": int(sum(a and not b for a, b in zip(pf, flagged))),
                                 "panel_only": int(sum(b and not a for a, b in zip(pf, flagged)))}
    if bench == "mathvista":
        counts = mathvista_reference(list(ev["sample_id"]))
        ref = [counts[i] >= 2 for i in ev["sample_id"]]
        out["reference"] = {"rule": "correct in at least 2 of the 3 published text-only 2-shot outputs (GPT-4, ChatGPT, Claude-2)",
                            "files": list(MATHVISTA_REFERENCES.values()), "positive": int(sum(ref)),
                            "accuracy": {name: None for name in MATHVISTA_REFERENCES}}
        for name, rel in MATHVISTA_REFERENCES.items():
            data = json.loads((REAL / "mathvista" / "results" / rel).read_text(encoding="utf-8"))
            out["reference"]["accuracy"][name] = sum(data[i].get("true_false") is True for i in ev["sample_id"]) / len(ev)
        out["agreement"] = agreement(list(flagged), ref)
        # the same comparison per inspector: its own counted hit (text_models: >= 0.5 of the option probability)
        out["agreement_per_model"] = {m: agreement([m in list(hits) for hits in ev["text_models"]], ref, n_boot=200) for m in models}
    return out


def speed_numbers(runs: Path) -> dict:
    """hf (bf16) vs llama.cpp on the same first MMStar questions: model seconds per answer, same choice, accuracy."""
    from leakaudit.answers.store import AnswerStore

    out: dict = {}
    cpp_file, hf_file = runs / "speed-llamacpp" / "answers.sqlite", runs / "mmstar" / "answers.sqlite"
    if not (cpp_file.is_file() and hf_file.is_file()):
        return out
    with AnswerStore(cpp_file, read_only=True) as s1, AnswerStore(hf_file, read_only=True) as s2:
        cpp, hf = s1.answers(), s2.answers()
    for twin in SPEED_MODELS:
        name = twin.removesuffix("-llamacpp")
        a = cpp[cpp["model"] == twin].set_index("sample_hash")
        b = hf[hf["model"] == name].set_index("sample_hash")
        both = a.index.intersection(b.index)
        if not len(both):
            continue
        a, b = a.loc[both], b.loc[both]
        out[name] = {"questions": int(len(both)), "hf_bf16_s_per_q": float(b["seconds"].mean()), "llamacpp_s_per_q": float(a["seconds"].mean()),
                     "same_choice": int((a["chosen"] == b["chosen"]).sum()), "hf_accuracy": float(b["correct"].mean()),
                     "llamacpp_accuracy": float(a["correct"].mean())}
    return out


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def fmt_ci(ci) -> str:
    return "n/a" if not ci or any(c is None or (isinstance(c, float) and math.isnan(c)) for c in ci) else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f}%"


def print_tables(runs: Path, json_out: Path | None = None) -> dict:
    models = inspectors()
    numbers: dict = {b: bench_numbers(runs, b, models) for b in BENCHES}
    print(f"panel ({GROUP}, text-only inspectors): {', '.join(models)}; cloze scoring, 0-shot, hit at >= 0.5 of the option probability\n")
    print("| benchmark | questions | asked of all 4 | flagged text-answerable | 95% CI (Wilson) | agreement with published references | wall time (under load) |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for b, n in numbers.items():
        agree = "n/a (no per-question reference)"
        if "agreement" in n:
            a = n["agreement"]
            agree = f"kappa {a['kappa']:.2f} ({a['kappa_ci'][0]:.2f} to {a['kappa_ci'][1]:.2f}), precision {a['precision']:.2f}, recall {a['recall']:.2f}"
        elif b == "mmstar" and "share_flagged" in n:
            agree = "MMStar kept only questions at most 2 of 8 strong LLMs answer: a sound panel flags few"
        flagged = f"{n.get('flagged', 'n/a')} ({fmt_pct(n.get('share_flagged'))})" if "flagged" in n else "n/a"
        print(f"| {b} | {n['questions']} | {n['audited']} | {flagged} | {fmt_ci(n.get('ci'))} | {agree} | {n['timing']['wall_s']} s |")
    for b, n in numbers.items():
        if "accuracy" not in n:
            continue
        print(f"\n{b}: {n['audited']} questions, rule {n['rule']}; hits per question {n['hits']}; chance {fmt_pct(n['chance'])}")
        print("| model | accuracy | 95% CI | model seconds (under load) |")
        print("|---|---:|---:|---:|")
        for m, a in n["accuracy"].items():
            print(f"| {m} | {fmt_pct(a['accuracy'])} | {fmt_ci(a['ci'])} | {a['seconds']:.0f} |")
        p = n["probe"]
        print(f"probe (model-free, all {p.get('n')} questions): accuracy {fmt_pct(p.get('accuracy'))} (CI {fmt_ci(p.get('ci'))}), chance {fmt_pct(p.get('chance'))}"
              + (f"; flagged by probe and panel {n['probe_vs_panel']}" if "probe_vs_panel" in n else ""))
        if "agreement" in n:
            a = n["agreement"]
            print(f"MathVista reference: {n['reference']['positive']} of {n['audited']} correct in >= 2 of 3 published text-only outputs; "
                  f"their accuracies {', '.join(f'{k} {fmt_pct(v)}' for k, v in n['reference']['accuracy'].items())}")
            print(f"confusion (panel flag vs reference): tp {a['tp']}, fp {a['fp']}, fn {a['fn']}, tn {a['tn']}")
            for m, am in n["agreement_per_model"].items():
                print(f"  {m} alone: kappa {am['kappa']:.2f}, precision {am['precision']:.2f}, recall {am['recall']:.2f}")
    for b, n in numbers.items():
        if "accuracy" not in n and n.get("probe"):
            p = n["probe"]
            print(f"\n{b}: no question answered by all inspectors yet; probe (model-free, all {p.get('n')} questions): "
                  f"accuracy {fmt_pct(p.get('accuracy'))} (CI {fmt_ci(p.get('ci'))}), chance {fmt_pct(p.get('chance'))}")
    speed = speed_numbers(runs)
    if speed:
        print("\nbackends on the same MMStar questions (cloze, 0-shot; model seconds per answer, measured under load)")
        print("| model | questions | hf bf16 s/q | llama.cpp s/q (1 thread) | same choice | accuracy hf / llama.cpp |")
        print("|---|---:|---:|---:|---:|---|")
        for m, v in speed.items():
            print(f"| {m} | {v['questions']} | {v['hf_bf16_s_per_q']:.1f} | {v['llamacpp_s_per_q']:.1f} | {v['same_choice']} | "
                  f"{fmt_pct(v['hf_accuracy'])} / {fmt_pct(v['llamacpp_accuracy'])} |")
    numbers["_speed"] = speed
    if json_out:
        from leakaudit.audit.result import jsonable

        json_out.write_text(json.dumps(jsonable(numbers), indent=2), encoding="utf-8")
    return numbers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="run folder (answers, timings, question files); outside the repository")
    parser.add_argument("step", choices=("prepare", "run", "tables", "all"))
    parser.add_argument("lane", nargs="?", choices=tuple(LANES) + ("speed",), help="run: which benchmarks")
    parser.add_argument("--json", dest="json_out", type=Path, help="tables: also write the numbers as JSON here")
    args = parser.parse_args(argv)
    runs = args.runs.resolve()
    runs.mkdir(parents=True, exist_ok=True)
    if args.step in ("prepare", "all"):
        prepare(runs)
    if args.step == "run":
        if not args.lane:
            parser.error("run needs a lane: mmstar, others or speed")
        run_lane(runs, args.lane)
    if args.step == "all":
        for lane in ("mmstar", "others", "speed"):
            run_lane(runs, lane)
    if args.step in ("tables", "all"):
        print_tables(runs, args.json_out)


if __name__ == "__main__":
    main()
