"""``leakaudit report``: the audit PDF from an audit folder or a run folder."""
from __future__ import annotations

from pathlib import Path

import click

from .audit import _base_llm_map


@click.command("report")
@click.argument("source", type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option("-o", "--out", "out_pdf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PDF to write (default: audit.pdf in the audit folder).")
@click.option("--max-samples", type=click.IntRange(1), default=12, show_default=True, help="Leakiest questions shown with their images.")
@click.option("--no-images", is_flag=True, help="Do not reload the benchmark (no thumbnails, question texts or example prompts).")
@click.option("--audit-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder only: where to save the audit (default: SOURCE/audit).")
@click.option("--text-shots", type=click.IntRange(0, 8), default=0, show_default=True, help="Run folder only: shot setting of S_t.")
@click.option("--k", type=click.IntRange(0), default=None, help="Run folder only: text-answerable above k LLM hits (default MMStar's 2 of 8).")
@click.option("--n", type=click.IntRange(1), default=None, help="Run folder only: ratio denominator for --k.")
@click.option("--circular", is_flag=True, help="Run folder only: circular evaluation.")
@click.option("--zoo", "zoo_path", type=click.Path(dir_okay=False), default=None, help="Run folder only: zoo YAML (base LLMs).")
@click.option("--base-llm", "base_llm", multiple=True, help="Run folder only: LVLM=LLM for models the zoo does not know (repeatable).")
def report(source: Path, out_pdf, max_samples, no_images, audit_dir, text_shots, k, n, circular, zoo_path, base_llm) -> None:
    """Write the audit PDF for SOURCE: an audit output folder (summary.json) or a run folder (answers.sqlite, audited first)."""
    from rich.console import Console

    from ..report import report as build

    console = Console(stderr=True)
    with console.status("building the report"):
        pdf = build(source, out_pdf, audit_dir=audit_dir, max_samples=max_samples, load_images=not no_images,
                    text_shots=text_shots, k=k, n=n, circular=circular, zoo=zoo_path, base_llms=_base_llm_map(base_llm))
    click.echo(f"written: {pdf}")


COMMANDS = [report]
