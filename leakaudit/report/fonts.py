"""Embedded fonts for the PDF and its figures, CJK included.

Benchmarks such as MMBench-CN and CCBench ask questions in Chinese. reportlab embeds only
TrueType-outline fonts (``.ttf``/``.ttc`` with a ``glyf`` table; OTF/CFF files such as
Noto Sans CJK are refused) and its built-in CID fonts are *not* embedded, so a reader
without them sees boxes. We therefore set Latin text in DejaVu Sans (shipped inside
matplotlib, so always present) and switch, run by run, to a TrueType CJK font for the
characters DejaVu lacks. The CJK font is found, in this order, at ``$LEAKAUDIT_CJK_FONT``,
in ``leakaudit/report/fonts/``, at the paths of Debian's ``fonts-wqy-microhei`` /
``fonts-wqy-zenhei`` / ``fonts-droid-fallback`` / ``fonts-arphic-uming``, and finally
among the system fonts matplotlib knows. Without one, CJK characters are replaced by
``?`` and the report says so (never boxes).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib

#: a Chinese probe phrase (a CCBench-style question) every CJK font candidate must cover
CJK_PROBE = "图中所示建筑名称为？"
#: Debian package that provides the preferred font (printed in warnings)
CJK_FONT_HINT = "apt-get install fonts-wqy-microhei (or set LEAKAUDIT_CJK_FONT to a TrueType .ttf/.ttc covering CJK)"
KNOWN_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
PACKAGE_FONT_DIR = Path(__file__).with_name("fonts")

BODY, BOLD, MONO, CJK = "LeakauditSans", "LeakauditSans-Bold", "LeakauditMono", "LeakauditCJK"


@dataclass(frozen=True)
class FontSet:
    """Names registered with reportlab; ``cjk`` is None when no CJK font was found."""

    body: str
    bold: str
    mono: str
    cjk: str | None
    cjk_path: Path | None


def _mpl_font(name: str) -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def _is_usable_cjk(path: Path) -> bool:
    """True for a TrueType-outline font (first face of a collection) covering ``CJK_PROBE``."""
    from fontTools.ttLib import TTCollection, TTFont

    try:
        if path.suffix.lower() == ".ttc":
            font = TTCollection(str(path), lazy=True).fonts[0]
        else:
            font = TTFont(str(path), lazy=True)
        cmap = font.getBestCmap() or {}
        return "glyf" in font and all(ord(ch) in cmap for ch in CJK_PROBE)
    except Exception:  # unreadable or exotic font files are simply not candidates
        return False


def find_cjk_font() -> Path | None:
    """The first TrueType font covering Chinese text, or None."""
    candidates: list[Path] = []
    if os.environ.get("LEAKAUDIT_CJK_FONT"):
        candidates.append(Path(os.environ["LEAKAUDIT_CJK_FONT"]))
    if PACKAGE_FONT_DIR.is_dir():
        candidates += sorted(p for p in PACKAGE_FONT_DIR.iterdir() if p.suffix.lower() in (".ttf", ".ttc"))
    candidates += [Path(p) for p in KNOWN_CJK_FONTS]
    for path in candidates:
        if path.is_file() and _is_usable_cjk(path):
            return path
    from matplotlib import font_manager

    for name in sorted(font_manager.findSystemFonts(fontext="ttf")):
        path = Path(name)
        if path.suffix.lower() in (".ttf", ".ttc") and "dejavu" not in path.name.lower() and _is_usable_cjk(path):
            return path
    return None


@lru_cache(maxsize=1)
def register_fonts() -> FontSet:
    """Register the report's fonts with reportlab (once per process) and return their names."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(BODY, str(_mpl_font("DejaVuSans.ttf"))))
    pdfmetrics.registerFont(TTFont(BOLD, str(_mpl_font("DejaVuSans-Bold.ttf"))))
    pdfmetrics.registerFont(TTFont(MONO, str(_mpl_font("DejaVuSansMono.ttf"))))
    addMapping(BODY, 0, 0, BODY)
    addMapping(BODY, 1, 0, BOLD)
    addMapping(BODY, 0, 1, BODY)
    addMapping(BODY, 1, 1, BOLD)
    cjk_path = find_cjk_font()
    cjk_name = None
    if cjk_path is not None:
        font = TTFont(CJK, str(cjk_path), subfontIndex=0) if cjk_path.suffix.lower() == ".ttc" else TTFont(CJK, str(cjk_path))
        pdfmetrics.registerFont(font)
        for bold in (0, 1):  # no bold CJK face: <b> around CJK text keeps the regular one
            for italic in (0, 1):
                addMapping(CJK, bold, italic, CJK)
        cjk_name = CJK
    else:
        warnings.warn(f"no TrueType CJK font found; Chinese/Japanese/Korean text is shown as '?'. Fix: {CJK_FONT_HINT}", stacklevel=2)
    return FontSet(BODY, BOLD, MONO, cjk_name, cjk_path)


@lru_cache(maxsize=4)
def _charset(font_name: str) -> frozenset[int]:
    from reportlab.pdfbase import pdfmetrics

    return frozenset(pdfmetrics.getFont(font_name).face.charToGlyph)


def markup(text: object, *, font: str | None = None) -> str:
    """``text`` escaped for a reportlab Paragraph, with runs DejaVu cannot draw set in the CJK font.

    Newlines become ``<br/>``. Characters neither font covers become ``?`` rather than the
    empty boxes a PDF viewer would show.
    """
    fonts = register_fonts()
    base = _charset(font or fonts.body)
    cjk = _charset(fonts.cjk) if fonts.cjk else frozenset()
    out: list[str] = []
    run: list[str] = []
    run_is_cjk = False

    def flush() -> None:
        if not run:
            return
        chunk = escape("".join(run))
        out.append(f'<font name="{fonts.cjk}">{chunk}</font>' if run_is_cjk else chunk)
        run.clear()

    for ch in "" if text is None else str(text):
        if ch == "\n":
            flush()
            out.append("<br/>")
            continue
        code = ord(ch)
        if ch in "\t\r" or code in base:
            is_cjk = False
        elif code in cjk:
            is_cjk = True
        else:
            ch, is_cjk = "?", False
        if is_cjk != run_is_cjk:
            flush()
            run_is_cjk = is_cjk
        run.append(" " if ch in "\t\r" else ch)
    flush()
    return "".join(out)


def has_cjk(text: object) -> bool:
    """True when ``text`` has characters the Latin font lacks (so CJK line breaking is needed)."""
    fonts = register_fonts()
    base = _charset(fonts.body)
    return any(ord(ch) not in base and ch not in "\n\t\r" for ch in str(text or ""))


def matplotlib_rc() -> dict[str, object]:
    """rc settings (for ``matplotlib.rc_context``) drawing DejaVu Sans with a per-glyph CJK fallback.

    Returned rather than set globally so building a report does not restyle a user's
    notebook plots.
    """
    fonts = register_fonts()
    families = ["DejaVu Sans"]
    if fonts.cjk_path is not None:
        families.append(_add_mpl_font(str(fonts.cjk_path)))
    return {"font.family": families, "pdf.fonttype": 42}


@lru_cache(maxsize=None)
def _add_mpl_font(path: str) -> str:
    """Add ``path`` to matplotlib's font list; return the family name matplotlib gives it."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(path)
    return next(f.name for f in font_manager.fontManager.ttflist if Path(f.fname) == Path(path))


__all__ = ["CJK_FONT_HINT", "CJK_PROBE", "FontSet", "find_cjk_font", "has_cjk", "markup", "matplotlib_rc", "register_fonts"]
