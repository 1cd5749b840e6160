"""``--engine``/``--address``/``--workers``/``--gpus-per-worker`` and ``--plan`` for run, scan and gate.

One decorator adds the options to a command: ``--plan`` prints what the command would run
(models, sizes, GPU memory, time, what is already stored or cached) and stops before
anything is loaded; otherwise the command's body runs with the chosen engine as the
default of every ``runner.run`` it makes (``leakaudit.answers.engines.use_engine``).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import click


def _print_plan(command: str, kw: dict[str, Any]) -> None:
    from leakaudit.answers.plan import make_plan, plan_table, run_jobs, scan_jobs
    from leakaudit.cli.console import make_console
    from leakaudit.data.benchmark import load_benchmark

    if command == "run":
        from leakaudit.cli.model_options import model_names
        from leakaudit.models.zoo import load_zoo

        zoo = load_zoo(kw["zoo_path"])
        names = [zoo[m].name for m in model_names(kw["models_opt"], kw["zoo_group"], zoo)]
        shots = kw["shots"]
        bench = load_benchmark(kw["bench"], path=kw["bench_path"], split=kw["split"], limit=None if shots else kw["limit"])
        jobs = run_jobs(names, kw["condition"], shots, kw["blind"])
        frame = make_plan(bench, jobs, zoo=zoo, run_dir=kw["run_dir"], scoring=kw["scoring"], circular=kw["circular"], limit=kw["limit"], seed=kw["seed"])
    else:
        from leakaudit.answers.settings import AuditSettings
        from leakaudit.workflows import pipeline

        defaults = AuditSettings()
        zoo = pipeline.load_zoo(kw["zoo_path"])
        shots = defaults.shots if kw.get("shots") is None else kw["shots"]
        scoring = kw.get("scoring") or defaults.scoring
        circular = defaults.circular if kw.get("circular") is None else kw["circular"]
        source = kw["bench"] if command == "scan" else kw["submission"]
        bench = load_benchmark(source, path=kw.get("bench_path"), split=kw.get("split"), limit=None if shots else kw["limit"])
        group = kw["zoo_group"] if kw["zoo_group"] is not None else pipeline.default_group(bench.name)
        mplan = pipeline.plan_models(zoo, group)
        run_dir = kw.get("run_dir") or (str(kw["out_dir"]) + "/run" if kw.get("out_dir") else None)
        frame = make_plan(bench, scan_jobs(mplan, shots), zoo=zoo, run_dir=run_dir, scoring=scoring, circular=circular, limit=kw["limit"])
        for note in mplan.skipped:
            click.echo(f"skipped: {note}")
    make_console().print(plan_table(frame, f"leakaudit {command} --plan: {bench.name}"))


def engine_options(command: str) -> Callable:
    """Decorate the click callback of ``run`` / ``scan`` / ``gate`` (apply below ``@click.command``)."""

    def deco(fn: Callable) -> Callable:
        @click.option("--plan", "plan_only", is_flag=True, help="Print models, sizes, GPU memory, time and what is stored, then stop (loads nothing).")
        @click.option("--gpus-per-worker", type=click.FloatRange(0), default=0.0, show_default=True, help="GPUs each Ray worker holds (--engine ray).")
        @click.option("--workers", type=click.IntRange(1), default=None, help="Ray workers (default: as many as the cluster's CPUs/GPUs allow).")
        @click.option("--address", default=None, help="Ray cluster address (default: start a local one).")
        @click.option("--engine", "engine_name", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                      help="local: this process; ray: Ray actors, one model each, work split by (model, shard); this process writes the store.")
        @functools.wraps(fn)
        def wrapper(*args: Any, engine_name: str, address: str | None, workers: int | None, gpus_per_worker: float, plan_only: bool,
                    **kw: Any):
            if plan_only:
                _print_plan(command, kw)
                return None
            from leakaudit.answers.engines import make_engine, use_engine

            engine = make_engine(engine_name, address=address, workers=workers, gpus_per_worker=gpus_per_worker)
            if engine is None:
                return fn(*args, **kw)
            with use_engine(engine):
                return fn(*args, **kw)

        return wrapper

    return deco


__all__ = ["engine_options"]
