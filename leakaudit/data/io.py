"""Reading benchmark rows from local files and the hub, and writing subsets back.

Local copies come as parquet, JSON Lines, JSON, CSV or VLMEvalKit TSV; the format is
taken from the suffix, else sniffed from the first bytes. Submitted data is untrusted:
it is parsed with pyarrow / pandas / json only, so nothing is ever unpickled or
evaluated (a pickled object in a cell stays an opaque ``bytes`` value and the adapter
refuses it). ``write_benchmark`` writes a (filtered) benchmark in its input's own
format from the rows it was read from, so a kept subset opens in the same tools.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from leakaudit.errors import ConfigError, DataError, HubUnavailableError, LeakauditError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from leakaudit.data.benchmark import Benchmark
    from leakaudit.data.benchmark import BenchmarkAdapterLike as BenchmarkAdapter

FORMAT_BY_SUFFIX = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".xlsx": "xlsx",
}
SUFFIX_BY_FORMAT = {"parquet": ".parquet", "jsonl": ".jsonl", "json": ".json", "csv": ".csv", "tsv": ".tsv", "xlsx": ".xlsx"}
#: formats that may hold VLMEvalKit's table layout (index, question, A.., answer, image)
TABLE_FORMATS = ("tsv", "xlsx")
#: field a JSON object keyed by id keeps its key in when no field of the row already holds it
KEY_FIELD = "id"
#: fields that may repeat a keyed JSON object's key
ID_FIELDS = ("id", "pid", "index", "qid", "question_id", "sample_id")
#: VLMEvalKit stores a repeated image once and points later rows at it by index
_IMAGE_REF_MAX_LEN = 64
#: the columns every VLMEvalKit TSV has (``BenchmarkAdapter.reads_as_vlmevalkit``)
VLMEVALKIT_COLUMNS = ("index", "question", "answer")


# -- finding and sniffing ------------------------------------------------------------------
def find_data_file(folder: Path, adapter: "BenchmarkAdapter | None" = None) -> Path:
    """The data file inside ``folder``: one the adapter expects by name, else the only data file."""
    for name in getattr(adapter, "local_files", ()) or ():
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMAT_BY_SUFFIX)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(folder, None, None, f"no data file (one of {', '.join(sorted(set(FORMAT_BY_SUFFIX)))}) in this folder")
    names = ", ".join(p.name for p in candidates)
    raise DataError(folder, None, None, f"several data files in this folder ({names}); pass the one to read as the path")


def sniff_format(path: Path) -> str:
    """Format from the suffix, else from the first bytes (parquet magic, JSON brackets, tabs)."""
    _refuse_unsupported(path)
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt:
        return fmt
    with path.open("rb") as fh:
        head = fh.read(65536)
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:4] == b"PK\x03\x04":
        return "xlsx"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"[":
        return "json"
    if stripped[:1] == b"{":
        first_line = stripped.split(b"\n", 1)[0]
        try:
            json.loads(first_line)
            return "jsonl"
        except ValueError:
            return "json"
    first_line = stripped.split(b"\n", 1)[0]
    return "tsv" if b"\t" in first_line else "csv"


#: spreadsheet and archive formats people send instead of a data file, with the fix
_UNSUPPORTED_SUFFIXES = {".xls": "an old Excel workbook (.xls; save it as .xlsx)", ".xlsm": "a macro-enabled Excel workbook",
                         ".ods": "an OpenDocument spreadsheet", ".numbers": "a Numbers spreadsheet", ".zip": "a ZIP archive",
                         ".gz": "a compressed file", ".tar": "a tar archive", ".7z": "a 7-Zip archive"}


def _refuse_unsupported(path: Path) -> None:
    """Name a spreadsheet or archive for what it is (not "invalid UTF-8")."""
    kind = _UNSUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        with path.open("rb") as fh:
            head = fh.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            kind = "an old Office document (.xls)"
        elif head.startswith(b"\x1f\x8b"):
            kind = "a gzip-compressed file"
    if kind:
        raise DataError(path, None, None, f"this is {kind}, not a data file; save it as .xlsx, CSV (UTF-8), JSON Lines or parquet "
                        f"(e.g. in Excel: File > Save As > CSV UTF-8)")


# -- reading ---------------------------------------------------------------------------------
def decode_utf8(data: bytes, file: Path, *, header_lines: int | None) -> str:
    """Decode, or name the line (and data row, for line-per-row formats) holding the first invalid byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        row = None if header_lines is None else line - 1 - header_lines
        raise DataError(file, row if row is not None and row >= 0 else None, None, f"invalid UTF-8 at line {line} (byte {exc.start}): {exc.reason}; save the file as UTF-8") from None


def _read_parquet(file: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for non-parquet data
        raise DataError(file, None, None, f"not a readable parquet file: {exc}") from None
    try:
        return table.to_pylist()
    except UnicodeDecodeError as exc:
        raise DataError(file, None, None, f"invalid UTF-8 in a text column: {exc.reason}") from None


def _loads_bounded(text: str, file: Path, row: int | None, line_no: int | None) -> Any:
    """``json.loads`` with nesting bounded: a 5,000-deep value is a DataError, never a RecursionError."""
    from leakaudit.data.textsafe import MAX_NESTING
    from leakaudit.data.textsafe import bracket_depth as _bracket_depth
    from leakaudit.data.textsafe import nesting_depth

    where = f" on line {line_no}" if line_no is not None else ""
    # rows are objects holding (at most) lists of lists: one level more than a cell may have
    if _bracket_depth(text) > MAX_NESTING + 1:
        try:  # the bracket count ignores quoting; confirm on the parsed value when it parses
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        if obj is None or nesting_depth(obj, MAX_NESTING + 1) > MAX_NESTING + 1:
            raise DataError(file, row, None, f"JSON{where} is nested more than {MAX_NESTING} levels deep", line=line_no)
        return obj
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError(file, row, None, f"JSON{where} is nested too deeply", line=line_no) from None
    except ValueError as exc:
        raise DataError(file, row, None, f"invalid JSON{where}: {str(exc)[:300]}", line=line_no) from None


def read_json_file(file: Path) -> Any:
    """The value of a JSON file someone may have written (strict UTF-8, nesting bounded); a DataError naming it otherwise."""
    return _loads_bounded(decode_utf8(file.read_bytes(), file, header_lines=None), file, None, None)


def read_yaml_file(path: str | Path, what: str = "YAML file") -> Any:
    """The value in a YAML file (a config, a zoo); one ConfigError line naming the file, line and problem otherwise."""
    import yaml

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: invalid UTF-8 at line {line} (byte {exc.start}): {exc.reason}; save the {what} as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {exc.problem or exc.context or 'syntax error'}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())[:300] or type(exc).__name__}") from None


def read_jsonl_rows(file: Path) -> list[dict[str, Any]]:
    """Objects of a JSON Lines file (strict UTF-8; blank lines skipped); bad lines name file, row and line."""
    text = decode_utf8(file.read_bytes(), file, header_lines=0)
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        obj = _loads_bounded(line, file, len(rows), line_no)
        if not isinstance(obj, dict):
            raise DataError(file, len(rows), None, f"line {line_no} is a JSON {type(obj).__name__}, expected an object", line=line_no)
        rows.append(obj)
    return rows


def _read_json(file: Path) -> list[dict[str, Any]]:
    text = decode_utf8(file.read_bytes(), file, header_lines=None)
    if not text.strip():
        return []
    obj = _loads_bounded(text, file, None, None)
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
        obj = keyed_rows(obj, file)  # keyed by id, as MathVista's and ScienceQA's GitHub files are
    elif isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list)]
        key = "data" if "data" in lists else (lists[0] if len(lists) == 1 else None)
        if key is None:
            raise DataError(file, None, None, "a JSON object must hold the rows as a list under 'data'")
        obj = obj[key]
    if not isinstance(obj, list):
        raise DataError(file, None, None, "expected a JSON list of rows (or {\"data\": [...]})")
    for i, row in enumerate(obj):
        if not isinstance(row, dict):
            raise DataError(file, i, None, f"row is a JSON {type(row).__name__}, expected an object")
    return obj


def keyed_rows(obj: dict[str, dict[str, Any]], file: Path) -> list[dict[str, Any]]:
    """Rows of a JSON object keyed by id, each keeping its key as its id.

    MathVista's rows repeat the key as ``pid``; ScienceQA's ``problems.json`` rows carry
    no id at all, so the key is added as ``id``. A row whose ``id`` differs from its key
    is refused: which one is the sample id would be a guess.
    """
    rows = []
    for key, value in obj.items():
        row = dict(value)
        if any(str(row.get(f)) == str(key) for f in ID_FIELDS if row.get(f) is not None):
            rows.append(row)  # the key is repeated in an id field (MathVista's pid)
            continue
        if KEY_FIELD in row and row[KEY_FIELD] is not None:
            raise DataError(file, key, KEY_FIELD, f"row keyed {key!r} has {KEY_FIELD} {row[KEY_FIELD]!r}; the key and the id must agree")
        rows.append({KEY_FIELD: str(key), **row})
    return rows


#: pandas reads "None", "NA", "null", "N/A", "nan", "#N/A"... as missing unless told not to. In a
#: benchmark they are texts (VLMEvalKit's MMStar result for VILA1.5-13B, row 268: option A is
#: "None"), so no reader here guesses: an empty cell is missing, every other cell is what it says.
EXACT_CELLS: dict[str, Any] = {"keep_default_na": False, "na_values": [""]}


def read_frame(source: "Path | io.StringIO", fmt: str, *, dtype: Any = None) -> "pd.DataFrame":
    """A CSV / TSV / xlsx / parquet table as a DataFrame with no missing-value guessing (``EXACT_CELLS``).

    Every pandas read of a table in leakaudit goes through here (benchmark and prediction
    files via ``read_rows``, the audit folder's own CSVs), so "None" reads the same
    everywhere. xlsx cells are values, never formulas run. Numeric columns are inferred when
    ``dtype`` is None; an empty cell is NaN. A broken file raises pandas'/openpyxl's own
    exception: each caller names the file its way.
    """
    import pandas as pd

    if fmt == "xlsx":
        return pd.read_excel(source, dtype=dtype, **EXACT_CELLS)
    if fmt in ("csv", "tsv"):
        return pd.read_csv(source, sep="\t" if fmt == "tsv" else ",", dtype=dtype, **EXACT_CELLS)
    if fmt == "parquet":  # typed cells: nothing to guess
        return pd.read_parquet(source)
    raise ValueError(f"read_frame reads csv, tsv, xlsx or parquet, not {fmt!r}")


def _frame_rows(frame: "pd.DataFrame") -> list[dict[str, Any]]:
    """Records with every missing cell as None (an empty CSV cell and an empty xlsx cell alike)."""
    frame = frame.astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def _read_excel(file: Path) -> list[dict[str, Any]]:
    """Rows of an .xlsx sheet (VLMEvalKit's result files)."""
    try:
        frame = read_frame(file, "xlsx", dtype=object)
    except Exception as exc:  # zipfile.BadZipFile, openpyxl's InvalidFileException, KeyError for a broken workbook
        raise DataError(file, None, None, f"not a readable Excel .xlsx workbook ({type(exc).__name__}: {exc})") from None
    return _frame_rows(frame)


def _read_delimited(file: Path, sep: str) -> list[dict[str, Any]]:
    text = decode_utf8(file.read_bytes(), file, header_lines=1)
    if not text.strip():
        return []
    _check_ragged(text, sep, file)
    fmt = "tsv" if sep == "\t" else "csv"
    try:
        frame = read_frame(io.StringIO(text), fmt, dtype=str)
    except Exception as exc:  # pandas raises ParserError, EmptyDataError...
        raise DataError(file, None, None, f"cannot parse as {fmt.upper()}: {exc}") from None
    return _frame_rows(frame)


def _check_ragged(text: str, sep: str, file: Path) -> None:
    """A row with more or fewer fields than the header is named by row and line, not blamed on a column."""
    import csv

    csv.field_size_limit(1 << 30)
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    try:
        header = next(reader)
        n = len(header)
        i = 0
        for fields in reader:
            if not fields:  # a blank line
                continue
            if len(fields) != n:
                raise DataError(file, i, None, f"this row has {len(fields)} field(s) but the header has {n} "
                                f"({'a missing or extra separator, or an unclosed quote' if len(fields) < n else 'an unquoted separator inside a value?'})",
                                line=reader.line_num)
            i += 1
    except csv.Error as exc:
        raise DataError(file, None, None, f"cannot parse as {'TSV' if sep == chr(9) else 'CSV'} near line {reader.line_num}: {exc}", line=reader.line_num) from None


def _resolve_tsv_image_refs(rows: list[dict[str, Any]]) -> None:
    """VLMEvalKit writes a repeated image once; later rows hold the index of that row instead."""
    if not rows or "image" not in rows[0] or "index" not in rows[0]:
        return
    by_index = {str(r.get("index")): r.get("image") for r in rows if isinstance(r.get("image"), str) and len(r["image"]) > _IMAGE_REF_MAX_LEN}
    for r in rows:
        img = r.get("image")
        if isinstance(img, str) and 0 < len(img) <= _IMAGE_REF_MAX_LEN and img.strip() in by_index:
            r["image"] = by_index[img.strip()]


#: the reader of each format; every one keeps cell texts as written (see ``EXACT_CELLS``)
_READERS = {
    "parquet": _read_parquet,
    "jsonl": read_jsonl_rows,
    "json": _read_json,
    "csv": lambda f: _read_delimited(f, ","),
    "tsv": lambda f: _read_delimited(f, "\t"),
    "xlsx": _read_excel,
}


def read_rows(file: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """The rows of one data or result file (format from ``fmt``, else the suffix or first bytes).

    A bad file is a DataError naming it (and the row or line to blame, where one is).
    """
    return _READERS[fmt or sniff_format(file)](file)


def read_local_rows(path: str | Path, adapter: "BenchmarkAdapter") -> tuple[list[dict[str, Any]], str, str, Path]:
    """Rows of a local file (or the data file in a folder): ``(rows, format, file, root)``.

    ``root`` is the file's folder, which image paths are relative to. Raises DataError
    for an empty file, bad UTF-8 (naming the line) and a column layout the adapter does
    not know (listing the columns found and expected).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "no such file or folder")
    file = find_data_file(path, adapter) if path.is_dir() else path
    if file.stat().st_size == 0:
        raise DataError(file, None, None, "empty file")
    fmt = sniff_format(file)
    rows = read_rows(file, fmt)
    if not rows:
        raise DataError(file, None, None, "empty file (no data rows)")
    if fmt in TABLE_FORMATS:
        _resolve_tsv_image_refs(rows)
    check_columns(rows, adapter, file, fmt)
    return rows, fmt, str(file), file.parent.resolve()


SPLIT_FIELD = "split"


def filter_split(rows: list[dict[str, Any]], split: str | None, default: str | None, file: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Only the rows of one split when a file holds several (ScienceQA's ``problems.json``).

    ``split`` given: its rows, or an error listing the splits the file has. Not given: the
    adapter's ``default`` split when the file has it (the caller says so), else all rows.
    A file whose rows carry no ``split`` field, or one value only, is returned whole.
    Returns ``(rows, split used or None)``.
    """
    values = {r.get(SPLIT_FIELD) for r in rows if isinstance(r.get(SPLIT_FIELD), str)}
    if not values or (len(values) == 1 and (split is None or split in values)):
        return rows, None
    want = split if split is not None else default
    if want not in values:
        if split is None:
            return rows, None
        raise DataError(file, None, SPLIT_FIELD, f"no rows of split {split!r}; the file has splits {', '.join(sorted(values))}")
    return [r for r in rows if r.get(SPLIT_FIELD) == want], want


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """The columns of a file's rows, in order of first appearance (the first 1,000 rows looked at)."""
    columns: dict[str, None] = {}
    for r in rows[:1000]:
        columns.update(dict.fromkeys(r))
    return list(columns)


def check_columns(rows: list[dict[str, Any]], adapter: "BenchmarkAdapter", file: Path, fmt: str) -> None:
    """Refuse a file whose columns match neither the adapter's own layout nor VLMEvalKit's."""
    columns = columns_of(rows)
    missing = adapter.missing_columns(columns)
    if not missing or adapter.reads_as_vlmevalkit(columns):
        return
    expected = [c if isinstance(c, str) else " or ".join(c) for c in adapter.required_columns]
    hint = " (or VLMEvalKit's layout: index, question, A, B.., answer, image)" if adapter.accepts_vlmevalkit else ""
    raise DataError(
        file, None, None,
        f"unknown column layout for benchmark '{adapter.name}': found columns [{', '.join(columns)}]; "
        f"expected [{', '.join(expected)}]{hint}; missing: {', '.join(missing)}",
    )


#: set by ``leakaudit --revision SHA``: the hub revision every adapter loads instead of its default
HUB_REVISION_ENV = "LEAKAUDIT_HUB_REVISION"


# -- hub -----------------------------------------------------------------------------------------
def _hub_help(adapter: "BenchmarkAdapter", split: str) -> str:
    configs = list(adapter.hub_configs)
    export = (
        f"python -c \"from datasets import load_dataset, concatenate_datasets; "
        f"concatenate_datasets([load_dataset('{adapter.hub_id}', c, split='{split}') for c in {configs!r}]).to_parquet('{adapter.name}.parquet')\""
        if configs
        else f"python -c \"from datasets import load_dataset; load_dataset('{adapter.hub_id}', split='{split}').to_parquet('{adapter.name}.parquet')\""
    )
    return (
        f"Point leakaudit at a local copy instead: `leakaudit ... {adapter.name} --path FILE_OR_FOLDER`. "
        f"A parquet, JSON Lines or VLMEvalKit TSV copy in the hub layout works (images embedded as bytes, "
        f"or paths relative to the file); on a machine with access, export one with: {export}"
    )


def load_hub_rows(adapter: "BenchmarkAdapter", split: str, limit: int | None = None, revision: str | None = None) -> tuple[Iterator[dict[str, Any]], str]:
    """Rows of ``adapter.hub_id`` over all ``hub_configs`` at the pinned (or given) revision.

    Rows come as plain dicts in the hub layout with images left undecoded
    (``{'bytes', 'path'}``), exactly as a parquet copy reads. The first config is
    loaded now so an unreachable hub fails here with ``HubUnavailableError``; the
    others load lazily, so a ``limit`` met early never touches them (``limit`` itself is
    applied by the caller, after adapters drop rows such as SEED-Bench's videos).
    """
    if not adapter.hub_id:
        raise LeakauditError(f"benchmark '{adapter.name}' has no hub copy; pass --path to a local file")
    rev = revision or os.environ.get(HUB_REVISION_ENV) or adapter.hub_revision
    configs: list[str | None] = list(adapter.hub_configs) or [None]

    def load(config: str | None):
        try:
            import datasets
        except ImportError as exc:  # pragma: no cover - datasets is a core dependency
            raise HubUnavailableError(f"the `datasets` package is not installed. {_hub_help(adapter, split)}") from exc
        try:
            return datasets.load_dataset(adapter.hub_id, config, split=split, revision=rev)
        except Exception as exc:  # offline, network, auth or missing revision: all mean "use a local copy"
            where = f"{adapter.hub_id}" + (f" (config {config!r})" if config else "") + f", split {split!r}, revision {rev!r}"
            raise HubUnavailableError(f"could not load {where} from the Hugging Face hub: {type(exc).__name__}: {exc}. {_hub_help(adapter, split)}") from exc

    first = load(configs[0])

    def rows() -> Iterator[dict[str, Any]]:
        # lazy: the caller stops after ``limit`` samples, so later configs are never loaded
        for k, config in enumerate(configs):
            ds = first if k == 0 else load(config)
            for batch in ds.with_format("arrow").iter(batch_size=256):
                yield from batch.to_pylist()

    return rows(), f"hf://{adapter.hub_id}@{rev}/{split}"


# -- writing ------------------------------------------------------------------------------------------
def _image_bytes_ext(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return "." + (img.format or "png").lower().replace("jpeg", "jpg")
    except Exception:
        return ".bin"


def _is_image_struct(value: Any) -> bool:
    return isinstance(value, dict) and set(value) <= {"bytes", "path"} and isinstance(value.get("bytes"), (bytes, bytearray))


def _externalise(value: Any, out_dir: Path, stem: str) -> Any:
    """For JSON formats: embedded image bytes become files under images/, referenced by relative path."""
    if _is_image_struct(value) or isinstance(value, (bytes, bytearray)):
        data = bytes(value["bytes"] if isinstance(value, dict) else value)
        from leakaudit.data.textsafe import safe_filename

        rel = Path("images") / f"{safe_filename(stem)}{_image_bytes_ext(data)}"  # column names are submitted data
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(data)
        return rel.as_posix()
    if isinstance(value, list):
        return [_externalise(v, out_dir, f"{stem}_{k}") for k, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _externalise(v, out_dir, f"{stem}_{k}") for k, v in value.items()}
    return value


def _cell_text(value: Any) -> Any:
    """For CSV/TSV cells: lists/dicts as JSON, bytes as base64 (VLMEvalKit's convention)."""
    if _is_image_struct(value):
        return base64.b64encode(bytes(value["bytes"])).decode()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _copy_image_files(bench: "Benchmark", out_dir: Path) -> None:
    """Copy image files the samples reference so their relative paths stay valid next to the output."""
    if bench.root is None:
        return
    root = Path(bench.root).resolve()
    out_resolved = out_dir.resolve()
    for sample in bench.samples:
        for ref in sample.images:
            if ref.path is None:
                continue
            src = Path(ref.path)
            try:
                rel = src.resolve().relative_to(root)
            except ValueError:
                continue
            dest = out_resolved / rel
            if dest == src.resolve():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


def _source_is_keyed_json(bench: "Benchmark") -> bool:
    """Whether the benchmark was read from a JSON object keyed by id (not a list of rows)."""
    if bench.format != "json":
        return False
    try:
        with open(bench.source, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    if head[:1] != b"{":
        return False
    try:
        obj = json.loads(Path(bench.source).read_text(encoding="utf-8-sig"))
    except ValueError:
        return False
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, dict) for v in obj.values())


def write_benchmark(bench: "Benchmark", path: str | Path) -> Path:
    """Write ``bench`` (e.g. a filtered subset) in its input's own format; return the data file.

    ``path`` is a file (its suffix picks the format) or a folder (the input's file name
    and format are kept; hub data is written as parquet in the hub layout). Embedded
    images stay embedded where the format allows; image files are copied next to the
    output at the same relative paths. Ids the adapter derived from the row position
    are written to an ``id`` column so a subset keeps them.
    """
    if bench.raw_rows is None:
        raise LeakauditError(f"benchmark '{bench.name}' ({bench.format}) keeps no source rows, so it cannot be written in its own format")
    path = Path(path)
    source_fmt = bench.format if bench.format in SUFFIX_BY_FORMAT else "parquet"
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        source = Path(bench.source)
        name = source.name if bench.format in SUFFIX_BY_FORMAT and source.suffix.lower() in FORMAT_BY_SUFFIX else f"{bench.name}{SUFFIX_BY_FORMAT[source_fmt]}"
        fmt = source_fmt
        out_file = path / name
    else:
        out_file = path
    out_dir = out_file.parent
    out_dir.mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    for raw, sample in zip(bench.raw_rows, bench.samples):
        row = dict(raw)
        if sample.meta.get("derived_id") == "row":
            row["id"] = sample.id
        rows.append(row)
    _copy_image_files(bench, out_dir)

    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), out_file)
    elif fmt in ("jsonl", "json"):
        rows = [{k: _externalise(v, out_dir, f"{i}_{k}") for k, v in r.items()} for i, r in enumerate(rows)]
        if fmt == "jsonl":
            out_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        elif _source_is_keyed_json(bench):  # keyed by id in, keyed by id out (MathVista, ScienceQA)
            keyed = {s.id: r for s, r in zip(bench.samples, rows)}
            out_file.write_text(json.dumps(keyed, ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            out_file.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif fmt == "xlsx":
        import pandas as pd

        pd.DataFrame([{k: _cell_text(v) for k, v in r.items()} for r in rows]).to_excel(out_file, index=False)
    else:
        import pandas as pd

        frame = pd.DataFrame([{k: _cell_text(v) for k, v in r.items()} for r in rows])
        frame.to_csv(out_file, sep="\t" if fmt == "tsv" else ",", index=False)
    return out_file
