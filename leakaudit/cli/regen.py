"""``leakaudit judge | regenerate``: the LLaVA-Critic judge and the Auto-Bench regeneration loop."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..types import BLIND_MODES, JUDGE_MODES, SCORINGS


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1f}"


@click.command("judge")
@click.argument("mode", type=click.Choice(JUDGE_MODES))
@click.option("--model", "-m", required=True, help="Zoo name of the judge model.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON Lines: question, response (or response_a/response_b), optional image path and human label.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per input row with the verdict.")
@click.option("--zoo", type=click.Path(dir_okay=False), default=None, help="Model zoo YAML (default: $LEAKAUDIT_ZOO or model_zoo.yaml).")
@click.option("--max-new-tokens", type=int, default=160, show_default=True)
def judge(mode: str, model: str, input_path: Path, out: Path | None, zoo: str | None, max_new_tokens: int) -> None:
    """Judge responses with a zoo model, LLaVA-Critic style, and print agreement with the labels.

    MODE pointwise scores each response out of 100 (pairs: both responses, the higher wins);
    pairwise says which of response_a / response_b is better, or a tie.
    """
    from .console import make_console
    from rich.table import Table

    from ..regen.judge import Judge, judge_rows, read_pairs
    from ..zoo import load_zoo

    rows = read_pairs(input_path, mode)
    lm = load_zoo(zoo).load(model)
    results, stats = judge_rows(Judge(lm, max_new_tokens=max_new_tokens), rows, mode)
    console = make_console()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in results), encoding="utf-8")
        console.print(f"verdicts written to {out}")
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
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--benchmark", "-b", default=None, help="The audited benchmark (name or path) when the run folder does not say.")
@click.option("--curator", default="smollm2-135m", show_default=True, help="Zoo model that writes the new questions.")
@click.option("--judge", "judge_model", default=None, help="Zoo model that scores them (default: the curator).")
@click.option("--llms", multiple=True, help="Text-only LLM panel of the re-audit (repeatable; default: the audit's LLMs).")
@click.option("--lvlm", default="ocr+smollm2", show_default=True, help="LVLM asked with and without the image in the re-audit.")
@click.option("--rounds", type=int, default=2, show_default=True)
@click.option("--candidates", type=int, default=2, show_default=True, help="Candidates per failing sample and round.")
@click.option("--min-score", type=float, default=50.0, show_default=True, help="Lowest judge score (0-100) that passes.")
@click.option("--limit", type=int, default=None, help="Only the first N failing samples.")
@click.option("--scoring", type=click.Choice(SCORINGS), default="letter", show_default=True, help="Re-audit scoring.")
@click.option("--shots", type=int, default=0, show_default=True, help="Few-shot demonstrations for the text-only panel.")
@click.option("--blind", type=click.Choice(BLIND_MODES), default="drop", show_default=True)
@click.option("--circular", is_flag=True, help="Re-audit with circular evaluation (all rotations must be right).")
@click.option("--require-vision-correct", is_flag=True, help="Keep a question only if the LVLM answers it correctly with the image.")
@click.option("--max-retries", type=int, default=2, show_default=True, help="Extra curator attempts when a reply is unusable.")
@click.option("--describer", "describers", multiple=True, help="Vision zoo model that captions the images (repeatable).")
@click.option("--no-ocr", is_flag=True, help="Do not read text in the images for the descriptions.")
@click.option("--known-fact", is_flag=True, help="Show the curator the source question and answer as context.")
@click.option("--max-new-tokens", type=int, default=384, show_default=True, help="Token budget of each curator reply.")
@click.option("--zoo", type=click.Path(dir_okay=False), default=None)
def regenerate(run_dir: Path, out: Path, benchmark: str | None, curator: str, judge_model: str | None, llms: tuple[str, ...],
               lvlm: str, rounds: int, candidates: int, min_score: float, limit: int | None, scoring: str, shots: int, blind: str,
               circular: bool, require_vision_correct: bool, max_retries: int, describers: tuple[str, ...], no_ocr: bool,
               known_fact: bool, max_new_tokens: int, zoo: str | None) -> None:
    """Replace questions the audit found text-answerable or leaked with new vision-dependent ones."""
    from .console import make_console

    from ..regen.loop import regenerate as run_regenerate
    from ..zoo import load_zoo

    zoo_obj = load_zoo(zoo)
    result = run_regenerate(
        run_dir, out, benchmark=benchmark, curator=curator, judge=judge_model, llms=list(llms) or None, lvlm=lvlm, rounds=rounds,
        candidates=candidates, min_score=min_score, limit=limit, scoring=scoring, shots=shots, blind=blind, circular=circular,
        require_vision_correct=require_vision_correct, max_retries=max_retries, ocr=not no_ocr, known_fact=known_fact,
        curator_max_new_tokens=max_new_tokens, describers=[zoo_obj.load(d) for d in describers], zoo=zoo_obj,
    )
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
