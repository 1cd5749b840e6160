"""Several scan folders side by side, as MMStar's Table 6 puts benchmarks side by side.

``compare_scans(dirs)`` reads each folder's ``summary.json`` and ``metrics.csv`` (nothing is
re-run) and returns one row per folder and vision model: MG and ML (with intervals), the
folder's share of text-answerable questions and the strength of its text-only panel.
``write_compare_pdf`` renders that as a PDF with one table of MG/ML per model and benchmark,
one table of the folders, and one figure; ``CompareResult.write_csv`` writes compare.csv
(columns in docs/outputs.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from leakaudit.errors import LeakauditError
from leakaudit.report.panel import panel_of

AVERAGE = "(average)"
ROW_COLUMNS = ["scan", "folder", "benchmark", "model", "kind", "base_llm", "S_v", "S_wv", "S_t", "MG", "ML",
               "MG_lo", "MG_hi", "ML_lo", "ML_hi", "n_samples", "share_text_answerable", "share_leaked", "n_text_llms", "largest_llm_b"]
SCAN_COLUMNS = ["scan", "folder", "benchmark", "n_samples", "share_text_answerable", "share_leaked", "mean_MG", "mean_ML",
                "n_text_llms", "largest_llm_b", "text_llms"]


@dataclass
class CompareResult:
    """``rows``: per folder x vision model (ROW_COLUMNS); ``scans``: per folder (SCAN_COLUMNS)."""

    rows: pd.DataFrame
    scans: pd.DataFrame

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.rows.to_csv(path, index=False)
        return path

    def to_json(self) -> dict[str, Any]:
        from leakaudit.audit.result import frame_records

        return {"scans": frame_records(self.scans), "rows": frame_records(self.rows)}

    def table6(self, value: str) -> pd.DataFrame:
        """Model x scan grid of ``value`` (MG or ML), the average last: MMStar's Table 6 layout."""
        grid = self.rows.pivot_table(index="model", columns="scan", values=value, aggfunc="first", dropna=False)
        grid = grid.reindex(columns=list(self.scans["scan"]))
        order = [m for m in grid.index if m != AVERAGE] + [m for m in grid.index if m == AVERAGE]
        return grid.reindex(order)


def _num(value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return math.nan
    return f


def _unique_names(names: list[str], folders: list[Path]) -> list[str]:
    """Benchmark names; where two folders audit the same benchmark, the folder's name is added."""
    out = []
    for n, f in zip(names, folders):
        twice = names.count(n) > 1
        label = f"{n} ({f.name})" if twice else n
        out.append(label)
    seen: dict[str, int] = {}
    for i, label in enumerate(out):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            out[i] = f"{label} #{seen[label]}"
    return out


def compare_scans(dirs: Sequence[str | Path], *, zoo: Any = None) -> CompareResult:
    """Read each scan folder (``summary.json`` + ``metrics.csv``) and line them up."""
    from leakaudit.audit import AuditResult

    if len(dirs) < 1:
        raise LeakauditError("compare needs at least one scan folder")
    loaded = []
    for d in dirs:
        d = Path(d)
        if not (d / "summary.json").is_file():
            raise LeakauditError(f"{d} is not a scan folder: summary.json is missing (run `leakaudit scan` or `leakaudit gate --out`)")
        loaded.append((d, AuditResult.load(d)))
    names = _unique_names([str(r.summary.get("benchmark") if isinstance(r.summary.get("benchmark"), str) else d.name) for d, r in loaded],
                          [d for d, _ in loaded])
    rows, scans = [], []
    for name, (folder, res) in zip(names, loaded):
        s = res.summary
        panel = panel_of(s, zoo)
        bench = s.get("benchmark") if isinstance(s.get("benchmark"), str) else ", ".join(s.get("benchmark") or [])
        common = {"scan": name, "folder": str(folder), "benchmark": bench, "n_samples": s.get("n_samples"),
                  "share_text_answerable": _num(s.get("share_text_answerable")), "share_leaked": _num(s.get("share_leaked")),
                  "n_text_llms": panel.n_distinct, "largest_llm_b": panel.largest_b}
        m = res.metrics
        whole = m[m["category"].isna() & (m["kind"] == "lvlm")] if not m.empty else m
        for r in whole.to_dict(orient="records"):
            rows.append({**common, "model": r["model"], "kind": "lvlm", "base_llm": r.get("base_llm"),
                         **{c: _num(r.get(c)) for c in ("S_v", "S_wv", "S_t", "MG", "ML", "MG_lo", "MG_hi", "ML_lo", "ML_hi")}})
        avg = res.averages
        if not avg.empty:
            a = avg[avg["category"].isna()]
            if "n_models" in a:
                a = a[a["n_models"].fillna(0) >= 2]  # an "average" of one model repeats that model
            for r in a.to_dict(orient="records"):
                rows.append({**common, "model": AVERAGE, "kind": "average", "base_llm": None,
                             **{c: _num(r.get(c)) for c in ("S_v", "S_wv", "S_t", "MG", "ML", "MG_lo", "MG_hi", "ML_lo", "ML_hi")}})
        scans.append({**{k: common[k] for k in ("scan", "folder", "benchmark", "n_samples", "share_text_answerable", "share_leaked",
                                                 "n_text_llms", "largest_llm_b")},
                      "mean_MG": _num(s.get("mean_MG")), "mean_ML": _num(s.get("mean_ML")), "text_llms": panel.distinct})
    return CompareResult(rows=pd.DataFrame(rows, columns=ROW_COLUMNS), scans=pd.DataFrame(scans, columns=SCAN_COLUMNS))


# -- figure and PDF ---------------------------------------------------------------------------
def compare_figure(result: CompareResult):
    """Per scan: the share of text-answerable questions, and the average MG and ML of its vision models."""
    import numpy as np
    from matplotlib.figure import Figure

    from leakaudit.report.figures import MG_COLOR, ML_COLOR

    scans = result.scans
    y = np.arange(len(scans))[::-1]
    fig = Figure(figsize=(7.2, 1.4 + 0.4 * len(scans)))
    left, right = fig.subplots(1, 2, sharey=True)
    measured = 100 * scans["share_text_answerable"].astype(float).to_numpy()
    share = np.nan_to_num(measured)
    left.barh(y, share, color="#c53030", alpha=0.85)
    for yi, v, n_llms in zip(y, measured, scans["n_text_llms"]):
        left.text(0 if np.isnan(v) else v, yi, " " + (share_text(v, n_llms) if np.isnan(v) else f"{v:.0f}%"), va="center", fontsize=7.5)
    left.set_xlim(0, max(100.0, float(share.max()) * 1.15 if len(share) else 100.0))
    left.set_xlabel("questions answerable without the image (%)")
    left.set_title("Text-answerable share", fontsize=9, pad=22)
    mg = scans["mean_MG"].astype(float).to_numpy()
    ml = scans["mean_ML"].astype(float).to_numpy()
    right.barh(y + 0.18, np.nan_to_num(mg), height=0.36, color=MG_COLOR, label="MG (average over vision models)")
    right.barh(y - 0.18, np.nan_to_num(ml), height=0.36, color=ML_COLOR, label="ML")
    for yi, v in zip(y, mg):
        if np.isnan(v):
            right.text(0, yi + 0.18, " n/a", va="center", fontsize=7, color="#666666")
    right.axvline(0, color="#333333", linewidth=0.8)
    right.set_xlabel("percentage points")
    right.set_title("Multi-modal gain and leakage", fontsize=9, pad=22)
    right.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2)
    left.set_yticks(y, [f"{s}\n({n} LLMs)" for s, n in zip(scans["scan"], scans["n_text_llms"])], fontsize=7.5)
    for ax in (left, right):
        ax.grid(axis="x", color="#dddddd", linewidth=0.5)
        ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def share_text(share: Any, n_text_llms: Any) -> str:
    """A scan's text-answerable share in percent; without a panel there is none to show."""
    f = _num(share)
    if not math.isnan(f):
        return f"{100 * f:.1f}%"
    return "n/a (no panel)" if not _num(n_text_llms) else "n/a"


def _fmt(v: Any, digits: int = 1) -> str:
    f = _num(v)
    if math.isnan(f):
        return "–"
    text = f"{f:.{digits}f}"
    return "0.0" if text in ("-0.0", "-0") else text


def write_compare_pdf(result: CompareResult, out_pdf: str | Path) -> Path:
    """A PDF: the scans with their panels, MG and ML per model and benchmark (Table 6), one figure."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    from leakaudit.report.figures import figure_png, report_style
    from leakaudit.report.fonts import markup
    from leakaudit.report.panel import MMSTAR_PANEL, fmt_size
    from leakaudit.report.pdf import Styles, png_flowable, table

    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    st = Styles()
    page_w = landscape(A4)[0] - 30 * mm

    def p(text: str, style=st.cell) -> Paragraph:
        return Paragraph(markup(text), style)

    story: list = [p(f"Benchmarks compared: {', '.join(result.scans['scan'])}", st.title),
                   p("MMStar-style comparison (Table 6 of arXiv 2403.20330): MG = S_v − S_wv is what the image adds, "
                     "ML = max(0, S_wv − S_t) what a vision model answers without the image beyond its own LLM. "
                     f"Panels are compared with {MMSTAR_PANEL}.", st.small), Spacer(1, 4 * mm)]
    head = ["Scan", "Questions", "Text-answerable", "Leaked", "Mean MG", "Mean ML", "Text-only panel"]
    body = [[p(h, st.cell_bold) for h in head]]
    for r in result.scans.to_dict(orient="records"):
        largest = _num(r["largest_llm_b"])
        size = "size unknown" if math.isnan(largest) else f"largest {fmt_size(largest)}"
        body.append([p(str(r["scan"])), p(str(r["n_samples"])), p(share_text(r["share_text_answerable"], r["n_text_llms"])),
                     p(f"{100 * _num(r['share_leaked']):.1f}%"), p(_fmt(r["mean_MG"])), p(_fmt(r["mean_ML"])),
                     p(f"{r['n_text_llms']} distinct LLMs, {size}: {', '.join(r['text_llms'])}")])
    widths = [45 * mm, 20 * mm, 27 * mm, 18 * mm, 19 * mm, 19 * mm]
    story += [p("Scans", st.h2), table(body, widths + [page_w - sum(widths)]), Spacer(1, 4 * mm)]
    scans = list(result.scans["scan"])
    mg, ml = result.table6("MG"), result.table6("ML")
    head = ["Model"] + [f"{s} MG / ML" for s in scans]
    body = [[p(h, st.cell_bold) for h in head]]
    for model in mg.index:
        label = "average of vision models" if model == AVERAGE else str(model)
        body.append([p(label, st.cell_bold if model == AVERAGE else st.cell)]
                    + [p(f"{_fmt(mg.loc[model, s])} / {_fmt(ml.loc[model, s])}") for s in scans])
    first = 55 * mm
    rest = (page_w - first) / max(1, len(scans))
    story += [p("MG / ML per model and benchmark (points)", st.h2), table(body, [first] + [rest] * len(scans)), Spacer(1, 4 * mm)]
    with report_style():
        png = figure_png(compare_figure(result))
    story.append(png_flowable(png, max_height=110 * mm))
    doc = SimpleDocTemplate(str(out_pdf), pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title="leakaudit compare", author="leakaudit", initialFontName=st.body.fontName)
    doc.build(story)
    return out_pdf


def compare(dirs: Sequence[str | Path], out_pdf: str | Path | None = "compare.pdf", *, csv: str | Path | None = None,
            zoo: Any = None) -> CompareResult:
    """Compare scan folders; write ``out_pdf`` (None: no PDF) and ``compare.csv`` beside it (or at ``csv``)."""
    result = compare_scans(dirs, zoo=zoo)
    if out_pdf is not None:
        write_compare_pdf(result, out_pdf)
        result.write_csv(Path(csv) if csv is not None else Path(out_pdf).with_name("compare.csv"))
    elif csv is not None:
        result.write_csv(csv)
    return result


__all__ = ["CompareResult", "compare", "compare_figure", "compare_scans", "write_compare_pdf"]
