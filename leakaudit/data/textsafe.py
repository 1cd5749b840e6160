"""Text from strangers made safe to print, log and put into XML or a file name.

Error messages quote submitted data; a control character or an ANSI escape in it would
make junit.xml unparseable (XML 1.0 forbids most control characters) or recolour and
rewrite a CI log. ``clean_message`` removes both; ``safe_filename`` turns an id into a
single path component that cannot climb out of its folder.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

#: ANSI / VT100 escape sequences (CSI, OSC, and two-character escapes)
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
#: C0/C1 control characters except tab and newline; also XML-illegal surrogates and U+FFFE/U+FFFF
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: longest message kept (a 1 MB question quoted in an error must not flood the log)
MAX_MESSAGE_CHARS = 4000
#: longest file-name component we write (most file systems allow 255 bytes)
MAX_NAME_CHARS = 120


def clean_message(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` without ANSI escapes and control characters (shown as ``\\xNN``), cut to ``limit``."""
    s = _ANSI_RE.sub("", str(text))
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _CTRL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "?", s)
    if len(s) > limit:
        s = s[:limit] + f" ... [{len(s) - limit} more characters]"
    return s


_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: object, max_chars: int = MAX_NAME_CHARS) -> str:
    """One safe path component for ``name``: no separators, no leading dots, bounded length.

    Distinct ids stay distinct: when cleaning changed the name, a short hash of the
    original is appended.
    """
    raw = str(name)
    s = _UNSAFE_NAME_RE.sub("_", raw).strip("._") or "item"
    if s != raw or len(s) > max_chars:
        digest = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        s = f"{s[: max_chars - 9]}-{digest}"
    return s


__all__ = ["MAX_MESSAGE_CHARS", "MAX_NESTING", "bracket_depth", "clean_message", "nesting_depth", "safe_filename"]


#: deepest nesting of lists / objects accepted in a cell (real benchmarks use 2)
MAX_NESTING = 32


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Depth of nested lists / tuples / dicts, counted without recursion (stops once past ``limit``)."""
    depth, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, tuple, dict)):
            depth = max(depth, d)
            if depth > limit:
                return depth
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return depth


def bracket_depth(s: str) -> int:
    """Greatest depth of ``[``/``{`` brackets in ``s`` (ignores quoting: an upper bound, cheap and recursion-free)."""
    import numpy as np

    arr = np.frombuffer(s.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = np.zeros(arr.shape, dtype=np.int32)
    step[(arr == ord("[")) | (arr == ord("{"))] = 1
    step[(arr == ord("]")) | (arr == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))
