"""``leakaudit judge | regenerate``: the LLaVA-Critic judge and the Auto-Bench regeneration loop."""
from __future__ import annotations

import json
from pathlib import Path

import click

from leakaudit.cli.options import (AliasedOption, blind_option, comma_list, json_option, models_option, out_option, scoring_option,
                                   shots_option, zoo_file_option, zoo_options)
from leakaudit.types import JUDGE_MODES


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1f}"


@click.command("judge")
@click.argument("mode", type=click.Choice(JUDGE_MODES))
@click.option("--model", "-m", required=True, help="Zoo name of the judge model.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON Lines: question, response (or response_a/response_b), optional image path and human label.")
@out_option(file=True, path_type=Path, help="Write one JSON line per input row with the verdict.")
@zoo_file_option()
@click.option("--max-new-tokens", type=int, default=160, show_default=True)
@json_option("Print the agreement statistics (pairs, scores) as one JSON object.")
def judge(mode: str, model: str, input_path: Path, out: Path | None, zoo_path: str | None, max_new_tokens: int, as_json: bool) -> None:
    """Judge responses with a zoo model, LLaVA-Critic style, and print agreement with the labels.

    MODE pointwise scores each response out of 100 (pairs: both responses, the higher wins);
    pairwise says which of response_a / response_b is better, or a tie.
    """
    from rich.table import Table

    from leakaudit.cli.console import make_console
    from leakaudit.models.zoo import load_zoo
    from leakaudit.regen.judge import Judge, judge_rows, read_pairs

    rows = read_pairs(input_path, mode)
    lm = load_zoo(zoo_path).load(model)
    results, stats = judge_rows(Judge(lm, max_new_tokens=max_new_tokens), rows, mode)
    console = make_console()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in results), encoding="utf-8")
        if not as_json:
            console.print(f"verdicts written to {out}")
    if as_json:
        click.echo(json.dumps({"mode": mode, "model": model, "n_rows": len(rows), "out": str(out) if out else None, **stats},
                              ensure_ascii=False, default=str))
        return
    table = Table(title=f"Judge {model} ({mode}) on {input_path.name}: {len(rows)} rows")
    for col in ("labelled", "human ties", "unreadable", "acc. with ties (%)", "acc. without ties (%)", "Cohen's kappa"):
        table.add_column(col, justify="right")
    p = stats.get("pairs")
    if p:
        table.add_row(str(p["n"]), str(p["n_human_ties"]), str(p["n_unreadable"]), _pct(p["accuracy_with_ties"]),
                      _pct(p["accuracy_without_ties"]), "-" if p["kappa"] is None else f"{p['kappa']:.3f}")
        console.print(table)
    s = stats.get("scores")
    if s:
        r = "-" if s["pearson"] is None else f"{s['pearson']:.3f}"
        tau = "-" if s["kendall_tau"] is None else f"{s['kendall_tau']:.3f}"
        console.print(f"scores vs human scores ({s['n']} rows, {s['n_unreadable']} unreadable): Pearson r {r}, Kendall tau {tau}")
    if not p and not s:
        unread = sum(1 for r in results if r.get("score", r.get("verdict", "x")) is None)
        console.print(f"no human labels in {input_path}; {len(results) - unread} of {len(results)} verdicts readable")


@click.command("regenerate")
@click.option("--run-dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An audit folder (summary.json, from scan / audit --out) or a run folder (answers.sqlite).")
@out_option(required=True, path_type=Path, help="Output folder.")
@click.option("--benchmark", "-b", "benchmark", cls=AliasedOption, hidden_aliases=("-b",), default=None, help="The audited benchmark (name or path) when the run folder does not say.")
@click.option("--curator", default="smollm2-135m", show_default=True, help="Zoo model that writes the new questions.")
@click.option("--judge", "judge_model", default=None, help="Zoo model that scores them (default: the curator).")
@models_option("llms", name="--llms", help="Comma-separated text-only LLM panel of the re-audit (default: --zoo's LLMs, else the audit's LLMs).")
@click.option("--lvlm", default="ocr+smollm2", show_default=True, help="LVLM asked with and without the image in the re-audit.")
@click.option("--rounds", type=int, default=2, show_default=True)
@click.option("--candidates", type=int, default=2, show_default=True, help="Candidates per failing sample and round.")
@click.option("--min-score", type=float, default=50.0, show_default=True, help="Lowest judge score (0-100) that passes.")
@click.option("--limit", type=int, default=None, help="Only the first N failing samples.")
@scoring_option("letter", show_default=True, help="Re-audit scoring.")
@shots_option(help="Few-shot demonstrations for the text-only panel.", show_default=True)
@blind_option()
@click.option("--circular", is_flag=True, help="Re-audit with circular evaluation (all rotations must be right).")
@click.option("--require-vision-correct", is_flag=True, help="Keep a question only if the LVLM answers it correctly with the image.")
@click.option("--max-retries", type=int, default=2, show_default=True, help="Extra curator attempts when a reply is unusable.")
@models_option("describers", name="--describers", aliases=("--describer",), help="Comma-separated vision zoo models that caption the images.")
@click.option("--no-ocr", is_flag=True, help="Do not read text in the images for the descriptions.")
@click.option("--known-fact", is_flag=True, help="Show the curator the source question and answer as context.")
@click.option("--max-new-tokens", type=int, default=384, show_default=True, help="Token budget of each curator reply.")
@zoo_options(group_help="Zoo group or model name whose LLMs are the re-audit's text-only panel (--llms wins).")
@json_option("Print one JSON object: kept questions, failing samples, the files written, notes.")
def regenerate(run_dir: Path, out: Path, benchmark: str | None, curator: str, judge_model: str | None, llms: str | None,
               lvlm: str, rounds: int, candidates: int, min_score: float, limit: int | None, scoring: str, shots: int, blind: str,
               circular: bool, require_vision_correct: bool, max_retries: int, describers: str | None, no_ocr: bool,
               known_fact: bool, max_new_tokens: int, zoo_group: str | None, zoo_path: str | None, as_json: bool) -> None:
    """Replace questions the audit found text-answerable or leaked with new vision-dependent ones."""
    from leakaudit.cli.console import make_console
    from leakaudit.models.zoo import load_zoo
    from leakaudit.regen.loop import regenerate as run_regenerate

    zoo_obj = load_zoo(zoo_path)
    panel = comma_list(llms)
    if panel is None and zoo_group:
        panel = [s.name for s in zoo_obj.group(zoo_group) if s.kind == "llm"] or None
    result = run_regenerate(
        run_dir, out, benchmark=benchmark, curator=curator, judge=judge_model, llms=panel, lvlm=lvlm, rounds=rounds,
        candidates=candidates, min_score=min_score, limit=limit, scoring=scoring, shots=shots, blind=blind, circular=circular,
        require_vision_correct=require_vision_correct, max_retries=max_retries, ocr=not no_ocr, known_fact=known_fact,
        curator_max_new_tokens=max_new_tokens, describers=[zoo_obj.load(d) for d in comma_list(describers) or []], zoo=zoo_obj,
    )
    if as_json:
        click.echo(json.dumps({"n_failing": result.n_failing, "n_kept": len(result.kept),
                               "benchmark_file": str(result.benchmark_file) if result.benchmark_file else None,
                               "benchmark_format": result.benchmark_format, "provenance_file": str(result.provenance_file),
                               "summary_file": str(result.summary_file), "notes": list(result.notes)}, ensure_ascii=False, default=str))
        return
    console = make_console()
    console.print(result.table())
    if result.benchmark_file:
        console.print(f"regenerated benchmark ({len(result.kept)} questions, {result.benchmark_format} format): {result.benchmark_file}")
    else:
        console.print(f"[bold]0 of {result.n_failing} failing samples got a surviving replacement; no benchmark file written[/bold]")
    console.print(f"provenance: {result.provenance_file}\nsummary: {result.summary_file}")
    for note in result.notes:
        console.print(f"note: {note}")


COMMANDS = [judge, regenerate]
