"""MMStar's metrics from the answer store: S_v, S_wv, S_t, MG and ML with bootstrap intervals.

Definitions (MMStar, arXiv 2403.20330), per model, benchmark and capability, in percent:

- ``S_v``  an LVLM's score with the images (condition ``vision``);
- ``S_wv`` the same LVLM without the images (condition ``blind``);
- ``S_t``  the LVLM's *base LLM* answering text-only (condition ``text``), at ``text_shots``;
- ``MG = S_v - S_wv``  (multi-modal gain: what the image adds);
- ``ML = max(0, S_wv - S_t)`` (multi-modal leakage: what multimodal training added without
  the image, i.e. benchmark questions seen during training).

The paper's tables use 0-shot ``S_t`` while its filter used 2-shot LLMs (MMStar issue #6),
so the shot setting is a parameter and is written next to every ``S_t``.

Intervals are percentile bootstraps over *samples*: one resample of question weights is
shared by every model and condition of a group, so differences (MG, ML, averages) are
paired. With ``circular=True`` a question counts only if every rotation of its options was
answered right (MMBench's circular evaluation), which removes letter-position bias.
"""
from __future__ import annotations

import math

import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import LeakauditError

SCORE_COLUMNS = ("S_v", "S_wv", "S_t", "MG", "ML")
METRIC_COLUMNS = (
    ["model", "kind", "benchmark", "category", "base_llm", "text_shots", "circular", "n", "n_v", "n_wv", "n_t", "chance"]
    + [c for s in SCORE_COLUMNS for c in (s, f"{s}_lo", f"{s}_hi")]
    + ["note"]
)
#: the ``model`` value of the rows that average over LVLMs (MMStar's "average" columns)
AVERAGE = "(average)"


class MissingBaseLLMError(LeakauditError):
    """An LVLM's base LLM is unknown, so its multi-modal leakage cannot be computed."""


@dataclass
class ModelRole:
    """What the audit needs to know about one model: LLM or LVLM, and an LVLM's base LLM."""

    name: str
    kind: str  # 'llm' | 'lvlm'
    base_llm: str | None = None
    in_zoo: bool = False
    #: randomly initialised (pipeline tests): shown, but out of averages and verdicts
    random_weights: bool = False


# -- selecting answers -------------------------------------------------------------------
def latest_answers(answers: pd.DataFrame, prefer_scoring: str | None = None) -> pd.DataFrame:
    """One answer per (benchmark, sample, model, condition, shots, rotation): the newest.

    A store may hold the same question answered under several prompts, scorings or blind
    modes (e.g. a re-import of a corrected file); the newest answer is the one that counts,
    except that answers of ``prefer_scoring`` win over other scorings.
    """
    if answers.empty:
        return answers
    keys = ["benchmark", "sample_hash", "model", "condition", "shots", "rotation"]
    df = answers.assign(_preferred=(answers["scoring"] == prefer_scoring) if prefer_scoring else False)
    df = df.sort_values(["_preferred", "created_at"], kind="stable").drop_duplicates(keys, keep="last")
    return df.drop(columns="_preferred")


#: option letter -> its index among the options (``str.upper`` first, as ``ord(c.upper()) - ord("A")``)
_LETTER_INDEX = {chr(ord("A") + i): i for i in range(26)}


def chosen_confidence(option_scores: Any, chosen: Any) -> float:
    """Softmax share of the chosen option among the option scores; NaN without scores.

    A scored answer (letter or cloze) says how sure the model was; a free-text or imported
    answer does not. The audit can require a text-only hit to be confident (``min_confidence``)
    so that a guess that happens to be right is not taken for knowledge.
    """
    return float(option_confidences([option_scores], [chosen])[0])


def option_confidences(option_scores: Sequence[Any], chosen: Sequence[Any]) -> np.ndarray:
    """:func:`chosen_confidence` of every answer at once (a store holds a million of them).

    Answers are grouped by their number of options and each group is one array; ``math.exp``
    and a left-to-right sum keep every value bit-identical to the one-answer definition
    (numpy's own ``exp`` differs from it in the last bit).
    """
    scores = list(option_scores)
    out = np.full(len(scores), np.nan)
    letters = pd.Series(list(chosen), dtype=object)
    single = letters.map(lambda c: isinstance(c, str) and len(c) == 1).to_numpy(dtype=bool)
    if not single.any():
        return out
    index = letters.where(single).str.upper().map(_LETTER_INDEX).to_numpy(dtype=float)
    n_opt = np.fromiter((len(v) if isinstance(v, (list, tuple)) else 0 for v in scores), dtype=np.int64, count=len(scores))
    for width in np.unique(n_opt[(n_opt > 0) & (index < n_opt)]):
        rows = np.flatnonzero((n_opt == width) & (index < width))
        vals = np.array([scores[i] for i in rows], dtype=float).reshape(len(rows), width)
        vals[np.isnan(vals)] = -np.inf
        idx = index[rows].astype(np.int64)
        own = vals[np.arange(len(rows)), idx]
        flat = (vals - vals.max(axis=1, keepdims=True)).ravel()
        weights = np.fromiter(map(math.exp, flat), dtype=float, count=flat.size).reshape(vals.shape)
        total = weights[:, 0].copy()
        for j in range(1, width):
            total += weights[:, j]
        out[rows] = np.where(own == -np.inf, np.nan, weights[np.arange(len(rows)), idx] / total)
    return out


def question_correctness(answers: pd.DataFrame, n_options: Mapping[tuple[str, str], int], *, circular: bool,
                         prefer_scoring: str | None = None) -> pd.DataFrame:
    """Per (benchmark, sample_hash, model, condition, shots): 1.0 right, 0.0 wrong.

    Plain evaluation uses rotation 0. Circular evaluation needs every rotation 0..n-1 of a
    multiple-choice question and credits it only if all are right; questions whose rotations
    are incomplete are left out (they were not evaluated circularly). ``confidence`` is the
    chosen option's softmax share (the lowest over rotations; NaN for unscored answers).
    """
    cols = ["benchmark", "sample_hash", "model", "condition", "shots", "correct", "confidence"]
    if answers.empty:
        return pd.DataFrame(columns=cols)
    df = latest_answers(answers, prefer_scoring)
    if "confidence" not in df:
        df = df.assign(confidence=option_confidences(df["option_scores"], df["chosen"]))
    if not circular:
        out = df[df["rotation"] == 0][cols].copy()
        out["correct"] = out["correct"].astype(float)
        return out.reset_index(drop=True)
    group = ["benchmark", "sample_hash", "model", "condition", "shots"]
    agg = df.groupby(group, sort=False).agg(
        n_rot=("rotation", "nunique"), max_rot=("rotation", "max"), all_right=("correct", "all"), first=("correct", "first"),
        confidence=("confidence", "min"),
    ).reset_index()
    need = [max(1, int(n_options.get((b, h), 1) or 1)) for b, h in zip(agg["benchmark"], agg["sample_hash"])]
    agg["need"] = need
    complete = (agg["n_rot"] >= agg["need"]) & (agg["max_rot"] < agg["need"])
    agg = agg[complete]
    agg["correct"] = agg["all_right"].astype(float)
    return agg[cols].reset_index(drop=True)


# -- model roles -------------------------------------------------------------------------
def _zoo_spec(zoo: Any, name: str) -> Any | None:
    if zoo is None:
        return None
    try:
        if hasattr(zoo, "__contains__") and name not in zoo:
            return None
        return zoo[name]
    except (KeyError, LookupError, LeakauditError):
        return None


def model_roles(answers: pd.DataFrame, zoo: Any = None, base_llms: Mapping[str, str] | None = None) -> dict[str, ModelRole]:
    """Kind and base LLM of every model in ``answers``: from the zoo, else from its conditions.

    ``base_llms`` (LVLM -> LLM) overrides or completes the zoo, e.g. for imported models.
    """
    base_llms = dict(base_llms or {})
    roles: dict[str, ModelRole] = {}
    for model, conds in answers.groupby("model")["condition"].agg(lambda c: set(c)).items():
        spec = _zoo_spec(zoo, model)
        if spec is not None:
            kind = str(getattr(spec, "kind", "") or "").lower() or ("lvlm" if conds & {"vision", "blind"} else "llm")
            base = getattr(spec, "base_llm", None)
        else:
            kind = "lvlm" if conds & {"vision", "blind"} else "llm"
            base = None
        if model in base_llms:
            base = base_llms[model]
        random = bool(getattr(spec, "is_random", getattr(spec, "random_weights", False))) if spec is not None else False
        roles[model] = ModelRole(model, kind, base, spec is not None, random)
    return roles


def check_base_llms(roles: Mapping[str, ModelRole], blind_models: Iterable[str], zoo: Any, base_llms: Mapping[str, str] | None) -> None:
    """Refuse to compute ML silently as 0 when an LVLM's base LLM is unknown."""
    base_llms = base_llms or {}
    problems = []
    for m in sorted(set(blind_models)):
        role = roles[m]
        if role.kind != "lvlm":
            continue
        if role.base_llm is None:
            where = "its model-zoo entry has no base_llm" if role.in_zoo else "it is not in the model zoo"
            problems.append(f"LVLM {m!r} answered blind but its base LLM is unknown ({where})")
        elif role.base_llm not in base_llms.values() and _zoo_spec(zoo, role.base_llm) is None and role.base_llm not in roles:
            problems.append(f"LVLM {m!r} names base LLM {role.base_llm!r}, which is not in the model zoo")
    if problems:
        raise MissingBaseLLMError(
            "; ".join(problems)
            + ". ML = max(0, S_wv - S_t) needs the base LLM's text-only score: add the base LLM to the "
            "model zoo (model_zoo.yaml, field base_llm) or pass base_llms={'LVLM': 'LLM'} "
            "(CLI: --base-llm LVLM=LLM)."
        )


# -- bootstrap ---------------------------------------------------------------------------
def bootstrap_weights(n: int, n_boot: int, seed: int, key: str) -> np.ndarray:
    """(n_boot, n) resampling counts; seeded per group so results do not depend on order."""
    if n == 0 or n_boot <= 0:
        return np.zeros((0, n))
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def _scores(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Percent right per column over answered rows; NaN where a column has no answers.

    ``values`` is (n_samples, n_cols) with NaN = not answered. With ``weights`` (n_boot,
    n_samples) it returns (n_boot, n_cols) bootstrap replicates.
    """
    mask = ~np.isnan(values)
    filled = np.where(mask, values, 0.0)
    if weights is None:
        num, den = filled.sum(axis=0), mask.sum(axis=0)
    else:
        num, den = weights @ filled, weights @ mask
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 100.0 * num / np.where(den > 0, den, 1), np.nan)


def _interval(reps: np.ndarray) -> tuple[float, float]:
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return (np.nan, np.nan)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return float(lo), float(hi)


# -- metrics -----------------------------------------------------------------------------
@dataclass
class MetricsResult:
    metrics: pd.DataFrame
    averages: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def compute_metrics(
    correctness: pd.DataFrame,
    samples: pd.DataFrame,
    roles: Mapping[str, ModelRole],
    *,
    text_shots: int = 0,
    circular: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
) -> MetricsResult:
    """Metric rows per model x benchmark x category (``category`` None = whole benchmark).

    ``correctness`` comes from :func:`question_correctness`; ``samples`` has one row per
    (benchmark, sample_hash) with ``category`` and ``chance``. LVLM rows carry S_v, S_wv,
    their base LLM's S_t, MG and ML; LLM rows carry S_t only.
    """
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    avg_rows: list[dict[str, Any]] = []
    lvlms = sorted(m for m, r in roles.items() if r.kind == "lvlm")
    llms = sorted(m for m, r in roles.items() if r.kind != "lvlm")
    vision = correctness[correctness["condition"] == "vision"]
    blind = correctness[correctness["condition"] == "blind"]
    text = correctness[correctness["condition"] == "text"]
    text_at = text[text["shots"] == text_shots]
    # an LVLM run with several shot settings: the vision/blind score uses the lowest one
    vision = vision.sort_values("shots").drop_duplicates(["benchmark", "sample_hash", "model"], keep="first")
    blind = blind.sort_values("shots").drop_duplicates(["benchmark", "sample_hash", "model"], keep="first")

    text_shot_sets = text.groupby("model")["shots"].agg(lambda s: sorted(set(int(x) for x in s))).to_dict()
    missing_t: dict[str, str] = {}
    blind_lvlms = set(blind["model"])
    for llm in set(llms) | {roles[m].base_llm for m in lvlms if roles[m].base_llm and m in blind_lvlms}:
        if llm in text_at["model"].values:
            continue
        have = text_shot_sets.get(llm)
        if have:
            missing_t[llm] = f"{llm} has text-only answers only at shots={have}, not {text_shots}; S_t and ML are null (choose --shots {have[0]})"
        else:
            missing_t[llm] = f"base LLM {llm} was never run text-only; S_t and ML are null"
    for llm in sorted(missing_t):
        notes.append(missing_t[llm])

    for bench, bsamples in samples.groupby("benchmark", sort=True):
        hashes = list(bsamples["sample_hash"])
        row_of = pd.Series(np.arange(len(hashes)), index=hashes)
        row_of = row_of[~row_of.index.duplicated(keep="last")]

        def matrix(df: pd.DataFrame, models: list[str]) -> np.ndarray:
            mat = np.full((len(hashes), len(models)), np.nan)
            sub = df[(df["benchmark"] == bench) & df["model"].isin(models)]
            rows = row_of.reindex(sub["sample_hash"]).to_numpy()
            first: dict[str, int] = {}
            for j, m in enumerate(models):
                first.setdefault(m, j)
            cols = pd.Series(first).reindex(sub["model"]).to_numpy()
            found = ~np.isnan(rows)
            mat[rows[found].astype(np.int64), cols[found].astype(np.int64)] = sub["correct"].to_numpy(dtype=float)[found]
            for j, m in enumerate(models):  # a model named twice (two LVLMs on one base LLM) fills every column it heads
                if first[m] != j:
                    mat[:, j] = mat[:, first[m]]
            return mat

        bases = [roles[m].base_llm for m in lvlms]
        V = matrix(vision, lvlms)
        B = matrix(blind, lvlms)
        T_base = matrix(text_at, [b or "" for b in bases])
        T_llm = matrix(text_at, llms)
        bench_models = set(correctness.loc[correctness["benchmark"] == bench, "model"])
        chance = bsamples["chance"].to_numpy(dtype=float) * 100.0
        cats = bsamples["category"].to_numpy(dtype=object)

        groups: list[tuple[str | None, np.ndarray]] = [(None, np.arange(len(hashes)))]
        for cat in sorted({c for c in cats if isinstance(c, str)}):
            groups.append((cat, np.flatnonzero(cats == cat)))
        for cat, idx in groups:
            W = bootstrap_weights(len(idx), n_boot, seed, f"{bench}\x00{cat}")
            sv, swv, st, stl = (_scores(M[idx]) for M in (V, B, T_base, T_llm))
            mg = sv - swv
            ml = np.maximum(0.0, swv - st)
            ml = np.where(np.isnan(swv) | np.isnan(st), np.nan, ml)
            if W.shape[0]:
                sv_b, swv_b, st_b, stl_b = (_scores(M[idx], W) for M in (V, B, T_base, T_llm))
                mg_b = sv_b - swv_b
                ml_b = np.where(np.isnan(swv_b) | np.isnan(st_b), np.nan, np.maximum(0.0, swv_b - st_b))
            else:
                sv_b = swv_b = st_b = stl_b = mg_b = ml_b = np.full((0, max(len(lvlms), len(llms), 1)), np.nan)
            counts_v = (~np.isnan(V[idx])).sum(axis=0)
            counts_b = (~np.isnan(B[idx])).sum(axis=0)
            counts_t = (~np.isnan(T_base[idx])).sum(axis=0)
            counts_tl = (~np.isnan(T_llm[idx])).sum(axis=0)
            base = {"benchmark": bench, "category": cat, "text_shots": text_shots, "circular": circular, "n": int(len(idx)),
                    "chance": float(np.mean(chance[idx])) if len(idx) else np.nan}
            for j, m in enumerate(lvlms):
                if m not in bench_models:
                    continue
                row = {**base, "model": m, "kind": "lvlm", "base_llm": roles[m].base_llm,
                       "n_v": int(counts_v[j]), "n_wv": int(counts_b[j]), "n_t": int(counts_t[j])}
                for name, point, reps in (("S_v", sv, sv_b), ("S_wv", swv, swv_b), ("S_t", st, st_b), ("MG", mg, mg_b), ("ML", ml, ml_b)):
                    row[name] = float(point[j])
                    row[f"{name}_lo"], row[f"{name}_hi"] = _interval(reps[:, j]) if reps.shape[0] else (np.nan, np.nan)
                row["note"] = missing_t.get(roles[m].base_llm or "", "") if counts_b[j] else ""
                rows.append(row)
            for j, m in enumerate(llms):
                if m not in bench_models:
                    continue
                row = {**base, "model": m, "kind": "llm", "base_llm": None, "n_v": 0, "n_wv": 0, "n_t": int(counts_tl[j])}
                for name in SCORE_COLUMNS:
                    row[name] = row[f"{name}_lo"] = row[f"{name}_hi"] = np.nan
                row["S_t"] = float(stl[j])
                row["S_t_lo"], row["S_t_hi"] = _interval(stl_b[:, j]) if stl_b.shape[0] else (np.nan, np.nan)
                row["note"] = missing_t.get(m, "")
                rows.append(row)
            present = [j for j, m in enumerate(lvlms) if m in bench_models and not roles[m].random_weights]
            if present:
                avg = {**base, "model": AVERAGE, "kind": "lvlm", "base_llm": None, "n_models": len(present)}
                for name, point, reps in (("S_v", sv, sv_b), ("S_wv", swv, swv_b), ("S_t", st, st_b), ("MG", mg, mg_b), ("ML", ml, ml_b)):
                    avg[name] = _nanmean(point[present])
                    if reps.shape[0]:
                        avg[f"{name}_lo"], avg[f"{name}_hi"] = _interval(_nanmean_rows(reps[:, present]))
                    else:
                        avg[f"{name}_lo"] = avg[f"{name}_hi"] = np.nan
                avg_rows.append(avg)

    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    averages = pd.DataFrame(avg_rows, columns=[c for c in METRIC_COLUMNS if c not in ("n_v", "n_wv", "n_t", "note")] + ["n_models"])
    return MetricsResult(metrics, averages, notes)


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    mask = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        return np.where(mask.any(axis=1), np.where(mask, x, 0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1), np.nan)
