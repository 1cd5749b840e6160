"""The report's charts, drawn from the audit tables (``metrics``, ``samples``) with matplotlib.

Each function takes the DataFrames an ``AuditResult`` holds and returns a ``Figure``, so the
same charts serve the PDF, the audit folder's ``figures/*.png`` and a notebook. Text is
drawn with DejaVu Sans and a per-glyph CJK fallback (``fonts.matplotlib_rc``). Figures are
built without pyplot, so building a report never switches a notebook's backend; call
them inside ``report_style()`` for the report's fonts.
"""
from __future__ import annotations

import io
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.stats import binom

from leakaudit.report.fonts import matplotlib_rc

MG_COLOR = "#2b6cb0"
ML_COLOR = "#dd6b20"
KEPT_COLOR = "#38a169"
#: colours of removal reasons, in order of first appearance
REMOVED_COLORS = ("#e53e3e", "#d69e2e", "#805ad5", "#718096", "#b83280")
AVERAGE = "(average)"


@contextmanager
def report_style() -> Iterator[None]:
    """Fonts (CJK fallback) and a quiet style for every chart the report draws."""
    rc = {
        **matplotlib_rc(),
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 100,
        "savefig.dpi": 200,
    }
    with matplotlib.rc_context(rc):
        yield


def whole_benchmark_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """Metric rows that cover a whole benchmark (``category`` missing), not one capability."""
    if "category" not in metrics:
        return metrics
    cat = metrics["category"]
    return metrics[cat.isna() | (cat.astype(str).str.strip() == "")]


def category_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    if "category" not in metrics:
        return metrics.iloc[0:0]
    cat = metrics["category"]
    return metrics[cat.notna() & (cat.astype(str).str.strip() != "")]


def _row_labels(rows: pd.DataFrame) -> list[str]:
    several = "benchmark" in rows and rows["benchmark"].nunique() > 1
    return [f"{m} ({b})" if several else str(m) for m, b in zip(rows["model"], rows.get("benchmark", rows["model"]))]


def _errors(rows: pd.DataFrame, col: str) -> np.ndarray | None:
    lo, hi = f"{col}_lo", f"{col}_hi"
    if lo not in rows or hi not in rows:
        return None
    v = rows[col].to_numpy(float)
    err = np.vstack([v - rows[lo].to_numpy(float), rows[hi].to_numpy(float) - v])
    return np.nan_to_num(np.clip(err, 0, None))


def ml_all_zero(metrics: pd.DataFrame) -> bool:
    """Every vision model's whole-benchmark ML is 0 (an ML panel would be empty)."""
    rows = whole_benchmark_rows(metrics)
    if "ML" not in rows:
        return False
    ml = rows["ML"].dropna()
    return not ml.empty and bool((ml.abs() < 1e-9).all())


def mg_ml_figure(metrics: pd.DataFrame, *, hide_zero_ml: bool = True) -> Figure | None:
    """Horizontal bars of MG and ML per vision model with their 95% intervals; None without LVLMs.

    With ``hide_zero_ml`` and every ML exactly 0, only the MG panel is drawn (the caller says so
    in a line): an empty panel carries no information.
    """
    rows = whole_benchmark_rows(metrics)
    rows = rows[rows["MG"].notna() | rows["ML"].notna()] if "MG" in rows else rows.iloc[0:0]
    if rows.empty:
        return None
    rows = pd.concat([rows[rows["model"] != AVERAGE], rows[rows["model"] == AVERAGE]])
    labels = _row_labels(rows)
    y = np.arange(len(rows))[::-1]
    height = 1.2 + 0.32 * len(rows)
    panels = [("MG", MG_COLOR, "Multi-modal gain  MG = S_v − S_wv"), ("ML", ML_COLOR, "Multi-modal leakage  ML = max(0, S_wv − S_t)")]
    if hide_zero_ml and ml_all_zero(metrics):
        panels = panels[:1]
    fig = Figure(figsize=(7.2 if len(panels) == 2 else 5.0, height))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (col, color, title) in zip(axes, panels):
        values = rows[col].to_numpy(float)
        hatches = ["//" if m == AVERAGE else "" for m in rows["model"]]
        bars = ax.barh(y, np.nan_to_num(values), xerr=_errors(rows, col), color=color, alpha=0.85, capsize=3,
                       error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        for yi, v in zip(y, values):
            ax.text(0.0, yi, " n/a" if np.isnan(v) else "", va="center", fontsize=7, color="#666666")
        ax.axvline(0, color="#333333", linewidth=0.8)
        err = _errors(rows, col)
        reach_hi = values + (err[1] if err is not None else 0)
        reach_lo = values - (err[0] if err is not None else 0)
        # at least 0..5 points: an all-zero ML panel should read as "zero", not as a blown-up axis
        hi = max(5.0, float(np.nanmax(reach_hi)) if np.isfinite(reach_hi).any() else 0.0)
        lo = min(0.0, float(np.nanmin(reach_lo)) if np.isfinite(reach_lo).any() else 0.0)
        ax.set_xlim(lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("percentage points")
        ax.grid(axis="x", color="#dddddd", linewidth=0.5)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, labels)
    fig.suptitle("Bars: point estimate; whiskers: 95% bootstrap interval", fontsize=7.5, color="#555555", y=0.995)
    fig.tight_layout()
    return fig


def expected_hits_under_chance(samples: pd.DataFrame, confident_share: float = 1.0) -> pd.Series:
    """Expected number of questions with k text-only hits if every LLM guessed at random.

    Question i contributes Binomial(text_n_i, chance_i * confident_share) to the count at
    each k. ``confident_share`` is the share of the LLMs' answers given with at least
    ``min_confidence``: under ``--min-confidence`` a lucky guess only counts when it is also
    confident, so the guessing line must be lowered the same way as the observed hits.
    """
    rows = samples[samples["text_n"].fillna(0) > 0]
    if rows.empty:
        return pd.Series(dtype=float)
    kmax = int(rows["text_n"].max())
    ks = np.arange(kmax + 1)
    total = np.zeros(kmax + 1)
    for (n, p), count in rows.groupby([rows["text_n"].astype(int), rows["chance"].fillna(0).astype(float)]).size().items():
        total += count * binom.pmf(ks, n, p * float(confident_share))
    return pd.Series(total, index=ks)


def confident_share(answers: pd.DataFrame, settings: dict) -> float | None:
    """Share of the inspectors' text-only answers given with at least ``settings['min_confidence']``.

    None when no minimum is set or no answers are at hand. Unscored answers (free text,
    imports) count as confident, as in the audit.
    """
    mc = (settings or {}).get("min_confidence")
    if not mc or answers is None or answers.empty or "confidence" not in answers:
        return None
    inspectors = set(settings.get("inspectors") or [])
    text = answers[(answers["condition"] == "text") & (answers["rotation"] == 0)]
    if inspectors:
        text = text[text["model"].isin(inspectors)]
    if text.empty:
        return None
    conf = text["confidence"].astype(float)
    return float((conf.isna() | (conf >= float(mc))).mean())


def text_hits_figure(samples: pd.DataFrame, threshold: float | None = None, *, min_confidence: float | None = None,
                     confident_share: float = 1.0) -> Figure | None:
    """How many text-only LLMs answered each question, against what guessing would give.

    Under ``min_confidence`` the guessing line is Binomial(N, chance x ``confident_share``):
    a guess counts as a hit only when the model was that sure, as the observed hits do.
    """
    if "text_hits" not in samples or not (samples["text_n"].fillna(0) > 0).any():  # no question (or none asked text-only)
        return None
    rows = samples[samples["text_n"].fillna(0) > 0]
    if not min_confidence:
        confident_share = 1.0
    expected = expected_hits_under_chance(rows, confident_share)
    observed = rows["text_hits"].astype(int).value_counts().reindex(expected.index, fill_value=0)
    fig = Figure(figsize=(7.2, 2.9))
    ax = fig.subplots()
    ax.bar(observed.index, observed.values, color=MG_COLOR, alpha=0.8, label="questions (observed)")
    guess_label = "expected if every LLM guessed (binomial at chance)"
    if min_confidence:
        guess_label = (f"expected if every LLM guessed, counting a hit at ≥{min_confidence:.0%} confidence\n"
                       f"(chance × {confident_share:.0%} of answers that sure)")
    ax.plot(expected.index, expected.values, "o--", color="#c53030", markersize=4, linewidth=1.2, label=guess_label)
    top = max(float(observed.max()), float(expected.max()))
    ax.set_ylim(0, top * 1.35 + 0.5)
    if threshold is not None and not np.isnan(threshold):
        ax.axvline(threshold + 0.5, color="#333333", linestyle=":", linewidth=1.2)
        ax.text(threshold + 0.56, top * 1.02, "text-answerable →", va="bottom", fontsize=7.5)
    ax.set_xticks(expected.index)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    n_llms = int(rows["text_n"].max())
    ax.set_xlabel(f"text-only LLMs answering correctly without the image (of {n_llms})")
    ax.set_ylabel("questions")
    ax.set_title("Text-only hits per question", pad=30 if min_confidence else 18)
    ax.legend(fontsize=7.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def _two_lines(label: object, width: int = 36) -> str:
    """A long capability name on at most two lines (MMBench's are ~50 characters)."""
    lines = textwrap.wrap(str(label), width)
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder="…")]
    return "\n".join(lines)


def heatmap_value(metrics: pd.DataFrame) -> str | None:
    """MG where vision models ran per capability, else text-only accuracy S_t, else S_v."""
    rows = category_rows(metrics)
    rows = rows[rows["model"] != AVERAGE] if "model" in rows else rows
    for col in ("MG", "S_t", "S_v"):
        if col in rows and rows[col].notna().any():
            return col
    return None


def capability_heatmap_figure(metrics: pd.DataFrame, value: str | None = None) -> Figure | None:
    """Capability x model grid of MG (or accuracy), numbers printed in the cells."""
    value = value or heatmap_value(metrics)
    rows = category_rows(metrics)
    if value is None or rows.empty:
        return None
    rows = rows[rows[value].notna()]
    several = rows["benchmark"].nunique() > 1 if "benchmark" in rows else False
    col_key = rows["model"].astype(str) + ((" (" + rows["benchmark"].astype(str) + ")") if several else "")
    grid = rows.assign(_col=col_key).pivot_table(index="category", columns="_col", values=value, aggfunc="mean")
    if grid.empty:
        return None
    cols = [c for c in grid.columns if not str(c).startswith(AVERAGE)] + [c for c in grid.columns if str(c).startswith(AVERAGE)]
    grid = grid[cols]
    counts = None
    if "n" in rows:
        counts = rows.assign(_col=col_key).pivot_table(index="category", columns="_col", values="n", aggfunc="max")
        counts = counts.reindex(index=grid.index, columns=cols)
    data = grid.to_numpy(float)
    if value == "MG":
        lim = max(5.0, float(np.nanmax(np.abs(data))))
        cmap, vmin, vmax, label = "RdBu", -lim, lim, "MG (points)"
    else:
        cmap, vmin, vmax, label = "viridis", 0.0, 100.0, f"{value} accuracy (%)"
    width = min(7.2, 2.6 + 0.75 * len(cols))
    fig = Figure(figsize=(width, 1.3 + (0.36 if counts is not None else 0.24) * len(grid)))
    ax = fig.subplots()
    im = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if not np.isnan(data[i, j]):
                shade = im.norm(data[i, j])
                dark = (shade < 0.25 or shade > 0.75) if value == "MG" else shade < 0.55
                n = counts.iat[i, j] if counts is not None else np.nan
                cell_label = cell_text(data[i, j]) + (f"\nn={int(n)}" if n == n else "")
                ax.text(j, i, cell_label, ha="center", va="center", fontsize=7 if n == n else 7.5, linespacing=0.95,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), ["\n".join(textwrap.wrap(str(c), 14)) for c in cols], fontsize=7.5, rotation=30, ha="right")
    ax.set_yticks(range(len(grid)), [_two_lines(c) for c in grid.index], fontsize=7)
    ax.spines[:].set_visible(False)
    fig.colorbar(im, ax=ax, label=label, fraction=0.06, pad=0.03, aspect=max(12, 2 * len(grid)))
    ax.set_title(f"{value} per capability and model" + ("  (n: questions in the cell)" if counts is not None else ""))
    fig.tight_layout()
    return fig


def cell_text(value: float) -> str:
    """A heatmap cell's number: rounded, and never "-0" (a tiny negative rounds to 0)."""
    text = f"{value:.0f}"
    return "0" if text == "-0" else text


def removal_kind(reason: object) -> str:
    """The kind of a removal reason ("text-answerable: 3 of 8 ..." -> "text-answerable")."""
    if reason is None or (isinstance(reason, float) and np.isnan(reason)) or not str(reason).strip():
        return "removed"
    return str(reason).split(":", 1)[0].strip()


def filter_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """Per capability: questions, kept, and removed per reason (columns ``removed: <reason>``)."""
    if "kept" not in samples or samples["kept"].isna().all():
        return pd.DataFrame()
    frame = samples.assign(
        category=samples["category"].fillna("(no category)").astype(str) if "category" in samples else "(all)",
        kept=samples["kept"].astype("boolean").fillna(False).astype(bool),
        reason=samples["removed_reason"].map(removal_kind) if "removed_reason" in samples else "removed",
    )
    out = frame.groupby("category").agg(questions=("kept", "size"), kept=("kept", "sum"))
    removed = frame[~frame["kept"]]
    if not removed.empty:
        per_reason = removed.groupby(["category", "reason"]).size().unstack(fill_value=0)
        per_reason.columns = [f"removed: {c}" for c in per_reason.columns]
        out = out.join(per_reason, how="left").fillna(0)
    out = out.astype(int)
    out["kept %"] = (100.0 * out["kept"] / out["questions"]).round(1)
    return out.sort_values("questions", ascending=False)


def filter_figure(samples: pd.DataFrame) -> Figure | None:
    """Stacked bars per capability: kept questions and removed ones by reason."""
    counts = filter_counts(samples)
    if counts.empty:
        return None
    reasons = [c for c in counts.columns if c.startswith("removed: ")]
    y = np.arange(len(counts))[::-1]
    fig = Figure(figsize=(7.2, 1.5 + 0.26 * len(counts)))
    ax = fig.subplots()
    left = np.zeros(len(counts))
    ax.barh(y, counts["kept"], color=KEPT_COLOR, label="kept")
    left += counts["kept"].to_numpy(float)
    for i, reason in enumerate(reasons):
        ax.barh(y, counts[reason], left=left, color=REMOVED_COLORS[i % len(REMOVED_COLORS)], label=reason)
        left += counts[reason].to_numpy(float)
    ax.set_yticks(y, [_two_lines(c) for c in counts.index], fontsize=7)
    ax.set_xlabel("questions")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("What the filter kept and removed, per capability", pad=18)
    ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=1 + len(reasons))
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def signal_curves_figure(samples: pd.DataFrame) -> Figure | None:
    """ROC and precision-recall curves of each signal's graded score against ground truth
    (the demo's labels; ``signals.score_curves``), the combined score among them; None
    when the benchmark has no labels or no signal scores both classes."""
    from leakaudit.audit.signals import score_curves

    curves = score_curves(samples)
    if not curves:
        return None
    fig = Figure(figsize=(7.2, 3.9))
    roc, pr = fig.subplots(1, 2)
    for i, c in enumerate(curves):
        style = {"color": "black", "linewidth": 2.0} if c["signal"] == "combined" else {"color": f"C{i % 10}", "linewidth": 1.2}
        roc.plot(c["fpr"], c["tpr"], label=f"{c['signal']} {c['roc_auc']:.2f} (n={c['n']})", **style)
        pr.step(c["recall"], c["precision"], where="post", label=f"{c['signal']} {c['average_precision']:.2f}", **style)
        pr.axhline(c["positives"] / c["n"], color=style["color"], linestyle=":", linewidth=0.6)
    roc.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=0.8)
    roc.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02), title="ROC (legend: AUC)")
    pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall (legend: AP)")
    for ax in (roc, pr):
        ax.legend(fontsize=6, frameon=False, loc="lower right" if ax is roc else "lower left")
        ax.grid(color="#eeeeee", linewidth=0.5)
        ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def figure_png(fig: Figure, path: Path | None = None) -> bytes:
    """PNG bytes of ``fig`` (also written to ``path`` when given)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return data


def render_figures(metrics: pd.DataFrame, samples: pd.DataFrame, figures_dir: Path | None = None,
                   threshold: float | None = None, *, min_confidence: float | None = None,
                   confident: float | None = None) -> tuple[dict[str, bytes], str | None]:
    """PNG bytes of every chart that has data (also saved as ``figures_dir/NAME.png``) and the heatmap's value.

    The one place figures are drawn: the PDF and ``scan`` (which writes them even without a PDF) both call it.
    """
    with report_style():
        value = heatmap_value(metrics)
        figures = {
            "mg_ml": mg_ml_figure(metrics),
            "text_hits": text_hits_figure(samples, threshold, min_confidence=min_confidence, confident_share=confident or 1.0),
            "capabilities": capability_heatmap_figure(metrics, value),
            "filter": filter_figure(samples),
            "signal_curves": signal_curves_figure(samples),
        }
        pngs = {}
        for name, fig in figures.items():
            if fig is None:
                continue
            pngs[name] = figure_png(fig, figures_dir / f"{name}.png" if figures_dir else None)
            import matplotlib.pyplot as plt

            plt.close(fig)
    return pngs, value


def write_figures(result, out_dir: Path) -> list[Path]:
    """MG/ML bars, text-only hit histogram, capability heatmap and filter bars of an AuditResult as PNGs."""
    metrics = result.metrics
    avg = getattr(result, "averages", None)
    if avg is not None and not avg.empty:
        avg = avg[avg["n_models"].fillna(0) >= 2] if "n_models" in avg else avg
        metrics = pd.concat([metrics, avg], ignore_index=True) if not avg.empty else metrics
    samples = result.samples
    threshold = None
    if "text_threshold" in samples and samples["text_threshold"].notna().any():
        values = samples["text_threshold"].dropna().unique()
        threshold = float(values[0]) if len(values) == 1 else None
    settings = (getattr(result, "summary", None) or {}).get("settings", {}) or {}
    answers = getattr(result, "answers", None)
    share = confident_share(answers, settings) if answers is not None else None
    pngs, _ = render_figures(metrics, samples, Path(out_dir), threshold, min_confidence=settings.get("min_confidence"), confident=share)
    return [Path(out_dir) / f"{name}.png" for name in pngs]


__all__ = [
    "render_figures",
    "write_figures",
    "capability_heatmap_figure",
    "category_rows",
    "confident_share",
    "expected_hits_under_chance",
    "figure_png",
    "filter_counts",
    "filter_figure",
    "signal_curves_figure",
    "heatmap_value",
    "mg_ml_figure",
    "ml_all_zero",
    "report_style",
    "text_hits_figure",
    "whole_benchmark_rows",
]
