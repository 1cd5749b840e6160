"""Lazy, safe image references.

Benchmarks carry images as files next to the data, raw bytes (parquet / HF datasets)
or base64 strings (VLMEvalKit TSV). ``ImageRef`` keeps whichever it was given and
decodes only when a model needs pixels, so loading a 10k-sample benchmark stays cheap.
Submitted data is untrusted: paths may not escape the benchmark folder and images
larger than ``MAX_PIXELS`` are refused (decompression bombs).
"""
from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .errors import DataError

#: Largest image we decode (about 8k x 8k). PIL's own default warns at 89 MP and only
#: raises at twice that; we refuse anything above this outright.
MAX_PIXELS = 64_000_000


def resolve_inside(root: str | Path, rel: str | Path, *, file=None, row=None, field="image") -> Path:
    """Resolve ``rel`` against ``root`` and refuse paths that escape ``root``."""
    root_p = Path(root).resolve()
    rel_p = Path(rel)
    candidate = (rel_p if rel_p.is_absolute() else root_p / rel_p).resolve()
    try:
        candidate.relative_to(root_p)
    except ValueError:
        raise DataError(file, row, field, f"image path {str(rel)!r} escapes the benchmark folder {root_p}") from None
    return candidate


def _open_checked(data: bytes, *, file=None, row=None, field="image", load: bool = True) -> Image.Image:
    """Open image bytes, refusing corrupt data and images over ``MAX_PIXELS``; ``load=False`` reads the header only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DataError(file, row, field, f"image of {w}x{h} pixels exceeds the {MAX_PIXELS:,}-pixel limit (possible decompression bomb)")
            if load:
                img.load()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(file, row, field, f"image refused as a decompression bomb: {exc}") from None
    except Exception as exc:  # PIL raises many types for corrupt data
        raise DataError(file, row, field, f"unreadable image: {type(exc).__name__}: {exc}") from None
    return img


def image_size(data: bytes, *, file=None, row=None, field="image") -> tuple[int, int]:
    """Width and height from the header alone (no pixel decoding), with the same refusals as decoding."""
    with _open_checked(data, file=file, row=row, field=field, load=False) as img:
        return img.size


def _decode(data: bytes, *, file=None, row=None, field="image") -> Image.Image:
    img = _open_checked(data, file=file, row=row, field=field)
    return img.convert("RGB") if img.mode not in ("RGB", "L") else img


@dataclass(frozen=True)
class ImageRef:
    """One image of a sample: exactly one of ``path``, ``data`` or ``b64`` is set.

    ``origin`` (file, row, field) is only used to name the place in error messages.
    """

    path: str | None = None
    data: bytes | None = field(default=None, repr=False)
    b64: str | None = field(default=None, repr=False)
    origin: tuple = field(default=(None, None, "image"), compare=False, repr=False)

    def __post_init__(self):
        if sum(x is not None for x in (self.path, self.data, self.b64)) != 1:
            raise ValueError("ImageRef needs exactly one of path, data or b64")

    @classmethod
    def from_path(cls, root: str | Path, rel: str, *, file=None, row=None, field="image", must_exist=True) -> "ImageRef":
        """An image file relative to ``root``; checked for escapes and existence now, decoded later."""
        p = resolve_inside(root, rel, file=file, row=row, field=field)
        if must_exist and not p.is_file():
            raise DataError(file, row, field, f"image file not found: {rel} (looked for {p})")
        return cls(path=str(p), origin=(file, row, field))

    def raw_bytes(self) -> bytes:
        file, row, fld = self.origin
        if self.data is not None:
            return self.data
        if self.b64 is not None:
            try:
                return base64.b64decode(self.b64, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise DataError(file, row, fld, f"invalid base64 image: {exc}") from None
        try:
            return Path(self.path).read_bytes()
        except OSError as exc:
            raise DataError(file, row, fld, f"cannot read image file {self.path}: {exc}") from None

    def load(self) -> Image.Image:
        """Decode to a PIL image (RGB or L); raises DataError naming the origin when unreadable."""
        file, row, fld = self.origin
        return _decode(self.raw_bytes(), file=file, row=row, field=fld)
