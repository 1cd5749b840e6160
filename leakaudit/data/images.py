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

from leakaudit.errors import DataError

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


def to_display_mode(img: Image.Image) -> Image.Image:
    """RGB or L pixels a model can use, converting every other mode correctly.

    16-bit and 32-bit greyscale (``I;16*``, ``I``, ``F``) are rescaled to 8 bits (a plain
    ``convert`` clips them to a blank white image); palette and alpha modes are composited
    over white (transparent areas would otherwise turn black); CMYK, YCbCr, LAB, HSV
    and 1-bit go through Pillow's own conversions.
    """
    import numpy as np

    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if mode.startswith("I;16") or (lo >= 0 and 255 < hi <= 65535 and mode == "I"):
            scaled = arr / 257.0  # the full 16-bit range onto 0..255
        elif lo >= 0 and hi <= 255:
            scaled = arr  # 8-bit values stored wide
        else:
            scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA") or mode in ("LA", "La", "RGBA", "RGBa"):
        has_alpha = mode in ("LA", "La", "RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info)
        if not has_alpha:
            return img.convert("RGB")
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba).convert("RGB")
        return out.convert("L") if mode in ("LA", "La") else out
    return img.convert("RGB")


def _decode(data: bytes, *, file=None, row=None, field="image") -> Image.Image:
    img = _open_checked(data, file=file, row=row, field=field)
    try:
        return to_display_mode(img)
    except Exception as exc:  # an exotic mode Pillow cannot convert
        raise DataError(file, row, field, f"cannot convert image of mode {img.mode} to RGB: {type(exc).__name__}: {exc}") from None


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
        if "\x00" in str(rel):
            raise DataError(file, row, field, "image path contains a NUL byte")
        try:
            p = resolve_inside(root, rel, file=file, row=row, field=field)
            exists = p.is_file()
        except (OSError, ValueError) as exc:  # a name too long for the file system, an invalid path
            shown = str(rel) if len(str(rel)) <= 80 else f"{str(rel)[:60]}... ({len(str(rel)):,} characters)"
            raise DataError(file, row, field, f"unusable image path {shown!r}: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}") from None
        if must_exist and not exists:
            shown = str(rel) if len(str(rel)) <= 200 else f"{str(rel)[:100]}... ({len(str(rel)):,} characters)"
            raise DataError(file, row, field, f"image file not found: {shown} (looked in {Path(root).resolve()})")
        return cls(path=str(p), origin=(file, row, field))

    def raw_bytes(self) -> bytes:
        file, row, fld = self.origin
        if self.data is not None:
            return self.data
        if self.b64 is not None:
            try:
                return base64.b64decode("".join(self.b64.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DataError(file, row, fld, f"invalid base64 image data: {exc}") from None
        try:
            return Path(self.path).read_bytes()
        except OSError as exc:
            raise DataError(file, row, fld, f"cannot read image file {self.path}: {exc}") from None

    def load(self) -> Image.Image:
        """Decode to a PIL image (RGB or L); raises DataError naming the origin when unreadable."""
        file, row, fld = self.origin
        return _decode(self.raw_bytes(), file=file, row=row, field=fld)


# -- named colours: a model-free description of an image ---------------------------------
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "red": (220, 30, 30),
    "orange": (245, 135, 20), "yellow": (240, 205, 20), "green": (30, 160, 60), "blue": (30, 70, 220),
    "purple": (140, 50, 170), "pink": (240, 130, 180), "brown": (140, 90, 40), "light grey": (200, 200, 200),
}


def _where(x: float, y: float) -> str:
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else "centre"
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    return "centre" if (col, row) == ("centre", "middle") else f"{row} {col}" if col != "centre" else f"{row} centre"


def colour_summary(img: Image.Image, *, min_share: float = 0.03, size: int = 64) -> list[str]:
    """The named colours covering at least ``min_share`` of the image, largest first, with where they sit.

    Cheap and model-free (nearest named colour per pixel of a 64x64 thumbnail), so even a
    benchmark without captions and without text in its images has something to describe.
    """
    import numpy as np

    small = np.asarray(img.convert("RGB").resize((size, size)), dtype=np.float32)
    names = list(NAMED_COLOURS)
    palette = np.array([NAMED_COLOURS[n] for n in names], dtype=np.float32)
    dist = ((small[:, :, None, :] - palette[None, None, :, :]) ** 2).sum(-1)
    nearest = dist.argmin(-1)
    total = nearest.size
    out = []
    for k in np.argsort(-np.bincount(nearest.ravel(), minlength=len(names))):
        mask = nearest == k
        share = mask.sum() / total
        if share < min_share:
            break
        ys, xs = np.nonzero(mask)
        spread = "all over the image" if xs.std() > size / 4 and ys.std() > size / 4 else f"mostly {_where(xs.mean() / size, ys.mean() / size)}"
        out.append(f"{names[k]}: {round(100 * share)}%, {spread}")
    return out
