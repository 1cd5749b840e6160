"""The adapter interface: one class per benchmark, hub and local loading through one row mapper.

An adapter maps one row *in the hub dataset's own column layout* to a ``Sample``
(``row_to_sample``). The hub path (``datasets.load_dataset`` at a pinned revision) and
the local path (parquet / JSON Lines / JSON / CSV / VLMEvalKit TSV files in that same
layout) both feed rows through it, so a local copy of a hub dataset loads identically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable

from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import DataError, RowErrors
from leakaudit.data.io import VLMEVALKIT_COLUMNS, load_hub_rows, read_local_rows
from leakaudit.data.schema import Sample


def _images_to_meta(sample: Sample) -> None:
    """``--no-images``: keep where each image is (a path, or ``<embedded>``) as metadata; show none."""
    sample.meta["image_refs"] = [ref.path if ref.path is not None else "<embedded>" for ref in sample.images]
    sample.images = []
    sample._hash = None


class BenchmarkAdapter:
    #: registry name (``leakaudit scan NAME``)
    name: ClassVar[str] = ""
    #: one line for ``leakaudit benchmarks``
    description: ClassVar[str] = ""
    #: Hugging Face dataset id, config names, split and pinned revision (None: no hub copy)
    hub_id: ClassVar[str | None] = None
    hub_configs: ClassVar[tuple[str, ...]] = ()
    hub_split: ClassVar[str] = "test"
    hub_revision: ClassVar[str | None] = None
    #: columns a local file in this benchmark's own layout must have; an entry that is a
    #: tuple means "any one of these" (e.g. ``("options", "choices")``)
    required_columns: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    #: file names a local copy usually has (``data.jsonl``); a folder path finds them
    local_files: ClassVar[tuple[str, ...]] = ()
    #: also read VLMEvalKit's layout (index, question, A.., answer, base64 image): its TSV files
    #: and result tables, and any copy of them in another format (CSV, JSON Lines, parquet)
    accepts_vlmevalkit: ClassVar[bool] = True
    #: its own layout keeps the options in ``A``, ``B``.. columns (MMBench, submissions), so a
    #: VLMEvalKit table of it reads natively; every other adapter reads such a table with
    #: ``vlmevalkit_row_to_sample``
    options_in_letter_columns: ClassVar[bool] = False
    #: MMBench-style circular copies share ``index % 1_000_000`` (meta['circular_group'])
    circular_groups: ClassVar[bool] = False
    #: its published file holds every split in a ``split`` field (ScienceQA's problems.json):
    #: without ``--split`` only ``hub_split`` is loaded; other adapters load every row unless asked
    files_hold_all_splits: ClassVar[bool] = False

    def describe(self) -> dict[str, Any]:
        """What ``leakaudit benchmarks`` shows: name, hub id, configs, split, revision, description."""
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "hub_configs": list(self.hub_configs),
            "hub_split": self.hub_split,
            "hub_revision": self.hub_revision,
            "description": self.description,
            "required_columns": [c if isinstance(c, str) else "|".join(c) for c in self.required_columns],
        }

    # -- to implement --------------------------------------------------------------
    def row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample | None:
        """Map one raw row to a Sample (or None to drop it knowingly, e.g. a video row).

        Raise ``DataError(file, index, field, msg)`` for a bad row. ``root`` is the folder
        image paths are relative to (None for hub rows, whose images are embedded).
        """
        raise NotImplementedError

    # -- provided ---------------------------------------------------------------------
    def load(self, path: str | Path | None = None, *, split: str | None = None, limit: int | None = None, on_error: str = "raise",
             revision: str | None = None, no_images: bool = False) -> Benchmark:
        """From the hub at ``revision`` (default: the adapter's pin), or from a local ``path``.

        ``no_images``: image fields are read as references (``meta['image_refs']``) and never
        opened, for text-only work on question files published without their images.
        """
        from .common import images_as_metadata

        with images_as_metadata(no_images):
            if path is None:
                bench = self.load_hub(split=split, limit=limit, on_error=on_error, revision=revision)
            else:
                bench = self.load_local(Path(path), split=split, limit=limit, on_error=on_error)
        bench.no_images = no_images
        return bench

    def load_hub(self, *, split: str | None = None, limit: int | None = None, on_error: str = "raise", revision: str | None = None) -> Benchmark:
        split = split or self.hub_split
        rows, source = load_hub_rows(self, split=split, limit=limit, revision=revision)
        return self.build(rows, source=source, fmt="hub", file=source, root=None, on_error=on_error, limit=limit, split=split)

    def load_local(self, path: Path, *, split: str | None = None, limit: int | None = None, on_error: str = "raise") -> Benchmark:
        from leakaudit.data.io import columns_of, filter_split

        rows, fmt, file, root = read_local_rows(path, adapter=self)
        rows, used = filter_split(rows, split, self.hub_split if self.files_hold_all_splits else None, Path(file))
        if used is not None and split is None:
            import logging

            logging.getLogger(__name__).warning("%s holds several splits; loading split %r (pass --split for another)", file, used)
        mapper = self.vlmevalkit_row_to_sample if rows and self.reads_as_vlmevalkit(columns_of(rows)) else None
        return self.build(rows, source=file, fmt=fmt, file=file, root=root, on_error=on_error, limit=limit, split=used or split or self.hub_split, mapper=mapper)

    def reads_as_vlmevalkit(self, columns: Iterable[str]) -> bool:
        """True when a file with these columns is in VLMEvalKit's layout rather than this benchmark's own.

        VLMEvalKit's core columns (index, question, answer) must be there, and either a column
        of the benchmark's own layout is missing (SEED-Bench's ``choice_a``, MathVista's
        ``pid``) or the options sit in ``A``, ``B``.. columns where the own layout has none:
        MMStar's hub copy has the same index/question/answer/category columns with the options
        inline, VLMEvalKit's ``MMStar.tsv`` has them in ``A``..``D``. The columns decide, not the format.
        """
        cols = set(columns)
        if not self.accepts_vlmevalkit or not all(c in cols for c in VLMEVALKIT_COLUMNS):
            return False
        return bool(self.missing_columns(cols)) or (not self.options_in_letter_columns and {"A", "B"} <= cols)

    def vlmevalkit_row_to_sample(self, row: dict[str, Any], index: int, *, file: str | None, root: Path | None) -> Sample:
        """One row of VLMEvalKit's layout; an adapter whose benchmark VLMEvalKit lays out otherwise overrides it (MMMU, MathVista)."""
        from .common import vlmevalkit_row_to_sample

        return vlmevalkit_row_to_sample(self.name, row, index, file=file, root=root, circular=self.circular_groups)

    def missing_columns(self, columns: Iterable[str]) -> list[str]:
        cols = set(columns)
        missing = []
        for req in self.required_columns:
            alternatives = (req,) if isinstance(req, str) else tuple(req)
            if not any(a in cols for a in alternatives):
                missing.append(" or ".join(alternatives))
        return missing

    def build(self, rows: Iterable[dict[str, Any]], *, source: str, fmt: str, file: str | None, root: Path | None, on_error: str, limit: int | None, split: str | None = None, mapper=None) -> Benchmark:
        """Map rows to validated samples under the ``on_error`` policy; duplicates ids are errors.

        Image headers are probed here (cheap: no pixel decoding) so a missing, unreadable
        or decompression-bomb image is reported at load time with its file and row.
        """
        from .common import images_are_metadata, probe_images

        no_images = images_are_metadata()
        mapper = mapper or self.row_to_sample
        errors = RowErrors(on_error)  # type: ignore[arg-type]
        samples: list[Sample] = []
        raw: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for i, row in enumerate(rows):
            if limit is not None and len(samples) >= limit:
                break
            try:
                s = mapper(row, i, file=file, root=root)
                if s is None:
                    continue
                s.meta.setdefault("row", i)
                if split:
                    s.split = split
                s.validate(file, i)
                if no_images:
                    _images_to_meta(s)
                else:
                    probe_images(s, file=file, row=i)
                if s.id in seen:
                    raise DataError(file, i, "id", f"duplicate id {s.id!r} (first seen at row {seen[s.id]})")
            except DataError as err:
                errors.report(err)
                continue
            except (ValueError, TypeError, OSError, OverflowError, RecursionError, UnicodeError) as exc:
                # untrusted rows must never end in a traceback: name the row instead
                from leakaudit.data.textsafe import clean_message

                kind = "nested too deeply" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
                errors.report(DataError(file, i, None, clean_message(f"cannot read this row ({kind})", 500)))
                continue
            seen[s.id] = i
            samples.append(s)
            raw.append(row)
        if not samples and not errors.skipped:
            raise DataError(file, None, None, "no samples found (empty file?)")
        if not samples:
            first = errors.skipped[0]
            raise DataError(file, None, None, f"every one of the {len(errors.skipped)} rows was skipped as bad, nothing is left to load; "
                                              f"first: row {first.row}, field {first.field!r}: {first.reason}")
        return Benchmark(name=self.name, samples=samples, source=source, format=fmt, root=root, raw_rows=raw, skipped=errors, adapter=self.name)
