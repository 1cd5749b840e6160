"""Conventions shared by every file leakaudit writes (see docs/outputs.md).

- ``SCHEMA_VERSION`` is written into ``summary.json`` (and ``verdict.json``): a reader can
  tell which layout it holds. It changes when a file or column is renamed or re-typed.
- List-valued columns (model names) are lists in memory, in parquet and in JSON; CSV has no
  list type, so there they are JSON lists (``["a", "b"]``), never ``;``-joined strings.
- The whole-benchmark metrics row has ``category`` ``all`` in files (None in memory, where
  the code selects it with ``isna()``).
- Numbers are written at full precision; rounding is for display only.
- Every per-question file names the question ``sample_id`` (with ``sample_hash``, the
  content hash, beside it).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

#: 2: list columns as lists, ``all`` category row, ``sample_id`` everywhere, answers.parquet
SCHEMA_VERSION = 2
#: the ``category`` of a metrics row that covers the whole benchmark, in files
ALL_CATEGORIES = "all"


def as_list(value: Any) -> list[str]:
    """A stored list column's value as a list: a list/array as is, a JSON list, or a legacy ``a;b`` string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return [str(v) for v in parsed]
        return [part.strip() for part in text.split(";") if part.strip()]
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [str(value)]


def lists_to_json(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``df`` whose list ``columns`` hold JSON list strings (for CSV)."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: json.dumps(as_list(v), ensure_ascii=False))
    return out


def lists_from_files(df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``df`` (read from CSV or parquet) with its list ``columns`` as Python lists, in place."""
    for col in columns:
        if col in df.columns:
            df[col] = df[col].map(as_list).astype(object)
    return df


def label_all_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of a metrics table with the whole-benchmark rows' ``category`` set to ``all``."""
    if "category" not in df.columns:
        return df
    out = df.copy()
    out["category"] = out["category"].astype(object).where(out["category"].notna(), ALL_CATEGORIES)
    return out


def unlabel_all_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A metrics table read from a file with ``category`` ``all`` back to None (in memory), in place."""
    if "category" in df.columns:
        cat = df["category"].astype(object)
        df["category"] = cat.where(cat.notna() & (cat != ALL_CATEGORIES), None)
    return df


def write_table(df: pd.DataFrame, path: Path, list_columns: Iterable[str] = ()) -> Path:
    """``df`` as parquet (lists kept) or CSV (lists as JSON), by the suffix of ``path``."""
    path = Path(path)
    if path.suffix == ".csv":
        lists_to_json(df, list_columns).to_csv(path, index=False)
    elif any(isinstance(t, pd.ArrowDtype) for t in df.dtypes):
        _arrow_parquet(df, path)
    else:
        df.to_parquet(path, index=False)
    return path


def _arrow_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet of a frame with Arrow list columns (the audit's option scores), read back as
    every other list column is: pandas cannot rebuild its own name of such a dtype."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = json.loads(table.schema.metadata[b"pandas"])
    for col in meta["columns"]:
        if str(col.get("numpy_type", "")).endswith("[pyarrow]"):
            col["numpy_type"] = "object"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(meta).encode()}), path)


__all__ = ["ALL_CATEGORIES", "SCHEMA_VERSION", "as_list", "label_all_rows", "lists_from_files", "lists_to_json",
           "unlabel_all_rows", "write_table"]
