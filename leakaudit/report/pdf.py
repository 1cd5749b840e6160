"""Assemble the audit PDF with reportlab's platypus from an audit output folder.

Page one answers "can I trust this benchmark?" in ten seconds (verdict, headline shares,
MG/ML per model); the following pages show the evidence (charts, the leakiest questions
with their images, what the filter removed) and the appendix records exactly how the
numbers were made (prompts, shots, scoring, models, versions). Every page carries a
reproducibility footer: the command, the leakaudit version, and hashes of the data and
of the stored answers, so a printed page can be traced back to its inputs.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (CondPageBreak, Flowable, Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table,
                                TableStyle)

from leakaudit.report.figures import (AVERAGE, capability_heatmap_figure, figure_png, filter_counts, filter_figure, heatmap_value,
                                      mg_ml_figure, ml_all_zero)
from leakaudit.report.figures import render_figures as draw_figures
from leakaudit.report.figures import report_style, text_hits_figure, whole_benchmark_rows
from leakaudit.report.fonts import CJK_FONT_HINT, has_cjk, markup, register_fonts
from leakaudit.report.inputs import ReportInputs, benchmark_sources, load_report_inputs
from leakaudit.report.panel import panel_of
from leakaudit.types import RunSetting

PAGE_W, PAGE_H = A4
MARGIN = 15 * mm
FOOTER_H = 17 * mm
FRAME_W = PAGE_W - 2 * MARGIN
FRAME_H = PAGE_H - 2 * MARGIN - FOOTER_H
#: how many of the leakiest questions the evidence table shows
DEFAULT_MAX_SAMPLES = 12
QUESTION_CHARS = 420
THUMB_W = 24 * mm
#: resolution the charts are rendered at (figures.report_style sets savefig.dpi to match)
FIGURE_DPI = 200

GREY = colors.HexColor("#555555")
LIGHT = colors.HexColor("#f2f4f7")
RULE = colors.HexColor("#c8ccd2")
SEVERITY_COLORS = {
    "bad": colors.HexColor("#c53030"),
    "warn": colors.HexColor("#c05621"),
    "good": colors.HexColor("#2f855a"),
    "neutral": colors.HexColor("#4a5568"),
}
LABEL_COLORS = {"text-answerable": "#c53030", "leaked": "#c05621", "vision-dependent": "#2f855a", "unknown": "#4a5568"}


# -- text helpers ----------------------------------------------------------------------------
class Styles:
    """The paragraph styles of the report, bound to the registered fonts."""

    def __init__(self) -> None:
        f = register_fonts()
        base = dict(fontName=f.body, textColor=colors.black, bulletFontName=f.body)
        self.title = ParagraphStyle("title", fontSize=17, leading=21, spaceAfter=2, **{**base, "fontName": f.bold})
        self.h1 = ParagraphStyle("h1", fontSize=13, leading=16, spaceBefore=6, spaceAfter=5, keepWithNext=1, **{**base, "fontName": f.bold})
        self.h2 = ParagraphStyle("h2", fontSize=10.5, leading=13, spaceBefore=6, spaceAfter=3, keepWithNext=1, **{**base, "fontName": f.bold})
        self.body = ParagraphStyle("body", fontSize=9, leading=12, spaceAfter=4, **base)
        self.small = ParagraphStyle("small", fontSize=7.5, leading=9.5, textColor=GREY, fontName=f.body, bulletFontName=f.body)
        self.cell = ParagraphStyle("cell", fontSize=7.5, leading=9.5, **base)
        self.cell_bold = ParagraphStyle("cell_bold", fontSize=7.5, leading=9.5, **{**base, "fontName": f.bold})
        self.mono = ParagraphStyle("mono", fontSize=7, leading=8.8, fontName=f.mono, textColor=colors.black, bulletFontName=f.body)
        self.verdict = ParagraphStyle("verdict", fontSize=12.5, leading=16, textColor=colors.white, fontName=f.bold, bulletFontName=f.body)
        self.tile_number = ParagraphStyle("tile_number", fontSize=19, leading=23, alignment=TA_CENTER, **{**base, "fontName": f.bold})
        self.tile_caption = ParagraphStyle("tile_caption", fontSize=7.5, leading=9, alignment=TA_CENTER, textColor=GREY, fontName=f.body, bulletFontName=f.body)
        self.prompt_box = ParagraphStyle("prompt_box", parent=self.mono, backColor=LIGHT, borderColor=RULE, borderWidth=0.3,
                                         borderPadding=(3, 4, 4, 4), leftIndent=4, rightIndent=4)
        self.footer = ParagraphStyle("footer", fontSize=6.3, leading=7.6, textColor=GREY, fontName=f.mono, bulletFontName=f.body)


def para(text: object, style: ParagraphStyle, *, raw: str | None = None) -> Paragraph:
    """A Paragraph of plain ``text`` (escaped, CJK runs in the CJK font) or of ready ``raw`` markup.

    Text with CJK characters wraps anywhere (it has no spaces between words).
    """
    body = raw if raw is not None else markup(text, font=style.fontName if style.fontName != register_fonts().bold else None)
    if has_cjk(text if raw is None else raw):
        style = ParagraphStyle(style.name + "_cjk", parent=style, wordWrap="CJK")
    return Paragraph(body, style)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage."""
    return "n/a" if _missing(value) else f"{100 * float(value):.{digits}f}%"


def fmt_points(row: pd.Series, col: str) -> str:
    """A percent score with its 95% interval as Paragraph markup: the value, the interval below it in grey."""
    value = row.get(col)
    if _missing(value):
        return "–"
    lo, hi = row.get(f"{col}_lo"), row.get(f"{col}_hi")
    if _missing(lo) or _missing(hi):
        return f"{float(value):.1f}"
    return f'{float(value):.1f}<br/><font size="6.5" color="#555555">[{float(lo):.1f}, {float(hi):.1f}]</font>'


def shorten(text: object, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (long questions must not fill a page)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_ABS_PATH = re.compile(r"(?<![\w.~$])/(?:[^\s/'\"]+/)*[^\s/'\",;)]*")


def display_path(value: str, report_dir: Path | None = None) -> str:
    """An absolute path as a reader may see it: relative to the report folder, ``$LEAKAUDIT_CACHE/…``, ``~/…``
    or ``…/parent/name``; the machine's layout stays out of a shared PDF."""
    path = Path(value)
    if not path.is_absolute():
        return value
    candidates: list[tuple[Path, str]] = []
    if report_dir is not None:
        candidates.append((Path(report_dir).resolve(), ""))
    cache = os.environ.get("LEAKAUDIT_CACHE") or str(Path.home() / ".cache" / "leakaudit")
    candidates += [(Path(cache).resolve(), "$LEAKAUDIT_CACHE"), (Path.home().resolve(), "~")]
    for root, label in candidates:
        try:
            rel = path.resolve().relative_to(root)
        except (ValueError, OSError):
            continue
        if not label and str(rel) == ".":
            return path.name or str(path)  # the report folder itself: its name
        return f"{label}/{rel}" if label else str(rel)
    parts = path.parts[-2:]
    return "…/" + "/".join(parts)


def strip_paths(text: str, report_dir: Path | None = None) -> str:
    """``text`` with every absolute path in it shown by :func:`display_path`."""
    return _ABS_PATH.sub(lambda m: display_path(m.group(0), report_dir) if len(m.group(0)) > 1 else m.group(0), text)


#: how an unset (None) setting is shown: the value actually used
_UNSET = {
    "k": "MMStar's ratio (default)", "n": "8 (MMStar's ratio 2 of 8, scaled to the LLMs that ran)",
    "min_confidence": "none: every hit counts (MMStar)", "scoring": "every scoring mode in the store",
    "prefer_scoring": "none", "blind_mode": "every blind mode in the store", "zoo_group": "the models listed below",
    "limit": "all questions", "store": "not recorded", "run_dir": "not recorded", "source": "adapter default",
}


def display_value(key: str, value: Any, report_dir: Path | None = None) -> str:
    """A setting as a person reads it: no ``null``, no JSON, no absolute paths, floats rounded for display."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _UNSET.get(key, "not set")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "n_params" and isinstance(value, int):
        return f"{value / 1e9:.2f}B" if value >= 1e9 else f"{value / 1e6:.1f}M"
    if isinstance(value, float):
        return f"{value:.1f}" if key == "seconds" else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(display_value(key, v, report_dir) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {display_value(str(k), v, report_dir)}" for k, v in value.items()) or "none"
    return strip_paths(str(value), report_dir)


def _font_cmd() -> tuple:
    """Tables set a cell font even around Paragraphs; without this it is Helvetica, which is never embedded."""
    return ("FONTNAME", (0, 0), (-1, -1), register_fonts().body)


def table(rows: list[list[Any]], widths: list[float], *, header: bool = True, zebra: bool = True, extra: Iterable = ()) -> Table:
    """A wrapped-cell table that fits the frame and repeats its header on every page.

    Columns are widened (taking room from the widest) so that no header word breaks inside.
    """
    if header and rows:
        widths = header_safe_widths(rows[0], list(widths))
    t = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        _font_cmd(),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e2e8f0")), ("LINEBELOW", (0, 0), (-1, 0), 0.8, GREY)]
    if zebra:
        for i in range(1 if header else 0, len(rows)):
            if i % 2 == 0:
                style.append(("BACKGROUND", (0, i), (-1, i), LIGHT))
    t.setStyle(TableStyle(style + list(extra)))
    return t


def header_safe_widths(header: list[Any], widths: list[float], padding: float = 7.0) -> list[float]:
    """``widths`` adjusted so every column fits its header's longest word (same total)."""
    font = register_fonts().bold
    need = []
    for cell in header:
        text = re.sub(r"<[^>]+>", " ", str(getattr(cell, "text", cell) or ""))
        size = getattr(getattr(cell, "style", None), "fontSize", 7.5)
        need.append(max((stringWidth(w, font, size) for w in text.split()), default=0.0) + padding)
    total = sum(widths)
    out = [max(w, n) for w, n in zip(widths, need)]
    extra = sum(out) - total
    while extra > 0.01:
        slack = [(w - n, i) for i, (w, n) in enumerate(zip(out, need)) if w - n > 0.01]
        if not slack:
            break
        room, i = max(slack)
        take = min(room, extra)
        out[i] -= take
        extra -= take
    return out


def png_flowable(data: bytes, width: float | None = None, max_height: float | None = None, *, dpi: float = FIGURE_DPI) -> Image:
    """An image flowable ``width`` wide (default: its natural size at ``dpi``, at most the frame), aspect kept,
    shrunk to ``max_height`` if needed. Natural size keeps chart lettering the same size on every page."""
    from PIL import Image as PILImage

    w, h = PILImage.open(io.BytesIO(data)).size
    if width is None:
        width = min(FRAME_W, w / dpi * 72)
    height = width * h / w
    if max_height is not None and height > max_height:
        width, height = max_height * w / h, max_height
    return Image(io.BytesIO(data), width=width, height=height)


# -- verdict -------------------------------------------------------------------------------
_STATUS_SEVERITY = {"pass": "good", "ok": "good", "warn": "warn", "warning": "warn", "fail": "bad", "unknown": "neutral"}


def verdict_text(summary: dict[str, Any]) -> tuple[str, str]:
    """(text, severity) of the summary's verdict: a dict with ``status`` and ``message``, or a string."""
    verdict = summary.get("verdict")
    if isinstance(verdict, dict):
        status = str(verdict.get("status") or verdict.get("level") or "").strip()
        message = str(verdict.get("message") or verdict.get("text") or verdict.get("reason") or "").strip()
    elif verdict:
        status, message = str(verdict).split(":", 1)[0].strip(), str(verdict)
    elif summary.get("verdict_reason"):
        return f"NO VERDICT · {summary['verdict_reason']}", "neutral"
    else:
        return "No verdict recorded in summary.json.", "neutral"
    severity = _STATUS_SEVERITY.get(status.lower(), "neutral")
    if status and message and not message.lower().startswith(status.lower()):
        return f"{status.upper()} · {message}", severity
    return message or status.upper(), severity


# -- sections --------------------------------------------------------------------------------
def first_page(inp: ReportInputs, st: Styles, pngs: dict[str, bytes]) -> list[Flowable]:
    summary = inp.summary
    name = inp.benchmark_name
    models = sorted({str(m) for m in inp.metrics.get("model", pd.Series(dtype=str)) if str(m) != AVERAGE})
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out: list[Flowable] = [
        para(f"Benchmark audit: {name}", st.title),
        para(f"{len(models)} models · report built {created} · folder {inp.report_dir.name or inp.report_dir}", st.small),
        Spacer(1, 5 * mm),
    ]
    text, severity = verdict_text(summary)
    box = Table([[para(None, st.verdict, raw=markup(text, font=st.verdict.fontName))]], colWidths=[FRAME_W])
    box.setStyle(TableStyle([_font_cmd(), 
        ("BACKGROUND", (0, 0), (-1, -1), SEVERITY_COLORS[severity]),
        ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, -1), 7), ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
    ]))
    out += [box, Spacer(1, 2 * mm)]
    panel = {} if summary.get("verdict_reason") else summary.get("panel") or {}  # no panel: the verdict box says so
    if panel.get("text"):
        out.append(para(f"Panel strength: {panel['text']}." + (f" {panel['warning']}" if panel.get("warning") else ""), st.small))
    out.append(Spacer(1, 3 * mm))

    n_samples = summary.get("n_samples", len(inp.samples))
    n_audited = summary.get("n_audited", n_samples)
    tiles = [
        (f"{int(n_audited):,}" if not _missing(n_audited) else "n/a",
         "questions audited" + (f"\nof {int(n_samples):,}" if not _missing(n_samples) and n_audited != n_samples else "")),
        (fmt_pct(summary.get("share_text_answerable")), "text-answerable\n(LLMs answer without the image)"),
        (fmt_pct(summary.get("share_leaked")), "leaked\n(LVLMs answer blind, their LLM cannot)"),
        (fmt_pct(summary.get("share_kept")), "kept by the filter\n(vision-dependent)"),
    ]
    tile_w = FRAME_W / len(tiles)
    tile_table = Table([[para(v, st.tile_number) for v, _ in tiles], [para(c, st.tile_caption) for _, c in tiles]], colWidths=[tile_w] * len(tiles))
    tile_table.setStyle(TableStyle([_font_cmd(), 
        ("BACKGROUND", (0, 0), (-1, -1), LIGHT),
        ("LINEAFTER", (0, 0), (-2, -1), 2, colors.white),
        ("TOPPADDING", (0, 0), (-1, 0), 7), ("BOTTOMPADDING", (0, 1), (-1, 1), 7),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    out += [tile_table, Spacer(1, 2 * mm)]
    truth = [(k, summary.get(k)) for k in ("precision", "recall", "f1")]
    if any(not _missing(v) for _, v in truth):
        parts = ", ".join(f"{k} {float(v):.2f}" for k, v in truth if not _missing(v))
        out.append(para(f"Against the benchmark's own ground-truth labels, the text-answerable/leaked flag scores {parts}.", st.small))
    out.append(para(panel_of(summary).sentence(), st.small))
    kept = kept_set_line(inp)
    if kept:
        out.append(para(None, st.small, raw=kept))
    signal_rows = _signal_rows(summary)
    if signal_rows:
        out.append(para("Signals: " + " · ".join(f"{name}: {value}" for name, value in signal_rows), st.small))
    notes = [strip_paths(str(n), inp.report_dir) for n in summary.get("notes") or [] if n]
    if notes:
        out.append(para("Notes: " + " · ".join(notes), st.small))
    out.append(Spacer(1, 4 * mm))
    out += model_table(inp, st)
    out += [
        Spacer(1, 3 * mm),
        para(
            "How to read: S_v is a vision-language model's accuracy with the image, S_wv the same model without it, "
            "S_t its base LLM's text-only accuracy (at the shots shown). MG = S_v − S_wv is what the image adds; "
            "ML = max(0, S_wv − S_t) is what the model answers without the image beyond its own LLM, i.e. likely "
            "leakage from multimodal training data (MMStar, arXiv 2403.20330). Brackets are 95% bootstrap intervals "
            "over questions; all numbers are percent.",
            st.small,
        ),
    ]
    return out + mg_ml_section(pngs, st, inp.metrics_with_averages)


def kept_set_line(inp: ReportInputs) -> str | None:
    """Where the kept questions are (relative to the report folder) and how many, as markup."""
    scan = inp.summary.get("scan") or {}
    filt = inp.summary.get("filter") or {}
    kept_file = scan.get("kept_file")
    if not kept_file:
        return None
    n_kept, n_in = filt.get("n_kept"), filt.get("n_input")
    count = f"{n_kept} of {n_in} questions" if n_kept is not None and n_in is not None else "the kept questions"
    where = display_path(str(kept_file), inp.report_dir)
    return (f"<b>Kept set:</b> {markup(count)} in <font face=\"{st_mono_font()}\">{markup(where)}</font>"
            f" (the input's own format; every removed question with its reason in "
            f"<font face=\"{st_mono_font()}\">{markup(str(Path(where).parent / 'removed.csv'))}</font>).")


def st_mono_font() -> str:
    return register_fonts().mono


def _signal_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    from leakaudit.audit.signals import report_rows

    return report_rows(summary)


def model_table(inp: ReportInputs, st: Styles) -> list[Flowable]:
    rows = whole_benchmark_rows(inp.metrics_with_averages)
    if rows.empty:
        return [para("No per-model metrics in metrics.csv.", st.body)]
    kind = rows.get("kind", pd.Series("", index=rows.index)).fillna("").astype(str)
    order = kind.map({"lvlm": 0}).fillna(2) + (rows["model"] == AVERAGE) * 1
    rows = rows.assign(_order=order.values).sort_values(["_order", "model"], kind="mergesort")
    several = "benchmark" in rows and rows["benchmark"].nunique() > 1
    header = ["Model", "Kind", "S_v", "S_wv", "S_t", "MG", "ML", "Questions"]
    body = [[para(h, st.cell_bold) for h in header]]
    for _, r in rows.iterrows():
        label = ("average of LVLMs" if r["model"] == AVERAGE else str(r["model"])) + (f" ({r['benchmark']})" if several else "")
        shots = r.get("text_shots")
        s_t = fmt_points(r, "S_t") if "S_t" in r else "–"
        if s_t != "–" and not _missing(shots):
            s_t = s_t.replace("<br/>", f" <font size=\"6.5\">({int(shots)}-shot)</font><br/>", 1) if "<br/>" in s_t else f"{s_t} ({int(shots)}-shot)"
        base = r.get("base_llm")
        kind_text = markup(str(r.get("kind") or "")) + (f'<br/><font size="6.5" color="#555555">base: {markup(base)}</font>' if not _missing(base) and str(base) else "")
        cells = [markup(label), kind_text, fmt_points(r, "S_v"), fmt_points(r, "S_wv"), s_t, fmt_points(r, "MG"), fmt_points(r, "ML"),
                 "" if _missing(r.get("n")) else f"{int(r['n'])}"]
        style = st.cell_bold if r["model"] == AVERAGE else st.cell
        body.append([para(None, style, raw=c) for c in cells])
    widths = [36 * mm, 20 * mm, 19 * mm, 19 * mm, 26 * mm, 19 * mm, 19 * mm]
    widths.append(FRAME_W - sum(widths))
    return [para("Scores per model (percent; 95% bootstrap interval below each value)", st.h2), table(body, widths)]


def render_figures(inp: ReportInputs, figures_dir: Path | None) -> tuple[dict[str, bytes], str | None]:
    """PNG bytes of every chart that has data (also saved in ``figures_dir``) and the heatmap's value."""
    return draw_figures(inp.metrics_with_averages, inp.samples, figures_dir, _text_threshold(inp),
                        min_confidence=inp.settings.get("min_confidence"), confident=inp.confident_share())


def mg_ml_section(pngs: dict[str, bytes], st: Styles, metrics: pd.DataFrame | None = None) -> list[Flowable]:
    if "mg_ml" not in pngs:
        return [para("No vision-language model was run both with and without the image, so MG and ML are not available.", st.body)]
    out: list[Flowable] = [CondPageBreak(50 * mm), para("Multi-modal gain and leakage per model", st.h2)]
    if metrics is not None and ml_all_zero(metrics):
        out.append(para("ML is 0 for every vision model (none answers more without the image than its own base LLM), "
                        "so only MG is drawn.", st.small))
    return out + [png_flowable(pngs["mg_ml"], max_height=110 * mm)]


def evidence_pages(inp: ReportInputs, st: Styles, pngs: dict[str, bytes], value: str | None) -> list[Flowable]:
    out: list[Flowable] = [CondPageBreak(100 * mm), para("Which questions need the image", st.h1)]
    if "text_hits" in pngs:
        out += [
            para("How many text-only LLMs answer each question", st.h2),
            png_flowable(pngs["text_hits"], max_height=80 * mm),
            para("A benchmark that needs its images puts most questions near the red chance line; questions to the "
                 "right of the dotted threshold are answered from the text alone and are flagged text-answerable.", st.small),
        ]
    else:
        out.append(para("No text-only LLM answers are stored, so text-answerability cannot be shown.", st.body))
    if "capabilities" in pngs:
        heat = png_flowable(pngs["capabilities"], max_height=FRAME_H - 20 * mm)
        what = {"MG": "multi-modal gain (points)", "S_t": "text-only accuracy (%)", "S_v": "accuracy with the image (%)"}.get(value or "", value)
        out += [CondPageBreak(heat.drawHeight + 15 * mm), para("Per capability", st.h2),
                para(f"Cells show {what} per capability and model.", st.small), heat]
    else:
        out.append(para("Per capability", st.h2))
        out.append(para("The benchmark has no capability categories, so there is no per-capability breakdown.", st.body))
    out += [CondPageBreak(60 * mm)] + filter_section(inp, st, pngs.get("filter"))
    if "signal_curves" in pngs:
        curves = png_flowable(pngs["signal_curves"], max_height=100 * mm)
        out += [CondPageBreak(curves.drawHeight + 25 * mm), para("How well each signal separates the labelled questions", st.h2),
                para("Against the benchmark's ground truth (each signal's own labels where the demo has them, else "
                     "text-answerable vs vision-dependent): ROC and precision-recall curves of each signal's graded score, "
                     "with the rank-average combined score in black. Dotted lines: chance (diagonal; share of positives).",
                     st.small), curves]
    return out


def _text_threshold(inp: ReportInputs) -> float | None:
    if "text_threshold" in inp.samples and inp.samples["text_threshold"].notna().any():
        values = inp.samples["text_threshold"].dropna().unique()
        if len(values) == 1:
            return float(values[0])
    return None


def filter_section(inp: ReportInputs, st: Styles, png: bytes | None) -> list[Flowable]:
    counts = filter_counts(inp.samples)
    heading = para("What the filter kept and removed", st.h1)
    if counts.empty:
        return [heading, para("No filter decision is recorded in samples (column 'kept' is empty).", st.body)]
    out: list[Flowable] = [KeepTogether([heading, png_flowable(png, max_height=FRAME_H - 25 * mm)]) if png is not None else heading]
    reasons = [c for c in counts.columns if c.startswith("removed: ")]
    body = [[para(h, st.cell_bold) for h in ("Capability", "Questions", "Kept", "Kept %", "Removed (reason: count)")]]
    for cat, r in counts.iterrows():
        removed = ", ".join(f"{c[len('removed: '):]}: {int(r[c])}" for c in reasons if r[c]) or "–"
        body.append([para(cat, st.cell), para(f"{int(r['questions'])}", st.cell), para(f"{int(r['kept'])}", st.cell),
                     para(f"{r['kept %']:.1f}", st.cell), para(removed, st.cell)])
    total_q, total_k = int(counts["questions"].sum()), int(counts["kept"].sum())
    body.append([para("All", st.cell_bold), para(f"{total_q}", st.cell_bold), para(f"{total_k}", st.cell_bold),
                 para(f"{100 * total_k / max(total_q, 1):.1f}", st.cell_bold),
                 para(", ".join(f"{c[len('removed: '):]}: {int(counts[c].sum())}" for c in reasons) or "–", st.cell_bold)])
    out += [Spacer(1, 2 * mm), table(body, [60 * mm, 20 * mm, 16 * mm, 16 * mm, FRAME_W - 112 * mm])]
    return out


def leakiest(samples: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` questions most clearly answerable without the image.

    Ordered by label (text-answerable, then leaked), then share of text-only hits, then the
    binomial p-value against guessing, then blind hits.
    """
    if samples.empty:
        return samples
    rank = {"text-answerable": 0, "leaked": 1}
    df = samples.assign(
        _label=samples.get("label", pd.Series("", index=samples.index)).map(rank).fillna(2),
        _share=samples["text_hits"].fillna(0) / samples["text_n"].where(samples["text_n"] > 0, 1),
        _p=samples.get("p_value", pd.Series(1.0, index=samples.index)).fillna(1.0),
        _blind=samples.get("blind_hits", pd.Series(0, index=samples.index)).fillna(0),
    )
    df = df[(df["_label"] < 2) | (df["_share"] > 0) | (df["_blind"] > 0)]
    return df.sort_values(["_label", "_share", "_p", "_blind"], ascending=[True, False, True, False], kind="mergesort").head(n)


def _thumbnail(sample, st: Styles) -> Flowable:
    if sample is None or not getattr(sample, "images", None):
        return para("image unavailable" if sample is None else "no image", st.small)
    try:
        img = sample.images[0].load()
        img.thumbnail((320, 320))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="PNG")
        return png_flowable(buf.getvalue(), THUMB_W, 30 * mm)
    except Exception:  # an unreadable or moved image must not stop the report
        return para("image unavailable", st.small)


def _names(value: Any) -> str:
    """A stored model list (a list, a JSON list, or a legacy ``a;b``) as ``a, b``."""
    from leakaudit.outputs import as_list

    return ", ".join(as_list(value))


def _evidence(r: pd.Series) -> str:
    parts = []
    if not _missing(r.get("text_n")) and r["text_n"]:
        p = r.get("p_value")
        ptxt = "" if _missing(p) else f", p = {float(p):.2g}"
        who = f": {_names(r.get('text_models'))}" if _names(r.get("text_models")) else ""
        parts.append(f"text-only {int(r['text_hits'])}/{int(r['text_n'])}{ptxt}{who}")
    if not _missing(r.get("blind_n")) and r["blind_n"]:
        who = f": {_names(r.get('blind_models'))}" if _names(r.get("blind_models")) else ""
        parts.append(f"blind LVLMs {int(r['blind_hits'])}/{int(r['blind_n'])}{who}")
    if not _missing(r.get("vision_n")) and r["vision_n"]:
        parts.append(f"with image {int(r['vision_hits'])}/{int(r['vision_n'])}")
    return "\n".join(parts) or "no answers"


def samples_section(inp: ReportInputs, st: Styles, max_samples: int) -> list[Flowable]:
    top = leakiest(inp.samples, max_samples)
    out: list[Flowable] = [CondPageBreak(90 * mm), para("The questions most answerable without the image", st.h1)]
    if top.empty:
        return out + [para("No question was answered by a model without its image.", st.body)]
    lookup = inp.sample_lookup() if inp.load_images else {}
    if not lookup:
        reason = inp.benchmark_error or "benchmark not reloaded"
        out.append(para(f"Images and question texts are unavailable: the benchmark could not be reloaded from its recorded source ({reason}).", st.small))
    out.append(para("Which models answered each question correctly without seeing the image; the correct option is marked ✓.", st.small))
    out.append(Spacer(1, 2 * mm))
    body = [[para(h, st.cell_bold) for h in ("Image", "Question", "Answer", "Answered without the image")]]
    label_style = []
    for i, (_, r) in enumerate(top.iterrows(), start=1):
        bench = str(r.get("benchmark"))
        sample = lookup.get((bench, str(r.get("sample_hash")))) or lookup.get((bench, str(r.get("sample_id"))))
        head = f"{r.get('sample_id')} · {r.get('category') if not _missing(r.get('category')) else 'no category'}"
        q_markup = f'<font color="#555555" size="6.5">{markup(head)}</font><br/>'
        question = r.get("question") if "question" in r and not _missing(r.get("question")) else (sample.question if sample else None)
        q_markup += markup(shorten(question, QUESTION_CHARS)) if question else '<font color="#555555">question unavailable</font>'
        answer_text = str(r.get("answer", ""))
        if sample is not None and sample.is_multiple_choice:
            for letter, option in zip(sample.letters, sample.options):
                line = markup(shorten(f"{letter}. {option}", 120))
                q_markup += "<br/>" + (f"<b>{line} ✓</b>" if letter == sample.answer else line)
            answer_text = f"{sample.answer}. {shorten(sample.answer_text, 60)}"
        label = str(r.get("label") or "")
        color = LABEL_COLORS.get(label, "#4a5568")
        ev = f'<font color="{color}"><b>{markup(label)}</b></font><br/>{markup(_evidence(r))}'
        body.append([_thumbnail(sample, st), para(question, st.cell, raw=q_markup), para(answer_text, st.cell), para(None, st.cell, raw=ev)])
        label_style.append(("VALIGN", (0, i), (-1, i), "TOP"))
    out.append(table(body, [THUMB_W + 4 * mm, 80 * mm, 24 * mm, FRAME_W - THUMB_W - 108 * mm], extra=label_style))
    return out


def _kv_rows(data: dict[str, Any], st: Styles, report_dir: Path | None = None) -> list[list[Flowable]]:
    rows = []
    for key, value in data.items():
        rows.append([para(key, st.cell_bold), para(shorten(display_value(key, value, report_dir), 600), st.mono)])
    return rows


def effective_settings(inp: ReportInputs) -> dict[str, dict[str, Any]]:
    """The settings sections with the values actually used filled in where the summary recorded None."""
    settings = dict(inp.summary.get("settings") or {})
    scan = dict(inp.summary.get("scan") or {})
    filt = dict(inp.summary.get("filter") or {})
    n_llms = len(settings.get("inspectors") or []) or None
    for section in (settings, filt):
        if section.get("k") is None and section.get("n") is None and "k" in section:
            section["k"], section["n"] = ("2 (MMStar's ratio)", f"8 (so more than floor({n_llms} x 2/8) of {n_llms} LLMs)" if n_llms else "8")
        elif section.get("n") is None and "n" in section:
            section["n"] = "none: k is an absolute count of LLMs"
    if settings.get("scoring") is None and settings.get("prefer_scoring"):
        settings["scoring"] = f"{settings['prefer_scoring']} (preferred where a question was scored several ways)"
        settings.pop("prefer_scoring", None)
    if scan.get("zoo_group") is None and scan:
        scan["zoo_group"] = "none: the models listed"
    return {"settings": settings, "filter": filt, "scan": scan}


def appendix(inp: ReportInputs, st: Styles) -> list[Flowable]:
    out: list[Flowable] = [CondPageBreak(90 * mm), para("Appendix: how these numbers were made", st.h1)]
    sections = effective_settings(inp)
    for key, title in (("settings", "Audit settings"), ("filter", "Filter settings"), ("scan", "Scan settings")):
        values = sections.get(key)
        if isinstance(values, dict) and values:
            rows = [[para("Setting", st.cell_bold), para("Value", st.cell_bold)]] + _kv_rows(values, st, inp.report_dir)
            out += [para(title, st.h2), table(rows, [50 * mm, FRAME_W - 50 * mm])]
    out += runs_section(inp, st)
    out += models_section(inp, st)
    out += provenance_section(inp, st)
    out += prompts_section(inp, st)
    return out


def runs_section(inp: ReportInputs, st: Styles) -> list[Flowable]:
    out: list[Flowable] = [para("Runs: conditions, shots and scoring", st.h2)]
    if not inp.runs:
        return out + [para("No run records found (the answer store is not in the report folder).", st.body)]
    header = ["#", "Condition", "Shots", "Scoring", "Circular", "Questions", "Models", "Status"]
    body = [[para(h, st.cell_bold) for h in header]]
    # a re-run of the same setting (a resumed or repeated scan) is one row listing every run id; its latest status
    merged: dict[tuple, dict[str, Any]] = {}
    for run in inp.runs:
        cond = str(run.get("condition", "?")) + (f" ({run['blind_mode']})" if run.get("blind_mode") else "")
        models = ", ".join(str(m.get("name", m)) if isinstance(m, dict) else str(m) for m in run.get("models") or [])
        n = run.get("n_samples")
        n_text = "" if n is None else f"{n}" + (f" (limit {run['limit']})" if run.get("limit") else "")
        key = (cond, run.get("shots", ""), run.get("scoring", ""), bool(run.get("circular")), n_text, models)
        row = merged.setdefault(key, {"ids": [], "status": ""})
        row["ids"].append(str(run.get("run_id", "")))
        row["status"] = run.get("status", "")
    for (cond, shots, scoring, circular, n_text, models), row in merged.items():
        body.append([para(c, st.cell) for c in (", ".join(row["ids"]), cond, shots, scoring, "yes" if circular else "no", n_text, models,
                                                 shorten(row["status"], 48))])
    out.append(table(body, [14 * mm, 22 * mm, 11 * mm, 15 * mm, 13 * mm, 19 * mm, 58 * mm, FRAME_W - 152 * mm]))
    fewshots = {(r.get("condition"), r.get("shots")): r.get("fewshot_ids") for r in inp.runs if r.get("shots")}
    for (cond, shots), ids in fewshots.items():
        out.append(para(f"{shots}-shot demonstrations ({cond}): {', '.join(map(str, ids or []))}", st.small))
    commands = []
    for run in inp.runs:
        if run.get("command") and run["command"] not in commands:
            commands.append(run["command"])
    if commands:
        out += [para("Commands", st.h2)] + [para(strip_paths(c, inp.report_dir), st.mono) for c in commands]
    return out


def models_section(inp: ReportInputs, st: Styles) -> list[Flowable]:
    out: list[Flowable] = [para("Models and versions", st.h2)]
    info: dict[str, dict[str, Any]] = {}
    versions: dict[str, Any] = {}
    for run in inp.runs:
        for m in run.get("models") or []:
            if isinstance(m, dict) and m.get("name") and m.get("loaded", True) is not False:
                info[str(m["name"])] = m
        if isinstance(run.get("versions"), dict):
            versions.update({k: v for k, v in run["versions"].items() if v})
    metrics = inp.metrics
    names = [str(m) for m in dict.fromkeys(metrics.get("model", pd.Series(dtype=str)).astype(str)) if m != AVERAGE]
    names += [n for n in info if n not in names]
    body = [[para(h, st.cell_bold) for h in ("Model", "Kind", "Base LLM", "Backend and weights")]]
    for name in names:
        rows = metrics[metrics["model"].astype(str) == name] if "model" in metrics else metrics.iloc[0:0]
        kind = str(rows["kind"].dropna().iloc[0]) if "kind" in rows and rows["kind"].notna().any() else ""
        base = str(rows["base_llm"].dropna().iloc[0]) if "base_llm" in rows and rows["base_llm"].notna().any() else ""
        details = {k: v for k, v in info.get(name, {}).items() if k != "name" and v not in (None, "", [], {})}
        lines = "<br/>".join(f"<b>{markup(str(k))}</b>: {markup(shorten(display_value(str(k), v, inp.report_dir), 160))}"
                             for k, v in details.items())
        body.append([para(name, st.cell), para(kind, st.cell), para(base, st.cell), para(None, st.cell, raw=lines)])
    out.append(table(body, [38 * mm, 14 * mm, 32 * mm, FRAME_W - 84 * mm]))
    if versions:
        out.append(para("Package versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), st.small))
    return out


def _prompt_text(prompt) -> str:
    lines = []
    for msg in prompt.messages:
        lines.append(f"[{msg['role']}]")
        lines.append(msg["content"].rstrip("\n"))
    lines.append("[assistant]")
    if prompt.answer_prefix:
        lines.append(prompt.answer_prefix + " …")
    return "\n".join(lines)


def prompts_section(inp: ReportInputs, st: Styles) -> list[Flowable]:
    """One example prompt per (condition, blind mode, shots, scoring) that was run."""
    out: list[Flowable] = [CondPageBreak(50 * mm), para("Exact prompts (one example question per setting)", st.h2)]
    combos: dict[RunSetting, dict[str, Any]] = {}
    for run in inp.runs:
        setting = RunSetting(run.get("condition"), run.get("blind_mode") or "", int(run.get("shots") or 0), run.get("scoring") or "letter")
        combos.setdefault(setting, run)
    if not combos:
        return out + [para("No run records, so the prompts cannot be shown.", st.body)]
    bench = inp.benchmark
    if bench is None:
        out.append(para(f"Example prompts need the benchmark, which could not be reloaded ({inp.benchmark_error}); settings as recorded:", st.small))
        for setting, run in combos.items():
            out.append(para(f"{setting.condition} {setting.blind_mode} · {setting.shots}-shot · {setting.scoring} scoring · prompt style {run.get('prompt_style', '?')}", st.mono))
        return out
    from leakaudit.answers.prompts import build_prompt

    by_id = bench.by_id()
    for (condition, blind_mode, shots, scoring), run in combos.items():
        demos = [by_id[i] for i in list(run.get("fewshot_ids") or []) + list(run.get("fewshot_spare_ids") or []) if i in by_id]
        example = next((s for s in bench.samples if s.is_multiple_choice and s.id not in {d.id for d in demos}), bench.samples[0])
        title = f"{condition}{' (' + blind_mode + ')' if blind_mode else ''} · {shots}-shot · {scoring} scoring"
        try:
            prompt = build_prompt(example, condition, shots=shots, fewshot=demos, scoring=scoring, blind=blind_mode or "drop", images=False)
            text = _prompt_text(prompt)
            if scoring == "cloze" and example.is_multiple_choice:
                text += "\n(scored continuations: " + " | ".join(example.options) + ")"
            if condition == "vision" or (condition == "blind" and blind_mode in ("grey", "noise")):
                text += f"\n(+ {len(example.images)} image(s): {'the original' if condition == 'vision' else blind_mode + ' stand-in'})"
        except Exception as exc:  # e.g. the recorded demonstrations are no longer in the benchmark
            text = f"(prompt could not be rebuilt: {exc})"
        # a shaded Paragraph, not a one-cell table: a long few-shot prompt may then run over pages
        box = para(text, st.prompt_box)
        out.append(KeepTogether([para(title, st.cell_bold), Spacer(1, 2 * mm), box, Spacer(1, 5 * mm)]))
    return out


def provenance_section(inp: ReportInputs, st: Styles) -> list[Flowable]:
    sources = benchmark_sources(inp.summary)
    rows = {
        "benchmark": inp.benchmark_name,
        "benchmark source": "; ".join(f"{n}: {src or '(adapter default)'}" for n, src in sources.items()) or "(not recorded)",
        "data sha256": f"{inp.data_hash}  (sha256 of the sorted content hashes of {inp.samples['sample_hash'].nunique() if 'sample_hash' in inp.samples else 0} questions)",
        "store sha256": (f"{inp.store_hash}  (sha256 of the answers table sorted by key, timings excluded; "
                         f"{display_path(str(inp.store_path), inp.report_dir)})" if inp.store_hash else "no answer store found"),
        "leakaudit": inp.leakaudit_version,
        "command": strip_paths(inp.command_line, inp.report_dir) if inp.command_line else "(not recorded)",
        "rebuild this report": "leakaudit report REPORT_FOLDER -o audit.pdf (REPORT_FOLDER: the folder holding summary.json)",
    }
    fonts = register_fonts()
    rows["fonts"] = "DejaVu Sans (embedded)" + (f"; CJK: {fonts.cjk_path.name} (embedded)" if fonts.cjk_path else f"; no CJK font found ({CJK_FONT_HINT})")
    return [CondPageBreak(40 * mm), para("Reproducibility", st.h2),
            table([[para("Item", st.cell_bold), para("Value", st.cell_bold)]] + _kv_rows(rows, st, inp.report_dir), [40 * mm, FRAME_W - 40 * mm])]


# -- footer ----------------------------------------------------------------------------------
def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut (with an ellipsis) to ``width``; characters ``font`` lacks become ``?``."""
    from reportlab.pdfbase import pdfmetrics

    covered = pdfmetrics.getFont(font).face.charToGlyph
    text = "".join(ch if ord(ch) in covered else "?" for ch in text)
    if stringWidth(text, font, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if stringWidth(text[:mid] + "…", font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"


def footer_canvas(inp: ReportInputs, st: Styles):
    """A canvas class that draws the reproducibility footer with "page N of M" on every page."""
    font, size = st.footer.fontName, st.footer.fontSize
    command = " ".join(strip_paths(inp.command_line or "(command not recorded)", inp.report_dir).split())
    lines_fixed = [
        f"data sha256 {inp.data_hash}",
        f"store sha256 {inp.store_hash or '(no answer store)'}",
    ]

    class FooterCanvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict[str, Any]] = []

        def showPage(self):
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                self._draw_footer(total)
                super().showPage()
            super().save()

        def _draw_footer(self, total: int) -> None:
            page = f"leakaudit {inp.leakaudit_version} · page {self._pageNumber} of {total}"
            y = MARGIN - 2 * mm
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.4)
            self.line(MARGIN, y + 3.3 * st.footer.leading, PAGE_W - MARGIN, y + 3.3 * st.footer.leading)
            self.setFont(font, size)
            self.setFillColor(GREY)
            self.drawString(MARGIN, y + 2 * st.footer.leading, _fit(f"$ {command}", font, size, FRAME_W))
            self.drawString(MARGIN, y + st.footer.leading, lines_fixed[0])
            self.drawString(MARGIN, y, lines_fixed[1])
            self.drawRightString(PAGE_W - MARGIN, y, page)
            self.restoreState()

    return FooterCanvas


# -- entry point -----------------------------------------------------------------------------
def build_report(report_dir: str | Path, out_pdf: str | Path | None = None, *, max_samples: int = DEFAULT_MAX_SAMPLES,
                 load_images: bool = True, write_figures: bool = True) -> Path:
    """Render the audit folder ``report_dir`` as a PDF (default ``report_dir/audit.pdf``).

    ``load_images=False`` skips reloading the benchmark (no thumbnails, question texts or
    example prompts) for when its source is slow or gone; ``write_figures`` also saves the
    charts as ``report_dir/figures/*.png``.
    """
    report_dir = Path(report_dir)
    inp = load_report_inputs(report_dir, load_images=load_images)
    out_pdf = Path(out_pdf) if out_pdf is not None else report_dir / "audit.pdf"
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    st = Styles()
    story: list[Flowable] = []
    pngs, heat_value = render_figures(inp, report_dir / "figures" if write_figures else None)
    story += first_page(inp, st, pngs)
    story += evidence_pages(inp, st, pngs, heat_value)
    story += samples_section(inp, st, max_samples)
    story += appendix(inp, st)
    doc = SimpleDocTemplate(
        str(out_pdf), pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN + FOOTER_H,
        title=f"Benchmark audit: {inp.benchmark_name}", author="leakaudit", subject="leakage and vision-dependency audit",
        creator=f"leakaudit {inp.leakaudit_version}",
        initialFontName=st.body.fontName,  # else every page references Helvetica, which is never embedded
    )
    doc.build(story, canvasmaker=footer_canvas(inp, st))
    return out_pdf


def report(source: str | Path, out_pdf: str | Path | None = None, *, audit_dir: str | Path | None = None,
           max_samples: int = DEFAULT_MAX_SAMPLES, load_images: bool = True, **audit_options: Any) -> Path:
    """A PDF from an audit output folder (``summary.json``) or from a run folder (``answers.sqlite``).

    A run folder is audited first (``leakaudit.audit.audit(source, **audit_options)``) and the
    audit saved to ``audit_dir`` (default ``SOURCE/audit``) so the report's numbers stay on disk
    next to it. The PDF defaults to ``audit.pdf`` in the audit folder.
    """
    from leakaudit.answers.store import STORE_FILE
    from leakaudit.errors import LeakauditError

    source = Path(source)
    if (source / "summary.json").is_file():
        report_dir = source
    elif source.suffix == ".sqlite" and source.is_file() or (source / STORE_FILE).is_file():
        from leakaudit.audit import audit

        run_dir = source.parent if source.suffix == ".sqlite" else source
        report_dir = Path(audit_dir) if audit_dir is not None else run_dir / "audit"
        audit(run_dir, **audit_options).save(report_dir)
    else:
        raise LeakauditError(f"{source} has neither summary.json (an audit output folder) nor {STORE_FILE} (a run folder)")
    return build_report(report_dir, out_pdf, max_samples=max_samples, load_images=load_images)


__all__ = ["DEFAULT_MAX_SAMPLES", "build_report", "leakiest", "report", "verdict_text"]
