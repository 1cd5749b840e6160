"""``audit(run_dir)``: the answer store turned into metrics, per-question evidence and a summary.

``AuditResult`` is what every later stage reads (filter, report, gate, regeneration); it
saves to and loads from the audit output folder (summary.json, metrics.csv, averages.csv,
samples.csv, samples.parquet) so those stages also work from a folder on disk.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from leakaudit.answers.settings import AuditSettings
from leakaudit.answers.store import AnswerStore, resolve_store  # noqa: F401 - resolve_store was found here
from leakaudit.audit.evidence import (EVIDENCE_COLUMNS, LEAKED, LIST_COLUMNS, TEXT_ANSWERABLE, UNKNOWN, VISION_DEPENDENT, compute_evidence,
                                      label_quality, share, threshold_rule)
from leakaudit.audit.metrics import (AVERAGE, METRIC_COLUMNS, compute_metrics, model_roles, option_confidences, question_correctness,
                                     unknown_base_llms)
from leakaudit.audit.panel import build_panel, strength
from leakaudit.audit.signals import summarize as summarize_signals
from leakaudit.data.io import read_frame, read_json_file
from leakaudit.errors import DataError, LeakauditError
from leakaudit.models.zoo import resolve_zoo
from leakaudit.outputs import SCHEMA_VERSION, as_list, label_all_rows, lists_from_files, unlabel_all_rows, write_table
from leakaudit.types import ABLATIONS
from leakaudit.version import __version__

#: why ``summary["verdict"]`` is null: the metrics need no panel, the text-answerable verdict does
NO_PANEL_REASON = ("no text-answerable verdict without a panel: no inspector LLM answered text-only, so no question "
                   "can be judged answerable without the image; run some, e.g. `leakaudit run BENCH --models "
                   "smollm2-135m,gemma3-270m --condition text --run-dir RUN`")

#: default CI threshold written into every summary's verdict (the gate may use others)
DEFAULT_MAX_TEXT_ANSWERABLE = 0.10
SUMMARY_FILE, METRICS_FILE, AVERAGES_FILE = "summary.json", "metrics.csv", "averages.csv"
SAMPLES_CSV, SAMPLES_PARQUET = "samples.csv", "samples.parquet"
#: every stored answer behind the audited questions, one row per (question, model, condition, ...)
ANSWERS_PARQUET = "answers.parquet"
ANSWER_COLUMNS = [
    "benchmark", "sample_id", "sample_hash", "model", "condition", "blind_mode", "shots", "scoring", "rotation",
    "chosen", "correct", "confidence", "extraction", "option_scores", "raw_response", "source", "seconds",
]


def jsonable(obj: Any) -> Any:
    """Plain JSON types, with NaN/inf as null (pandas and numpy values included)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (NaN -> None)."""
    return [jsonable(r) for r in df.astype(object).where(df.notna(), None).to_dict(orient="records")]


@dataclass
class AuditResult:
    """Metrics (one row per model x benchmark x category), evidence (one row per question), summary."""

    metrics: pd.DataFrame
    samples: pd.DataFrame
    summary: dict[str, Any]
    averages: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the stored answers behind the audit (ANSWER_COLUMNS), with each answer's confidence
    answers: pd.DataFrame = field(default_factory=pd.DataFrame)

    # -- convenience -----------------------------------------------------------------
    def metric(self, model: str, benchmark: str | None = None, category: str | None = None) -> pd.Series:
        """The metric row of ``model`` (whole benchmark unless ``category``)."""
        m = self.metrics
        sel = (m["model"] == model) & (m["category"].isna() if category is None else m["category"] == category)
        if benchmark is not None:
            sel &= m["benchmark"] == benchmark
        rows = m[sel]
        if rows.empty:
            raise KeyError(f"no metrics for model {model!r}, benchmark {benchmark!r}, category {category!r}")
        return rows.iloc[0]

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object: metrics rows (percent, null where not run), averages, summary."""
        keep = [c for c in METRIC_COLUMNS if c in self.metrics.columns]
        return {
            "metrics": frame_records(label_all_rows(self.metrics[keep])),
            "averages": frame_records(label_all_rows(self.averages)) if not self.averages.empty else [],
            "summary": jsonable(self.summary),
            # the verdict on top, null with its reason where there is none (metrics of a store without a panel)
            "verdict": jsonable(self.summary.get("verdict")),
            **({"verdict_reason": self.summary["verdict_reason"]} if self.summary.get("verdict_reason") else {}),
        }

    # -- files -----------------------------------------------------------------------
    def save(self, out_dir: str | Path) -> Path:
        """Write summary.json, metrics.csv, averages.csv, samples.csv/.parquet and answers.parquet (docs/outputs.md)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        summary = {"schema_version": SCHEMA_VERSION, "leakaudit_version": __version__, **self.summary}
        (out / SUMMARY_FILE).write_text(json.dumps(jsonable(summary), indent=2, ensure_ascii=False), encoding="utf-8")
        label_all_rows(self.metrics).to_csv(out / METRICS_FILE, index=False)
        label_all_rows(self.averages).to_csv(out / AVERAGES_FILE, index=False)
        samples = self.samples.copy()
        for col in LIST_COLUMNS:
            if col in samples.columns:
                samples[col] = samples[col].map(as_list)
        write_table(samples, out / SAMPLES_CSV, LIST_COLUMNS)
        write_table(samples, out / SAMPLES_PARQUET, LIST_COLUMNS)
        if not self.answers.empty:
            write_table(self.answers, out / ANSWERS_PARQUET)
        if len(samples) and "sample_id" in samples:
            from leakaudit.audit.signals import evidence_matrix

            write_table(evidence_matrix(self.samples), out / "evidence_matrix.parquet")
        return out

    @classmethod
    def load(cls, out_dir: str | Path) -> "AuditResult":
        """Read an audit output folder written by :meth:`save` (or by ``leakaudit scan``)."""
        out = Path(out_dir)
        if not (out / SUMMARY_FILE).is_file():
            raise LeakauditError(f"{out} is not an audit output folder: {SUMMARY_FILE} is missing (run `leakaudit scan` or `leakaudit audit --out`)")
        summary = _checked_summary(out / SUMMARY_FILE, read_json_file(out / SUMMARY_FILE))
        metric_checks = {"keys": METRIC_KEYS, "numbers": METRIC_NUMBERS}
        metrics = (_none_for_nan(_read_table(out / METRICS_FILE, "csv", **metric_checks)) if (out / METRICS_FILE).is_file()
                   else pd.DataFrame(columns=METRIC_COLUMNS))
        averages = (_none_for_nan(_read_table(out / AVERAGES_FILE, "csv", **metric_checks))
                    if (out / AVERAGES_FILE).is_file() and (out / AVERAGES_FILE).stat().st_size > 1 else pd.DataFrame())
        answers = (_read_table(out / ANSWERS_PARQUET, "parquet", keys=ANSWER_KEYS, numbers=ANSWER_NUMBERS, flags=ANSWER_FLAGS)
                   if (out / ANSWERS_PARQUET).is_file() else pd.DataFrame(columns=ANSWER_COLUMNS))
        sample_checks = {"keys": SAMPLE_KEYS, "numbers": SAMPLE_NUMBERS, "flags": SAMPLE_FLAGS}
        if (out / SAMPLES_PARQUET).is_file():
            samples = _read_table(out / SAMPLES_PARQUET, "parquet", **sample_checks)
        elif (out / SAMPLES_CSV).is_file():
            samples = _read_table(out / SAMPLES_CSV, "csv", dtype={"sample_id": str, "sample_hash": str}, **sample_checks)
        else:
            samples = pd.DataFrame(columns=EVIDENCE_COLUMNS)
        lists_from_files(samples, LIST_COLUMNS)
        return cls(metrics=metrics, samples=samples, summary=summary, averages=averages, answers=answers)


#: metrics.csv columns holding scores: S_v, S_wv, S_t, MG, ML and their intervals
SCORE_PREFIXES = ("S_v", "S_wv", "S_t", "MG", "ML")
#: summary.json fields that are numbers (or null): a report divides and plots them
SUMMARY_NUMBERS = ("n_samples", "n_audited", "share_text_answerable", "share_leaked", "share_vision_dependent", "share_kept",
                   "mean_MG", "mean_ML", "precision", "recall", "f1")


#: summary.json fields that are JSON objects (or null), and lists
SUMMARY_OBJECTS = ("settings", "panel", "benchmarks", "signals", "label_counts", "models", "scan", "label_quality", "probe")
SUMMARY_LISTS = ("notes",)
#: fields inside those objects that the report iterates over
SUMMARY_NESTED: dict[tuple[str, str], tuple[type, ...]] = {
    ("settings", "inspectors"): (list,), ("settings", "evidence_shots"): (dict,), ("settings", "recorded"): (dict,),
    ("models", "llms"): (list,), ("models", "lvlms"): (dict, list), ("models", "random_weights"): (list,),
    ("models", "unknown_base_llm"): (list,), ("panel", "lvlms"): (list,), ("panel", "merged"): (dict,),
}


def _is_number(value: Any) -> bool:
    """A JSON number (NaN read as null), never a string, a bool or an infinity."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isinf(value))


def _checked_summary(file: Path, summary: Any) -> dict[str, Any]:
    """A summary.json someone else may have written: an object whose number fields are numbers or null."""
    if not isinstance(summary, dict):
        raise DataError(file, None, None, f"expected a JSON object, got {type(summary).__name__}")
    for key in SUMMARY_NUMBERS:
        if not _is_number(summary.get(key)):
            raise DataError(file, None, key, f"expected a number or null, got {summary[key]!r:.80}")
    for key in SUMMARY_OBJECTS:
        if summary.get(key) is not None and not isinstance(summary[key], dict):
            raise DataError(file, None, key, f"expected a JSON object or null, got {type(summary[key]).__name__}")
    for key in SUMMARY_LISTS:
        if summary.get(key) is not None and not isinstance(summary[key], list):
            raise DataError(file, None, key, f"expected a JSON list or null, got {type(summary[key]).__name__}")
    for (outer, inner), kinds in SUMMARY_NESTED.items():
        value = (summary.get(outer) or {}).get(inner)
        if value is not None and not isinstance(value, kinds):
            raise DataError(file, None, f"{outer}.{inner}", f"expected a JSON {' or '.join('object' if k is dict else 'list' for k in kinds)}, "
                            f"got {type(value).__name__}")
    from leakaudit.answers.settings import AuditSettings, setting_type_error

    known = {f.name for f in fields(AuditSettings)}
    for name, value in (summary.get("settings") or {}).items():
        wrong = setting_type_error(name, value) if name in known and value is not None else None  # null: not recorded
        if wrong:
            raise DataError(file, None, f"settings.{name}", wrong)
    if summary.get("verdict") is not None and not isinstance(summary["verdict"], (dict, str)):
        raise DataError(file, None, "verdict", f"expected an object, a text or null, got {type(summary['verdict']).__name__}")
    for bench, info in (summary.get("benchmarks") or {}).items() if isinstance(summary.get("benchmarks"), dict) else ():
        for name, value in (info.items() if isinstance(info, dict) else ()):
            if (name.startswith(("share_", "mean_")) or name == "n_samples") and not _is_number(value):
                raise DataError(file, None, f"benchmarks.{bench}.{name}", f"expected a number or null, got {value!r:.80}")
    return summary


#: what each table of an audit folder must hold for a report: key columns (every row needs them),
#: number columns and true/false columns. leakaudit always writes them; a folder written by hand
#: or by another tool is told which one is missing or wrong instead of failing inside the report.
METRIC_KEYS = ("model", "kind", "benchmark", "S_v", "S_wv", "S_t", "MG", "ML")
METRIC_NUMBERS = tuple(c for c in METRIC_COLUMNS if c.startswith(SCORE_PREFIXES)) + ("n", "n_v", "n_wv", "n_t", "chance", "text_shots", "n_models")
SAMPLE_KEYS = ("benchmark", "sample_id")
#: what a report draws from every sample besides its keys (``regenerate`` reads the keys and labels only)
REPORT_SAMPLE_KEYS = ("chance", "text_hits", "text_n")
SAMPLE_NUMBERS = ("n_options", "chance", "vision_hits", "vision_n", "text_hits", "text_n", "text_threshold", "p_value", "blind_hits", "blind_n")
SAMPLE_FLAGS = ("kept",)
ANSWER_KEYS = ("model", "condition", "rotation")
ANSWER_NUMBERS = ("shots", "rotation", "confidence", "seconds")
ANSWER_FLAGS = ("correct",)
_TRUE_FALSE = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


def _read_table(path: Path, fmt: str, *, keys: Sequence[str] = (), numbers: Sequence[str] = (), flags: Sequence[str] = (),
                **kw: Any) -> pd.DataFrame:
    """One table of an audit folder, checked: a file that is not one (garbage, a broken parquet), a key
    column missing, or a cell that is not a number / true-false where one must be, is a DataError naming it."""
    try:
        df = read_frame(path, fmt, **kw)
    except Exception as exc:  # noqa: BLE001 - ParserError, ArrowInvalid, UnicodeDecodeError, EmptyDataError...
        raise DataError(path, None, None, f"not a readable {fmt.upper()} file ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from None
    for col in [c for c in numbers if c in df.columns]:
        values = pd.to_numeric(df[col].astype(object).where(df[col].map(lambda v: not isinstance(v, (list, dict, bytes))), "?"), errors="coerce")
        bad = (values.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")) | values.abs().eq(math.inf)
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(path, row, col, f"expected a number, got {df[col].iloc[row]!r:.80}")
        df[col] = values
    for col in [c for c in flags if c in df.columns]:
        values = df[col].map(lambda v: v if isinstance(v, bool) or v is None or (isinstance(v, float) and math.isnan(v))
                             else _TRUE_FALSE.get(str(v).strip().lower(), "?"))
        bad = values.map(lambda v: isinstance(v, str))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(path, row, col, f"expected true or false, got {df[col].iloc[row]!r:.80}")
        df[col] = values
    missing = [c for c in keys if c not in df.columns]
    if missing and len(df):
        raise DataError(path, None, missing[0], f"no {', '.join(missing)} column (found {', '.join(map(str, df.columns))[:200]})")
    return df


def _none_for_nan(df: pd.DataFrame) -> pd.DataFrame:
    unlabel_all_rows(df)
    for col in ("category", "base_llm", "note"):
        if col in df.columns:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


# -- audit ---------------------------------------------------------------------------------
def _samples_frame(store: AnswerStore, answers: pd.DataFrame, benchmark: Any) -> pd.DataFrame:
    """One row per audited question: from the store's samples table, completed from answers."""
    cols = ["benchmark", "sample_hash", "sample_id", "category", "l2_category", "n_options", "answer", "label"]
    if benchmark is not None and not isinstance(benchmark, str):
        recs = [
            {"benchmark": s.benchmark, "sample_hash": s.content_hash, "sample_id": s.id, "category": s.category,
             "l2_category": s.l2_category, "n_options": len(s.options), "answer": s.answer, "label": s.meta.get("label")}
            for s in benchmark.samples
        ]
        return pd.DataFrame.from_records(recs, columns=cols)
    table = store.samples()[cols]
    benches = set(answers["benchmark"].unique()) if benchmark is None else {benchmark}
    table = table[table["benchmark"].isin(benches)]
    extra = answers[~_pairs(answers).isin(_pairs(table))]
    if not extra.empty:
        # answers of samples never registered: recover what the answers themselves tell
        ex = extra.sort_values("rotation").drop_duplicates(["benchmark", "sample_hash"])
        n_opt = ex["option_scores"].astype(object).map(lambda v: len(v) if isinstance(v, (list, np.ndarray)) else np.nan)
        table = pd.concat([table, pd.DataFrame({
            "benchmark": ex["benchmark"], "sample_hash": ex["sample_hash"], "sample_id": ex["sample_id"],
            "category": None, "l2_category": None, "n_options": n_opt, "answer": None, "label": None,
        })], ignore_index=True)
    return table.reset_index(drop=True)


def _pairs(frame: pd.DataFrame) -> pd.MultiIndex:
    """(benchmark, sample_hash) of every row, for set operations without a Python loop over rows."""
    return pd.MultiIndex.from_arrays([frame["benchmark"], frame["sample_hash"]])


def _benchmark_sources(store: AnswerStore, benchmark: Any, names: list[str]) -> dict[str, str | None]:
    if benchmark is not None and not isinstance(benchmark, str):
        return {benchmark.name: str(benchmark.source)}
    out: dict[str, str | None] = {n: None for n in names}
    for run in store.runs():
        name = run.get("benchmark") or run.get("benchmark_name")
        src = run.get("source") or run.get("benchmark_source")
        if isinstance(name, str) and name in out and src:
            out[name] = str(src)
    return out


def audit(
    run_dir: str | Path,
    *,
    benchmark: Any = None,
    zoo: Any = None,
    text_shots: int = 0,
    k: int | None = None,
    n: int | None = None,
    circular: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    base_llms: Mapping[str, str] | None = None,
    scoring: str | None = None,
    blind_mode: str | None = None,
    prefer_scoring: str | None = None,
    inspectors: Sequence[str] | None = None,
    extra_signals: Sequence[str] = (),
    min_confidence: float | None = None,
    progress: bool = False,
) -> AuditResult:
    """Audit the answers stored in ``run_dir``.

    ``benchmark``: a name (only that benchmark's answers) or a loaded ``Benchmark`` (only its
    questions, with its own metadata). ``zoo``: a loaded zoo, a zoo YAML path, or None for the
    default zoo; it gives each LVLM's base LLM (``base_llms`` overrides it). ``text_shots``
    selects the few-shot setting of S_t (0 as in MMStar's tables, 2 as its filter). ``k``/``n``
    set the text-answerable threshold (see :func:`leakaudit.audit.evidence.max_text_hits`).
    ``scoring``/``blind_mode`` restrict to answers of one scoring mode / blind mode;
    ``prefer_scoring`` only prefers one where a question was answered under several.
    ``extra_signals``: model-based signals to compute too (``leakaudit.audit.signals``; each asks a model again).
    ``inspectors``: the text-only LLMs whose hits count as evidence (MMStar's 8 inspectors);
    default every LLM with live text-only answers (imported ones only when named, so a
    folder of imported 0-shot, 2-shot and random-guess outputs is not a panel). Other LLMs
    still give S_t (e.g. base LLMs).
    ``min_confidence``: a text-only or blind hit counts as evidence only if the model gave the
    answer at least this softmax share of its option scores (unscored answers count as they
    are); S_t and the other metrics are unchanged. None: every hit counts, as in MMStar.
    ``progress``: a bar on stderr for the signals' long work (the probe's fits, with a loaded benchmark).
    """
    notes: list[str] = []
    store_path = resolve_store(run_dir)
    with AnswerStore(store_path, read_only=True) as store:
        answers = store.answers(scores="arrow")
        # image-ablation answers (wrong-image, ocr-only, caption-only) feed their signals only
        ablation = answers["condition"].isin(ABLATIONS)
        if ablation.any():  # (a filter copies every column: only when something is left out)
            answers = answers[~ablation]
        bench_name = benchmark if isinstance(benchmark, str) or benchmark is None else benchmark.name
        if bench_name is not None:
            if (answers["benchmark"] != bench_name).any():
                answers = answers[answers["benchmark"] == bench_name]
        if benchmark is not None and not isinstance(benchmark, str):
            answers = answers[answers["sample_hash"].isin({s.content_hash for s in benchmark.samples})]
        if scoring is not None:
            answers = answers[answers["scoring"] == scoring]
        if blind_mode is not None:
            answers = answers[(answers["condition"] != "blind") | (answers["blind_mode"] == blind_mode)]
        if answers.empty:
            what = f" for benchmark {bench_name!r}" if bench_name else ""
            raise LeakauditError(f"the store {store_path} has no answers{what}" + (f" with scoring {scoring!r}" if scoring else ""))
        # each answer's confidence, once: question_correctness and answers_table both read it
        answers = answers.assign(confidence=option_confidences(answers["option_scores"], answers["chosen"]))
        samples = _samples_frame(store, answers, benchmark)
        sources = _benchmark_sources(store, benchmark, sorted(set(samples["benchmark"])))
    samples = samples.drop_duplicates(["benchmark", "sample_hash"]).reset_index(drop=True)
    samples["chance"] = samples["n_options"].map(lambda x: 1.0 / x if x and not pd.isna(x) else 0.0)

    zoo_obj = resolve_zoo(zoo)
    roles = model_roles(answers, zoo_obj, base_llms)
    no_base = unknown_base_llms(roles, answers.loc[answers["condition"] == "blind", "model"])
    # an LVLM's base LLM is an LLM even when it only appears as someone's base
    for r in list(roles.values()):
        if r.kind == "lvlm" and r.base_llm and r.base_llm in roles and roles[r.base_llm].kind == "lvlm":
            raise LeakauditError(f"base LLM {r.base_llm!r} of {r.name!r} is itself an LVLM in the zoo")
    settings = AuditSettings(inspectors=list(inspectors) if inspectors is not None else None, k=k, n=n,
                             min_confidence=min_confidence, shots=text_shots, scoring=prefer_scoring or scoring or "cloze",
                             circular=circular, blind_mode=blind_mode, n_boot=n_boot, seed=seed,
                             extra_signals=list(extra_signals)).validate()

    n_options = {(b, h): (int(x) if not pd.isna(x) else 1) for b, h, x in zip(samples["benchmark"], samples["sample_hash"], samples["n_options"])}
    correct = question_correctness(answers, n_options, circular=circular, prefer_scoring=prefer_scoring)
    if circular and correct.empty:
        raise LeakauditError("circular evaluation asked for, but no question has answers for all rotations of its options: run with --circular first")
    mres = compute_metrics(correct, samples, roles, text_shots=text_shots, circular=circular, n_boot=n_boot, seed=seed)
    notes += mres.notes + list(no_base.values())
    for model, why in no_base.items():
        own = mres.metrics["model"] == model
        mres.metrics.loc[own, "note"] = ["; ".join(x for x in (str(old or ""), why) if x) for old in mres.metrics.loc[own, "note"]]
    random_models = sorted(m for m, r in roles.items() if r.random_weights)
    if random_models:
        marked = mres.metrics["model"].isin(random_models)
        mres.metrics.loc[marked, "note"] = [
            "; ".join(x for x in (str(old or ""), "random weights: not in averages or verdicts") if x) for old in mres.metrics.loc[marked, "note"]
        ]

    # the panel: one vote per set of weights, none for random weights
    llms = sorted(m for m, r in roles.items() if r.kind != "lvlm")
    if inspectors is None:
        # imported text-only runs (other papers' 0-shot, 2-shot, random-guess outputs) join the panel only when named
        text_src = answers.loc[answers["condition"] == "text", ["model", "source"]] if "source" in answers else answers.iloc[0:0]
        text_src = text_src.drop_duplicates()
        live = set(text_src.loc[~text_src["source"].astype(str).str.startswith("import:"), "model"])
        imported = sorted(set(llms) & (set(text_src["model"]) - live))
        if imported:
            notes.append(f"imported text-only runs are not inspectors unless named with --inspectors: {', '.join(imported)}")
            llms = [m for m in llms if m not in imported]
    if inspectors is not None:
        unknown = [m for m in inspectors if m not in llms]
        if unknown and len(unknown) == len(list(inspectors)):
            raise LeakauditError(f"none of the inspector LLMs {', '.join(inspectors)} has text-only answers in the store; "
                                 f"run them first: leakaudit run BENCH --models {','.join(inspectors)} --condition text --run-dir {Path(run_dir)}")
        if unknown:
            notes.append(f"inspector LLMs without text-only answers: {', '.join(unknown)}")
        candidates = [m for m in inspectors if m in llms]
    else:
        candidates = llms
    llm_panel = build_panel(candidates, zoo_obj)
    lvlm_panel = build_panel(sorted(m for m, r in roles.items() if r.kind == "lvlm"), zoo_obj)
    notes += llm_panel.notes("inspector") + [n_ for n_ in lvlm_panel.notes("vision-model") if n_ not in llm_panel.notes("inspector")]
    voters = set(llm_panel.voters)
    real_llms = {m for m in llms if not roles[m].random_weights}
    if settings.k is not None and settings.n is None and voters and settings.k >= len(voters):
        raise LeakauditError(f"k={settings.k} >= the {len(voters)} inspector LLM(s): no question could ever be text-answerable, "
                             f"so every benchmark would pass; use a smaller --k or a ratio (--k 2 --n 8)")

    # evidence: each LLM at text_shots where it ran so, else at its most-shot setting
    text = correct[(correct["condition"] == "text") & correct["model"].isin(real_llms)]
    evidence_shots: dict[str, int] = {}
    parts = []
    for model, grp in text.groupby("model"):
        shots = sorted(set(int(s) for s in grp["shots"].unique()))
        use = text_shots if text_shots in shots else shots[-1]
        evidence_shots[model] = use
        if use != text_shots and model in voters:
            notes.append(f"evidence for {model} uses its {use}-shot text answers (no {text_shots}-shot run)")
        parts.append(grp[grp["shots"] == use])
    text_all = sure_hits(pd.concat(parts) if parts else text, min_confidence)
    text_ev = text_all[text_all["model"].isin(voters)]
    evidence_shots = {m: s for m, s in evidence_shots.items() if m in voters}
    lowest = lambda df: df.sort_values("shots").drop_duplicates(["benchmark", "sample_hash", "model"])  # noqa: E731
    by_condition = {"text": text_ev, "text_all": text_all}
    lvlm_voters = set(lvlm_panel.voters)
    for cond in sorted(set(correct["condition"].unique()) - {"text"}):
        frame = lowest(correct[(correct["condition"] == cond) & ~correct["model"].isin(random_models)])
        if cond == "blind":
            frame = sure_hits(frame[frame["model"].isin(lvlm_voters)], min_confidence)
        by_condition[cond] = frame
    evidence = compute_evidence(by_condition, samples, roles, settings, answers=answers,
                                benchmark=benchmark if not isinstance(benchmark, str) else None, notes=notes, zoo=zoo_obj,
                                run_dir=store_path.parent, progress=progress)
    used = sorted(set(text_ev["model"].unique())) if len(text_ev) else []
    summary = build_summary(evidence, mres.averages, roles, sources=sources, store=store_path, k=k, n=n, text_shots=text_shots,
                            evidence_shots=evidence_shots, circular=circular, n_boot=n_boot, seed=seed, scoring=scoring,
                            blind_mode=blind_mode, notes=notes, inspectors=used,
                            prefer_scoring=prefer_scoring, min_confidence=min_confidence)
    summary["panel"] = {**strength(used, zoo_obj), "merged": {**llm_panel.merged, **lvlm_panel.merged},
                        "random_weights": random_models, "lvlms": [m for m in lvlm_panel.voters]}
    summary["models"]["random_weights"] = random_models
    summary["models"]["unknown_base_llm"] = sorted(no_base)
    summary["signals"] = summarize_signals(evidence, settings)
    if not used:
        # metrics stand on their own (S_v, S_wv, MG of imported files); a verdict needs a panel
        summary["verdict"] = None
        summary["verdict_reason"] = NO_PANEL_REASON
        # nothing was judged text-answerable, so these shares (and what the filter would keep) are not measured
        for key in ("share_text_answerable", "share_vision_dependent", "share_kept"):
            summary[key] = float("nan")
        for per_bench in summary["benchmarks"].values():
            per_bench["share_text_answerable"] = None
    elif summary["panel"]["warning"]:
        summary["verdict"]["panel"] = summary["panel"]["text"]
        summary["verdict"]["panel_warning"] = summary["panel"]["warning"]
    # the per-answer frames of the evidence are done with: a million answers are not held twice below
    del correct, text, text_all, text_ev, parts, by_condition
    return AuditResult(metrics=mres.metrics, samples=evidence, summary=summary, averages=mres.averages,
                       answers=answers_table(answers, samples))


def answers_table(answers: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """The stored answers of the audited questions (ANSWER_COLUMNS), each with the chosen option's confidence.

    ``confidence`` is the softmax share of the chosen option among the option scores (NaN for
    free-text or imported answers): the number ``min_confidence`` compares against. The
    columns are moved out of ``answers`` one by one (it is left empty), so a million answers
    are never held twice.
    """
    audited = _pairs(answers).isin(_pairs(samples))
    if "confidence" not in answers:
        answers["confidence"] = option_confidences(answers["option_scores"], answers["chosen"])
    answers["correct"] = answers["correct"].astype(bool)
    answers["shots"] = answers["shots"].astype(int)
    answers["rotation"] = answers["rotation"].astype(int)
    keys = ["benchmark", "sample_id", "model", "condition", "shots", "rotation"]
    rows = np.flatnonzero(audited)
    del audited
    # the stable sort by the key columns, on integer codes (sorted factorize keeps each column's order;
    # the key columns are NOT NULL in the store), so no copy of the key columns is sorted
    # (on the column itself, not its to_numpy(): Arrow strings are factorized without a Python object per answer)
    codes = [pd.factorize(answers[c].iloc[rows], sort=True)[0] for c in keys]
    order = rows[np.lexsort(codes[::-1])]
    del codes
    out = {}
    pool = pa.default_memory_pool()
    for col in [c for c in ANSWER_COLUMNS if c in answers.columns]:
        out[col] = answers.pop(col).iloc[order].reset_index(drop=True)
        pool.release_unused()  # the moved column's old buffers go back to the system before the next is copied
    answers.drop(columns=list(answers.columns), inplace=True)
    return pd.DataFrame(out)


def sure_hits(correct: pd.DataFrame, min_confidence: float | None) -> pd.DataFrame:
    """``correct`` with hits below ``min_confidence`` turned into misses (unscored answers kept)."""
    if not min_confidence or correct.empty:
        return correct
    unsure = correct["confidence"].notna() & (correct["confidence"] < float(min_confidence))
    return correct.assign(correct=correct["correct"].where(~unsure, 0.0))


def build_summary(evidence: pd.DataFrame, averages: pd.DataFrame, roles: Mapping[str, Any], *, sources: Mapping[str, str | None],
                  store: Path | None, k: int | None, n: int | None, text_shots: int, evidence_shots: Mapping[str, int], circular: bool,
                  n_boot: int, seed: int, scoring: str | None, blind_mode: str | None, notes: list[str],
                  inspectors: list[str] | None = None, prefer_scoring: str | None = None,
                  min_confidence: float | None = None) -> dict[str, Any]:
    """Headline numbers, settings and the default verdict, as the report and gate read them."""
    audited = evidence[evidence["label"] != UNKNOWN]
    counts = {lab: int((evidence["label"] == lab).sum()) for lab in (VISION_DEPENDENT, TEXT_ANSWERABLE, LEAKED, UNKNOWN)}
    whole = averages[averages["category"].isna()] if not averages.empty else averages
    per_bench = {}
    for bench in sorted(set(evidence["benchmark"])):
        ev = evidence[evidence["benchmark"] == bench]
        avg = whole[whole["benchmark"] == bench] if not whole.empty else whole
        per_bench[bench] = {
            "source": sources.get(bench), "n_samples": int(len(ev)),
            "share_text_answerable": share(ev, TEXT_ANSWERABLE), "share_leaked": share(ev, LEAKED),
            "mean_S_v": float(avg["S_v"].iloc[0]) if len(avg) else None, "mean_S_wv": float(avg["S_wv"].iloc[0]) if len(avg) else None,
            "mean_MG": float(avg["MG"].iloc[0]) if len(avg) else None, "mean_ML": float(avg["ML"].iloc[0]) if len(avg) else None,
        }
    share_ta = share(evidence, TEXT_ANSWERABLE)
    single = next(iter(per_bench.values())) if len(per_bench) == 1 else {}
    quality = label_quality(evidence)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "leakaudit_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "store": str(store) if store else None,
        "benchmark": next(iter(per_bench)) if len(per_bench) == 1 else sorted(per_bench),
        "source": single.get("source"),
        "benchmarks": per_bench,
        "n_samples": int(len(evidence)),
        "n_audited": int(len(audited)),
        "label_counts": counts,
        "share_text_answerable": share_ta,
        "share_leaked": share(evidence, LEAKED),
        "share_vision_dependent": share(evidence, VISION_DEPENDENT),
        "share_kept": float(evidence["kept"].mean()) if len(evidence) else float("nan"),
        "mean_MG": single.get("mean_MG"),
        "mean_ML": single.get("mean_ML"),
        "models": {
            "llms": sorted(m for m, r in roles.items() if r.kind != "lvlm"),
            "lvlms": {m: r.base_llm for m, r in sorted(roles.items()) if r.kind == "lvlm"},
        },
        "settings": {
            "k": k, "n": n, "rule": threshold_rule(k, n, min_confidence), "min_confidence": min_confidence, "text_shots": text_shots,
            "text_shots_note": f"S_t is the base LLM's {text_shots}-shot text-only score" + (" (as in MMStar's tables)" if text_shots == 0 else " (as MMStar's filter; see MMStar issue #6)"),
            "evidence_shots": dict(evidence_shots), "circular": circular, "n_boot": n_boot, "seed": seed,
            "scoring": scoring, "prefer_scoring": prefer_scoring, "blind_mode": blind_mode,
            "inspectors": list(inspectors or []), "n_inspectors": len(inspectors or []),
        },
        "label_quality": quality,
        "verdict": {
            "max_text_answerable": DEFAULT_MAX_TEXT_ANSWERABLE,
            "text_answerable_ok": bool(share_ta <= DEFAULT_MAX_TEXT_ANSWERABLE) if not math.isnan(share_ta) else None,
            "status": "pass" if (not math.isnan(share_ta) and share_ta <= DEFAULT_MAX_TEXT_ANSWERABLE) else ("fail" if not math.isnan(share_ta) else "unknown"),
            "message": (f"{share_ta:.1%} of audited questions are answerable without the image (limit {DEFAULT_MAX_TEXT_ANSWERABLE:.0%})"
                        if not math.isnan(share_ta) else "no question was audited"),
        },
        "notes": list(dict.fromkeys(notes)),
    }
    if quality:
        summary.update(precision=quality["precision"], recall=quality["recall"], f1=quality["f1"])
    return summary


__all__ = ["ANSWERS_PARQUET", "ANSWER_COLUMNS", "AVERAGE", "NO_PANEL_REASON", "AuditResult", "answers_table", "audit", "build_summary", "frame_records", "jsonable", "resolve_store"]
