"""``leakaudit report``: the audit PDF from an audit folder or a run folder."""
from __future__ import annotations

from pathlib import Path

import click

from .audit import _base_llm_map, echo_overrides, given, summary_lines


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
@click.option("--circular/--no-circular", default=False, help="Run folder only: circular evaluation (default: the run's recorded setting).")
@click.option("--zoo", "zoo_path", type=click.Path(dir_okay=False), default=None, help="Run folder only: zoo YAML (base LLMs).")
@click.option("--base-llm", "base_llm", multiple=True, help="Run folder only: LVLM=LLM for models the zoo does not know (repeatable).")
def report(source: Path, out_pdf, max_samples, no_images, audit_dir, text_shots, k, n, circular, zoo_path, base_llm) -> None:
    """Write the audit PDF for SOURCE: an audit output folder (summary.json) or a run folder (answers.sqlite, audited first
    under the settings the run recorded; flags override them)."""
    import json

    from rich.console import Console

    from ..report import build_report
    from ..settings import resolve
    from ..store import STORE_FILE

    console = Console(stderr=True)
    if (source / "summary.json").is_file():
        report_dir = source
    elif (source.suffix == ".sqlite" and source.is_file()) or (source / STORE_FILE).is_file():
        from ..pipeline import audit_run

        run_dir = source.parent if source.suffix == ".sqlite" else source
        settings, lines = resolve(run_dir, **given(shots=("text_shots", text_shots), k=("k", k), n=("n", n), circular=("circular", circular),
                                                   base_llms=("base_llm", _base_llm_map(base_llm) or None)))
        echo_overrides(lines)
        report_dir = audit_dir if audit_dir is not None else run_dir / "audit"
        with console.status("auditing the run"):
            audit_run(run_dir, settings, zoo=zoo_path, overrides=lines, require_inspectors=True).save(report_dir)
    else:
        from ..errors import LeakauditError

        raise LeakauditError(f"{source} has neither summary.json (an audit output folder) nor {STORE_FILE} (a run folder)")
    with console.status("building the report"):
        pdf = build_report(report_dir, out_pdf, max_samples=max_samples, load_images=not no_images)
    summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    for line in summary_lines(summary):
        click.echo(line)
    click.echo(f"written: {pdf}")


COMMANDS = [report]
