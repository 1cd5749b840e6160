"""``leakaudit report``: the audit PDF from an audit folder or a run folder."""
from __future__ import annotations

from pathlib import Path

import click

from leakaudit.cli.audit import _base_llm_map, _names, _zoo_panel, echo_overrides, given, summary_lines
from leakaudit.cli.options import base_llm_option, json_option, out_option, shots_option, zoo_options


@click.command("report")
@click.argument("source", type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@out_option("out_pdf", file=True, path_type=Path, help="PDF to write (default: audit.pdf in the audit folder).")
@click.option("--max-samples", type=click.IntRange(1), default=12, show_default=True, help="Leakiest questions shown with their images.")
@click.option("--no-images", is_flag=True, help="Do not reload the benchmark (no thumbnails, question texts or example prompts).")
@click.option("--audit-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder only: where to save the audit (default: SOURCE/audit).")
@shots_option(help="Run folder only: shot setting of S_t (default: the run's recorded one).", show_default=True)
@click.option("--k", type=click.IntRange(0), default=None, help="Run folder only: text-answerable above k LLM hits (default MMStar's 2 of 8).")
@click.option("--n", type=click.IntRange(1), default=None, help="Run folder only: ratio denominator for --k.")
@click.option("--circular/--no-circular", default=False, help="Run folder only: circular evaluation (default: the run's recorded setting).")
@zoo_options(group_help="Run folder only: zoo group or model name whose LLMs are the inspectors and LVLMs the vision models (default: the recorded panel).")
@base_llm_option()
@json_option("Print one JSON object: the audit summary and where the PDF went.")
def report(source: Path, out_pdf, max_samples, no_images, audit_dir, shots, k, n, circular, zoo_group, zoo_path, base_llm, as_json) -> None:
    """Write the audit PDF for SOURCE: an audit output folder (summary.json) or a run folder (answers.sqlite, audited first
    under the settings the run recorded; flags override them)."""
    import json

    from rich.console import Console

    from leakaudit.answers.settings import resolve
    from leakaudit.answers.store import STORE_FILE
    from leakaudit.report import build_report

    console = Console(stderr=True)
    if (source / "summary.json").is_file():
        report_dir = source
    elif (source.suffix == ".sqlite" and source.is_file()) or (source / STORE_FILE).is_file():
        from leakaudit.workflows.pipeline import audit_run

        run_dir = source.parent if source.suffix == ".sqlite" else source
        panel, lvlms = _zoo_panel(zoo_group, zoo_path, None)
        settings, lines = resolve(run_dir, **given(shots=("shots", shots), k=("k", k), n=("n", n), circular=("circular", circular),
                                                   inspectors=("zoo_group", panel), lvlms=("zoo_group", lvlms),
                                                   base_llms=("base_llm", _base_llm_map(base_llm) or None)))
        echo_overrides(lines)
        report_dir = audit_dir if audit_dir is not None else run_dir / "audit"
        with console.status("auditing the run"):
            audit_run(run_dir, settings, zoo=zoo_path, overrides=lines).save(report_dir)
    else:
        from leakaudit.errors import LeakauditError

        raise LeakauditError(f"{source} has neither summary.json (an audit output folder) nor {STORE_FILE} (a run folder)")
    with console.status("building the report"):
        pdf = build_report(report_dir, out_pdf, max_samples=max_samples, load_images=not no_images)
    summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    if as_json:
        click.echo(json.dumps({"pdf": str(pdf), "audit_dir": str(report_dir), "summary": summary}, ensure_ascii=False, default=str))
        return
    for line in summary_lines(summary):
        click.echo(line)
    click.echo(f"written: {pdf}")


COMMANDS = [report]
