"""Row-mapping helpers shared by the adapters, so each adapter is a short column map.

Benchmarks store the same things in many shapes: options as a list, a Python-list
string, ``A``..``J`` columns or inline ``Options: A: ..., B: ...`` text; answers as a
letter, an index or the option text; images as bytes, ``{'bytes', 'path'}`` dicts (HF
``Image`` feature), PIL images, base64 strings (VLMEvalKit) or paths. These helpers turn
each into the schema's form and raise ``DataError`` naming file, row and field.
Nothing here executes submitted data: strings are parsed with ``json`` or
``ast.literal_eval`` (literals only), never ``eval`` or ``pickle``.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterable

from PIL import Image

from leakaudit.errors import DataError
from leakaudit.data.images import ImageRef, image_size
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.data.textsafe import MAX_NESTING, bracket_depth as _bracket_depth, nesting_depth  # noqa: F401 - used by the loaders

_B64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")
#: longest text accepted in one field (a question, an option, a hint); longer is refused at load
MAX_FIELD_CHARS = 200_000
#: longest list of images in one text cell (VLMEvalKit's multi-image rows: a list of base64 strings)
MAX_IMAGE_LIST_CHARS = 100_000_000
#: longest image path accepted (most file systems allow 4096 bytes, 255 per component)
MAX_PATH_CHARS, MAX_NAME_BYTES = 4096, 255
_DATA_URI_RE = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,", re.IGNORECASE)
#: how base64 of PNG, JPEG, GIF, WebP, BMP and TIFF data begins
_B64_IMAGE_PREFIXES = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "Qk", "SUkq", "TU0A")


# -- scalars ---------------------------------------------------------------------------
def is_missing(value: Any) -> bool:
    """None, a float NaN and empty / whitespace strings count as missing (CSV and parquet disagree on which they use).

    Text is never guessed to be missing: "None", "NA", "null", "N/A" and "nan" are real option
    texts in published files (VLMEvalKit's MMStar results, row 268: option A is "None"), and the
    file readers (``leakaudit.data.io``) read every cell with pandas' NA guessing off.
    """
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def text(value: Any, *, file=None, row=None, field="question", required: bool = False) -> str | None:
    """A cell as text; bytes and containers are refused, so a smuggled object never becomes a question.

    Texts over ``MAX_FIELD_CHARS`` and texts holding a NUL byte are refused with the field named.
    """
    if required and isinstance(value, str) and value.strip().lower() == "nan":
        # str(NaN) written into a file: an option may really read "nan", a question or an id never does
        raise DataError(file, row, field, f"{field} is NaN: an empty cell or a missing value in the source, not a {field}")
    if is_missing(value):
        if required:
            if value is None or (isinstance(value, str) and not value.strip()):
                raise DataError(file, row, field, f"missing or empty {field}")
            raise DataError(file, row, field, f"{field} is NaN: an empty cell or a missing value in the source, not a {field}")
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        raise DataError(file, row, field, f"{field} is {value}, not a finite value")
    if isinstance(value, (str, int, float)):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        s = str(value)
        if len(s) > MAX_FIELD_CHARS:
            raise DataError(file, row, field, f"{field} is {len(s):,} characters long; the limit is {MAX_FIELD_CHARS:,}")
        if "\x00" in s:
            raise DataError(file, row, field, f"{field} contains a NUL byte (binary data in a text field?)")
        return s
    raise DataError(file, row, field, f"expected text, got {type(value).__name__}")


def check_nesting(value: Any, *, file=None, row=None, field=None) -> None:
    """Refuse values nested deeper than ``MAX_NESTING`` (a hostile cell would otherwise hit Python's recursion limit)."""
    if nesting_depth(value) > MAX_NESTING:
        raise DataError(file, row, field, f"value nested more than {MAX_NESTING} levels deep")


def first(row: dict[str, Any], *names: str, default: Any = None) -> Any:
    """The first non-missing value among ``names`` (column names vary between copies, e.g. ``l2-category``/``L2-category``)."""
    lowered = {k.lower(): k for k in row}
    for name in names:
        key = name if name in row else lowered.get(name.lower())
        if key is not None and not is_missing_container(row[key]):
            return row[key]
    return default


def is_missing_container(value: Any) -> bool:
    if isinstance(value, (list, tuple, dict)):
        return False
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return False
    except ImportError:  # pragma: no cover
        pass
    return is_missing(value)


def derive_id(prefix: str, *parts: Any) -> str:
    """A stable id from row content, for benchmarks that ship none (same content, same id)."""
    h = hashlib.sha1(json.dumps([str(p) for p in parts], ensure_ascii=False).encode()).hexdigest()[:12]
    return f"{prefix}-{h}"


# -- options and answers ----------------------------------------------------------------
def parse_list(value: Any, *, file=None, row=None, field="options", max_chars: int = MAX_FIELD_CHARS) -> list[Any]:
    """A list from a list, a numpy array, a JSON string or a Python-list literal string (at most ``max_chars`` long)."""
    if is_missing_container(value):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):
        return list(value.tolist())
    if isinstance(value, str):
        s = value.strip()
        if not s.startswith("["):
            raise DataError(file, row, field, f"expected a list (JSON or Python literal), got {s[:60]!r}")
        if len(s) > max_chars:
            raise DataError(file, row, field, f"list text is {len(s):,} characters long; the limit is {max_chars:,}")
        if _bracket_depth(s) > MAX_NESTING:
            raise DataError(file, row, field, f"value nested more than {MAX_NESTING} levels deep")
        try:
            out = json.loads(s)
        except RecursionError:
            raise DataError(file, row, field, f"value nested more than {MAX_NESTING} levels deep") from None
        except ValueError:
            try:
                out = ast.literal_eval(s)  # literals only; never executes code
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
                raise DataError(file, row, field, f"cannot parse list: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not isinstance(out, (list, tuple)):
            raise DataError(file, row, field, "expected a list")
        check_nesting(out, file=file, row=row, field=field)
        return list(out)
    raise DataError(file, row, field, f"expected a list, got {type(value).__name__}")


def options_from_list(value: Any, *, file=None, row=None, field="options") -> list[str]:
    items = parse_list(value, file=file, row=row, field=field)
    out = []
    for i, item in enumerate(items):
        t = text(item, file=file, row=row, field=f"{field}[{i}]")
        out.append(t if t is not None else "")
    return out


def options_from_columns(row: dict[str, Any], letters: str = LETTERS, *, names: Iterable[str] | None = None, file=None, row_index=None,
                         gap_hint: str = "") -> list[str]:
    """Options from ``A``..``J`` (or ``choice_a``..) columns, up to the last present one (MMBench has NaN for absent D).

    Only an empty cell (or None / NaN) is an absent option; "None", "N/A", "nan"... are option
    texts. Missing options may only trail: an empty option followed by a present one (A=x,
    B=y, C empty, D=z; or options {A, C, D}) is an error naming the gap, never a silently
    shorter question. ``gap_hint`` is added to that error (what the caller's layout suggests).
    """
    cols = list(names) if names is not None else list(letters)
    present = [c for c in cols if not is_missing(row.get(c))]
    if not present:
        return []
    last = cols.index(present[-1])
    gaps = [c for c in cols[:last] if is_missing(row.get(c))]
    if gaps:
        have = ", ".join(present)
        raise DataError(file, row_index, gaps[0], f"option {gaps[0]} is missing or empty but later options are present (have {have}); "
                        "options must be consecutive from the first letter" + gap_hint)
    out = []
    for col in cols[: last + 1]:
        value = row.get(col)
        t = text(value, file=file, row=row_index, field=col)
        out.append(t.strip() if t is not None else "")
    return out


_INLINE_RE = re.compile(r"\n?[ \t]*(?:Options?|Choices?)[ \t]*:[ \t]*", re.IGNORECASE)
_FIRST_OPTION_RE = re.compile(r"\n[ \t]*(?:\(A\)|A[ \t]*[:.])[ \t]*")


def _letter_marker(letter: str) -> re.Pattern:
    """``A: `` / ``A. `` / ``(A) ``, at the start, after ", " or at a line start."""
    return re.compile(rf"(?:^|,\s*|\n\s*)(?:\({letter}\)|{letter}\s*[:.])\s*")


def options_from_inline(question: str, *, file=None, row=None, field="question") -> tuple[str, list[str]]:
    """Split a question with inline options into the question and its options (MMStar's layout).

    Understands ``Options: A: x, B: y`` (MMBench-sourced rows), ``Choices:\n(A) x\n(B) y``
    and a bare ``\n(A) x\n(B) y`` (MathVista-sourced rows). Markers must come in letter
    order, each at the start, after ", " or at a line start, so commas inside an option
    do not split it.
    """
    matches = list(_INLINE_RE.finditer(question))
    if matches:
        m = matches[-1]
        stem, rest = question[: m.start()].rstrip(), question[m.end():]
    else:
        m = _FIRST_OPTION_RE.search(question)
        if not m:
            raise DataError(file, row, field, "no inline options ('Options: A: ..., B: ...' or '(A) ...') found in the question text")
        stem, rest = question[: m.start()].rstrip(), question[m.start():].lstrip()
    positions = []
    start = 0
    for letter in LETTERS:
        mm = _letter_marker(letter).search(rest, start)
        if not mm:
            break
        positions.append((mm.start(), mm.end()))
        start = mm.end()
    if len(positions) < 2:
        raise DataError(file, row, field, "could not parse at least two inline options (A: ..., B: ...)")
    opts = []
    for k, (_s, e) in enumerate(positions):
        end = positions[k + 1][0] if k + 1 < len(positions) else len(rest)
        opts.append(rest[e:end].strip())
    return stem, opts


def letter_from_index(value: Any, n_options: int, *, file=None, row=None, field="answer") -> str:
    """ScienceQA / AI2D store the answer as a 0-based index (int or digit string)."""
    try:
        idx = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise DataError(file, row, field, f"answer index {value!r} is not an integer") from None
    if not 0 <= idx < n_options:
        raise DataError(file, row, field, f"answer index {idx} is not among the {n_options} options")
    return LETTERS[idx]


def letter_from_text(answer: Any, options: list[str], *, file=None, row=None, field="answer") -> str:
    """MathVista stores the option text as the answer; map it to its letter."""
    a = str(answer).strip()
    for i, opt in enumerate(options):
        if opt.strip() == a:
            return LETTERS[i]
    if len(a) == 1 and a.upper() in LETTERS[: len(options)]:
        return a.upper()
    raise DataError(file, row, field, f"answer {a!r} is not among the options {options}")


def normalise_letter(value: Any, *, file=None, row=None, field="answer") -> str:
    """``"A"``, ``" a "``, ``"(A)"`` -> ``"A"``; anything else is returned stripped (validation names it)."""
    if is_missing(value):
        raise DataError(file, row, field, "missing answer")
    s = str(value).strip()
    m = re.fullmatch(r"\(?([A-Ja-j])\)?\.?", s)
    return m.group(1).upper() if m else s


def free_form_type(answer: str) -> str:
    """integer / float / text for an open answer (MMMU open questions carry none)."""
    s = answer.strip()
    if re.fullmatch(r"[-+]?\d+", s):
        return "integer"
    try:
        float(s)
        return "float"
    except ValueError:
        return "text"


# -- images -------------------------------------------------------------------------------
def _pil_to_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def looks_like_base64_image(s: str) -> bool:
    """VLMEvalKit puts base64 image data where other copies put a path; tell them apart."""
    if len(s) < 24 or not _B64_RE.match(s[:4096]):
        return False
    return s.startswith(_B64_IMAGE_PREFIXES) or (len(s) > 1024 and "." not in s)


#: set while a benchmark loads with ``no_images``: image fields are read as references only
_NO_IMAGES: ContextVar[bool] = ContextVar("leakaudit_no_images", default=False)


@contextmanager
def images_as_metadata(on: bool = True):
    """Within this block image fields are read as references and never opened (``--no-images``).

    Paths are neither resolved nor checked for existence, base64 is not decoded: a
    question file published without its images (MathVista's ``testmini.json``) loads for
    text-only work. ``BenchmarkAdapter.build`` moves the references to ``meta['image_refs']``.
    """
    token = _NO_IMAGES.set(on)
    try:
        yield
    finally:
        _NO_IMAGES.reset(token)


def images_are_metadata() -> bool:
    return _NO_IMAGES.get()
def check_image_path(s: str, *, file=None, row=None, field="image") -> None:
    """Refuse an image value that cannot be a file path, saying what it looks like instead."""
    if "\x00" in s:
        raise DataError(file, row, field, "image path contains a NUL byte")
    parts = s.replace("\\", "/").split("/")
    longest = max((len(p.encode("utf-8", "surrogatepass")) for p in parts), default=0)
    if len(s) > MAX_PATH_CHARS or longest > MAX_NAME_BYTES:
        if "." not in s and _B64_RE.match(s[:4096]) and len(s) > 256:
            raise DataError(file, row, field, f"image value of {len(s):,} characters is neither a file path nor base64 of a known image "
                            "format (PNG, JPEG, GIF, WebP, BMP, TIFF); invalid base64 image data?")
        raise DataError(file, row, field, f"image file name too long ({len(s):,} characters; a file name may have at most {MAX_NAME_BYTES} bytes)")
    if len(s) > 256 and " " in s.strip() and "." not in s[-8:]:
        raise DataError(file, row, field, f"image value {s[:60]!r}... is text, neither a file path nor base64 image data")


def image_refs(value: Any, *, file=None, row=None, field="image", root: Path | None = None) -> list[ImageRef]:
    """Images from any of the shapes benchmarks use (None -> no image)."""
    if is_missing_container(value):
        return []
    if _NO_IMAGES.get() and isinstance(value, str) and not value.strip().startswith("["):
        s = value.strip()
        return [ImageRef(b64=s, origin=(file, row, field))] if looks_like_base64_image(s) else [ImageRef(path=s, origin=(file, row, field))]
    origin = (file, row, field)
    if isinstance(value, (bytes, bytearray)):
        return [ImageRef(data=bytes(value), origin=origin)]
    if isinstance(value, Image.Image):
        return [ImageRef(data=_pil_to_bytes(value), origin=origin)]
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return [ImageRef(data=bytes(value["bytes"]), origin=origin)]
        if value.get("path"):
            return image_refs(str(value["path"]), file=file, row=row, field=field, root=root)
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        out: list[ImageRef] = []
        for k, item in enumerate(items):
            out.extend(image_refs(item, file=file, row=row, field=f"{field}[{k}]", root=root))
        return out
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            items = parse_list(s, file=file, row=row, field=field, max_chars=MAX_IMAGE_LIST_CHARS)
            return image_refs(items, file=file, row=row, field=field, root=root)
        if _DATA_URI_RE.match(s):
            return [ImageRef(b64=s[s.index(",") + 1:], origin=origin)]
        if looks_like_base64_image(s):
            return [ImageRef(b64=s, origin=origin)]
        check_image_path(s, file=file, row=row, field=field)
        if root is None:
            raise DataError(file, row, field, f"image path {s[:80]!r} but no folder to resolve it against (hub rows must embed images)")
        try:
            return [ImageRef.from_path(root, s, file=file, row=row, field=field)]
        except DataError as err:
            if "not found" in err.message:
                err = DataError(file, row, field, err.message + "; for text-only work without the images pass --no-images")
            raise err from None
    raise DataError(file, row, field, f"unsupported image value of type {type(value).__name__}")


def images_from_columns(row: dict[str, Any], columns: Iterable[str], *, file=None, row_index=None, root=None) -> list[ImageRef]:
    out: list[ImageRef] = []
    for col in columns:
        if col in row:
            out.extend(image_refs(row[col], file=file, row=row_index, field=col, root=root))
    return out


def probe_image(ref: ImageRef) -> tuple[int, int]:
    """Open the image header only (no pixel decoding): catches unreadable files and declared-size bombs cheaply."""
    file, row, fld = ref.origin
    return image_size(ref.raw_bytes(), file=file, row=row, field=fld)


def probe_images(sample: Sample, *, file=None, row=None) -> None:
    """Probe every image of ``sample`` (each ImageRef names its own file, row and field)."""
    for ref in sample.images:
        probe_image(ref)


# -- VLMEvalKit TSV ---------------------------------------------------------------------


def vlmevalkit_row_to_sample(benchmark: str, row: dict[str, Any], i: int, *, file=None, root=None, circular: bool = False) -> Sample:
    """VLMEvalKit's TSV layout: index, question, A..J, answer, image (base64) or image_path, hint, category, l2-category."""
    question = text(row.get("question"), file=file, row=i, field="question", required=True)
    # VLMEvalKit writes an option whose text pandas read as NA ("None", "nan") as an empty cell; the text
    # is gone from this file, so it is not invented here: the benchmark's own file has it
    options = options_from_columns(row, file=file, row_index=i, gap_hint=(
        "; VLMEvalKit writes option texts such as 'None' or 'nan' as empty cells: load the questions from "
        f"{benchmark}'s own file (--path) and import this file as predictions only, or leave such rows out with --on-error skip"))
    answer_raw = row.get("answer")
    if options:
        answer, answer_type = normalise_letter(answer_raw, file=file, row=i), "letter"
    else:
        answer = text(answer_raw, file=file, row=i, field="answer", required=True)
        answer_type = text(row.get("answer_type"), file=file, row=i, field="answer_type") or free_form_type(answer)
    images = image_refs(row.get("image"), file=file, row=i, field="image", root=root)
    if not images and not is_missing_container(row.get("image_path")):
        images = image_refs(row.get("image_path"), file=file, row=i, field="image_path", root=root)
    index = text(row.get("index"), file=file, row=i, field="index")
    sid = index or derive_id(benchmark, question, options, answer)
    meta: dict[str, Any] = {"has_image": bool(images), "layout": "vlmevalkit"}
    source = first(row, "bench", "source")  # MMStar's source benchmark, MMBench's source
    if isinstance(source, str) and source.strip():
        meta["source_benchmark"] = source.strip()
    if circular and index is not None and index.isdigit():
        # MMBench's circular copies of a question share index % 1e6
        meta["circular_group"] = int(index) % 1_000_000
    return Sample(
        id=sid,
        benchmark=benchmark,
        question=question,
        hint=text(row.get("hint"), file=file, row=i, field="hint"),
        options=options,
        answer=answer,
        answer_type=answer_type,  # type: ignore[arg-type]
        images=images,
        category=text(first(row, "category"), file=file, row=i, field="category"),
        l2_category=text(first(row, "l2-category", "l2_category"), file=file, row=i, field="l2-category"),
        meta=meta,
    )
