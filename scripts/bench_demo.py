"""Time `leakaudit scan demo` stage by stage, from an empty model cache (conversions included).

    .venv/bin/python scripts/bench_demo.py                 # today's defaults
    .venv/bin/python scripts/bench_demo.py --compare       # + the issue-15 baseline, ratio printed
    .venv/bin/python scripts/bench_demo.py --threads 1     # torch threads (busy machines)

Each configuration runs in a fresh process with a fresh, empty ``LEAKAUDIT_CACHE`` (the
demo benchmark is generated, GGUFs converted, as on a new machine) and a
fresh output folder. Stages are timed exclusively (a model load inside a run is counted
under the load, not twice): wall and CPU seconds (user+sys of this process; on a machine
busier than its cores, wall time mostly measures the neighbours, CPU time much less so).
The background conversion process's CPU is its own line (its work overlaps the stages).

``--baseline`` (and the first half of ``--compare``) reproduces the scan before issue 15:
the ``tiny-full`` panel (SmolLM2 asked twice, through transformers and llama.cpp; the random
tiny VLMs, out of today's ``tiny-real`` demo panel since they never vote), the OCR
composite's blind answers asked again instead of copied, gguf's memmap reader (each GGUF
parsed three times), every conversion in its model's turn.
The verdict quality (precision / recall against the demo labels) is printed for each.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


class Stages:
    """Exclusive wall/CPU time per named stage (nested stages are subtracted from their parent)."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}
        self._local = threading.local()  # one stack per thread (the OCR prefetch runs beside the models)
        self._lock = threading.Lock()

    @property
    def stack(self) -> list[list]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    @contextlib.contextmanager
    def stage(self, name: str):
        if threading.current_thread() is not threading.main_thread():
            name += " [background thread]"
        frame = [name, time.perf_counter(), _cpu(), 0.0, 0.0]  # name, wall0, cpu0, child wall, child cpu
        stack = self.stack
        stack.append(frame)
        try:
            yield
        finally:
            stack.pop()
            wall, cpu = time.perf_counter() - frame[1], _cpu() - frame[2]
            with self._lock:
                acc = self.totals.setdefault(name, [0.0, 0.0, 0])
                acc[0] += wall - frame[3]
                acc[1] += cpu - frame[4]
                acc[2] += 1
            if stack:
                stack[-1][3] += wall
                stack[-1][4] += cpu

    def wrap(self, owner, attr: str, name) -> None:
        fn = getattr(owner, attr)
        stages = self

        def wrapped(*args, **kwargs):
            with stages.stage(name(*args, **kwargs) if callable(name) else name):
                return fn(*args, **kwargs)

        wrapped.__wrapped__ = fn  # type: ignore[attr-defined]
        setattr(owner, attr, wrapped)


def child(config: str, out: Path, threads: int | None) -> None:
    """One scan in this process; prints one JSON line with the stage times."""
    t_start, c_start = time.perf_counter(), _cpu()
    stages = Stages()
    with stages.stage("import leakaudit + torch"):
        import torch  # noqa: F401  (every model run needs it; timed once here)

        from leakaudit.workflows import scan as scan_mod
        from leakaudit.cli.console import configure_output

    if threads:
        torch.set_num_threads(threads)
    configure_output(False, "warning")
    import leakaudit.models.backends.ocr_composite as ocr
    import leakaudit.models.backends.transformers_backend as hf
    import leakaudit.workflows.pipeline as pipeline
    import leakaudit.report as report
    import leakaudit.report.figures as figures
    import leakaudit.answers.runner as runner
    import leakaudit.models.zoo as zoo

    if config == "baseline":
        import leakaudit.models.backends.gguf_fast as gguf_fast

        gguf_fast.fast_gguf_reading = contextlib.nullcontext  # gguf's own memmap reader
        pipeline._reuse_equivalent = lambda *a, **k: 0  # ask the OCR composite blind again
        from leakaudit.models.prepare import BackgroundConversions

        pipeline.BackgroundConversions = lambda specs: BackgroundConversions([])  # every conversion in its model's turn
    stages.wrap(scan_mod, "load_benchmark", "demo benchmark (generate + load)")
    stages.wrap(hf, "dequantized_gguf_dir", lambda path, *a, **k: f"convert GGUF {Path(path).stem} (or wait for it)")
    stages.wrap(hf, "built_model_dir", lambda builder: f"build {builder}")
    stages.wrap(zoo.Zoo, "load", lambda self, name, **k: f"load {name}")
    stages.wrap(runner, "run", lambda bench, models, **k: f"answer {getattr(models[0], 'name', models[0])} ({k.get('condition')})")
    stages.wrap(ocr, "ocr_image", "OCR (RapidOCR)")
    stages.wrap(pipeline, "audit", "audit (metrics, bootstrap, evidence)")
    stages.wrap(pipeline, "filter_benchmark", "filter")
    stages.wrap(figures, "write_figures", "figures")
    stages.wrap(report, "build_report", "PDF report")
    res = scan_mod.scan("demo", zoo_group="tiny-full" if config == "baseline" else None, out=out, progress=False)
    q = res.audit.summary.get("label_quality") or {}
    print(json.dumps({
        "config": config, "wall": time.perf_counter() - t_start, "cpu": _cpu() - c_start, "background_cpu": _children_cpu(),
        "stages": {k: v for k, v in stages.totals.items()}, "precision": q.get("precision"), "recall": q.get("recall"),
        "models": res.plan.names(), "calls": res.calls_message(),
    }))


def run_config(config: str, threads: int | None) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        env["LEAKAUDIT_CACHE"] = str(Path(tmp) / "cache")
        cmd = [sys.executable, __file__, "--child", config, "--out", str(Path(tmp) / "out")]
        if threads:
            cmd += ["--threads", str(threads)]
        load0 = os.getloadavg()[0]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"{config} scan failed (exit {proc.returncode})")
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
        doc["load"] = (load0, os.getloadavg()[0])
        return doc


def show(doc: dict) -> None:
    print(f"\n== {doc['config']}: {doc['wall']:.0f} s wall, {doc['cpu']:.0f} s CPU (load average {doc['load'][0]:.1f} -> {doc['load'][1]:.1f}; "
          f"{os.cpu_count()} cores); precision {doc['precision']:.2f}, recall {doc['recall']:.2f}")
    print(f"   models: {doc['models']}")
    print(f"   {'stage':<48} {'n':>3} {'wall s':>8} {'CPU s':>8}")
    for name, (wall, cpu, n) in sorted(doc["stages"].items(), key=lambda kv: -kv[1][1]):
        print(f"   {name:<48} {n:>3} {wall:>8.1f} {cpu:>8.1f}")
    main = {k: v for k, v in doc["stages"].items() if not k.endswith("[background thread]")}
    other_wall = doc["wall"] - sum(v[0] for v in main.values())
    other_cpu = doc["cpu"] - sum(v[1] for v in main.values())
    print(f"   {'(everything else)':<48} {'':>3} {other_wall:>8.1f} {other_cpu:>8.1f}")
    if doc.get("background_cpu"):
        print(f"   {'background process (GGUF conversions)':<48} {'':>3} {'':>8} {doc['background_cpu']:>8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="also run the pre-issue-15 baseline and print the ratio")
    ap.add_argument("--baseline", action="store_true", help="run only the baseline configuration")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.out), args.threads)
        return
    docs = []
    if args.compare or args.baseline:
        docs.append(run_config("baseline", args.threads))
        show(docs[-1])
    if not args.baseline:
        docs.append(run_config("current", args.threads))
        show(docs[-1])
    if len(docs) == 2:
        b, c = docs
        b_cpu, c_cpu = b["cpu"] + b.get("background_cpu", 0), c["cpu"] + c.get("background_cpu", 0)
        print(f"\nspeed-up vs baseline: {b['wall'] / c['wall']:.2f}x wall, {b_cpu / c_cpu:.2f}x CPU (background process included)")


if __name__ == "__main__":
    main()
