"""Everything a report shows, gathered from an audit output folder.

The folder (``summary.json``, ``metrics.csv``, ``samples.parquet``/``.csv``, the store under
``run/``) is the contract between ``scan``/``audit`` and the report, so a report can be
rebuilt later from the folder alone. Provenance is recomputed here rather than trusted:
the data hash from the samples' content hashes, the store hash from the answers table.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from leakaudit.answers.store import KEY_FIELDS, STORE_FILE, AnswerStore

#: columns that describe how long an answer took, not what it was: left out of the store hash
_VOLATILE_ANSWER_COLUMNS = ("created_at", "seconds")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if not _is_missing(value) and value != "":
            return value
    return None


def data_hash(sample_hashes) -> str:
    """sha256 of the sorted, distinct sample content hashes: identifies the benchmark's content."""
    joined = "\n".join(sorted({str(h) for h in sample_hashes if not _is_missing(h)}))
    return hashlib.sha256(joined.encode()).hexdigest()


def store_hash(store_path: Path) -> str:
    """sha256 of the answers table sorted by key, without timing columns.

    Hashing the table rather than the SQLite file makes the hash independent of page
    layout, WAL state and the order answers arrived in.
    """
    with AnswerStore(store_path, read_only=True) as store:
        answers = store.answers()
    answers = answers.drop(columns=[c for c in _VOLATILE_ANSWER_COLUMNS if c in answers.columns])
    answers["option_scores"] = answers["option_scores"].map(lambda v: json.dumps(v) if v is not None else "")
    answers = answers.sort_values(list(KEY_FIELDS), kind="mergesort").reset_index(drop=True)
    return hashlib.sha256(answers.to_csv(index=False).encode()).hexdigest()


def find_store(report_dir: Path, summary: dict[str, Any]) -> Path | None:
    """The answers.sqlite behind a report folder: ``run/`` inside it, where the summary says, or beside it."""
    settings, scan = summary.get("settings") or {}, summary.get("scan") or {}
    candidates = [report_dir / "run", report_dir]
    hinted = _first(summary, "store", "run_dir") or _first(scan, "run_dir") or _first(settings, "store", "run_dir")
    if hinted:
        candidates += [Path(str(hinted)), report_dir / str(hinted)]
    candidates.append(report_dir.parent)
    for cand in candidates:
        path = cand if cand.suffix == ".sqlite" else cand / STORE_FILE
        if path.is_file():
            return path
    return None


def benchmark_sources(summary: dict[str, Any]) -> dict[str, str | None]:
    """Benchmark name -> recorded source (a local path, or a hub id) of every audited benchmark.

    Reads the audit's ``benchmarks: {name: {source: ..}}`` and falls back to the top-level
    ``benchmark`` / ``source`` pair.
    """
    out: dict[str, str | None] = {}
    per_bench = summary.get("benchmarks")
    if isinstance(per_bench, dict):
        for name, info in per_bench.items():
            out[str(name)] = (_first(info, "source", "path") if isinstance(info, dict) else None)
    top = summary.get("benchmark")
    if isinstance(top, dict):
        out.setdefault(str(_first(top, "name", "adapter")), _first(top, "path", "source"))
    elif isinstance(top, str) and top:
        source = summary.get("source")
        out.setdefault(top, str(source) if isinstance(source, str) and source else None)
    elif isinstance(top, list):
        for name in top:
            out.setdefault(str(name), None)
    return out


def reload_benchmark(name: str, source: str | None):
    """Load a benchmark from its recorded local source, else by adapter name (hub or built-in)."""
    from leakaudit.data.benchmark import load_benchmark

    if source and Path(source).exists():
        return load_benchmark(name, path=source, on_error="skip")
    return load_benchmark(name, on_error="skip")


@dataclass
class ReportInputs:
    """The audit folder's tables plus provenance; ``benchmark`` is loaded on first use (images)."""

    report_dir: Path
    summary: dict[str, Any]
    metrics: pd.DataFrame
    samples: pd.DataFrame
    averages: pd.DataFrame = field(default_factory=pd.DataFrame)
    runs: list[dict[str, Any]] = field(default_factory=list)
    store_path: Path | None = None
    store_hash: str | None = None
    load_images: bool = True
    benchmark_error: str | None = None
    #: answers.parquet of the folder (empty for folders written before it existed)
    answers: pd.DataFrame = field(default_factory=pd.DataFrame)

    def confident_share(self) -> float | None:
        """Share of the inspectors' text-only answers at or above ``min_confidence`` (see figures.confident_share)."""
        from leakaudit.report.figures import confident_share

        return confident_share(self.answers, self.settings)

    @property
    def metrics_with_averages(self) -> pd.DataFrame:
        """Per-model metrics plus the average-over-LVLMs rows, where at least two LVLMs were averaged."""
        avg = self.averages
        if avg is None or avg.empty:
            return self.metrics
        if "n_models" in avg:
            avg = avg[avg["n_models"].fillna(0) >= 2]
        return pd.concat([self.metrics, avg], ignore_index=True) if not avg.empty else self.metrics

    @property
    def data_hash(self) -> str:
        return data_hash(self.samples["sample_hash"]) if "sample_hash" in self.samples else data_hash([])

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.summary.get("settings") or {})

    @property
    def benchmark_name(self) -> str:
        names = list(benchmark_sources(self.summary))
        if not names and "benchmark" in self.samples:
            names = sorted(self.samples["benchmark"].dropna().astype(str).unique())
        return ", ".join(names) or "benchmark"

    @property
    def command_line(self) -> str | None:
        """The command that produced the audit (summary first, then the latest run)."""
        scan = self.summary.get("scan") or {}
        value = (_first(self.summary, "command", "command_line", "argv") or _first(scan, "command")
                 or _first(self.settings, "command", "command_line", "argv"))
        if value is None:
            for run in reversed(self.runs):
                value = _first(run, "command", "command_line", "argv", "cmd")
                if value is not None:
                    break
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        return str(value) if value is not None else None

    @property
    def leakaudit_version(self) -> str:
        from leakaudit.version import __version__

        value = _first(self.summary, "leakaudit_version", "version")
        if value is None:
            for run in reversed(self.runs):
                versions = run.get("versions") or {}
                value = _first(versions, "leakaudit") if isinstance(versions, dict) else None
                value = value or _first(run, "leakaudit_version")
                if value:
                    break
        return str(value or __version__)

    @cached_property
    def benchmarks(self) -> list:
        """The audited benchmarks reloaded from their recorded sources (thumbnails, question texts, prompts).

        A benchmark that cannot be reloaded (moved files, no network for a hub copy) is left
        out and the reason kept in ``benchmark_error``: the report then degrades gracefully.
        """
        if not self.load_images:
            self.benchmark_error = "benchmark reloading turned off"
            return []
        sources = benchmark_sources(self.summary)
        if not sources:
            self.benchmark_error = "summary.json records no benchmark source"
            return []
        loaded, errors = [], []
        for name, source in sources.items():
            try:
                loaded.append(reload_benchmark(name, source))
            except Exception as exc:  # any loader failure only costs the images
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        self.benchmark_error = "; ".join(errors) or None
        return loaded

    @property
    def benchmark(self):
        """The first reloaded benchmark (example prompts), or None."""
        return self.benchmarks[0] if self.benchmarks else None

    def sample_lookup(self) -> dict[tuple[str, str], Any]:
        """(benchmark, content hash) and (benchmark, id) -> Sample of the reloaded benchmarks."""
        out: dict[tuple[str, str], Any] = {}
        for bench in self.benchmarks:
            for s in bench.samples:
                out[(s.benchmark, s.id)] = s
                out[(s.benchmark, s.content_hash)] = s
        return out


def load_report_inputs(report_dir: str | Path, *, load_images: bool = True) -> ReportInputs:
    """Read an audit output folder (``summary.json`` + ``metrics.csv`` + samples) for a report."""
    from leakaudit.audit import AuditResult
    from leakaudit.audit.result import REPORT_SAMPLE_KEYS, SAMPLES_CSV, SAMPLES_PARQUET
    from leakaudit.errors import DataError

    report_dir = Path(report_dir)
    result = AuditResult.load(report_dir)  # a file that is not what its name says is a DataError naming it
    missing = [c for c in REPORT_SAMPLE_KEYS if c not in result.samples.columns]
    if missing and len(result.samples):
        name = SAMPLES_PARQUET if (report_dir / SAMPLES_PARQUET).is_file() else SAMPLES_CSV
        raise DataError(report_dir / name, None, missing[0], f"no {', '.join(missing)} column: the report plots the text-only hits "
                        f"of every sample (found {', '.join(map(str, result.samples.columns))[:200]})")
    store_path = find_store(report_dir, result.summary)
    runs: list[dict[str, Any]] = []
    digest = None
    if store_path is not None:
        with AnswerStore(store_path, read_only=True) as store:
            runs = store.runs()
        digest = store_hash(store_path)
    return ReportInputs(
        report_dir=report_dir,
        summary=result.summary,
        metrics=result.metrics,
        samples=result.samples,
        averages=result.averages,
        runs=runs,
        store_path=store_path,
        store_hash=digest,
        load_images=load_images,
        answers=result.answers,
    )


__all__ = ["ReportInputs", "benchmark_sources", "data_hash", "find_store", "load_report_inputs", "reload_benchmark", "store_hash"]
