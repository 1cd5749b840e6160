"""``leakaudit models``, ``leakaudit run`` and ``leakaudit export``: the zoo and the answer store."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from leakaudit.cli.console import make_console, quiet, show_progress
from leakaudit.cli.model_options import model_names, resolve, save_config
from leakaudit.cli.options import (blind_option, engine_options, json_option, model_options, models_option, no_progress_option, out_option,
                                   scoring_option, shots_option, zoo_options)
from leakaudit.errors import LeakauditError
from leakaudit.types import CONDITIONS


@click.command("models")
@zoo_options(group_help="Only this zoo group or model (e.g. tiny).")
@json_option("Print JSON records instead of a table.")
def models(zoo_group: str | None, zoo_path: str | None, as_json: bool) -> None:
    """List the model zoo: name, kind, backend, hub id, size, base LLM and groups."""
    from leakaudit.models.zoo import load_zoo, zoo_frame, zoo_table

    group = zoo_group
    zoo = load_zoo(zoo_path)
    if as_json:
        frame = zoo_frame(zoo)
        if group is not None:
            keep = {s.name for s in zoo.group(group)}
            frame = frame[frame["name"].isin(keep)]
        click.echo(json.dumps(json.loads(frame.to_json(orient="records")), indent=2))
        return
    from leakaudit.cli.console import make_console

    make_console().print(zoo_table(zoo, group=group))


def _summary_json(summary) -> dict:
    """The RunSummary as JSON: the settings of the run, totals and one object per model (accuracy null when none)."""
    import math

    rows = []
    for r in summary.rows:
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.__dict__.items()}
        rows.append(row)
    return {"benchmark": summary.benchmark, "run_dir": str(summary.run_dir), "condition": summary.condition,
            "blind_mode": summary.blind_mode, "shots": summary.shots, "scoring": summary.scoring, "circular": summary.circular,
            "new": summary.new, "total": summary.total, "all_cached": summary.all_cached, "fewshot_ids": list(summary.fewshot_ids),
            "rows": rows}


@click.command("run")
@click.argument("bench")
@models_option(help="Comma-separated zoo names, hub ids (org/name), local model folders or .gguf files.")
@zoo_options(group_help="A zoo group (e.g. tiny) or zoo model name; its models run (with --models: both).")
@click.option("--condition", type=click.Choice(CONDITIONS), required=True,
              help="text: no image (LLMs); vision: with images; blind: a vision model without the image.")
@shots_option(help="Few-shot demonstrations (MMStar's LLM filter used 2).", show_default=True)
@scoring_option("letter", show_default=True,
              help="letter: argmax of option-letter log-probs; cloze: length-normalised option-text likelihood; generate: free text + extraction.")
@blind_option()
@click.option("--circular", is_flag=True, help="Ask once per rotation of the options (MMBench circular evaluation).")
@click.option("--run-dir", type=click.Path(file_okay=False), required=True, help="Folder of the answer store (answers.sqlite).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N samples.")
@click.option("--path", "bench_path", type=click.Path(exists=True), default=None, help="Local copy of the benchmark (file or folder).")
@click.option("--split", default=None, help="Benchmark split (default: the adapter's).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the few-shot choice.")
@no_progress_option()
@click.option("--no-images", is_flag=True, help="Read image fields as metadata, never open them (question files published without images; text-only runs and imports).")
@click.option("--long-prompts", type=click.Choice(["truncate", "skip"]), default=None,
              help="A prompt over the model's max_prompt_tokens: cut the question, or skip it (listed in the run record) [default: truncate].")
@json_option("Print the run summary (models, answers new and stored, accuracy, skipped prompts) as one JSON object.")
@model_options(batch_size=False)
@engine_options("run")
def run(bench, models_opt, zoo_group, zoo_path, condition, shots, scoring, blind, circular, run_dir, limit, bench_path, split,
        batch_size, max_new_tokens, seed, no_progress, no_images, long_prompts, as_json, config, kind, backend, device, dtype, model_args) -> None:
    """Ask models a benchmark's questions and store every answer in RUN_DIR (resumable).

    --models takes zoo names, hub ids (org/name), local model folders and .gguf files.
    """
    from leakaudit.answers.runner import resolve_models
    from leakaudit.answers.runner import run as run_models
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo(zoo_path)
    names = model_names(models_opt, zoo_group, zoo)
    explicit_batch = click.get_current_context().get_parameter_source("batch_size") not in (
        click.core.ParameterSource.DEFAULT, None)
    zoo, names = resolve(zoo, None, names_list=names, kind=kind, backend=backend, device=device, dtype=dtype,
                         batch_size=batch_size if explicit_batch else None, model_args=model_args)
    resolve_models(names, condition, zoo)  # a wrong name or a text-only model fails before the data loads
    # few-shot demonstrations come from the whole benchmark, so a limit must not shrink the pool
    bench_obj = load_benchmark(bench, path=bench_path, split=split, limit=None if shots else limit, no_images=no_images)
    summary = run_models(
        bench_obj, names, condition=condition, run_dir=run_dir, shots=shots, scoring=scoring, blind=blind,
        circular=circular, limit=limit, zoo=zoo, progress=show_progress(no_progress, as_json), batch_size=batch_size,
        max_new_tokens=max_new_tokens, seed=seed, command=shlex.join(["leakaudit", *sys.argv[1:]]), long_prompts=long_prompts,
    )
    from leakaudit.answers.settings import AuditSettings, record

    if AuditSettings.load(run_dir) is None:  # the first writer records how the answers were made; a scan's panel stays
        record(run_dir, shots=shots, scoring=scoring, circular=circular)
    save_config(run_dir)
    if as_json:
        click.echo(json.dumps(_summary_json(summary), ensure_ascii=False, allow_nan=False))
    elif quiet():
        click.echo(summary.cached_message() or f"{summary.new} new answers, {summary.total - summary.new} already stored")
    else:
        summary.print(make_console())


@click.command("export")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True), required=True)
@out_option(file=True, required=True, help="answers.parquet (or .csv)")
@json_option("Print {\"n_answers\": N, \"file\": PATH} instead of the line.")
def export(run_dir: str, out: str, as_json: bool) -> None:
    """Write every stored answer to a parquet (or CSV) file pandas opens."""
    from leakaudit.answers.store import STORE_FILE, AnswerStore

    if not (Path(run_dir) / STORE_FILE).is_file():
        raise LeakauditError(f"no answer store in {run_dir} (expected {Path(run_dir) / STORE_FILE})")
    with AnswerStore(run_dir, read_only=True) as store:
        n = store.count()
        path = store.export(out)
    if as_json:
        click.echo(json.dumps({"n_answers": n, "file": str(path)}))
        return
    click.echo(f"wrote {n} answers to {path}")


COMMANDS = [models, run, export]
