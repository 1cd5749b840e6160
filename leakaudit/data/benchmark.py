"""A loaded benchmark and the registry of adapters that produce one.

Adapters are registered through the ``leakaudit.benchmarks`` entry point group (the
built-ins too), so a third-party package adds a benchmark without touching leakaudit::

    [project.entry-points."leakaudit.benchmarks"]
    mybench = "mypkg.adapter:MyBenchAdapter"

``load_benchmark("mmmu")`` uses the hub (or ``path=`` a local copy);
``load_benchmark("path/to/submission.jsonl")`` reads the generic submission format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from leakaudit import registry
from leakaudit.data.schema import Sample, check_unique_ids
from leakaudit.errors import LeakauditError, RowErrors
from leakaudit.registry import BENCHMARKS_GROUP as ENTRY_POINT_GROUP  # noqa: F401  (the group name, for callers that list it)


class BenchmarkAdapterLike(Protocol):
    """What the core needs of an adapter (``benchmarks_adapters.base.BenchmarkAdapter``).

    The core never imports ``benchmarks_adapters``: adapters come in through the
    ``leakaudit.benchmarks`` entry point group, built-ins and plugins alike.
    """

    name: str
    description: str

    def load(self, path: str | Path | None = None, *, split: str | None = None, limit: int | None = None, on_error: str = "raise") -> "Benchmark": ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class Benchmark:
    """Samples plus what is needed to write a subset back in the input's own format.

    ``raw_rows[i]`` is the original row (a dict) of ``samples[i]`` when the adapter kept
    it; ``format`` is one of parquet, jsonl, json, csv, tsv (VLMEvalKit), hub, generated.
    """

    name: str
    samples: list[Sample]
    source: str
    format: str
    root: Path | None = None
    raw_rows: list[dict[str, Any]] | None = None
    skipped: RowErrors = field(default_factory=RowErrors)
    adapter: str | None = None
    #: loaded with ``no_images``: image fields are references in ``meta['image_refs']``, never opened
    no_images: bool = False

    def __post_init__(self) -> None:
        # every producer (adapters, regeneration, subsets) must hand over unique ids:
        # the store, the filter and the written benchmark all key questions by id
        check_unique_ids(self.samples, self.source)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}

    def by_hash(self) -> dict[str, Sample]:
        return {s.content_hash: s for s in self.samples}

    def subset(self, ids) -> "Benchmark":
        """A new Benchmark with only the samples whose id is in ``ids`` (original order kept)."""
        keep = set(ids)
        idx = [i for i, s in enumerate(self.samples) if s.id in keep]
        return Benchmark(
            name=self.name,
            samples=[self.samples[i] for i in idx],
            source=self.source,
            format=self.format,
            root=self.root,
            raw_rows=[self.raw_rows[i] for i in idx] if self.raw_rows is not None else None,
            adapter=self.adapter,
            no_images=self.no_images,
        )

    def write(self, out_path: str | Path) -> Path:
        """Write these samples in the input's own format (see ``leakaudit.data.io.write_benchmark``)."""
        from leakaudit.data.io import write_benchmark

        return write_benchmark(self, Path(out_path))

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([s.to_record() for s in self.samples])


def available_benchmarks() -> dict[str, "type[BenchmarkAdapterLike]"]:
    """Adapter name -> adapter class, from the entry point group (built-ins and plugins)."""
    return dict(registry.benchmarks.items())


def get_adapter(name: str) -> BenchmarkAdapterLike:
    if name not in registry.benchmarks:
        known = ", ".join(registry.benchmarks.names()) or "(none: is leakaudit installed with `pip install -e .`?)"
        raise LeakauditError(f"unknown benchmark {name!r}; known benchmarks: {known}. A path to a submission file or folder works too.")
    return registry.benchmarks.get(name)()


def load_benchmark(
    name_or_path: str | Path,
    *,
    path: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    on_error: str = "raise",
    no_images: bool = False,
) -> Benchmark:
    """Load a benchmark by adapter name (hub, or ``path`` for a local copy) or by path.

    A path (file or folder) that is not an adapter name is read with the generic
    submission adapter, which also understands VLMEvalKit TSV. ``no_images``: image fields
    are read as metadata and never opened (text-only runs and imports; vision runs refuse).
    """
    key = str(name_or_path)
    if key in registry.benchmarks:
        return get_adapter(key).load(path=path, split=split, limit=limit, on_error=on_error, no_images=no_images)
    if Path(key).exists():
        return get_adapter("submission").load(path=key, split=split, limit=limit, on_error=on_error, no_images=no_images)
    get_adapter(key)  # raises the "unknown benchmark" error listing names
    raise AssertionError("unreachable")
