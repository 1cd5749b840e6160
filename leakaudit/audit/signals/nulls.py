"""What a signal shows beyond its null: the rate a model that never saw the data would give.

A flag rate means nothing on its own: 60 text-only LLM hits out of 100 four-option questions
is what guessing gives when 8 LLMs each get a try, a probe beats chance by learning the
letter prior, an ablation is right 25% of the time by chance (Facet-Probe, TsT and the
membership critiques in NOTES.md). Every signal therefore reports ``observed``, ``null``
and ``excess = observed - null`` with a 95% interval, so a flag is read against its control:

- the null is computed per question (chance from the number of options, a noise floor from
  a same-order rerun, a word-shuffled control, a permutation null) and averaged;
- the interval is the Wilson interval of the observed rate minus the null (the null is a
  computed expectation, not a second sample), or, for paired per-question differences, the
  normal interval of their mean.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

Z95 = 1.959964


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (good at small n and near 0/1, unlike Wald)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _paired_floats(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two per-question columns as floats (anything not a number: NaN) and where both are numbers."""
    x, y = (np.asarray(pd.to_numeric(pd.Series(np.asarray(v, dtype=object)), errors="coerce"), dtype=float) for v in (a, b))
    return x, y, ~np.isnan(x) & ~np.isnan(y)


def rate_vs_null(fired: pd.Series | np.ndarray, null_prob: pd.Series | np.ndarray, what: str) -> dict[str, Any]:
    """Observed firing rate against the mean per-question null probability, with the excess's 95% interval.

    ``fired`` is 0/1 (or a rate in [0, 1]) per question; ``null_prob`` the probability a
    model that never saw the data would fire on it. Rows where either is NaN are left out.
    """
    f, p0, ok = _paired_floats(fired, null_prob)
    n = int(ok.sum())
    if n == 0:
        return {}
    observed, null = float(f[ok].mean()), float(p0[ok].mean())
    lo, hi = wilson_interval(float(f[ok].sum()), n)
    # one-sided normal approximation of the Poisson-binomial count under the null
    var = float((p0[ok] * (1 - p0[ok])).sum())
    z = (float(f[ok].sum()) - float(p0[ok].sum())) / math.sqrt(var) if var > 0 else float("nan")
    return {"observed": observed, "null": null, "excess": observed - null, "excess_ci": [lo - null, hi - null],
            "p_vs_null": 0.5 * math.erfc(z / math.sqrt(2)) if not math.isnan(z) else None, "n_null": n, "null_what": what}


def paired_vs_null(observed: pd.Series | np.ndarray, control: pd.Series | np.ndarray, what: str) -> dict[str, Any]:
    """Mean of ``observed`` against the mean of a per-question ``control`` (same questions): paired interval."""
    o, c, ok = _paired_floats(observed, control)
    n = int(ok.sum())
    if n == 0:
        return {}
    d = o[ok] - c[ok]
    half = Z95 * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    return {"observed": float(o[ok].mean()), "null": float(c[ok].mean()), "excess": float(d.mean()),
            "excess_ci": [float(d.mean()) - half, float(d.mean()) + half], "n_null": n, "null_what": what}


def binomial_above(trials: np.ndarray, allowed: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(Binomial(trials, p) > allowed) per question (0 where nobody was asked)."""
    from scipy.stats import binom

    trials = np.asarray(trials, dtype=float)
    out = binom.sf(np.asarray(allowed, dtype=float), trials, np.asarray(p, dtype=float))
    return np.where(trials > 0, out, np.nan)


def chance_of(evidence: pd.DataFrame) -> np.ndarray:
    """Per question: the chance of guessing right (1 / options; NaN for open questions)."""
    if "chance" in evidence:
        c = pd.to_numeric(evidence["chance"], errors="coerce").to_numpy(dtype=float)
    else:
        n = pd.to_numeric(evidence.get("n_options"), errors="coerce").to_numpy(dtype=float)
        c = 1.0 / n
    return np.where(c > 0, c, np.nan)


def describe(info: dict[str, Any], *, unit: str = "of questions") -> str:
    """``null 25.0%, excess +8.3 points [2.1, 14.5]`` for the terminal and the PDF."""
    if info.get("null") is None or info.get("excess") is None:
        return ""
    lo, hi = info.get("excess_ci") or [float("nan"), float("nan")]
    return (f"observed {info['observed']:.1%} vs null {info['null']:.1%} {unit} "
            f"({info.get('null_what', 'null')}): excess {100 * info['excess']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]")


__all__ = ["Z95", "binomial_above", "chance_of", "describe", "paired_vs_null", "rate_vs_null"]
