"""``leakaudit store check`` and ``leakaudit store repair``: diagnose and salvage an answer store.

A store can be damaged by a full disk, a copy cut short or a stray write. ``check_store``
says what is wrong without changing anything; ``repair_store`` copies every answer it can
still read (row by row, so one bad page loses only its own rows) into a fresh file and
keeps the damaged one next to it, renamed, so nothing is ever deleted.
"""
from __future__ import annotations

import json
import os
import sqlite3
import struct
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from leakaudit.answers.store import _SCHEMA, resolve_store
from leakaudit.errors import LeakauditError

_TABLES = ("answers", "samples", "runs")
#: JSON columns checked per table
#: consecutive missing rowids after which a salvage scan without a readable max(rowid) stops
MAX_PROBE_GAP = 20_000
_JSON_COLUMNS = {"answers": ("option_scores",), "samples": ("meta",), "runs": ("info",)}


def _connect_ro(path: Path) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    if not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=30)


def _padded_copy(path: Path) -> Path | None:
    """A copy of a truncated SQLite file padded with zero pages up to the size its header declares.

    SQLite refuses a file shorter than its header says; padded, every page that survived
    the truncation is readable again. None when the header itself is unusable.
    """
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\0"):
        return None
    page = struct.unpack(">H", head[16:18])[0]
    page = 65536 if page == 1 else page
    n_pages = struct.unpack(">I", head[28:32])[0]
    size = path.stat().st_size
    if not page or n_pages * page <= size or n_pages * page > 1 << 34:
        return None
    fd, tmp = tempfile.mkstemp(suffix=".sqlite", prefix="leakaudit-salvage-")
    with os.fdopen(fd, "wb") as out, path.open("rb") as src:
        while chunk := src.read(1 << 20):
            out.write(chunk)
        out.truncate(n_pages * page)
    return Path(tmp)


def _open_salvage(path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """A read-only connection that can read the schema, padding a truncated file when needed."""
    conn = _connect_ro(path)
    try:
        conn.execute("SELECT name FROM sqlite_master").fetchall()
        return conn, None
    except sqlite3.DatabaseError:
        conn.close()
        padded = _padded_copy(path)
        if padded is None:
            raise
        conn = sqlite3.connect("file:" + urllib.parse.quote(str(padded)) + "?mode=ro", uri=True)
        try:
            conn.execute("SELECT name FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError:
            conn.close()
            padded.unlink(missing_ok=True)
            raise
        return conn, padded


def _bad_json(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
        return False
    except (ValueError, RecursionError):
        return True


def _read_rows(conn: sqlite3.Connection, table: str) -> tuple[list[str], list[tuple], int]:
    """Every readable row of ``table`` (with its rowid first) and the number of unreadable ones.

    A whole-table scan is tried first; when a damaged page stops it, rows are read one
    rowid at a time so only the rows on bad pages are lost.
    """
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    rows: list[tuple] = []
    try:
        for r in conn.execute(f"SELECT rowid, * FROM {table}"):
            rows.append(r)
        return cols, rows, 0
    except sqlite3.DatabaseError:
        pass  # keep the rows read before the damaged page, then go on one rowid at a time
    lost = 0
    start = (rows[-1][0] + 1) if rows else 1
    try:
        hi = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        hi = None  # the last page is gone too: probe until a long run of rowids yields nothing
    rid, misses = start, 0
    while (rid <= hi) if hi is not None else (misses < MAX_PROBE_GAP):
        try:
            r = conn.execute(f"SELECT rowid, * FROM {table} WHERE rowid = ?", (rid,)).fetchone()
        except sqlite3.DatabaseError:
            r = None
            lost += 1
        if r is not None:
            rows.append(r)
            misses = 0
        else:
            misses += 1
        rid += 1
    if hi is None:
        lost = max(0, lost - misses)  # the trailing probes past the end were not rows
    return cols, rows, lost


def check_store(run_dir: str | Path) -> dict[str, Any]:
    """What is wrong with a store, without changing it: ``{"file", "ok", "problems", "counts"}``."""
    path = resolve_store(run_dir)
    problems: list[str] = []
    counts: dict[str, int] = {}
    padded = None
    try:
        conn, padded = _open_salvage(path)
    except sqlite3.Error as exc:
        return {"file": str(path), "ok": False, "problems": [f"not a readable SQLite database: {exc}"], "counts": counts}
    if padded is not None:
        problems.append("the file is truncated (shorter than its header says); `store repair` can salvage the surviving pages")
    try:
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
            if result != ["ok"]:
                problems += [f"integrity: {r}" for r in result]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            return {"file": str(path), "ok": False, "problems": problems + [f"not a readable SQLite database: {exc}"], "counts": counts}
        for t in _TABLES:
            if t not in tables:
                problems.append(f"table {t!r} is missing")
                continue
            cols, rows, lost = _read_rows(conn, t)
            counts[t] = len(rows)
            if lost:
                problems.append(f"table {t!r}: {lost} row(s) unreadable")
            for c in _JSON_COLUMNS[t]:
                if c not in cols:
                    continue
                k = cols.index(c) + 1
                bad = [r[0] for r in rows if _bad_json(r[k])]
                if bad:
                    problems.append(f"table {t!r}, column {c!r}: bad JSON in rowid(s) {', '.join(map(str, bad[:10]))}" + (" ..." if len(bad) > 10 else ""))
    finally:
        conn.close()
        if padded is not None:
            padded.unlink(missing_ok=True)
    return {"file": str(path), "ok": not problems, "problems": problems, "counts": counts}


def repair_store(run_dir: str | Path) -> dict[str, Any]:
    """Salvage every readable row into a new store; the damaged file is kept as ``answers.sqlite.damaged-<time>``.

    Bad JSON cells are set to NULL (the answer itself is kept; for ``option_scores`` only
    its confidence is lost). Returns counts of rows kept, lost and cells cleared.
    """
    path = resolve_store(run_dir)
    tmp = path.with_name(f".{path.name}.repair-{os.getpid()}")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    kept: dict[str, int] = {}
    lost: dict[str, int] = {}
    cleared = 0
    notes: list[str] = []
    out = sqlite3.connect(str(tmp))
    try:
        out.executescript(_SCHEMA)
        padded = None
        try:
            src, padded = _open_salvage(path)
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            src, tables = None, set()
            notes.append(f"the old file is not a readable SQLite database ({exc}); nothing could be salvaged")
        for t in _TABLES:
            if src is None or t not in tables:
                kept[t], lost[t] = 0, 0
                continue
            cols, rows, n_lost = _read_rows(src, t)
            target_cols = [r[1] for r in out.execute(f"PRAGMA table_info({t})")]
            use = [c for c in cols if c in target_cols]
            json_idx = {use.index(c) for c in _JSON_COLUMNS[t] if c in use}
            fixed_rows = []
            for r in rows:
                vals = [r[cols.index(c) + 1] for c in use]
                for k in json_idx:
                    if _bad_json(vals[k]):
                        vals[k] = None if t != "runs" else json.dumps({"note": "run record salvaged by leakaudit store repair"})
                        cleared += 1
                fixed_rows.append(vals)
            placeholders = ",".join("?" * len(use))
            n_ok = 0
            for vals in fixed_rows:
                try:
                    out.execute(f"INSERT OR IGNORE INTO {t} ({', '.join(use)}) VALUES ({placeholders})", vals)
                    n_ok += 1
                except sqlite3.IntegrityError:  # a NOT NULL field was damaged
                    n_lost += 1
            kept[t], lost[t] = n_ok, n_lost
        if src is not None:
            src.close()
        if padded is not None:
            padded.unlink(missing_ok=True)
            notes.append("the old file was truncated; the pages that survived were read")
        out.commit()
    finally:
        out.close()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, backup)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{backup}{suffix}"))
    os.replace(tmp, path)
    return {"file": str(path), "old_file": str(backup), "kept": kept, "lost": lost, "json_cells_cleared": cleared, "notes": notes}


__all__ = ["check_store", "repair_store"]
