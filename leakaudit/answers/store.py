"""The answer store: every model answer, written the moment it exists.

One SQLite file per run directory (``DIR/answers.sqlite``). An answer is keyed by
(benchmark, sample hash, model, condition, blind mode, shots, prompt hash, scoring,
rotation); writing the same key twice is a no-op, so a killed run resumes where it
stopped and re-running with one more model only runs that model. Each insert is
committed at once (WAL mode), so a SIGKILL loses at most the answer being computed;
answers that already exist elsewhere (an import) go in as one transaction (``add_many``).
"""
from __future__ import annotations

import errno
import functools
import json
import os
import sqlite3
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from leakaudit.data.schema import Sample
from leakaudit.errors import DataError, LeakauditError
from leakaudit.types import KEY_FIELDS, AnswerKey, answer_key

STORE_FILE = "answers.sqlite"
#: rows of option_scores parsed at a time by ``answers(scores="arrow")`` (bounds the parse's scratch memory)
SCORE_PARSE_ROWS = 131_072
#: ``export`` formats by file suffix
EXPORT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    benchmark     TEXT NOT NULL,
    sample_id     TEXT NOT NULL,
    sample_hash   TEXT NOT NULL,
    model         TEXT NOT NULL,
    condition     TEXT NOT NULL,          -- text | vision | blind
    blind_mode    TEXT NOT NULL DEFAULT '', -- '' | drop | grey | noise
    shots         INTEGER NOT NULL DEFAULT 0,
    prompt_hash   TEXT NOT NULL,
    scoring       TEXT NOT NULL,          -- letter | cloze | generate
    rotation      INTEGER NOT NULL DEFAULT 0,
    raw_response  TEXT,
    option_scores TEXT,                   -- JSON list of floats, one per option (letter/cloze)
    chosen        TEXT,                   -- letter, free-form answer, or NULL when unmatched
    correct       INTEGER NOT NULL,
    extraction    TEXT,                   -- how `chosen` was obtained (argmax, first-char, ..., unmatched)
    seconds       REAL,
    source        TEXT NOT NULL DEFAULT 'live', -- live | import:<format>
    created_at    REAL NOT NULL,
    PRIMARY KEY (benchmark, sample_hash, model, condition, blind_mode, shots, prompt_hash, scoring, rotation)
);
CREATE TABLE IF NOT EXISTS samples (
    benchmark    TEXT NOT NULL,
    sample_hash  TEXT NOT NULL,
    sample_id    TEXT NOT NULL,
    category     TEXT,
    l2_category  TEXT,
    n_options    INTEGER NOT NULL,
    answer       TEXT,
    label        TEXT,                    -- ground-truth kind where a benchmark has one (demo)
    meta         TEXT,                    -- JSON
    PRIMARY KEY (benchmark, sample_hash)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  REAL NOT NULL,
    info        TEXT NOT NULL              -- JSON: command line, versions, models, prompts
);
"""


@dataclass
class Answer:
    """One stored answer. ``option_scores`` holds one score per option (letter/cloze)."""

    benchmark: str
    sample_id: str
    sample_hash: str
    model: str
    condition: str
    prompt_hash: str
    scoring: str
    correct: bool
    shots: int = 0
    blind_mode: str = ""
    rotation: int = 0
    raw_response: str | None = None
    option_scores: list[float] | None = None
    chosen: str | None = None
    extraction: str | None = None
    seconds: float | None = None
    source: str = "live"
    created_at: float = field(default_factory=time.time)

    def key(self) -> AnswerKey:
        return answer_key(**{f: getattr(self, f) for f in KEY_FIELDS})


_INSERT_ANSWER = "INSERT OR IGNORE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


def _answer_row(answer: Answer) -> tuple:
    """The answers-table row of ``answer``, in column order (key fields normalised by answer_key)."""
    key = answer.key()
    return (
        key.benchmark,
        answer.sample_id,
        key.sample_hash,
        key.model,
        key.condition,
        key.blind_mode,
        key.shots,
        key.prompt_hash,
        key.scoring,
        key.rotation,
        answer.raw_response,
        json.dumps(answer.option_scores) if answer.option_scores is not None else None,
        answer.chosen,
        int(bool(answer.correct)),
        answer.extraction,
        answer.seconds,
        answer.source,
        answer.created_at,
    )


class StoreError(LeakauditError):
    """The answer store cannot be opened, read or written (corrupt file, read-only folder, full disk)."""


def _store_error(path: Path, exc: BaseException, doing: str) -> LeakauditError:
    """One clear message for a SQLite or OS failure, naming the file and what to do next."""
    msg = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "disk is full" in msg or "disk full" in msg.lower():
        return StoreError(
            f"{path}: the disk is full while {doing}; every answer stored before this one is intact "
            f"(the store commits each answer). Free some space and rerun the same command to resume."
        )
    if "readonly" in msg.replace("-", "").replace(" ", "") or isinstance(exc, PermissionError):
        return StoreError(f"{path}: cannot write the answer store while {doing} (read-only file or folder): {msg}")
    if isinstance(exc, sqlite3.DatabaseError):
        return StoreError(
            f"{path}: not a readable answer store while {doing} ({msg}). Run `leakaudit store check {path.parent}` "
            f"for details, or `leakaudit store repair {path.parent}` to salvage every readable answer into a new file."
        )
    return StoreError(f"{path}: {doing} failed: {type(exc).__name__}: {msg}")


def _guarded(doing: str):
    """Turn sqlite3 / OS errors inside a store method into a StoreError naming the file."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                raise _store_error(self.path, exc, doing) from None

        return wrapper

    return deco


class AnswerStore:
    """SQLite-backed answer store. Use as a context manager or call ``close()``.

    ``read_only=True`` (audit, export, report, filter) opens the file with SQLite's
    ``mode=ro``: no WAL switch, no table creation, so a read-only run folder (a CI
    artifact, a shared mount) audits fine and a reader can never modify the store.
    Any SQLite fault (truncated or garbage file, full disk) is a ``StoreError`` naming
    the file, never a raw sqlite3 traceback.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False):
        path = Path(path)
        if path.suffix != ".sqlite":
            if not read_only:
                path.mkdir(parents=True, exist_ok=True)
            path = path / STORE_FILE
        elif not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.read_only = read_only
        self.conn: sqlite3.Connection | None = None
        try:
            if read_only:
                self.conn = self._connect_read_only(path)
                self._check_readable()
            else:
                self.conn = sqlite3.connect(str(path), timeout=30)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.executescript(_SCHEMA)
                self.conn.commit()
        except (sqlite3.Error, OSError) as exc:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            raise _store_error(path, exc, "opening it" + (" read-only" if read_only else "")) from None

    @staticmethod
    def _connect_read_only(path: Path) -> sqlite3.Connection:
        if not path.is_file():
            raise StoreError(f"no answer store at {path}")
        uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            # a WAL-mode file in a read-only folder cannot create its -shm: read it as immutable
            conn.close()
            if os.access(path.parent, os.W_OK):
                raise
            return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=30)

    def _check_readable(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"answers", "samples", "runs"} - tables
        if "answers" in missing:
            raise StoreError(f"{self.path}: an SQLite file without an 'answers' table is not a leakaudit answer store")
        self._missing_tables = missing

    # -- context manager --------------------------------------------------------------
    # -- context manager --------------------------------------------------------------
    def __enter__(self) -> "AnswerStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- writing ----------------------------------------------------------------------
    @_guarded("storing sample metadata")
    def add_samples(self, samples: Iterable[Sample]) -> None:
        """Record sample metadata (category, options, label) the audit needs without the data."""
        rows = [
            (
                s.benchmark,
                s.content_hash,
                s.id,
                s.category,
                s.l2_category,
                len(s.options),
                s.answer,
                s.meta.get("label"),
                json.dumps({k: v for k, v in s.meta.items() if isinstance(v, (str, int, float, bool)) or v is None}, ensure_ascii=False),
            )
            for s in samples
        ]
        self.conn.executemany("INSERT OR IGNORE INTO samples VALUES (?,?,?,?,?,?,?,?,?)", rows)
        self.conn.commit()

    @_guarded("storing an answer")
    def add(self, answer: Answer) -> bool:
        """Insert one answer and commit; False when that key was already stored."""
        cur = self.conn.execute(_INSERT_ANSWER, _answer_row(answer))
        self.conn.commit()
        return cur.rowcount == 1

    @_guarded("storing answers")
    def add_many(self, answers: Iterable[Answer]) -> int:
        """Insert answers already computed (an import, a finished engine's output) in one
        transaction; the number newly stored (keys already there are skipped)."""
        before = self.conn.total_changes
        with self.conn:
            self.conn.executemany(_INSERT_ANSWER, (_answer_row(a) for a in answers))
        return self.conn.total_changes - before

    @_guarded("recording the run")
    def record_run(self, info: dict[str, Any]) -> int:
        cur = self.conn.execute("INSERT INTO runs (started_at, info) VALUES (?, ?)", (time.time(), json.dumps(info, ensure_ascii=False, default=str)))
        self.conn.commit()
        return int(cur.lastrowid)

    # -- reading ----------------------------------------------------------------------
    @_guarded("reading stored keys")
    def existing_keys(self, **where: Any) -> set[AnswerKey]:
        """Keys already stored, optionally restricted by equality on key fields (for resume)."""
        sql = f"SELECT {', '.join(KEY_FIELDS)} FROM answers"
        params: list[Any] = []
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
            params = list(where.values())
        return {AnswerKey(*r) for r in self.conn.execute(sql, params)}

    @_guarded("counting answers")
    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    @_guarded("reading answers")
    def answers(self, *, scores: str = "lists", **where: Any) -> pd.DataFrame:
        """All answers as a DataFrame (option_scores decoded), filtered by equality on columns.

        ``scores="arrow"``: option_scores as one Arrow list<double> column instead of a Python
        list per answer (a million answers: ~40 MB instead of ~270 MB); cells read as lists."""
        sql = "SELECT * FROM answers"
        params: list[Any] = []
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
            params = list(where.values())
        sql = sql.replace("SELECT *", "SELECT rowid AS _rowid, *", 1)
        # in chunks, so the rows pass through Python tuples a chunk at a time; the option scores
        # are decoded once all is read, so the lists do not sit among the freed tuples' memory
        parts = list(pd.read_sql_query(sql, self.conn, params=params, chunksize=100_000))
        df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        del parts
        df["correct"] = df["correct"].astype(bool)
        if scores == "arrow":
            import pyarrow as pa

            df["option_scores"] = self._score_column(df["option_scores"], df["_rowid"])
            pa.default_memory_pool().release_unused()  # the parse's scratch memory goes back to the system
        else:
            df["option_scores"] = self._json_lists(df["option_scores"], df["_rowid"], "option_scores", "answers")
        return df.drop(columns="_rowid")

    def _score_column(self, values: pd.Series, rowids: pd.Series) -> pd.Series:
        """option_scores cells as an Arrow list<double> column: lists of plain numbers are split
        and parsed by Arrow; a slice with any other cell goes through :meth:`_json_lists`.

        A slice of ``SCORE_PARSE_ROWS`` rows at a time, so the parse's intermediate strings
        (about 3x the column's text) exist for one slice only: a million answers peaked 390 MB
        above the frame when parsed at once."""
        import pyarrow as pa

        chunks = [self._score_chunk(values.iloc[i : i + SCORE_PARSE_ROWS], rowids.iloc[i : i + SCORE_PARSE_ROWS])
                  for i in range(0, len(values), SCORE_PARSE_ROWS)]
        # one contiguous array: a take (the audit's sort) from many chunks copies them all first
        column = pa.chunked_array(chunks, type=pa.list_(pa.float64())).combine_chunks()
        return pd.Series(pd.arrays.ArrowExtensionArray(column), index=values.index)

    def _score_chunk(self, values: pd.Series, rowids: pd.Series):
        import pyarrow as pa
        import pyarrow.compute as pc

        text = values.astype("str")
        present = text.notna().to_numpy(dtype=bool)
        plain = text.str.fullmatch(r"\[[-+0-9.eEINaify, ]+\]").to_numpy(dtype=bool, na_value=False)
        if (plain == present).all():
            parts = pc.split_pattern(pa.array(text.str.slice(1, -1), type=pa.string()), ",")
            try:
                numbers = pc.cast(pc.utf8_trim_whitespace(parts.flatten()), pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                numbers = None
            if numbers is not None:
                return pa.ListArray.from_arrays(parts.offsets, numbers, mask=pa.array(~present))
        return pa.array(self._json_lists(values, rowids, "option_scores", "answers"), type=pa.list_(pa.float64()))

    def _json_lists(self, values: pd.Series, rowids: pd.Series, column: str, table: str) -> list[Any]:
        """Decode a column of flat JSON lists (option scores) in one parse; a cell of any other
        shape, or bad JSON, is decoded on its own (naming its row when it is bad)."""
        present = values.notna().to_numpy(dtype=bool)
        if not present.any():
            return [None] * len(values)
        text = values.astype("str")
        flat = text.str.fullmatch(r"\[[^\[\]\"{}]*\]").to_numpy(dtype=bool, na_value=False).copy()  # written below; pyarrow-backed strings give a read-only array
        out: list[Any] = [None] * len(values)
        if flat.any():
            try:
                joined = json.loads("[" + ",".join(text[flat].tolist()) + "]")
            except ValueError:
                joined = None
            if joined is not None and flat.all():
                return joined
            if joined is not None:
                for i, v in zip(np.flatnonzero(flat).tolist(), joined):
                    out[i] = v
            else:
                flat[:] = False
        for i in np.flatnonzero(~flat & present).tolist():
            out[i] = self._json_cell(values.iat[i], rowids.iat[i], column, table)
        return out

    def _json_cell(self, value: Any, rowid: Any, column: str, table: str) -> Any:
        """Decode one JSON cell, or name the table row and column that holds bad JSON."""
        if not isinstance(value, str):
            return None
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise DataError(self.path, f"{table} rowid {rowid}", column, f"bad JSON in the store: {str(exc)[:200]}; "
                            f"`leakaudit store repair {self.path.parent}` clears such cells and keeps the answers") from None

    @_guarded("reading samples")
    def samples(self, benchmark: str | None = None) -> pd.DataFrame:
        if "samples" in getattr(self, "_missing_tables", ()):
            return pd.DataFrame(columns=["benchmark", "sample_hash", "sample_id", "category", "l2_category", "n_options", "answer", "label", "meta"])
        sql = "SELECT * FROM samples"
        params: list[Any] = []
        if benchmark:
            sql += " WHERE benchmark = ?"
            params = [benchmark]
        return pd.read_sql_query(sql, self.conn, params=params)

    @_guarded("reading run records")
    def runs(self) -> list[dict[str, Any]]:
        if "runs" in getattr(self, "_missing_tables", ()):
            return []
        out = []
        for r in self.conn.execute("SELECT * FROM runs ORDER BY run_id"):
            info = self._json_cell(r[2], r[0], "info", "runs")
            out.append({"run_id": r[0], "started_at": r[1], **(info if isinstance(info, dict) else {})})
        return out

    @_guarded("exporting")
    def export(self, path: str | Path) -> Path:
        """Write all answers to parquet, CSV or JSON Lines, chosen by the suffix (anything else is an error)."""
        path = Path(path)
        fmt = EXPORT_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise LeakauditError(f"cannot export to {path.name!r}: the suffix picks the format; use one of {', '.join(sorted(EXPORT_FORMATS))}")
        df = self.answers()
        if fmt == "csv":  # CSV has no list type: option_scores as a JSON list (docs/outputs.md)
            df["option_scores"] = df["option_scores"].map(lambda v: json.dumps(v) if v is not None else None)
            df.to_csv(path, index=False)
        elif fmt == "jsonl":
            df.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(path, index=False)
        return path


def answer_from_dict(d: dict[str, Any]) -> Answer:
    fields = {k: d[k] for k in Answer.__dataclass_fields__ if k in d}
    return Answer(**fields)


def resolve_store(run_dir: str | Path) -> Path:
    """The answers.sqlite of a run folder (or the file itself); an error when there is none."""
    p = Path(run_dir)
    store = p if p.suffix == ".sqlite" else p / STORE_FILE
    if not store.is_file():
        raise LeakauditError(f"no answer store at {store}: run models first (`leakaudit run` / `leakaudit scan`) or import predictions (`leakaudit import`)")
    return store


__all__ = ["Answer", "AnswerKey", "AnswerStore", "EXPORT_FORMATS", "StoreError", "KEY_FIELDS", "STORE_FILE", "answer_from_dict", "asdict", "resolve_store"]
