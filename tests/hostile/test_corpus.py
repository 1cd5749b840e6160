"""The hostile corpus: every case is a clear error (file / row / field) or a correct result.

In-process (click's runner, with an alarm as the hang guard) for the whole corpus, so it
runs in seconds; a handful of cases also go through fresh processes, since only a real
process shows the exit status and a traceback the way CI sees them.
"""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostile.corpus import Case, Outcome, _argv, _snapshot, case_names, classify, generate, run_case_subprocess, seed_stale

#: seconds one in-process command may take before it counts as a hang
HANG_SECONDS = 60


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    return root, {c.name: c for c in generate(root)}


def _run_inprocess(case: Case, root: Path, monkeypatch) -> Outcome | list[Outcome]:
    from leakaudit.cli import main

    d = root / case.name
    sentinel = d / "cwd"
    sentinel.mkdir(exist_ok=True)
    monkeypatch.chdir(sentinel)
    seed_stale(case, root)
    before = _snapshot(d)
    outs = []

    def alarm(signum, frame):
        raise TimeoutError(f"case {case.name} hung")

    old = signal.signal(signal.SIGALRM, alarm)
    try:
        for cmd in case.commands:
            argv = _argv(cmd, root, case)
            signal.alarm(HANG_SECONDS)
            t0 = time.perf_counter()
            res = CliRunner().invoke(main, argv, catch_exceptions=True)
            signal.alarm(0)
            output = res.output
            if res.exception is not None and not isinstance(res.exception, SystemExit):
                import traceback

                output += "\nTraceback (most recent call last):\n" + "".join(traceback.format_exception(res.exception))
            outs.append(Outcome(argv, res.exit_code, output, time.perf_counter() - t0))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    after = _snapshot(d)
    written = [str(p.relative_to(sentinel)) for p in sentinel.rglob("*")]
    strip = lambda s: {k: v for k, v in s.items() if not k.startswith("cwd")}  # noqa: E731
    return classify(case, root, outs, strip(before), strip(after), written)


def test_corpus_is_large_and_covers_every_group(corpus):
    _, cases = corpus
    groups = {c.group for c in cases.values()}
    assert len(cases) >= 60 and groups == {"submission", "image", "store", "cli"}
    assert sum(c.want == "error" for c in cases.values()) >= 45


CASE_NAMES = case_names()


@pytest.mark.parametrize("name", CASE_NAMES)
def test_hostile_case(name, corpus, monkeypatch):
    root, cases = corpus
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = _run_inprocess(cases[name], root, monkeypatch)
    assert result.verdict in ("clear", "correct"), f"{result.verdict}: {result.detail}"


@pytest.mark.parametrize("name", ["deep-nesting-csv-options", "image-nul-in-path", "image-5000-char-name", "store-garbage-audit",
                                  "gate-out-is-a-file", "valid-jsonl"])
def test_hostile_case_in_a_real_process(name, corpus):
    """Exit status, no traceback and a fresh verdict as CI sees them (a new process per command)."""
    root, cases = corpus
    result = run_case_subprocess(cases[name], root, timeout=120)
    assert result.verdict in ("clear", "correct"), f"{result.verdict}: {result.detail}"


def test_gate_crash_verdict_is_fresh_and_junit_parses(corpus, monkeypatch):
    import xml.etree.ElementTree as ET

    root, cases = corpus
    case = cases["control-chars-and-ansi"]
    _run_inprocess(case, root, monkeypatch)
    out = root / case.name / "out"
    v = json.loads((out / "verdict.json").read_text())
    assert v["status"] == "error" and v["exit_code"] == 2 and "stale" not in v
    assert v["error"]["row"] == 0 and v["error"]["field"] == "answer"
    raw = (out / "junit.xml").read_text()
    assert "\x1b" not in raw and "\x07" not in raw
    assert ET.fromstring(raw.encode()).get("errors") == "1"
