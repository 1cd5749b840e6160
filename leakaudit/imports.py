"""Published predictions into the answer store, so papers' own outputs can be audited.

Three formats, each matched to the benchmark's samples by id and scored by the same rules
as live runs (an answer no rule finds counts as wrong, never as a random guess):

- ``vlmevalkit``: VLMEvalKit result tables (xlsx, tsv, csv or parquet) with a ``prediction``
  column, matched by ``index`` (or ``id``). MMStar predictions use MMStar's own matching
  rule (``mmstar_match``) so its published scores are reproduced exactly.
- ``lm-eval``: lm-evaluation-harness ``samples_*.jsonl`` (``doc``, ``resps`` /
  ``filtered_resps``, ``acc``), matched by the doc's id field, else by ``doc_id`` position.
- ``mathvista``: MathVista's output JSON (``pid`` -> ``prediction`` / ``extraction`` /
  ``response``).

Imported answers are stored with source ``import:<format>`` and a prompt hash derived from
the file's bytes, so importing the same file twice is a no-op and a corrected file is new.
"""
from __future__ import annotations

import hashlib
import json
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .benchmark import Benchmark, load_benchmark
from .errors import DataError, LeakauditError
from .extract import UNMATCHED, extract_choice, match_open, mmstar_match
from .schema import LETTERS, Sample
from .store import Answer, AnswerStore
from .types import CONDITIONS, IMPORT_FORMATS, stored_blind_mode

FORMATS = IMPORT_FORMATS
TABLE_SUFFIXES = (".xlsx", ".xls", ".tsv", ".csv", ".parquet", ".pq", ".jsonl", ".json")
#: doc fields lm-eval copies from the dataset that identify a question
DOC_ID_FIELDS = ("id", "index", "question_id", "pid", "sample_id", "qid")


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

    @property
    def n_matched(self) -> int:
        return self.n_rows - len(self.unmatched_ids)

    def lines(self) -> list[str]:
        out = [
            f"{self.file}: {self.n_rows} rows, {self.n_matched} matched to {self.benchmark} samples, "
            f"{self.n_stored} answers stored, {self.n_existing} already stored, {self.n_empty} empty predictions",
            f"{self.model} ({self.condition}): accuracy {self.accuracy:.1f}%",
        ]
        if self.unmatched_ids:
            shown = ", ".join(self.unmatched_ids[:5]) + (" ..." if len(self.unmatched_ids) > 5 else "")
            out.append(f"warning: {len(self.unmatched_ids)} rows match no sample id ({shown}) and were skipped")
        return out


# -- reading files -----------------------------------------------------------------------------
def read_table(file: Path) -> pd.DataFrame:
    """A VLMEvalKit-style result table from xlsx, tsv, csv, parquet or JSON (Lines)."""
    suffix = file.suffix.lower()
    try:
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(file)
        if suffix == ".tsv":
            return pd.read_csv(file, sep="\t", dtype=str, keep_default_na=False)
        if suffix == ".csv":
            return pd.read_csv(file, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(file)
        if suffix == ".jsonl":
            return pd.read_json(file, lines=True, dtype=False)
        if suffix == ".json":
            return pd.read_json(file, dtype=False)
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(file, None, None, f"cannot read as a prediction table: {exc}") from None
    raise DataError(file, None, None, f"unsupported file type {suffix or '(none)'}; a VLMEvalKit result is one of {', '.join(TABLE_SUFFIXES)}")


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


# -- scoring one prediction --------------------------------------------------------------------
def score_text(prediction: Any, sample: Sample, *, mmstar_rules: bool) -> tuple[str | None, bool, str]:
    """(chosen, correct, extraction) for one free-text prediction."""
    if _is_missing(prediction):
        return None, False, "empty"
    if sample.is_open:
        from .extract import extract_open

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


# -- the three formats -------------------------------------------------------------------------
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


def _vlmevalkit_rows(file: Path, samples: dict[str, Sample], *, mmstar_rules: bool) -> Iterable[_Row | tuple[str, int]]:
    df = read_table(file)
    if "prediction" not in df.columns:
        raise DataError(file, None, "prediction", f"no 'prediction' column (columns: {', '.join(map(str, df.columns))}); is this a VLMEvalKit result file?")
    id_col = next((c for c in ("index", "id", "question_id") if c in df.columns), None)
    if id_col is None:
        raise DataError(file, None, "index", "no 'index' (or 'id') column to match predictions to samples")
    seen: dict[str, int] = {}
    for i, (raw_id, pred) in enumerate(zip(df[id_col].tolist(), df["prediction"].tolist())):
        key = _id_text(raw_id)
        if key is None:
            raise DataError(file, i, id_col, "missing id")
        if key in seen:
            raise DataError(file, i, id_col, f"duplicate id {key!r} (first at row {seen[key]})")
        seen[key] = i
        sample = samples.get(key)
        if sample is None:
            yield (key, i)
            continue
        chosen, correct, how = score_text(pred, sample, mmstar_rules=mmstar_rules)
        yield _Row(key, i, chosen, correct, how, None if _is_missing(pred) else str(pred), empty=how == "empty")


def _lm_eval_rows(file: Path, samples: dict[str, Sample], bench: Benchmark) -> Iterable[_Row | tuple[str, int]]:
    position = {str(i): s for i, s in enumerate(bench.samples)}
    with file.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(file, i, None, f"not valid JSON: {exc.msg}") from None
            if not isinstance(rec, dict) or "doc" not in rec:
                raise DataError(file, i, "doc", "an lm-eval samples line needs a 'doc' object")
            doc = rec["doc"] if isinstance(rec["doc"], dict) else {}
            key = next((_id_text(doc[f]) for f in DOC_ID_FIELDS if f in doc and _id_text(doc[f]) is not None), None)
            sample = samples.get(key) if key is not None else None
            if key is None:
                key = _id_text(rec.get("doc_id"))
                if key is None:
                    raise DataError(file, i, "doc_id", "no id in 'doc' and no 'doc_id'")
                sample = position.get(key)
            if sample is None:
                yield (key, i)
                continue
            resps = rec.get("filtered_resps", rec.get("resps"))
            yield _lm_eval_answer(file, i, key, sample, resps, rec.get("acc"))


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


def _mathvista_rows(file: Path, samples: dict[str, Sample]) -> Iterable[_Row | tuple[str, int]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(file, exc.lineno, None, f"not valid JSON: {exc.msg}") from None
    if isinstance(data, list):
        items = [(str(d.get("pid")) if isinstance(d, dict) else None, d) for d in data]
    elif isinstance(data, dict):
        items = list(data.items())
    else:
        raise DataError(file, None, None, "a MathVista output is a JSON object of pid -> result")
    for i, (pid, entry) in enumerate(items):
        key = _id_text(pid)
        if key is None or not isinstance(entry, dict):
            raise DataError(file, i, "pid", "each entry needs a pid and a result object")
        sample = samples.get(key)
        if sample is None:
            yield (key, i)
            continue
        pred = next((entry[f] for f in ("prediction", "extraction", "response") if not _is_missing(entry.get(f))), None)
        if pred is None:
            yield _Row(key, i, None, False, "empty", None, empty=True)
            continue
        if sample.is_multiple_choice:
            letter = _option_letter(pred, sample)
            if letter is not None:
                yield _Row(key, i, letter, letter == sample.answer, "option-text-exact", str(pred))
                continue
        chosen, correct, how = score_text(pred, sample, mmstar_rules=False)
        yield _Row(key, i, chosen, correct, how, str(pred))


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
) -> ImportSummary:
    """Store the predictions in ``file`` as answers of ``model`` under ``condition``.

    ``benchmark`` is a loaded Benchmark or a name (loaded from ``path`` when given). Rows
    naming an id the benchmark lacks are skipped and reported; a file where no row matches
    is an error (wrong benchmark or wrong id column).
    """
    file = Path(file)
    if format not in FORMATS:
        raise LeakauditError(f"unknown import format {format!r}; use one of {', '.join(FORMATS)}")
    if condition not in CONDITIONS:
        raise LeakauditError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")
    if not file.is_file():
        raise LeakauditError(f"prediction file not found: {file}")
    bench = benchmark if isinstance(benchmark, Benchmark) else load_benchmark(benchmark, path=path, split=split)
    samples = _sample_lookup(bench)
    if format == "vlmevalkit":
        parsed = list(_vlmevalkit_rows(file, samples, mmstar_rules=bench.name == "mmstar"))
    elif format == "lm-eval":
        parsed = list(_lm_eval_rows(file, samples, bench))
    else:
        parsed = list(_mathvista_rows(file, samples))
    rows = [p for p in parsed if isinstance(p, _Row)]
    unmatched = [p[0] for p in parsed if not isinstance(p, _Row)]
    if not rows:
        some = ", ".join(unmatched[:5])
        raise DataError(file, None, "index", f"none of the {len(parsed)} predictions matches a sample id of benchmark {bench.name!r} ({bench.source}); ids in the file: {some}")

    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    source = f"import:{format}"
    mode = stored_blind_mode(condition, blind_mode)
    stored = existing = 0
    records = []
    with AnswerStore(run_dir) as store:
        matched = {samples[r.key].content_hash: samples[r.key] for r in rows}
        store.add_samples(matched.values())
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
            "blind_mode": mode, "shots": shots, "n_rows": len(parsed), "n_matched": len(rows),
        })
    frame = pd.DataFrame(records)
    by_cat = (frame.assign(category=frame["category"].fillna("(none)")).groupby("category")["correct"]
              .agg(n="size", accuracy=lambda c: 100.0 * c.mean()).reset_index())
    return ImportSummary(file=file, format=format, model=model, condition=condition, benchmark=bench.name, run_dir=Path(run_dir),
                         n_rows=len(parsed), n_stored=stored, n_existing=existing, n_empty=sum(r.empty for r in rows),
                         unmatched_ids=unmatched, accuracy=100.0 * float(frame["correct"].mean()), by_category=by_cat)


__all__ = ["FORMATS", "ImportSummary", "import_predictions", "read_table", "score_text"]
