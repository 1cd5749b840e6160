"""An honest panel: one vote per set of weights, no vote for random weights, strength stated.

MMStar judged a question text-answerable with 8 LLMs of 7B-70B. A panel of two copies of one
135M model (transformers and llama.cpp) is one opinion, not two independent votes, and a
randomly initialised test model has no opinion at all; the audit says both, and states the
panel's strength next to MMStar's so a weak panel's pass is read as what it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from leakaudit.answers.settings import MMSTAR_PANEL


def _spec(zoo: Any, name: str) -> Any | None:
    if zoo is None:
        return None
    try:
        return zoo[name] if name in zoo else None
    except Exception:  # noqa: BLE001 - a dict-like test zoo or a name it does not know
        return None


def is_random(zoo: Any, name: str) -> bool:
    spec = _spec(zoo, name)
    if spec is None:
        return False
    if hasattr(spec, "is_random"):
        return bool(spec.is_random)
    return bool(getattr(spec, "random_weights", False))


def weights_id(zoo: Any, name: str) -> str:
    spec = _spec(zoo, name)
    if spec is None:
        return f"name:{name}"
    if hasattr(spec, "weights_id"):
        return spec.weights_id(zoo)
    return getattr(spec, "weights", None) or f"name:{name}"


def size_b(zoo: Any, name: str) -> float | None:
    size = getattr(_spec(zoo, name), "size", None)
    return float(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None


@dataclass
class Panel:
    """The models that vote, and why the others do not."""

    voters: list[str] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)     # dropped -> the model with the same weights that votes
    random_weights: list[str] = field(default_factory=list)  # never vote

    def notes(self, what: str) -> list[str]:
        out = [f"{m} has the same weights as {k}: one {what} vote (kept {k})" for m, k in self.merged.items()]
        if self.random_weights:
            out.append(f"random weights, never vote and stay out of averages and verdicts: {', '.join(self.random_weights)}")
        return out


def build_panel(names: Iterable[str], zoo: Any) -> Panel:
    """Keep the first model of each set of weights (in ``names`` order); drop random-weight models."""
    panel = Panel()
    seen: dict[str, str] = {}
    for name in dict.fromkeys(names):
        if is_random(zoo, name):
            panel.random_weights.append(name)
            continue
        wid = weights_id(zoo, name)
        if wid in seen:
            panel.merged[name] = seen[wid]
            continue
        seen[wid] = name
        panel.voters.append(name)
    return panel


def tuned_for(zoo: Any, names: Iterable[str]) -> dict[str, list[str]]:
    """Models tuned for something other than general chat (zoo ``tuned_for``), by what: ``{"code": [...]}``."""
    out: dict[str, list[str]] = {}
    for name in names:
        what = getattr(_spec(zoo, name), "tuned_for", None)
        if isinstance(what, str) and what:
            out.setdefault(what, []).append(name)
    return out


def tuned_text(tuned: dict[str, list[str]]) -> str:
    """``"; 2 tuned for code (a, b)"`` for the panel line, or ``""``."""
    return "".join(f"; {len(ms)} tuned for {what} ({', '.join(ms)})" for what, ms in tuned.items())


def strength(inspectors: list[str], zoo: Any) -> dict[str, Any]:
    """Distinct LLMs, largest size and specialised (e.g. code-tuned) members of the panel, against MMStar's."""
    sizes = [s for s in (size_b(zoo, m) for m in inspectors) if s is not None]
    largest = max(sizes) if sizes else None
    n = len(inspectors)
    tuned = tuned_for(zoo, inspectors)
    weak = n < MMSTAR_PANEL["n_llms"] or largest is None or largest < MMSTAR_PANEL["min_size_b"]
    size_text = f"largest {largest:g}B" if largest is not None else "sizes unknown"
    panel_text = f"{n} distinct LLM{'s' if n != 1 else ''}, {size_text}{tuned_text(tuned)}"
    text = f"panel: {panel_text} (MMStar: 8 LLMs, 7B-70B)"
    warning = None
    if weak:
        warning = (f"weak panel: {panel_text}, where MMStar used 8 general LLMs of 7B-70B. "
                   "Questions these models cannot answer may still be answerable from the text by a stronger LLM, so "
                   "the text-answerable share is a lower bound and a pass is weak evidence.")
    return {"distinct_llms": n, "largest_b": largest, "tuned_for": tuned, "reference": MMSTAR_PANEL["text"], "weak": weak,
            "text": text, "warning": warning}


__all__ = ["Panel", "build_panel", "is_random", "size_b", "strength", "tuned_for", "tuned_text", "weights_id"]
