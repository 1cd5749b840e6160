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
import pyarrow as pa
import pyarrow.compute as pc

from leakaudit.errors import LeakauditError

SCORE_COLUMNS = ("S_v", "S_wv", "S_t", "MG", "ML")
METRIC_COLUMNS = (
    ["model", "kind", "benchmark", "category", "base_llm", "text_shots", "circular", "n", "n_v", "n_wv", "n_t", "chance"]
    + [c for s in SCORE_COLUMNS for c in (s, f"{s}_lo", f"{s}_hi")]
    + ["note"]
)
#: the ``model`` value of the rows that average over LVLMs (MMStar's "average" columns)
AVERAGE = "(average)"


class MissingBaseLLMError(LeakauditError):
    """An LVLM's base LLM is unknown, so its multi-modal leakage cannot be computed.

    ``audit`` no longer raises it (ML is null with a note, see :func:`unknown_base_llms`);
    kept for callers that need ML and want to refuse without it.
    """


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
    widths, rows_of = _score_rows(option_scores)
    out = np.full(len(widths), np.nan)
    letters = chosen if isinstance(chosen, pd.Series) else pd.Series(list(chosen), dtype=object)
    if pd.api.types.is_object_dtype(letters.dtype):  # anything at all: only one-character strings are letters
        letters = letters.where(letters.map(lambda c: isinstance(c, str)), None).astype("str")
    single = (letters.str.len() == 1).to_numpy(dtype=bool, na_value=False)
    if not single.any():
        return out
    index = letters.where(single).str.upper().map(_LETTER_INDEX).to_numpy(dtype=float)
    for width in np.unique(widths[(widths > 0) & (index < widths)]):
        rows = np.flatnonzero((widths == width) & (index < width))
        vals = rows_of(rows, int(width))
        vals[np.isnan(vals)] = -np.inf
        idx = index[rows].astype(np.int64)
        own = vals[np.arange(len(rows)), idx]
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, as in the one-answer definition
            flat = (vals - vals.max(axis=1, keepdims=True)).ravel()
        weights = np.fromiter(map(math.exp, flat), dtype=float, count=flat.size).reshape(vals.shape)
        total = weights[:, 0].copy()
        for j in range(1, width):
            total += weights[:, j]
        out[rows] = np.where(own == -np.inf, np.nan, weights[np.arange(len(rows)), idx] / total)
    return out


def _score_rows(option_scores: Sequence[Any]) -> tuple[np.ndarray, Any]:
    """Number of scores per answer (0: none) and ``rows_of(rows, width)``, the (rows, width)
    float array of those answers' scores (None -> NaN). Reads Python lists, or an Arrow list
    column (``AnswerStore.answers(scores="arrow")``) without making a Python object per answer."""
    dtype = getattr(option_scores, "dtype", None)
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_list(dtype.pyarrow_dtype):
        arr = pa.chunked_array(option_scores.array._pa_array).combine_chunks() if len(option_scores) else pa.array([], dtype.pyarrow_dtype)
        widths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy().astype(np.int64)
        values = pc.cast(arr.flatten(), pa.float64()).to_numpy(zero_copy_only=False)
        starts = np.cumsum(widths) - widths
        return widths, lambda rows, width: values[starts[rows, None] + np.arange(width)]
    scores = list(option_scores)
    widths = np.fromiter((len(v) if isinstance(v, (list, tuple)) else 0 for v in scores), dtype=np.int64, count=len(scores))
    return widths, lambda rows, width: np.array([scores[i] for i in rows], dtype=float).reshape(len(rows), width)


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
    if "confidence" not in answers:
        answers = answers.assign(confidence=option_confidences(answers["option_scores"], answers["chosen"]))
    # only the columns used from here on: a million answers are sorted and deduplicated
    df = latest_answers(answers[["benchmark", "sample_hash", "model", "condition", "shots", "rotation", "scoring", "created_at",
                                 "correct", "confidence"]], prefer_scoring)
    if not circular:
        out = df[df["rotation"] == 0][cols].copy()
        out["correct"] = out["correct"].astype(float)
        return out.reset_index(drop=True)
    group = ["benchmark", "sample_hash", "model", "condition", "shots"]
    agg = df.groupby(group, sort=False).agg(
        n_rot=("rotation", "nunique"), max_rot=("rotation", "max"), all_right=("correct", "all"), first=("correct", "first"),
        confidence=("confidence", "min"),
    ).reset_index()
    options = pd.Series(list(n_options.values()), index=pd.MultiIndex.from_tuples(list(n_options), names=["benchmark", "sample_hash"]),
                        dtype=float) if n_options else pd.Series(dtype=float)
    options = options.reindex(pd.MultiIndex.from_arrays([agg["benchmark"], agg["sample_hash"]])) if len(options) else \
        pd.Series(np.nan, index=agg.index)
    agg["need"] = np.maximum(1, options.fillna(1).replace(0, 1).to_numpy().astype(np.int64))
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
    pairs = answers[["model", "condition"]].drop_duplicates()
    for model, conds in pairs.groupby("model")["condition"].agg(lambda c: set(c)).items():
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


def unknown_base_llms(roles: Mapping[str, ModelRole], blind_models: Iterable[str]) -> dict[str, str]:
    """LVLMs that answered blind but whose base LLM nobody named: model -> why S_t and ML are null.

    ML = max(0, S_wv - S_t) needs the base LLM's text-only score. Without it ML is shown as
    null with this reason (never silently 0); MG = S_v - S_wv needs no base LLM and stays.
    A base LLM that is named but never ran text-only gets its own note from ``compute_metrics``.
    """
    out = {}
    for m in sorted(set(pd.unique(pd.Series(blind_models, dtype=object)))):
        role = roles[m]
        if role.kind == "lvlm" and role.base_llm is None:
            where = "its model-zoo entry has no base_llm" if role.in_zoo else "it is not in the model zoo"
            out[m] = (f"base LLM of {m} unknown ({where}): S_t and ML are null; name it with --base-llm {m}=LLM "
                      f"(Python: base_llms={{'{m}': 'LLM'}}) or the zoo's base_llm field")
    return out


# -- bootstrap ---------------------------------------------------------------------------
#: resampling counts held at once by :func:`bootstrap_scores` (a block of replicates x questions)
BOOT_BLOCK = 2_000_000


def bootstrap_blocks(n: int, n_boot: int, seed: int, key: str, block: int = BOOT_BLOCK):
    """(rows, n) blocks of resampling counts, n_boot rows in all; seeded per group so results
    do not depend on order. The generator draws replicate after replicate, so the blocks
    stacked are exactly :func:`bootstrap_weights` (tested), without holding it whole."""
    if n == 0 or n_boot <= 0:
        return
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    p = np.full(n, 1.0 / n)
    rows = max(1, block // n)
    for start in range(0, n_boot, rows):
        yield rng.multinomial(n, p, size=min(rows, n_boot - start)).astype(float)


def bootstrap_weights(n: int, n_boot: int, seed: int, key: str) -> np.ndarray:
    """(n_boot, n) resampling counts, all at once (small groups, tests)."""
    blocks = list(bootstrap_blocks(n, n_boot, seed, key))
    return np.vstack(blocks) if blocks else np.zeros((0, n))


def bootstrap_scores(mats: list[np.ndarray], n_boot: int, seed: int, key: str) -> list[np.ndarray] | None:
    """(n_boot, n_cols) bootstrap replicates of :func:`_scores` for each matrix, one shared
    resample per replicate (paired); None without replicates. Counts times 0/1 sum exactly,
    so computing block by block gives the same numbers as all at once."""
    blocks = [[_scores(M, w) for M in mats] for w in bootstrap_blocks(mats[0].shape[0], n_boot, seed, key)]
    if not blocks:
        return None
    return [np.vstack([b[i] for b in blocks]) for i in range(len(mats))]


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

    text_shot_sets = text[["model", "shots"]].drop_duplicates().groupby("model")["shots"].agg(lambda s: sorted(set(int(x) for x in s))).to_dict()
    missing_t: dict[str, str] = {}
    blind_lvlms = set(blind["model"].unique())
    present_t = set(text_at["model"].unique())
    for llm in set(llms) | {roles[m].base_llm for m in lvlms if roles[m].base_llm and m in blind_lvlms}:
        if llm in present_t:
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
        bench_models = set(correctness.loc[correctness["benchmark"] == bench, "model"].unique())
        chance = bsamples["chance"].to_numpy(dtype=float) * 100.0
        cats = bsamples["category"].to_numpy(dtype=object)

        groups: list[tuple[str | None, np.ndarray]] = [(None, np.arange(len(hashes)))]
        for cat in sorted({c for c in cats if isinstance(c, str)}):
            groups.append((cat, np.flatnonzero(cats == cat)))
        for cat, idx in groups:
            mats = [M[idx] for M in (V, B, T_base, T_llm)]
            sv, swv, st, stl = (_scores(M) for M in mats)
            mg = sv - swv
            ml = np.maximum(0.0, swv - st)
            ml = np.where(np.isnan(swv) | np.isnan(st), np.nan, ml)
            boot = bootstrap_scores(mats, n_boot, seed, f"{bench}\x00{cat}")
            if boot is not None:
                sv_b, swv_b, st_b, stl_b = boot
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
