"""Model-free blind probe: can a benchmark's own wording predict its answers?

In the manner of the Test-set Stress-Test (arXiv 2511.04655): a k-fold scikit-learn model
is trained on the benchmark's non-visual features only and predicts each question's gold
option *out of fold* (a question's own label is never seen when it is scored). Nothing is
asked of a language model and no image is read, so all 1,500 MMStar questions take seconds
on a CPU.

Model: a per-option scoring model. Every option of every question becomes one row whose
features describe the option *in its question's context* (TF-IDF words of the option,
its length and rank of length among the options, its position and the category's letter
prior, its word overlap and TF-IDF similarity with the question and with the other
options, numeric order among numeric options). A logistic regression scores each row
(gold vs not gold); a softmax over one question's option scores gives ``p_gold``, the
probe's probability of the gold option, and ``probe_choice`` its argmax. Questions whose
text repeats exactly (MMStar has 141 such pairs, only the image differs) share a fold, so
no duplicate can be looked up.

Detects: shortcuts in the wording (the answer is the longest option, repeats the
question's words, follows a letter prior...), the kind of leak no panel of LLMs separates
from knowledge. Label: ``probe_flag`` when the probe's choice is the gold option with
``p_gold >= 0.5`` (``FLAG_THRESHOLD``). Per benchmark: accuracy against chance (the mean of
1/number of options) with a Wilson 95% interval and a one-sided normal-approximation
p-value of the Poisson-binomial count under chance.

Control (issue 23): chance is not the bar. A benchmark whose gold letters lean to B is
"predictable" from the letter alone (MMStar: 29.8% by always answering B), and any
classifier learns that prior. So the probe also reports the **majority-letter baseline**
and a **label-permutation null**: the gold positions are shuffled among questions with the
same number of options (keeping the letter distribution, so the null model learns the
same letter prior) and the whole k-fold fit is repeated with the fold assignment kept.
``permutation_p`` = (1 + #null accuracies >= observed) / (1 + permutations); per question,
``p_gold_null`` is the mean probability the null models give the question's (permuted)
gold option and ``p_gold_excess`` = ``p_gold`` - ``p_gold_null``. The model is liblinear's
logistic regression (11x faster than lbfgs here, 34.1% vs 34.0% on MMStar); liblinear
releases the GIL, so the (1 + permutations) x k fits run on a pool of threads, one per core
(``jobs``), with the same result as one thread.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from leakaudit.audit.signals.base import EvidenceContext, EvidenceSignal, null_text
from leakaudit.audit.signals.nulls import rate_vs_null, wilson_interval
from leakaudit.data.benchmark import Benchmark
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.errors import LeakauditError

NAME = "probe"
DESCRIPTION = "model-free blind probe: k-fold logistic model on question/option wording predicts the gold option out of fold"
COLUMNS = ("p_gold", "probe_choice", "probe_correct", "probe_flag", "p_gold_null", "p_gold_excess", "probe_null_hit")
NEEDS: tuple[str, ...] = ()  # no model run: the benchmark alone
FLAG_THRESHOLD = 0.5
DEFAULT_FOLDS = 5
#: label permutations of the null (the issue's minimum: 200)
DEFAULT_PERMUTATIONS = 200
#: most threads the fits run on by default (each fit in flight copies the training rows)
MAX_JOBS = 8

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "a an the of in on at to is are was were be by for with and or as it its this that these those what which who "
    "whom how why when where image picture shown following option options answer question above below from into "
    "than then there their they he she his her do does did can could would should will not no yes".split()
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "").rstrip("%°"))
    except ValueError:
        return None


@dataclass
class ProbeResult:
    """Per-question probe output (``samples``) and the benchmark-level numbers (``summary``)."""

    samples: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"benchmark", "n", "accuracy", "chance", "ci", ..., "samples": [...]}`` (NaN -> null)."""
        rows = []
        for rec in self.samples.to_dict(orient="records"):
            rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
        return {**self.summary, "samples": rows}


def _folds_for(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index per question; all questions of one text group land in one fold (shuffled, seeded)."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    fold_of_group = {g: int(i % k) for g, i in zip(uniq[order], range(len(uniq)))}
    return np.array([fold_of_group[g] for g in groups])


def _option_rows(samples: list[Sample]) -> tuple[pd.DataFrame, list[str]]:
    """One row per (question, option) with dense context features; also the option texts."""
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for qi, s in enumerate(samples):
        opts = [str(o) for o in s.options]
        n = len(opts)
        qwords = _words(f"{s.hint or ''} {s.question}")
        owords = [_words(o) for o in opts]
        lens = np.array([len(o) for o in opts], dtype=float)
        wlens = np.array([len(o.split()) for o in opts], dtype=float)
        sd = lens.std() or 1.0
        len_rank = lens.argsort().argsort() / max(n - 1, 1)
        nums = [_number(o) for o in opts]
        numeric = all(v is not None for v in nums)
        if numeric:
            vals = np.array(nums, dtype=float)
            num_rank = vals.argsort().argsort() / max(n - 1, 1)
        overlap_q = np.array([len(w & qwords) for w in owords], dtype=float)
        overlap_others = np.array(
            [np.mean([len(owords[j] & owords[m]) / max(len(owords[j] | owords[m]), 1) for m in range(n) if m != j]) if n > 1 else 0.0
             for j in range(n)]
        )
        for j, o in enumerate(opts):
            rows.append({
                "q": qi,
                "pos": j,
                "n_options": n,
                "rel_pos": j / max(n - 1, 1),
                "is_first": float(j == 0),
                "is_last": float(j == n - 1),
                "log_len": math.log1p(lens[j]),
                "len_z": (lens[j] - lens.mean()) / sd,
                "len_rank": len_rank[j],
                "is_longest": float(lens[j] == lens.max() and (lens == lens.max()).sum() == 1),
                "is_shortest": float(lens[j] == lens.min() and (lens == lens.min()).sum() == 1),
                "word_len_z": (wlens[j] - wlens.mean()) / (wlens.std() or 1.0),
                "overlap_q": overlap_q[j],
                "overlap_q_z": overlap_q[j] - overlap_q.mean(),
                "is_max_overlap_q": float(overlap_q[j] > 0 and overlap_q[j] == overlap_q.max() and (overlap_q == overlap_q.max()).sum() == 1),
                "overlap_others": overlap_others[j],
                "overlap_others_z": overlap_others[j] - overlap_others.mean(),
                "is_numeric": float(numeric),
                "num_rank": float(num_rank[j]) if numeric else 0.0,
                "num_middle": float(numeric and 0 < num_rank[j] < 1),
                "duplicate_option": float(opts.count(o) > 1),
                "prior_key": f"{s.category or '-'}|{n}|{j}",
                "pos_key": f"{n}|{j}",
            })
            texts.append(o)
    return pd.DataFrame(rows), texts


_DENSE = [
    "rel_pos", "is_first", "is_last", "log_len", "len_z", "len_rank", "is_longest", "is_shortest", "word_len_z",
    "overlap_q", "overlap_q_z", "is_max_overlap_q", "overlap_others", "overlap_others_z", "is_numeric", "num_rank",
    "num_middle", "duplicate_option",
]


def _design(frame: pd.DataFrame, texts: list[str], questions: list[str]):
    """Sparse design matrix: dense context features, letter priors, option TF-IDF, question-option similarity."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # text features are fitted without labels (transductive, like a tokenizer): no label leaks across folds
    try:
        X_opt = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=20000, sublinear_tf=True).fit_transform(texts)
    except ValueError:  # a small benchmark: no option word occurs twice, so no option-word features
        X_opt = sparse.csr_matrix((len(texts), 0))
    qv = TfidfVectorizer(min_df=1, sublinear_tf=True)
    qv.fit(questions + texts)
    Q = qv.transform([questions[i] for i in frame["q"]])
    O = qv.transform(texts)
    sim = np.asarray(Q.multiply(O).sum(axis=1)).ravel()
    frame = frame.assign(sim_q=sim)
    frame["sim_q_z"] = frame["sim_q"] - frame.groupby("q")["sim_q"].transform("mean")
    frame["is_max_sim_q"] = (frame["sim_q"] == frame.groupby("q")["sim_q"].transform("max")) & (frame["sim_q"] > 0)
    dense_cols = _DENSE + ["sim_q", "sim_q_z", "is_max_sim_q"]
    dense = StandardScaler().fit_transform(frame[dense_cols].astype(float).to_numpy())
    keys = OneHotEncoder(handle_unknown="ignore").fit_transform(frame[["prior_key", "pos_key"]])
    return sparse.hstack([sparse.csr_matrix(dense), keys, X_opt]).tocsr()


def _group_starts(q: np.ndarray) -> np.ndarray:
    """First row of each question; the rows are grouped by question in question order (as ``_option_rows`` makes them)."""
    if len(q) and np.any(np.diff(q) < 0):
        raise ValueError("option rows must be grouped by question, in order")
    return np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if len(q) else np.array([], dtype=int)


def _softmax_by_group(scores: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Softmax of the option scores within each question (vectorised: the null repeats it per permutation)."""
    starts = _group_starts(q)
    sizes = np.diff(np.r_[starts, len(q)])
    z = scores - np.repeat(np.maximum.reduceat(scores, starts), sizes)
    e = np.exp(z)
    return e / np.repeat(np.add.reduceat(e, starts), sizes)


def default_jobs() -> int:
    """Threads for the probe's fits: the cores this process may use (joblib counts CPU affinity
    and container quotas), at most ``MAX_JOBS`` (every fit in flight copies the training rows)."""
    from joblib import cpu_count

    return max(1, min(MAX_JOBS, cpu_count()))


def _fold_scores(X, y: np.ndarray, test: np.ndarray, C: float) -> np.ndarray | None:
    """The held-out rows' scores from a model fitted on the other rows (None: one class only, scores stay 0)."""
    from sklearn.linear_model import LogisticRegression

    train = ~test
    if not train.any() or y[train].min() == y[train].max():
        return None
    model = LogisticRegression(C=C, max_iter=2000, solver="liblinear")
    model.fit(X[train], y[train])
    return model.decision_function(X[test])


def _gold_rows(gold_pos: np.ndarray, q: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """0/1 per option row: is this row its question's gold option."""
    return (pos == gold_pos[q]).astype(int)


def _out_of_fold_probs(X, y: np.ndarray, tests: Sequence[np.ndarray], q: np.ndarray, C: float) -> np.ndarray:
    """Every option row's probability from the model of the one fold that held its question out."""
    scores = np.zeros(len(y))
    for test in tests:
        held_out = _fold_scores(X, y, test, C)
        if held_out is not None:
            scores[test] = held_out
    return _softmax_by_group(scores, q)


def _k_fold_fits(X, golds: Sequence[np.ndarray], q: np.ndarray, pos: np.ndarray, fold_row: np.ndarray, k: int, C: float,
                 jobs: int, progress: bool) -> Iterator[np.ndarray]:
    """Per gold-position vector of ``golds``, in order: its out-of-fold probabilities (``_out_of_fold_probs``).

    The vectors (the observed labels, then each permutation) are fitted on ``jobs`` threads:
    liblinear releases the GIL, so the null's (1 + permutations) x k fits use every core, and
    the results are those of one thread (each fit is deterministic).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    tests = [fold_row == f for f in range(k)]
    fits = (delayed(_out_of_fold_probs)(X, _gold_rows(gold, q, pos), tests, q, C) for gold in golds)
    with tqdm(total=len(golds), desc=f"probe ({k}-fold fits)", unit="fit", disable=not progress, file=sys.stderr) as bar:
        for probs in Parallel(n_jobs=jobs, prefer="threads", return_as="generator")(fits):
            bar.update()
            yield probs


def _permuted_golds(gold_pos: np.ndarray, n_options: np.ndarray, permutations: int, seed: int) -> list[np.ndarray]:
    """The null's gold positions: shuffled among questions with the same number of options, so every
    permutation keeps the benchmark's letter distribution (its majority-letter prior)."""
    rng = np.random.default_rng([seed, 23])
    groups = [np.flatnonzero(n_options == n) for n in np.unique(n_options)]
    perms = []
    for _ in range(permutations):
        perm = gold_pos.copy()
        for idx in groups:
            perm[idx] = gold_pos[rng.permutation(idx)]
        perms.append(perm)
    return perms


def _permutation_null(null_probs: Iterator[np.ndarray], perms: list[np.ndarray], q: np.ndarray, pos: np.ndarray,
                      n_questions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Null accuracies (one per permutation), each question's mean null ``p_gold`` and its null hit rate."""
    acc = np.empty(len(perms))
    p_null = np.zeros(n_questions)
    hit_null = np.zeros(n_questions)
    for b, (perm, probs) in enumerate(zip(perms, null_probs)):
        p_gold = probs[pos == perm[q]]  # one row per question, in question order
        choice = _argmax_by_group(probs, q, pos)
        acc[b] = float((choice == perm).mean())
        p_null += p_gold
        hit_null += choice == perm
    return acc, p_null / max(len(perms), 1), hit_null / max(len(perms), 1)


def _argmax_by_group(probs: np.ndarray, q: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The chosen option position per question (rows grouped by question, in order; a tie goes to the first option)."""
    starts = _group_starts(q)
    order = np.lexsort((np.arange(len(q)), -probs, q))  # by question, then highest probability, then first row
    return pos[order[starts]]


def probe(bench: Benchmark, *, folds: int = DEFAULT_FOLDS, seed: int = 0, C: float = 1.0,
          permutations: int = DEFAULT_PERMUTATIONS, jobs: int | None = None, progress: bool = False) -> ProbeResult:
    """Score every multiple-choice question of ``bench`` out of fold; open questions get NaN.

    ``folds`` is lowered to the number of distinct question texts when the benchmark is
    small; fewer than 4 multiple-choice questions is an error (nothing to learn from).
    ``permutations`` label permutations give the null (0: none, and no ``permutation_p``).
    ``jobs`` threads run the fits (None: ``default_jobs()``); the result does not depend on it.
    ``progress`` shows a bar of the fits on stderr.
    """
    if folds < 2:
        raise LeakauditError(f"--folds must be at least 2 (got {folds})")
    if permutations < 0:
        raise LeakauditError(f"--permutations must be 0 or more (got {permutations})")
    if jobs is not None and jobs < 1:
        raise LeakauditError(f"--jobs must be at least 1 (got {jobs})")
    mc = [s for s in bench.samples if s.is_multiple_choice]
    if len(mc) < 4:
        raise LeakauditError(f"{bench.name}: the probe needs at least 4 multiple-choice questions, found {len(mc)}")
    frame, texts = _option_rows(mc)
    questions = [f"{s.hint or ''} {s.question}".strip() for s in mc]
    X = _design(frame, texts, questions)
    q = frame["q"].to_numpy()
    pos = frame["pos"].to_numpy()
    gold_pos = np.array([LETTERS.index(s.answer) for s in mc])
    y = _gold_rows(gold_pos, q, pos)
    group_key = np.array(["\x1f".join([s.question.strip().lower(), *(o.strip().lower() for o in s.options)]) for s in mc])  # not hash(): salted per process
    k = min(folds, len(np.unique(group_key)))
    if k < 2:  # every question is the same text with the same options: nothing can be held out
        where = getattr(bench, "source", None) or bench.name
        raise LeakauditError(f"{where}: the probe holds questions out to test on, but all {len(mc)} multiple-choice questions "
                             "have the same text and options; it needs at least 2 distinct questions")
    fold_q = _folds_for(group_key, k, seed)
    fold_row = fold_q[q]
    n_options = np.array([len(s.options) for s in mc])
    perms = _permuted_golds(gold_pos, n_options, permutations, seed)
    fitted = _k_fold_fits(X, [gold_pos, *perms], q, pos, fold_row, k, C, jobs or default_jobs(), progress)
    probs = next(fitted)
    frame["p"] = probs
    frame["gold"] = y
    p_gold = frame.loc[frame["gold"] == 1].set_index("q")["p"]
    choice = _argmax_by_group(probs, q, pos)  # per question, in question order
    null_acc, p_gold_null, hit_null = (_permutation_null(fitted, perms, q, pos, len(mc))
                                       if permutations else (np.array([]), np.full(len(mc), np.nan), np.full(len(mc), np.nan)))
    fitted.close()  # every fit is in: the bar and the pool end here, not at garbage collection

    by_id = {id(s): i for i, s in enumerate(mc)}
    recs = []
    for s in bench.samples:
        rec: dict[str, Any] = {"sample_id": s.id, "sample_hash": s.content_hash, "n_options": len(s.options), "chance": s.chance,
                               "answer": s.answer if s.is_multiple_choice else None}
        if s.is_multiple_choice:
            i = by_id[id(s)]
            pg = float(p_gold.get(i, float("nan")))
            letter = LETTERS[int(choice[i])]
            rec.update(p_gold=pg, probe_choice=letter, probe_correct=letter == s.answer,
                       probe_flag=bool(letter == s.answer and pg >= FLAG_THRESHOLD), fold=int(fold_q[i]),
                       p_gold_null=float(p_gold_null[i]), p_gold_excess=pg - float(p_gold_null[i]), probe_null_hit=float(hit_null[i]))
        else:
            rec.update(p_gold=float("nan"), probe_choice=None, probe_correct=None, probe_flag=False, fold=None,
                       p_gold_null=float("nan"), p_gold_excess=float("nan"), probe_null_hit=float("nan"))
        recs.append(rec)
    samples = pd.DataFrame(recs)
    scored = samples[samples["probe_choice"].notna()]
    n = len(scored)
    hits = int(scored["probe_correct"].astype(bool).sum())
    accuracy = hits / n
    chance_each = scored["chance"].to_numpy(dtype=float)
    expected = float(chance_each.sum())
    var = float((chance_each * (1 - chance_each)).sum())
    z = (hits - expected) / math.sqrt(var) if var > 0 else float("nan")
    p_value = 0.5 * math.erfc(z / math.sqrt(2)) if not math.isnan(z) else float("nan")
    lo, hi = wilson_interval(hits, n)
    letters = pd.Series([s.answer for s in mc])
    majority = letters.mode().iloc[0]
    majority_acc = float((letters == majority).mean())
    null = {}
    if permutations:
        null_lo, null_hi = np.quantile(null_acc, [0.025, 0.975])
        null = {
            "permutations": permutations,
            "permutation_p": float((1 + (null_acc >= accuracy).sum()) / (1 + permutations)),
            "null_accuracy": float(null_acc.mean()),
            "null_accuracy_range": [float(null_lo), float(null_hi)],
            "excess_over_null": accuracy - float(null_acc.mean()),
            "excess_over_null_ci": [lo - float(null_acc.mean()), hi - float(null_acc.mean())],
        }
    summary = {
        "benchmark": bench.name,
        "source": bench.source,
        "n": n,
        "n_open_skipped": len(bench.samples) - n,
        "folds": k,
        "seed": seed,
        "accuracy": accuracy,
        "chance": expected / n,
        "ci": [lo, hi],
        "ci_method": "wilson 95%",
        "p_value_vs_chance": p_value,
        "mean_p_gold": float(scored["p_gold"].mean()),
        "majority_letter": majority,
        "majority_letter_accuracy": majority_acc,
        "majority_baseline": {"letter": majority, "accuracy": majority_acc, "excess": accuracy - majority_acc,
                              "what": "always answering the benchmark's most common gold letter"},
        **null,
        "null": ("label permutations: gold positions shuffled among questions with the same number of options "
                 "(letter distribution kept), the k-fold fit repeated with the same folds"),
        "n_flagged": int(samples["probe_flag"].sum()),
        "flag_threshold": FLAG_THRESHOLD,
    }
    return ProbeResult(samples=samples, summary=summary)


def probe_signal(bench: Benchmark, *, folds: int = DEFAULT_FOLDS, seed: int = 0) -> pd.DataFrame:
    """The signal's per-question columns (``sample_id``, ``sample_hash``, ``COLUMNS``)."""
    res = probe(bench, folds=folds, seed=seed)
    return res.samples[["sample_id", "sample_hash", *COLUMNS]]


# -- the registered signal ---------------------------------------------------------------
class Probe(EvidenceSignal):
    """Model-free blind probe (Test-set Stress-Test, arXiv 2511.04655) run on every scan and gate."""

    name = "probe"
    description = ("Model-free blind probe: a k-fold logistic model on question/option wording predicts the gold option "
                   "out of fold (probe_score = p_gold); accuracy vs chance with a Wilson 95% interval")
    prefix = "probe"
    test_name = "probe"
    truth_key = "probe"
    opt_in = False
    order = 50
    removal_reason = "probe-answerable"
    extra_columns = ("probe_choice", "p_gold_null", "probe_null_hit")
    null = ("label permutations: gold letters shuffled among questions with the same number of options (the letter prior kept), "
            "the k-fold probe refitted with the same folds")
    validated = "the demo's truth_signals['probe'] (tests/test_evidence_demo.py)"

    def null_summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        if "probe_null_hit" not in evidence or "probe_choice" not in evidence:
            return {}
        ok = evidence["probe_choice"].notna() & pd.to_numeric(evidence["probe_null_hit"], errors="coerce").notna()
        right = (evidence.loc[ok, "probe_choice"] == evidence.loc[ok, "answer"]).astype(float)
        return rate_vs_null(right, evidence.loc[ok, "probe_null_hit"], "probe refitted on permuted labels")

    def available(self, ctx: EvidenceContext) -> bool:
        return ctx.benchmark is not None and sum(1 for s in ctx.benchmark.samples if s.is_multiple_choice) >= 4

    def run(self, ctx: EvidenceContext) -> pd.DataFrame:
        return probe(ctx.benchmark, seed=ctx.settings.seed, progress=ctx.progress).samples

    def summary(self, evidence: pd.DataFrame, settings: Any) -> dict[str, Any]:
        """Probe accuracy vs chance, recomputed from the evidence columns (so a reloaded audit gives the same)."""
        col = evidence[self.columns[0]].astype(float)
        ok = col.notna() & evidence["answer"].notna() if "answer" in evidence else col.notna()
        if not ok.any() or "probe_choice" not in evidence:
            return {}
        right = (evidence.loc[ok, "probe_choice"] == evidence.loc[ok, "answer"])
        n, hits = int(ok.sum()), int(right.sum())
        chance = float(evidence.loc[ok, "chance"].astype(float).mean())
        lo, hi = wilson_interval(hits, n)
        return {"n": n, "accuracy": hits / n, "chance": chance, "ci": [lo, hi]}

    def report_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
        info = (summary.get("signals") or {}).get(self.name, {})
        if info.get("accuracy") is None:
            return super().report_rows(summary)
        lo, hi = info["ci"]
        # the flagged share is over audited questions: none without text-only or blind answers
        flagged = f"{info['share']:.1%} flagged" if info.get("share") is not None else "flagged share not measured (no question audited)"
        text = f"accuracy {info['accuracy']:.1%} vs chance {info['chance']:.1%} (95% CI {lo:.1%}-{hi:.1%}, n={info['n']}); {flagged}"
        if info.get("precision") is not None:
            text += f" (precision {info['precision']:.2f}, recall {info['recall']:.2f} vs {info.get('truth', 'labels')})"
        return [(self.name, text + null_text(info))]


__all__ = ["Probe", "ProbeResult", "COLUMNS", "DEFAULT_FOLDS", "DEFAULT_PERMUTATIONS", "DESCRIPTION", "FLAG_THRESHOLD", "MAX_JOBS", "NAME",
           "default_jobs", "probe", "probe_signal"]
