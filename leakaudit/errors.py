"""Errors that point at the exact place in the user's data that is wrong.

Every loader reports bad rows as ``DataError(file, row, field, message)`` so a user
can open the file and fix it. ``RowErrors`` implements ``--on-error raise|skip``:
in ``skip`` mode problems are collected (and later written as a list of skipped
rows with reasons) instead of aborting the whole load.
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Literal, get_args

OnError = Literal["raise", "skip"]
#: ``--on-error``: stop at the first bad row, or skip bad rows and list them
ON_ERRORS: tuple[str, ...] = get_args(OnError)


class LeakauditError(Exception):
    """Base class for errors leakaudit reports to users (CLI exit code 2)."""


class DataError(LeakauditError):
    """A problem in one row of an input file, named by file, row and field."""

    def __init__(self, file: str | Path | None, row: int | str | None, field: str | None, message: str, *, line: int | None = None):
        self.file = str(file) if file is not None else None
        self.row = row
        self.field = field
        self.message = message
        #: 1-based line in a text file (JSON Lines, CSV, TSV), shown next to the 0-based data row
        self.line = line
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line is not None else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(LeakauditError):
    """A problem in a configuration file (model zoo, task spec), named by entry and field."""


class HubUnavailableError(LeakauditError):
    """The hub could not be reached; the message says how to point leakaudit at a local copy."""


class MissingDependencyError(LeakauditError):
    """An optional package is needed for this feature; the message says which extra to install."""


@dataclass
class SkippedRow:
    file: str | None
    row: int | str | None
    field: str | None
    reason: str


class RowErrors:
    """Collects per-row problems under an ``--on-error`` policy.

    Use ``with errors.row(file, i):`` around the parsing of one row; a ``DataError``
    raised inside either propagates (``raise``) or is recorded and swallowed (``skip``),
    in which case ``errors.ok`` is False for that row.
    """

    def __init__(self, on_error: OnError = "raise"):
        if on_error not in ON_ERRORS:
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.skipped: list[SkippedRow] = []

    def report(self, err: DataError) -> None:
        if self.on_error == "raise":
            raise err
        self.skipped.append(SkippedRow(err.file, err.row, err.field, err.message))

    def __iter__(self) -> Iterator[SkippedRow]:
        return iter(self.skipped)

    def __len__(self) -> int:
        return len(self.skipped)

    def write(self, path: str | Path) -> Path:
        """Write skipped rows with reasons as CSV (or JSON Lines when the suffix is .jsonl)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [asdict(s) for s in self.skipped]
        if path.suffix == ".jsonl":
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        else:
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=["file", "row", "field", "reason"])
                writer.writeheader()
                writer.writerows(rows)
        return path
