"""``leakaudit compare`` and the report's pages (issue 15), from two scans with scripted models.

Scan A has a vision model that answers some questions blind (ML > 0); scan B's does not
(ML = 0 everywhere, so the ML panel must be left out with a line saying so).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import leakaudit
from leakaudit.cli import main
from leakaudit.report.compare import ROW_COLUMNS, compare
from leakaudit.report.figures import capability_heatmap_figure, cell_text, expected_hits_under_chance, mg_ml_figure
from leakaudit.report.panel import panel_of
from leakaudit.report.pdf import display_path, display_value, header_safe_widths

from test_report import needs_poppler, scan_with_scripted_models


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    bench = leakaudit.load_benchmark("demo")
    scan_with_scripted_models(bench, root / "leaky", leaked=3, report=True)
    # its base LLM knows every text-answerable question, as the LVLM does blind: S_wv = S_t, ML = 0
    scan_with_scripted_models(bench, root / "clean", leaked=0, report=True, base_llm="llm-knows")
    return root


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


# -- compare -----------------------------------------------------------------------------------
def test_compare_lines_up_scans_with_mg_ml_share_and_panel(scans, tmp_path):
    res = compare([scans / "leaky", scans / "clean"], tmp_path / "compare.pdf")
    assert (tmp_path / "compare.pdf").stat().st_size > 5000
    rows = pd.read_csv(tmp_path / "compare.csv")
    assert list(rows.columns) == ROW_COLUMNS
    assert list(res.scans["scan"]) == ["demo (leaky)", "demo (clean)"]
    by = rows.set_index("scan")
    leaky, clean = by.loc["demo (leaky)"], by.loc["demo (clean)"]
    assert leaky["model"] == "lvlm-a" and leaky["ML"] > 0 and clean["ML"] == 0
    summary = json.loads((scans / "leaky" / "summary.json").read_text())
    assert leaky["share_text_answerable"] == pytest.approx(summary["share_text_answerable"])
    assert leaky["MG"] == pytest.approx(summary["mean_MG"])
    assert leaky["n_text_llms"] == 3  # llm-knows, llm-half, llm-guess
    grid = res.table6("ML")
    assert grid.loc["lvlm-a", "demo (clean)"] == 0 and grid.loc["lvlm-a", "demo (leaky)"] > 0


def test_compare_cli_json_and_bad_folder(scans, tmp_path):
    out = CliRunner().invoke(main, ["compare", str(scans / "leaky"), str(scans / "clean"), "-o", str(tmp_path / "c.pdf"), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert {s["scan"] for s in doc["scans"]} == {"demo (leaky)", "demo (clean)"}
    assert all(s["text_llms"] == ["llm-guess", "llm-half", "llm-knows"] for s in doc["scans"])
    assert (tmp_path / "compare.csv").is_file()
    bad = CliRunner().invoke(main, ["compare", str(tmp_path), "-o", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 2 and "summary.json is missing" in bad.output


@needs_poppler
def test_compare_pdf_shows_table6(scans, tmp_path):
    compare([scans / "leaky", scans / "clean"], tmp_path / "compare.pdf")
    text = _text(tmp_path / "compare.pdf")
    assert "MG / ML per model and benchmark" in text and "demo (leaky) MG / ML" in text and "3 distinct LLMs" in text


# -- the report's pages -------------------------------------------------------------------------
@needs_poppler
def test_page_one_names_the_panel_and_the_kept_set(scans):
    first = subprocess.run(["pdftotext", "-l", "1", str(scans / "leaky" / "audit.pdf"), "-"], capture_output=True, text=True).stdout
    flat = " ".join(first.split())
    assert "Panel: 3 distinct text-only LLMs" in flat and "MMStar's 8 LLM inspectors" in flat
    assert "Kept set: 45 of 60 questions in kept/demo.jsonl" in flat and "kept/removed.csv" in flat


@needs_poppler
def test_zero_ml_panel_is_left_out_and_said(scans):
    clean = " ".join(_text(scans / "clean" / "audit.pdf").split())
    leaky = " ".join(_text(scans / "leaky" / "audit.pdf").split())
    assert "ML is 0 for every vision model" in clean and "ML is 0 for every vision model" not in leaky
    metrics = pd.read_csv(scans / "clean" / "metrics.csv")
    metrics["category"] = metrics["category"].where(metrics["category"] != "all")
    fig = mg_ml_figure(metrics)
    assert len(fig.axes) == 1 and "MG" in fig.axes[0].get_title()


@needs_poppler
def test_appendix_shows_used_values_without_nulls_paths_or_json(scans):
    text = _text(scans / "leaky" / "audit.pdf")
    appendix = text[text.index("Appendix"):]
    assert "null" not in appendix and "None" not in appendix
    assert str(scans) not in text  # no absolute machine path anywhere in the PDF
    assert "$LEAKAUDIT_CACHE/demo-v1" in appendix or "…/" in appendix
    models = appendix[appendix.index("Models and versions"):appendix.index("Reproducibility")]
    assert "{" not in models and "backend: scripted" in models
    assert "none: k is an absolute count of LLMs" in appendix  # k given, n unset: what it means
    assert "Circular" in text  # a narrow column's header is not broken inside the word


def test_display_helpers():
    assert display_value("limit", None) == "all questions" and display_value("circular", False) == "no"
    assert display_value("seconds", 22.40688) == "22.4" and display_value("models", {"a": ["x", "y"]}) == "a: x, y"
    assert display_path("/some/where/deep/file.jsonl") == "…/deep/file.jsonl"
    assert display_path("/r/out/kept/demo.jsonl", Path("/r/out")) == "kept/demo.jsonl"
    from leakaudit.report.pdf import Styles, para

    st = Styles()
    header = [para(h, st.cell_bold) for h in ("#", "Circular", "A long column")]
    widths = header_safe_widths(header, [20.0, 10.0, 200.0])
    assert sum(widths) == pytest.approx(230.0) and widths[1] > 30


def test_heatmap_cells_show_n_and_never_minus_zero(scans):
    assert cell_text(-0.4) == "0" and cell_text(-0.6) == "-1" and cell_text(12.4) == "12"
    metrics = pd.read_csv(scans / "leaky" / "metrics.csv")
    metrics["category"] = metrics["category"].where(metrics["category"] != "all")
    fig = capability_heatmap_figure(metrics)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels and all("\nn=" in t for t in labels) and not any(t.startswith("-0") for t in labels)


def test_chance_line_honours_min_confidence():
    samples = pd.DataFrame({"text_n": [3] * 40, "chance": [0.25] * 40, "text_hits": [0] * 40})
    plain = expected_hits_under_chance(samples)
    sure = expected_hits_under_chance(samples, confident_share=0.2)
    assert plain.sum() == pytest.approx(40) and sure.sum() == pytest.approx(40)
    assert sure[0] > plain[0] and sure[1:].sum() < plain[1:].sum()
    assert np.allclose(expected_hits_under_chance(samples, 0.0).to_numpy(), [40, 0, 0, 0])


def test_panel_counts_distinct_weights_and_largest_size():
    panel = panel_of({"settings": {"inspectors": ["smollm2-135m", "smollm2-135m-llamacpp", "gemma3-270m"]}})
    assert panel.n_distinct == 2 and panel.largest_b == pytest.approx(0.27)
    assert "2 distinct text-only LLMs (3 runs), largest 270M" in panel.sentence()
