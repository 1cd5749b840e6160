"""The GitHub Action (action.yml): its structure, and its gate script run with a stand-in leakaudit."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from leakaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
KNOWN_ACTIONS = {"actions/setup-python", "actions/cache", "actions/upload-artifact"}
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def test_action_is_composite_and_every_reference_resolves(action):
    text = ACTION.read_text()
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert used <= inputs, f"inputs used but not declared: {used - inputs}"
    assert inputs <= used, f"inputs declared but never used: {inputs - used}"
    steps = action["runs"]["steps"]
    ids = {s["id"] for s in steps if "id" in s}
    assert set(re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", text)) <= ids
    for s in steps:
        assert s.get("name"), s
        if "uses" in s:
            name, _, version = s["uses"].partition("@")
            assert name in KNOWN_ACTIONS and re.fullmatch(r"v\d+", version), s["uses"]
        else:
            assert s.get("shell") == "bash" and s.get("run"), s
    for script in re.findall(r"github\.action_path }}/(scripts/[\w.]+)", text):
        assert (ROOT / script).is_file(), script
    # the caches the issue asks for: the converted models and the answer store, restored between runs
    cached = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/cache")]
    assert "~/.cache/leakaudit" in cached and any("leakaudit-store" in p for p in cached)
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()"
    for out in action["outputs"].values():
        assert re.search(r"steps\.gate\.outputs\.", out["value"])


def test_gate_script_options_exist_in_the_cli():
    script = (ROOT / "scripts" / "action_gate.sh").read_text()
    for command in ("gate", "report"):
        opts = {o for p in main.commands[command].params for o in p.opts}
        calls = re.findall(rf'"\$LEAKAUDIT" {command} [^\n]*', script)
        assert calls, command
        for call in calls:
            for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", call):
                assert flag in opts, f"{command} has no option {flag}"
    gate_opts = {o for p in main.commands["gate"].params for o in p.opts}
    for flag in re.findall(r"args\+=\((--[\w-]+)", script):
        assert flag in gate_opts, flag


def _fake_leakaudit(folder: Path) -> Path:
    """A stand-in for leakaudit: `gate FILE --out DIR ...` writes summary.md/summary.json and exits
    with the code written in FILE; `report DIR -o PDF` writes the PDF; every call is logged."""
    exe = folder / "leakaudit"
    exe.write_text(
        "#!/usr/bin/env bash\n"
        'echo "$@" >> "$(dirname "$0")/calls.log"\n'
        'if [ "$1" = gate ]; then\n'
        '  file="$2"; out="$4"; mkdir -p "$out"; code=$(cat "$file")\n'
        '  echo "## gate: $file exit $code" > "$out/summary.md"; echo "{}" > "$out/summary.json"; exit "$code"\n'
        "fi\n"
        'if [ "$1" = report ]; then touch "$4"; fi\n'
    )
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@needs_bash
def test_gate_script_gates_changed_submissions_and_reports_the_worst(tmp_path):
    (tmp_path / "subs" / "a").mkdir(parents=True)
    (tmp_path / "subs" / "b").mkdir(parents=True)
    (tmp_path / "subs" / "c").mkdir(parents=True)
    (tmp_path / "subs" / "a" / "questions.jsonl").write_text("0")
    (tmp_path / "subs" / "b" / "questions.jsonl").write_text("1")
    (tmp_path / "subs" / "c" / "questions.jsonl").write_text("2")  # not changed: must not be gated
    exe = _fake_leakaudit(tmp_path)
    outputs = tmp_path / "github_output"
    env = {**os.environ, "LEAKAUDIT": str(exe), "SUBMISSIONS": "subs/**/questions.jsonl", "OUT": "gate-out",
           "CHANGED_FILES": "README.md\nsubs/a/questions.jsonl\nsubs/b/questions.jsonl", "MAX_TEXT_ANSWERABLE": "0.2",
           "MIN_MG": "", "MAX_LEAKED": "", "ZOO": "tiny", "EXTRA_ARGS": "--limit 50", "STORE": str(tmp_path / "store"),
           "GITHUB_OUTPUT": str(outputs)}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "action_gate.sh")], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    gates = [c for c in calls if c.startswith("gate ")]
    assert [c.split()[1] for c in gates] == ["subs/a/questions.jsonl", "subs/b/questions.jsonl"]
    assert all("--max-text-answerable 0.2" in c and "--zoo tiny" in c and "--limit 50" in c and "--min-mg" not in c for c in gates)
    assert all(f"--run-dir {tmp_path / 'store'}" in c for c in gates)
    assert sum(c.startswith("report ") for c in calls) == 2
    assert (tmp_path / "gate-out" / "subs_a_questions.jsonl" / "audit.pdf").is_file()
    comment = (tmp_path / "gate-out" / "comment.md").read_text()
    assert "### gate: subs/a/questions.jsonl exit 0" in comment and "### gate: subs/b/questions.jsonl exit 1" in comment
    out = outputs.read_text()
    assert "status=fail" in out and "exit-code=1" in out


@needs_bash
def test_gate_script_without_changed_submissions_passes_and_says_so(tmp_path):
    (tmp_path / "q.jsonl").write_text("2")
    exe = _fake_leakaudit(tmp_path)
    env = {**os.environ, "LEAKAUDIT": str(exe), "SUBMISSIONS": "q.jsonl", "OUT": "o", "CHANGED_FILES": "docs/x.md"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "action_gate.sh")], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "nothing to gate" in proc.stdout
    assert not (tmp_path / "calls.log").exists()
    # a bad submission (exit 2) makes the job's status "error"
    env["CHANGED_FILES"] = ""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "action_gate.sh")], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "error (exit 2)" in proc.stdout
