"""How strong the text-only panel behind an audit is, against MMStar's.

A question counts as text-answerable when enough text-only LLMs answer it; with two 135M
models that says much less than with MMStar's 8 inspectors (7B to 70B, plus GPT4-Turbo and
GeminiPro). The report's first page and ``compare`` state this, so a "pass" from a weak
panel is not read as a clean bill of health. Two zoo entries with the same family and size
(the same weights through another backend) count once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leakaudit.audit.panel import tuned_for, tuned_text

#: MMStar's coarse filter panel: 8 LLM inspectors, the open ones 7B to 72B
MMSTAR_PANEL = "MMStar's 8 LLM inspectors (7B–72B open models plus GPT4-Turbo and GeminiPro)"


@dataclass
class Panel:
    """The text-only LLMs whose answers are the evidence, deduplicated by weights."""

    llms: list[str] = field(default_factory=list)       # as recorded (inspectors)
    distinct: list[str] = field(default_factory=list)   # one name per family x size
    largest_b: float | None = None                      # parameters of the largest, in billions
    unknown_size: list[str] = field(default_factory=list)
    tuned: dict[str, list[str]] = field(default_factory=dict)  # e.g. {"code": [...]}: not general chat models

    @property
    def n_distinct(self) -> int:
        return len(self.distinct)

    def size_text(self) -> str:
        if self.largest_b is None:
            return "size unknown"
        return f"largest {fmt_size(self.largest_b)}"

    def sentence(self) -> str:
        """One line for page 1: how many distinct LLMs, how big, against MMStar's."""
        if not self.llms:
            return "No text-only LLM answered the questions: text-answerability was not measured."
        dup = f" ({len(self.llms)} runs)" if len(self.llms) != self.n_distinct else ""
        names = ", ".join(self.distinct)
        weak = ""
        if self.n_distinct < 8 or (self.largest_b is not None and self.largest_b < 7):
            weak = " A weaker panel finds fewer text-answerable questions: a low share is a lower bound."
        return (f"Panel: {self.n_distinct} distinct text-only LLM{'s' if self.n_distinct != 1 else ''}{dup}, "
                f"{self.size_text()} ({names}){tuned_text(self.tuned)}; {MMSTAR_PANEL}.{weak}")


def fmt_size(billions: float) -> str:
    """0.135 -> 135M, 7 -> 7B."""
    if billions < 1:
        return f"{billions * 1000:.0f}M"
    return f"{billions:.0f}B" if float(billions).is_integer() else f"{billions:.1f}B"


def _zoo() -> Any:
    try:
        from leakaudit.models.zoo import load_zoo

        return load_zoo()
    except Exception:  # noqa: BLE001 - a missing or broken zoo only costs the sizes
        return None


def panel_of(summary: dict[str, Any], zoo: Any = None) -> Panel:
    """The panel recorded in an audit's ``summary.json`` (its inspectors, else every LLM)."""
    settings = summary.get("settings") or {}
    llms = list(settings.get("inspectors") or (summary.get("models") or {}).get("llms") or [])
    zoo = zoo if zoo is not None else _zoo()
    seen: dict[tuple, str] = {}
    sizes: list[float] = []
    unknown: list[str] = []
    for name in llms:
        spec = zoo[name] if zoo is not None and name in zoo else None
        family, size = getattr(spec, "family", None), getattr(spec, "size", None)
        key = (family, size) if family and size is not None else (name,)
        seen.setdefault(key, name)
        if size is None:
            unknown.append(name)
        else:
            sizes.append(float(size))
    return Panel(llms=llms, distinct=list(seen.values()), largest_b=max(sizes) if sizes else None, unknown_size=unknown,
                 tuned=tuned_for(zoo, seen.values()))


__all__ = ["MMSTAR_PANEL", "Panel", "fmt_size", "panel_of"]
