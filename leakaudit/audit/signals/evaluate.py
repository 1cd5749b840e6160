"""Run the evidence tests on one benchmark and score them against the evidence demo's labels.

``run_signals`` computes the chosen signals (model-free ones need no model; the others use
one text-only LLM and, for ``wrong-image``, one image-capable model), ``demo_truth`` reads
the per-signal ground truth of ``leakaudit.data.demo.generate_demo(extended=True)``, and
``leakaudit.audit.signals.combined`` turns both into an evidence matrix and an agreement
table (``scripts/signals_demo.py`` prints it).
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from leakaudit.audit.signals import ablation, min_k, open_form, option_order, probe, slot_guess
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError

ALL_SIGNALS = ("probe", "min-k", "option-order", "slot-guess", "open-form", "wrong-image", "ocr-only", "caption-only")
#: signal -> key of the demo's ``truth_signals`` it is scored against
TRUTH_KEY = {
    "probe": "probe",
    "min-k": "member",
    "option-order": "member",
    "slot-guess": "member",
    "open-form": "elimination",
    "wrong-image": "wrong_image",
    "ocr-only": "ocr_only",
    "caption-only": "wrong_image",
}


def run_signals(bench: Benchmark, signals: Sequence[str], *, llm: Any = None, lvlm: Any = None, seed: int = 0,
                scoring: str = "letter") -> dict[str, pd.DataFrame]:
    """Signal name -> per-question frame. ``llm``: a loaded text-only LM; ``lvlm``: an image-capable one."""
    unknown = [s for s in signals if s not in ALL_SIGNALS]
    if unknown:
        raise LeakauditError(f"unknown signal(s) {', '.join(unknown)}; known: {', '.join(ALL_SIGNALS)}")
    out: dict[str, pd.DataFrame] = {}
    for name in signals:
        needs_llm = name not in ("probe", "wrong-image")
        if needs_llm and llm is None:
            raise LeakauditError(f"signal {name!r} needs a text-only LLM")
        if name == "probe":
            out[name] = probe.probe_signal(bench, seed=seed)
        elif name == "min-k":
            out[name] = min_k.mink_signal(bench, llm, seed=seed)[0]
        elif name == "option-order":
            out[name] = option_order.order_signal(bench, llm, seed=seed, scoring="letter")
        elif name == "slot-guess":
            out[name] = slot_guess.slot_signal(bench, llm, seed=seed)
        elif name == "open-form":
            out[name] = open_form.open_form_signal(bench, llm, scoring=scoring)
        elif name == "wrong-image":
            if lvlm is None:
                raise LeakauditError("signal 'wrong-image' needs an image-capable model")
            out[name] = ablation.ablation_signal(bench, lvlm, "wrong-image", scoring=scoring, seed=seed)
        elif name == "ocr-only":
            out[name] = ablation.ablation_signal(bench, llm, "ocr-only", scoring=scoring)
        elif name == "caption-only":
            out[name] = ablation.ablation_signal(bench, llm, "caption-only", scoring=scoring, captioner=ablation.colour_caption)
    return out


def demo_truth(bench: Benchmark, signals: Sequence[str]) -> dict[str, pd.Series]:
    """Per signal (and ``combined``), the demo's labels as a sample_id-indexed Series (None = unlabelled).

    ``combined``: positive when the question is text-answerable or its text is a member,
    negative when it is vision-dependent or a non-member control.
    """
    rows = {s.id: s.meta.get("truth_signals") for s in bench.samples}
    if not any(isinstance(v, dict) for v in rows.values()):
        raise LeakauditError(f"{bench.name} has no truth_signals: use the evidence demo (leakaudit.data.demo.evidence_demo_dir())")
    truth = {name: pd.Series({sid: (t or {}).get(TRUTH_KEY[name]) for sid, t in rows.items()}, dtype=object) for name in signals}
    comb = {}
    for s in bench.samples:
        label, member = s.meta.get("label"), (rows[s.id] or {}).get("member")
        comb[s.id] = True if label == "text-answerable" or member is True else False if label == "vision-dependent" or member is False else None
    truth["combined"] = pd.Series(comb, dtype=object)
    return truth


__all__ = ["ALL_SIGNALS", "TRUTH_KEY", "demo_truth", "run_signals"]
