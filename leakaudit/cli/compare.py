"""``leakaudit compare``: several scan folders side by side (MMStar's Table 6)."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("compare")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_pdf", type=click.Path(dir_okay=False, path_type=Path), default=Path("compare.pdf"), show_default=True,
              help="PDF to write; compare.csv is written beside it.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the CSV (default: compare.csv next to the PDF).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object (the PDF and CSV are still written).")
def compare_cmd(dirs, out_pdf, csv_path, as_json) -> None:
    """Compare scan folders DIRS: MG and ML per benchmark and model, text-answerable share, panel strength."""
    from leakaudit.report.compare import compare, share_text

    result = compare(list(dirs), out_pdf, csv=csv_path)
    csv_written = csv_path or out_pdf.with_name("compare.csv")
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, allow_nan=False))
        return
    for r in result.scans.to_dict(orient="records"):
        mg = "n/a" if r["mean_MG"] != r["mean_MG"] else f"{r['mean_MG']:.1f}"
        ml = "n/a" if r["mean_ML"] != r["mean_ML"] else f"{r['mean_ML']:.1f}"
        click.echo(f"{r['scan']}: {r['n_samples']} questions, text-answerable {share_text(r['share_text_answerable'], r['n_text_llms'])}, "
                   f"mean MG {mg}, mean ML {ml}, {r['n_text_llms']} distinct text-only LLMs")
    click.echo(f"written: {out_pdf}, {csv_written}")


COMMANDS = [compare_cmd]
