"""The answer store: every model answer, written the moment it exists.

One SQLite file per run directory (``DIR/answers.sqlite``). An answer is keyed by
(benchmark, sample hash, model, condition, blind mode, shots, prompt hash, scoring,
rotation); writing the same key twice is a no-op, so a killed run resumes where it
stopped and re-running with one more model only runs that model. Each insert is
committed at once (WAL mode), so a SIGKILL loses at most the answer being computed.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .schema import Sample

STORE_FILE = "answers.sqlite"

KEY_FIELDS = ("benchmark", "sample_hash", "model", "condition", "blind_mode", "shots", "prompt_hash", "scoring", "rotation")

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

    def key(self) -> tuple:
        return tuple(getattr(self, f) for f in KEY_FIELDS)


class AnswerStore:
    """SQLite-backed answer store. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.suffix != ".sqlite":
            path.mkdir(parents=True, exist_ok=True)
            path = path / STORE_FILE
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        self.conn.commit()

    # -- context manager --------------------------------------------------------------
    def __enter__(self) -> "AnswerStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # -- writing ----------------------------------------------------------------------
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

    def add(self, answer: Answer) -> bool:
        """Insert one answer and commit; False when that key was already stored."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                answer.benchmark,
                answer.sample_id,
                answer.sample_hash,
                answer.model,
                answer.condition,
                answer.blind_mode,
                int(answer.shots),
                answer.prompt_hash,
                answer.scoring,
                int(answer.rotation),
                answer.raw_response,
                json.dumps(answer.option_scores) if answer.option_scores is not None else None,
                answer.chosen,
                int(bool(answer.correct)),
                answer.extraction,
                answer.seconds,
                answer.source,
                answer.created_at,
            ),
        )
        self.conn.commit()
        return cur.rowcount == 1

    def add_many(self, answers: Iterable[Answer]) -> int:
        n = 0
        for a in answers:
            n += self.add(a)
        return n

    def record_run(self, info: dict[str, Any]) -> int:
        cur = self.conn.execute("INSERT INTO runs (started_at, info) VALUES (?, ?)", (time.time(), json.dumps(info, ensure_ascii=False, default=str)))
        self.conn.commit()
        return int(cur.lastrowid)

    # -- reading ----------------------------------------------------------------------
    def existing_keys(self, **where: Any) -> set[tuple]:
        """Keys already stored, optionally restricted by equality on key fields (for resume)."""
        sql = f"SELECT {', '.join(KEY_FIELDS)} FROM answers"
        params: list[Any] = []
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
            params = list(where.values())
        return {tuple(r) for r in self.conn.execute(sql, params)}

    def has(self, key: tuple) -> bool:
        sql = "SELECT 1 FROM answers WHERE " + " AND ".join(f"{k} = ?" for k in KEY_FIELDS)
        return self.conn.execute(sql, key).fetchone() is not None

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def answers(self, **where: Any) -> pd.DataFrame:
        """All answers as a DataFrame (option_scores decoded), filtered by equality on columns."""
        sql = "SELECT * FROM answers"
        params: list[Any] = []
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
            params = list(where.values())
        df = pd.read_sql_query(sql, self.conn, params=params)
        df["correct"] = df["correct"].astype(bool)
        df["option_scores"] = df["option_scores"].map(lambda v: json.loads(v) if isinstance(v, str) else None)
        return df

    def samples(self, benchmark: str | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM samples"
        params: list[Any] = []
        if benchmark:
            sql += " WHERE benchmark = ?"
            params = [benchmark]
        return pd.read_sql_query(sql, self.conn, params=params)

    def runs(self) -> list[dict[str, Any]]:
        return [{"run_id": r[0], "started_at": r[1], **json.loads(r[2])} for r in self.conn.execute("SELECT * FROM runs ORDER BY run_id")]

    def export(self, path: str | Path) -> Path:
        """Write all answers to parquet (or CSV when the suffix is .csv)."""
        path = Path(path)
        df = self.answers()
        if path.suffix == ".csv":  # CSV has no list type: option_scores as a JSON list (docs/outputs.md)
            df["option_scores"] = df["option_scores"].map(lambda v: json.dumps(v) if v is not None else None)
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        return path


def answer_from_dict(d: dict[str, Any]) -> Answer:
    fields = {k: d[k] for k in Answer.__dataclass_fields__ if k in d}
    return Answer(**fields)


__all__ = ["Answer", "AnswerStore", "KEY_FIELDS", "STORE_FILE", "answer_from_dict", "asdict"]
