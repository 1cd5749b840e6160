"""Published predictions into the answer store, so papers' own outputs can be audited.

Each format reads the file as its authors publish it, matches every row to a question by
id, checks the match against the question text when the file carries it, and scores it by
the same rules as live runs (an answer no rule finds counts as wrong, never as a guess):

- ``vlmevalkit``: VLMEvalKit result tables (xlsx, tsv, csv, parquet) with a ``prediction``
  column, matched by ``index``. The same xlsx is also a question file (``--path``).
  MMStar predictions use MMStar's own rule (``mmstar_match``): its published scores hold.
- ``lm-eval``: lm-evaluation-harness ``--log_samples`` JSON Lines (``doc``, ``resps`` /
  ``filtered_resps``, ``acc``), matched by the doc's id field (``--id-column``), else by
  ``doc_id`` position *only* when the doc's question text confirms it.
- ``mathvista``: MathVista's ``output_*.json`` (pid -> ``response``, ``extraction``,
  ``prediction``, ``true_false``). Its own verdicts (``true_false``) are taken by default.
- ``mmmu-pro``: MMMU-Pro's ``output/*.jsonl`` (``id``, ``response``, ``pred_indexs``,
  ``if_right``); ``response`` is extracted here unless ``--verdict-column if_right``.
- ``scienceqa``: ScienceQA's ``results/*/*.json`` (``results``: pid -> predicted option
  index; ``outputs``: pid -> the model's text), or a bare JSON object pid -> index.

``id_column`` / ``prediction_column`` / ``verdict_column`` name other columns; a verdict
column's values are taken as published (true/false, 1/0, yes/no). A row whose id names no
question, or whose question text differs from the question of that id, is an error naming
it and the share of such rows, unless ``on_error="skip"``; ids that are only row positions
of the question file are never matched to a file keyed otherwise.

Imported answers are stored with source ``import:<format>`` and a prompt hash derived from
the file's bytes, so importing the same file twice is a no-op and a corrected file is new.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from leakaudit.answers.extract import UNMATCHED, extract_choice, match_open, mmstar_match
from leakaudit.answers.store import Answer, AnswerStore
from leakaudit.data.benchmark import Benchmark, load_benchmark
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.errors import DataError, LeakauditError
from leakaudit.types import CONDITIONS, IMPORT_FORMATS, stored_blind_mode

FORMATS = IMPORT_FORMATS
TABLE_SUFFIXES = (".xlsx", ".xls", ".tsv", ".csv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
#: doc fields lm-eval copies from the dataset that identify a question
DOC_ID_FIELDS = ("id", "index", "question_id", "pid", "sample_id", "qid")
#: columns that carry the question text, checked against the matched question
QUESTION_FIELDS = ("question", "query_question", "problem")
#: ``verdict_column`` default: the format's own verdict column when the file has it
AUTO = "auto"
#: per format: id columns tried in order, prediction columns tried in order, default verdict column
FORMAT_COLUMNS: dict[str, dict[str, Any]] = {
    "vlmevalkit": {"id": ("index", "id", "question_id"), "prediction": ("prediction",), "verdict": None},
    "lm-eval": {"id": DOC_ID_FIELDS, "prediction": ("filtered_resps", "resps"), "verdict": None},
    "mathvista": {"id": ("pid",), "prediction": ("prediction", "extraction"), "verdict": "true_false"},
    "mmmu-pro": {"id": ("id",), "prediction": ("response",), "verdict": None},
    "scienceqa": {"id": (), "prediction": ("results",), "verdict": None},
}
_TRUE = {"true", "1", "1.0", "yes", "y", "t", "correct", "right"}
_FALSE = {"false", "0", "0.0", "no", "n", "f", "wrong", "incorrect"}


@dataclass
class ImportSummary:
    """What an import stored: rows read, answers stored or already there, accuracy (percent)."""

    file: Path
    format: str
    model: str
    condition: str
    benchmark: str
    run_dir: Path
    n_rows: int
    n_stored: int
    n_existing: int
    n_empty: int
    unmatched_ids: list[str] = field(default_factory=list)
    accuracy: float = float("nan")
    by_category: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdict_column: str | None = None
    mismatched_ids: list[str] = field(default_factory=list)
    n_refused: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_matched(self) -> int:
        return self.n_rows - len(self.unmatched_ids) - len(self.mismatched_ids)

    def lines(self) -> list[str]:
        out = [
            f"{self.file}: {self.n_rows} rows, {self.n_matched} matched to {self.benchmark} samples, "
            f"{self.n_stored} answers stored, {self.n_existing} already stored, {self.n_empty} empty predictions"
            + (f", {self.n_refused} refusals" if self.n_refused else ""),
            f"{self.model} ({self.condition}): accuracy {self.accuracy:.2f}%"
            + (f" (verdicts as published in column {self.verdict_column!r})" if self.verdict_column else " (scored here)"),
        ]
        for what, ids in (("match no sample id", self.unmatched_ids), ("name a question whose text differs", self.mismatched_ids)):
            if ids:
                shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
                out.append(f"warning: {len(ids)} of {self.n_rows} rows ({100 * len(ids) / max(self.n_rows, 1):.1f}%) {what} ({shown}) and were skipped")
        out += [f"note: {n}" for n in self.notes]
        return out


# -- reading files -----------------------------------------------------------------------------
def table_rows(file: Path) -> list[dict[str, Any]]:
    """The rows of a VLMEvalKit-style result table (xlsx, tsv, csv, parquet, JSON (Lines)).

    Read by ``leakaudit.data.io.read_rows``, the reader of benchmark files: cell texts as written
    (a prediction "None" or "N/A" is a text, not a missing answer), a bad file named.
    """
    from leakaudit.data.io import read_rows

    suffix = file.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(file, None, None, f"unsupported file type {suffix or '(none)'}; a VLMEvalKit result is one of {', '.join(TABLE_SUFFIXES)}")
    if not file.is_file():
        raise DataError(file, None, None, "no such file")
    if file.stat().st_size == 0:
        raise DataError(file, None, None, "empty file")
    return read_rows(file)


def read_table(file: Path) -> pd.DataFrame:
    """``table_rows`` as a DataFrame."""
    return pd.DataFrame(table_rows(file))


def _id_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _sample_lookup(bench: Benchmark) -> dict[str, Sample]:
    """Sample by id, and by the source's ``index`` / ``pid`` when the adapter kept one."""
    out: dict[str, Sample] = {}
    for s in bench.samples:
        for key in (s.meta.get("index"), s.meta.get("pid"), s.meta.get("question_id")):
            k = _id_text(key)
            if k is not None:
                out.setdefault(k, s)
    for s in bench.samples:
        out[s.id] = s
    return out


def parse_verdict(value: Any) -> bool | None:
    """A published verdict (True/False, 1/0, "yes"/"no"); None when missing or unreadable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _norm_question(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def same_question(text: Any, sample: Sample) -> bool:
    """Whether a prediction file's question text is this sample's (one contains the other, whitespace and case aside).

    Containment, because files differ in what they add: MMStar's xlsx appends the options,
    lm-eval docs may prepend a hint. Two different questions never contain each other.
    """
    a, b = _norm_question(text), _norm_question(sample.question)
    if not a or not b:
        return True
    return a == b or b in a or a in b


_NUMBERS = re.compile(r"\bn_\d+\b|[-+]?\d+(?:\.\d+)?")


def revised_question(text: Any, sample: Sample) -> bool:
    """Same question once numbers are masked: an earlier revision of the item (MathVista's GeoQA
    questions once read ``CB = N_0`` where testmini now has ``CB = 4.0``). Accepted with a note."""
    a, b = (_NUMBERS.sub("#", _norm_question(t)) for t in (text, sample.question))
    return bool(a) and (a == b or b in a or a in b)


# -- scoring one prediction --------------------------------------------------------------------
def score_text(prediction: Any, sample: Sample, *, mmstar_rules: bool) -> tuple[str | None, bool, str]:
    """(chosen, correct, extraction) for one free-text prediction."""
    if _is_missing(prediction):
        return None, False, "empty"
    if sample.is_open:
        from leakaudit.answers.extract import extract_open

        chosen, method = extract_open(prediction, sample.answer_type)
        return chosen, bool(match_open(prediction, sample.answer, sample.answer_type)), method
    chosen, method = extract_choice(prediction, sample)
    if mmstar_rules:
        correct = mmstar_match(prediction, sample.answer)
        return (sample.answer if correct else chosen), correct, "mmstar-rule" if correct else f"mmstar-rule-miss:{method}"
    return chosen, chosen == sample.answer, method


def _option_letter(text: Any, sample: Sample) -> str | None:
    """The letter of the option whose text equals ``text`` (MathVista stores option text)."""
    norm = str(text).strip().lower()
    hits = [LETTERS[i] for i, o in enumerate(sample.options) if o.strip().lower() == norm]
    return hits[0] if len(hits) == 1 else None


# -- reading each format into records ----------------------------------------------------------
_NO_VERDICT = object()


@dataclass
class _Rec:
    """One prediction row as read: where it is, the id it names, what it says."""

    row: int
    key: str | None
    prediction: Any = None
    verdict: Any = _NO_VERDICT
    question: Any = None
    raw: Any = None
    positional: bool = False  # key is a row position (lm-eval doc_id): only question text can confirm it
    lm_eval: tuple | None = None  # (responses, acc) of an lm-eval line


@dataclass
class _Row:
    """One parsed prediction: the id it names and what to store."""

    key: str
    row: int
    chosen: str | None = None
    correct: bool = False
    extraction: str = UNMATCHED
    raw: str | None = None
    option_scores: list[float] | None = None
    scoring: str = "generate"
    empty: bool = False


def _resolve_verdict(verdict_column: str | None, fmt: str, columns: Iterable[str], file: Path) -> str | None:
    """The verdict column to use: ``auto`` takes the format's own when the file has it; ``none`` or None: score here."""
    cols = set(columns)
    if verdict_column is None or str(verdict_column).lower() in ("none", ""):
        return None
    if verdict_column == AUTO:
        default = FORMAT_COLUMNS[fmt]["verdict"]
        return default if default in cols else None
    if verdict_column not in cols:
        raise DataError(file, None, verdict_column, f"no verdict column {verdict_column!r} (columns: {', '.join(map(str, sorted(cols)))})")
    return verdict_column


def _pick_column(given: str | None, defaults: Iterable[str], columns: Iterable[str], file: Path, what: str) -> str:
    cols = list(columns)
    if given is not None:
        if given not in cols:
            raise DataError(file, None, given, f"no {what} column {given!r} (columns: {', '.join(map(str, cols))})")
        return given
    found = next((c for c in defaults if c in cols), None)
    if found is None:
        flag = "--id-column" if what == "id" else "--prediction-column"
        raise DataError(file, None, next(iter(defaults), what),
                        f"no {what} column ({' or '.join(defaults)}) among [{', '.join(map(str, cols))}]; name it with {flag}")
    return found


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(file, None, None, f"invalid UTF-8 (byte {exc.start}): {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise DataError(file, exc.lineno, None, f"not valid JSON: {exc.msg}") from None


def _table_records(file: Path, fmt: str, id_column: str | None, prediction_column: str | None, verdict_column: str | None) -> tuple[list[_Rec], str | None]:
    """VLMEvalKit tables and MMMU-Pro JSON Lines: one row per prediction, named columns."""
    rows = table_rows(file)
    if not rows:
        raise DataError(file, None, None, "no predictions in the file (a header and no rows?)")
    columns: dict[str, None] = {}
    for r in rows[:1000]:
        columns.update(dict.fromkeys(r))
    spec = FORMAT_COLUMNS[fmt]
    pred_col = _pick_column(prediction_column, spec["prediction"], columns, file, "prediction")
    id_col = _pick_column(id_column, spec["id"], columns, file, "id")
    verdict = _resolve_verdict(verdict_column, fmt, columns, file)
    q_col = next((c for c in QUESTION_FIELDS if c in columns), None)
    out, seen = [], {}
    for i, r in enumerate(rows):
        key = _id_text(r.get(id_col))
        if key is None:
            raise DataError(file, i, id_col, "missing id")
        if key in seen:
            raise DataError(file, i, id_col, f"duplicate id {key!r} (first at row {seen[key]})")
        seen[key] = i
        out.append(_Rec(i, key, r.get(pred_col), r.get(verdict, None) if verdict else _NO_VERDICT,
                        r.get(q_col) if q_col else None, r.get(pred_col)))
    return out, verdict


def _mathvista_records(file: Path, id_column: str | None, prediction_column: str | None, verdict_column: str | None) -> tuple[list[_Rec], str | None]:
    data = _read_json(file)
    if isinstance(data, list):
        items = [(d.get("pid") if isinstance(d, dict) else None, d) for d in data]
    elif isinstance(data, dict):
        items = list(data.items())
    else:
        raise DataError(file, None, None, "a MathVista output is a JSON object of pid -> result")
    columns: dict[str, None] = {}
    for _, entry in items:
        if isinstance(entry, dict):
            columns.update(dict.fromkeys(entry))
    verdict = _resolve_verdict(verdict_column, "mathvista", columns, file)
    if prediction_column is not None and prediction_column not in columns:
        raise DataError(file, None, prediction_column, f"no prediction column {prediction_column!r} (columns: {', '.join(columns)})")
    out, seen = [], {}
    for i, (pid, entry) in enumerate(items):
        if not isinstance(entry, dict):
            raise DataError(file, i, "pid", "each entry needs a pid and a result object")
        key = _id_text(entry.get(id_column)) if id_column else _id_text(pid)
        if key is None:
            raise DataError(file, i, id_column or "pid", "missing id")
        if key in seen:
            raise DataError(file, i, id_column or "pid", f"duplicate id {key!r} (first at row {seen[key]})")
        seen[key] = i
        if prediction_column is not None:
            pred = entry.get(prediction_column)
        else:  # MathVista's own scorer reads `prediction` (normalised `extraction`), never `response`
            pred = next((entry[f] for f in ("prediction", "extraction") if not _is_missing(entry.get(f))), None)
        out.append(_Rec(i, key, pred, entry.get(verdict) if verdict else _NO_VERDICT, entry.get("question"), entry.get("response")))
    return out, verdict


def _scienceqa_records(file: Path) -> list[_Rec]:
    data = _read_json(file)
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        results, outputs = data["results"], data.get("outputs") if isinstance(data.get("outputs"), dict) else {}
    elif isinstance(data, dict):
        results, outputs = data, {}
    else:
        raise DataError(file, None, None, "a ScienceQA result is a JSON object with 'results' (pid -> predicted option index)")
    return [_Rec(i, _id_text(pid), idx, raw=outputs.get(pid)) for i, (pid, idx) in enumerate(results.items())]


def _lm_eval_records(file: Path, id_column: str | None) -> list[_Rec]:
    from leakaudit.data.io import read_jsonl_rows

    out = []
    for i, rec in enumerate(read_jsonl_rows(file)):  # bad UTF-8 or JSON: a DataError naming the row and line
        if "doc" not in rec:
            raise DataError(file, i, "doc", "an lm-eval samples line needs a 'doc' object")
        doc = rec["doc"] if isinstance(rec["doc"], dict) else {}
        fields = (id_column,) if id_column else DOC_ID_FIELDS
        key = next((_id_text(doc[f]) for f in fields if f in doc and _id_text(doc[f]) is not None), None)
        positional = key is None
        if positional:
            if id_column:
                raise DataError(file, i, id_column, f"the doc has no {id_column!r} field")
            key = _id_text(rec.get("doc_id"))
            if key is None:
                raise DataError(file, i, "doc_id", "no id in 'doc' and no 'doc_id'")
        question = next((doc[f] for f in QUESTION_FIELDS if isinstance(doc.get(f), str)), None)
        out.append(_Rec(i, key, question=question, positional=positional,
                        lm_eval=(rec.get("filtered_resps", rec.get("resps")), rec.get("acc"))))
    return out


# -- matching: by id, confirmed by the question text, never guessed ----------------------------------
def _match(recs: list[_Rec], bench: Benchmark, file: Path, on_error: str) -> tuple[list[tuple[_Rec, Sample]], list[str], list[str], list[str]]:
    samples = _sample_lookup(bench)
    position = {str(i): s for i, s in enumerate(bench.samples)}
    matched, unmatched, mismatched, reasons, revised = [], [], [], [], []
    for r in recs:
        sample = (position if r.positional else samples).get(r.key)
        if sample is None:
            unmatched.append(r.key)
            reasons.append(f"row {r.row} id {r.key!r}: no question with this id")
            continue
        if r.question is not None and not same_question(r.question, sample):
            if revised_question(r.question, sample):
                revised.append(r.key)
                matched.append((r, sample))
                continue
            mismatched.append(r.key)
            reasons.append(f"row {r.row} id {r.key!r}: the file's question {str(r.question)[:60]!r} is not question "
                           f"{sample.id!r} ({sample.question[:60]!r})")
            continue
        if r.question is None and (r.positional or sample.meta.get("derived_id") == "row"):
            mismatched.append(r.key)
            what = "lm-eval doc_id is a row position" if r.positional else f"the ids of {bench.source} are row positions"
            reasons.append(f"row {r.row} id {r.key!r}: {what} and the row has no question text to confirm the match")
            continue
        matched.append((r, sample))
    bad = len(unmatched) + len(mismatched)
    if bad and (on_error == "raise" or not matched):
        hint = "" if matched else " (wrong benchmark, split or id column?)"
        raise DataError(
            file, None, None,
            f"{bad} of {len(recs)} predictions ({100 * bad / max(len(recs), 1):.1f}%) do not match a question of "
            f"{bench.name!r} ({bench.source}){hint}: " + "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else "")
            + ("" if not matched else "; pass --on-error skip to import the matched rows only"),
        )
    return matched, unmatched, mismatched, revised


# -- scoring ------------------------------------------------------------------------------------------
def _whole_number(text: str) -> float | None:
    try:
        v = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _mathvista_score(pred: Any, sample: Sample) -> tuple[str | None, bool, str]:
    """MathVista's normalised prediction compared as a whole value: ``'1/2'`` is not 2, ``'[9, 7]'`` is not 7."""
    if _is_missing(pred):
        return None, False, "empty"
    value = str(pred).strip()
    if sample.is_multiple_choice:
        letter = _option_letter(value, sample)
        if letter is not None:
            return letter, letter == sample.answer, "option-text-exact"
        return score_text(value, sample, mmstar_rules=False)
    gold = str(sample.answer).strip()
    if sample.answer_type in ("integer", "float"):
        v, g = _whole_number(value), _whole_number(gold)
        if v is None or g is None:
            return value, False, "mathvista-value-unparsed"
        if sample.answer_type == "integer":
            return value, v == round(v) and int(v) == int(g), "mathvista-value"
        prec = sample.meta.get("precision")
        digits = int(prec) if isinstance(prec, (int, float)) and not (isinstance(prec, float) and math.isnan(prec)) else 2
        return value, round(v, digits) == round(g, digits), "mathvista-value"
    if sample.answer_type == "list":
        return value, re.sub(r"\s+", "", value) == re.sub(r"\s+", "", gold), "mathvista-value"
    return value, _norm_question(value) == _norm_question(gold), "mathvista-value"


def _score(r: _Rec, sample: Sample, fmt: str, verdict: str | None, file: Path, mmstar_rules: bool) -> _Row:
    if fmt == "lm-eval":
        resps, acc = r.lm_eval or (None, None)
        return _lm_eval_answer(file, r.row, r.key, sample, resps, acc)
    raw = None if _is_missing(r.raw) else str(r.raw)
    if fmt == "scienceqa":
        try:
            idx = int(str(r.prediction).strip())
        except ValueError:
            raise DataError(file, r.row, "results", f"predicted index {r.prediction!r} of {r.key!r} is not an integer") from None
        if not 0 <= idx < len(sample.options):
            chosen, correct, how = None, False, "index-out-of-range"
        else:
            chosen = LETTERS[idx]
            correct, how = chosen == sample.answer, "option-index"
    elif fmt == "mathvista":
        chosen, correct, how = _mathvista_score(r.prediction, sample)
        raw = raw if raw is not None else (None if _is_missing(r.prediction) else str(r.prediction))
    else:
        chosen, correct, how = score_text(r.prediction, sample, mmstar_rules=mmstar_rules)
    if verdict is not None:
        v = parse_verdict(r.verdict)
        correct = bool(v)
        how = f"verdict:{verdict}|{how}" if v is not None else f"verdict-missing:{verdict}|{how}"
    return _Row(r.key, r.row, chosen, bool(correct), how, raw, empty=how.endswith("empty"))


def _loglik(entry: Any) -> float | None:
    """The log-likelihood of one lm-eval response: ``[ll, is_greedy]`` (possibly nested or as strings)."""
    while isinstance(entry, (list, tuple)) and len(entry) == 1 and isinstance(entry[0], (list, tuple)):
        entry = entry[0]
    if isinstance(entry, (list, tuple)) and len(entry) == 2:
        try:
            return float(entry[0])
        except (TypeError, ValueError):
            return None
    return None


def _lm_eval_answer(file: Path, i: int, key: str, sample: Sample, resps: Any, acc: Any) -> _Row:
    if not isinstance(resps, list) or not resps:
        raise DataError(file, i, "filtered_resps", "missing or empty responses")
    lls = [_loglik(r) for r in resps]
    if all(v is not None for v in lls) and len(lls) > 1:
        best = max(range(len(lls)), key=lambda j: lls[j])
        chosen = LETTERS[best] if len(lls) == len(sample.options) else None
        correct = bool(float(acc)) if acc is not None else chosen == sample.answer
        return _Row(key, i, chosen, correct, "loglikelihood-argmax", None, [float(v) for v in lls], scoring="cloze")
    text = resps[0]
    while isinstance(text, list) and text:
        text = text[0]
    chosen, correct, how = score_text(text, sample, mmstar_rules=sample.benchmark == "mmstar")
    return _Row(key, i, chosen, correct, how, None if _is_missing(text) else str(text), empty=how == "empty")


# -- the import --------------------------------------------------------------------------------
def import_predictions(
    file: str | Path,
    *,
    format: str,
    model: str,
    condition: str,
    benchmark: str | Benchmark,
    run_dir: str | Path,
    path: str | Path | None = None,
    shots: int = 0,
    blind_mode: str = "drop",
    split: str | None = None,
    id_column: str | None = None,
    prediction_column: str | None = None,
    verdict_column: str | None = AUTO,
    on_error: str = "raise",
    no_images: bool = False,
) -> ImportSummary:
    """Store the predictions in ``file`` as answers of ``model`` under ``condition``.

    ``benchmark`` is a loaded Benchmark or a name (loaded from ``path`` when given, with
    ``no_images`` for question files published without images: predictions of every
    condition import without showing anything). Every row must match a question by id and,
    where the file carries the question text, by text; otherwise the import stops naming
    the rows and their share, unless ``on_error="skip"`` (a file where nothing matches is
    always an error). ``verdict_column``: ``"auto"`` takes the format's own verdicts when
    present (MathVista's ``true_false``), a column name takes that one, None scores here.
    """
    file = Path(file)
    if format not in FORMATS:
        raise LeakauditError(f"unknown import format {format!r}; use one of {', '.join(FORMATS)}")
    if condition not in CONDITIONS:
        raise LeakauditError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
    if on_error not in ("raise", "skip"):
        raise LeakauditError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if not file.is_file():
        raise LeakauditError(f"prediction file not found: {file}")
    if format in ("lm-eval", "scienceqa") and prediction_column is not None:
        raise LeakauditError(f"--prediction-column does not apply to the {format} format (its layout is fixed)")
    if format == "scienceqa" and id_column is not None:
        raise LeakauditError("--id-column does not apply to the scienceqa format (ids are the result's pid keys)")
    # "skip" also leaves out unreadable question rows (a VLMEvalKit file read as its own question file)
    bench = benchmark if isinstance(benchmark, Benchmark) else load_benchmark(benchmark, path=path, split=split, no_images=no_images,
                                                                               on_error=on_error)
    verdict: str | None = None
    if format in ("vlmevalkit", "mmmu-pro"):
        recs, verdict = _table_records(file, format, id_column, prediction_column, verdict_column)
    elif format == "mathvista":
        recs, verdict = _mathvista_records(file, id_column, prediction_column, verdict_column)
    elif format == "scienceqa":
        recs = _scienceqa_records(file)
    else:
        recs = _lm_eval_records(file, id_column)
    if format in ("lm-eval", "scienceqa") and verdict_column not in (AUTO, None, "none"):
        raise LeakauditError(f"--verdict-column does not apply to the {format} format")
    if not recs:
        raise DataError(file, None, None, "no predictions in the file")
    matched, unmatched, mismatched, revised = _match(recs, bench, file, on_error)
    rows = [_score(r, s, format, verdict, file, bench.name == "mmstar") for r, s in matched]
    samples = {r.key: s for r, s in matched}
    notes = []
    skipped_questions = list(bench.skipped)
    if skipped_questions:
        first = skipped_questions[0]
        notes.append(f"{len(skipped_questions)} question rows of {bench.source} were left out as unreadable (--on-error skip); "
                     f"first: row {first.row}, field {first.field!r}: {first.reason}")
    if revised:
        notes.append(f"{len(revised)} rows name their question with other numbers (an earlier revision of the item), matched by id: "
                     + ", ".join(revised[:5]) + (" ..." if len(revised) > 5 else ""))
    if verdict is not None:
        notes.append(f"correctness is the file's own {verdict!r} column as published (--verdict-column none scores the predictions here)")

    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    source = f"import:{format}"
    mode = stored_blind_mode(condition, blind_mode)
    stored = existing = 0
    records = []
    with AnswerStore(run_dir) as store:
        store.add_samples({s.content_hash: s for s in samples.values()}.values())
        for r in rows:
            s = samples[r.key]
            ans = Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition=condition,
                         prompt_hash=f"import-{digest}", scoring=r.scoring, correct=bool(r.correct), shots=int(shots),
                         blind_mode=mode, raw_response=r.raw, option_scores=r.option_scores, chosen=r.chosen,
                         extraction=r.extraction, source=source)
            if store.add(ans):
                stored += 1
            else:
                existing += 1
            records.append({"category": s.category, "correct": bool(r.correct)})
        store.record_run({
            "command": shlex.join(["leakaudit", *sys.argv[1:]]), "status": "complete", "import": str(file), "import_format": format,
            "sha256": digest, "benchmark": bench.name, "source": bench.source, "model": model, "condition": condition,
            "blind_mode": mode, "shots": shots, "n_rows": len(recs), "n_matched": len(rows), "verdict_column": verdict,
            "id_column": id_column, "prediction_column": prediction_column, "no_images": bool(getattr(bench, "no_images", False)),
            "n_unmatched": len(unmatched), "n_mismatched": len(mismatched),
        })
    frame = pd.DataFrame(records)
    by_cat = (frame.assign(category=frame["category"].fillna("(none)")).groupby("category")["correct"]
              .agg(n="size", accuracy=lambda c: 100.0 * c.mean()).reset_index())
    return ImportSummary(file=file, format=format, model=model, condition=condition, benchmark=bench.name, run_dir=Path(run_dir),
                         n_rows=len(recs), n_stored=stored, n_existing=existing, n_empty=sum(r.empty for r in rows),
                         unmatched_ids=unmatched, accuracy=100.0 * float(frame["correct"].mean()), by_category=by_cat,
                         verdict_column=verdict, mismatched_ids=mismatched,
                         n_refused=sum(r.extraction.endswith("refusal") for r in rows), notes=notes)


__all__ = ["AUTO", "FORMATS", "ImportSummary", "import_predictions", "parse_verdict", "read_table", "same_question", "score_text", "table_rows"]
