"""A judge in the LLaVA-Critic manner, with any zoo model.

Pointwise: the LLaVA-Critic prompt asks for a score out of 100 and the reasons; pairwise:
which of two responses is better (first, second or a tie), with the reasons. Replies are
parsed from JSON or from free text ("Score: 85", "The first answer is better", "Tie"); an
unreadable reply is asked again once with the format spelled out, and stays ``None`` (never
a guessed verdict) when it still cannot be read. ``agreement`` compares verdicts with human
labels the way LLaVA-Critic reports them: accuracy with ties, without ties, Cohen's kappa.

A judge that cannot see images is given the symbolic image description as text instead
(Auto-Bench's setting), and the prompt says so.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

from PIL import Image

from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.regen.cache import GenerationCache
from leakaudit.regen.parsing import first_json
from leakaudit.types import JUDGE_MODES

Verdict = Literal["first", "second", "tie"]
VERDICTS: tuple[str, ...] = ("first", "second", "tie")

POINTWISE_PROMPT = (
    "Given an image and a corresponding question, please serve as an unbiased and fair judge to evaluate the quality "
    "of the answers provided by a Large Multimodal Model (LMM). Score the response out of 100 and explain your reasoning "
    "with specific details. Your task is provided as follows:\nQuestion: [{question}]\nThe LMM response: [{response}]\nASSISTANT:\n"
)
PAIRWISE_PROMPT = (
    "Given an image and a corresponding question, please serve as an unbiased and fair judge to evaluate the quality "
    "of the answers provided by Large Multimodal Models (LMMs). Determine which answer is better and explain your reasoning "
    "with specific details. Your task is provided as follows:\nQuestion: [{question}]\nThe first response: [{response_a}]\n"
    "The second response: [{response_b}]\nASSISTANT:\n"
)
DESCRIPTION_PREFIX = "You cannot see the image; this is a description of it:\n{description}\n\n"
POINTWISE_FORMAT = 'Start your reply with "Score: " and a number from 0 to 100, then give your reasons.'
PAIRWISE_FORMAT = 'Start your reply with "Better: first", "Better: second" or "Better: tie", then give your reasons.'
RETRY_POINTWISE = "I could not find a score in your reply. " + POINTWISE_FORMAT
RETRY_PAIRWISE = "I could not find a verdict in your reply. " + PAIRWISE_FORMAT


# -- parsing --------------------------------------------------------------------------
_NUM = r"(\d{1,3}(?:\.\d+)?)"
_SCORE_PATTERNS = (
    ("brackets", re.compile(r"\[\[\s*" + _NUM + r"\s*(?:/\s*100)?\s*\]\]")),
    ("score-label", re.compile(r"\b(?:overall\s+|final\s+)?score\b\s*(?:\(out of 100\))?\s*(?:is|of|:|=|-|would be|will be)?\s*:?\s*[\[\(*\s]*" + _NUM + r"(?!\s*%)", re.I)),
    ("rating", re.compile(r"\b(?:rating|rate (?:it|this(?: response)?|the response)(?: a| as| at)?)\s*:?\s*[\[\(*\s]*" + _NUM, re.I)),
    ("out-of-100", re.compile(_NUM + r"\s*(?:/\s*100|out of 100|points out of 100)\b", re.I)),
    ("leading-number", re.compile(r"^\s*[\[\(*]*" + _NUM + r"[\]\)*]*\s*(?:$|[.\n,:])")),
)


def _score_value(raw: Any) -> float | None:
    try:
        value = float(str(raw).strip().rstrip("%").split("/")[0])
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= 100 and not math.isnan(value) else None


def parse_score(text: str) -> tuple[float | None, str, str]:
    """(score 0..100 or None, reason, how it was read) from a pointwise judge reply."""
    text = text or ""
    value = first_json(text, want=(dict,))
    if isinstance(value, dict):
        low = {str(k).lower(): v for k, v in value.items()}
        for key in ("score", "rating", "overall_score", "overall score", "final_score"):
            if key in low and _score_value(low[key]) is not None:
                reason = low.get("reason") or low.get("reasoning") or low.get("explanation") or low.get("rationale") or ""
                return _score_value(low[key]), str(reason).strip(), "json"
    for how, pattern in _SCORE_PATTERNS:
        for m in pattern.finditer(text):
            score = _score_value(m.group(1))
            if score is not None:
                return score, text.strip(), how
    return None, text.strip(), "unmatched"


_WORD_VERDICT = {
    "first": "first", "1": "first", "a": "first", "1st": "first", "one": "first",
    "second": "second", "2": "second", "b": "second", "2nd": "second", "two": "second",
    "tie": "tie", "c": "tie", "equal": "tie", "equally": "tie", "both": "tie", "same": "tie", "neither": "tie", "draw": "tie",
}
_REF = r"(?:the\s+)?(?:(first|second|1st|2nd)\s+(?:response|answer|one)|(?:response|answer|assistant)\s*\(?([12ab])\)?)"
_BETTER = r"(?:better|superior|preferable|preferred|stronger|more accurate|the winner|wins)"
_VERDICT_PATTERNS = (
    ("label", re.compile(r"\b(?:better|winner|verdict|preference|choice|preferred)\s*(?:response|answer)?\s*[:=]\s*\**\s*\(?(first|second|tie|[12ab])\b", re.I)),
    ("brackets", re.compile(r"\[\[\s*([abc12])\s*\]\]", re.I)),
    ("is-better", re.compile(_REF + r"\s+(?:is|was|seems|appears to be|would be)\s+(?:clearly\s+|much\s+|slightly\s+)?" + _BETTER, re.I)),
    ("prefer", re.compile(r"\b(?:prefer|choose|select|pick|favou?r)\s+" + _REF, re.I)),
    ("better-is", re.compile(r"\b(?:better|best|superior|winning)\s+(?:response|answer)\s+is\s+" + _REF, re.I)),
    ("tie", re.compile(r"\b(tie|equally (?:good|bad|well|poor|helpful|accurate|correct)|both (?:responses|answers) are (?:equally )?\w+|"
                       r"neither (?:response |answer )?is better|(?:of )?(?:the )?same quality)\b", re.I)),
)


def _norm_verdict(raw: Any) -> str | None:
    word = str(raw).strip().lower().strip(".()[]*\"' ")
    word = re.sub(r"\s*(?:response|answer|one)$", "", word)
    word = re.sub(r"^(?:response|answer)\s*", "", word)
    return _WORD_VERDICT.get(word)


def parse_preference(text: str) -> tuple[str | None, str, str]:
    """('first' | 'second' | 'tie' or None, reason, how) from a pairwise judge reply."""
    text = text or ""
    value = first_json(text, want=(dict,))
    if isinstance(value, dict):
        low = {str(k).lower(): v for k, v in value.items()}
        for key in ("winner", "better", "verdict", "preference", "choice", "better_response", "result"):
            if key in low and _norm_verdict(low[key]):
                reason = low.get("reason") or low.get("reasoning") or low.get("explanation") or ""
                return _norm_verdict(low[key]), str(reason).strip(), "json"
    direct = _norm_verdict(text)
    if direct:
        return direct, text.strip(), "word"
    for how, pattern in _VERDICT_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        if how == "tie":
            return "tie", text.strip(), how
        groups = [g for g in m.groups() if g]
        verdict = _norm_verdict(groups[0]) if groups else None
        if verdict:
            return verdict, text.strip(), how
    return None, text.strip(), "unmatched"


def normalize_label(raw: Any) -> str | None:
    """A human label ('first', 'A', 1, 'tie', ...) as first / second / tie, or None."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)) and raw in (0, 1, 2):
        return {0: "tie", 1: "first", 2: "second"}[int(raw)]
    return _norm_verdict(raw)


# -- verdicts -------------------------------------------------------------------------
@dataclass
class PointwiseVerdict:
    score: float | None
    reason: str
    raw: str
    parsed_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PairwiseVerdict:
    winner: str | None
    reason: str
    raw: str
    parsed_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Judge:
    """LLaVA-Critic style judge around any ``LM``.

    ``ask_format`` appends one line that asks for "Score: N" / "Better: first|second|tie"
    at the start of the reply (general models follow it; a trained critic ignores it
    harmlessly). ``retries`` re-asks an unreadable reply with the format spelled out and the
    reply started with "Score:" / "Better:" (the first ask is the plain LLaVA-Critic prompt).
    """

    def __init__(self, lm: LM, *, max_new_tokens: int = 160, retries: int = 1, ask_format: bool = True,
                 cache: GenerationCache | None = None):
        self.lm = lm
        self.max_new_tokens = max_new_tokens
        self.retries = retries
        self.ask_format = ask_format
        self.cache = cache if cache is not None else GenerationCache()

    @property
    def name(self) -> str:
        return self.lm.name

    def _prompt_text(self, body: str, fmt: str, description: str | None, has_image: bool) -> str:
        text = body
        if description and not (has_image and self.lm.supports_images):
            text = DESCRIPTION_PREFIX.format(description=description.strip()) + text
        if self.ask_format:
            text = text.replace("\nASSISTANT:\n", f"\n{fmt}\nASSISTANT:\n")
        return text

    def _ask(self, texts: list[str], images: list[Image.Image | None], parse, retry_line: str, prefill: str):
        prompts = [
            Prompt(messages=[{"role": "user", "content": t}], images=[im] if (im is not None and self.lm.supports_images) else [])
            for t, im in zip(texts, images)
        ]
        replies = self.cache.generate(self.lm, prompts, self.max_new_tokens)
        parsed = [parse(r) for r in replies]
        for _ in range(self.retries):
            todo = [i for i, p in enumerate(parsed) if p[0] is None]
            if not todo:
                break
            # each retry continues the conversation (so a repeated failure is a new prompt) and
            # starts the reply with the label itself ("Score:"), which even small models complete
            for i in todo:
                prompts[i] = Prompt(messages=prompts[i].messages + [{"role": "assistant", "content": replies[i]}, {"role": "user", "content": retry_line}],
                                    images=prompts[i].images, answer_prefix=prefill)
            for i, reply in zip(todo, self.cache.generate(self.lm, [prompts[i] for i in todo], self.max_new_tokens)):
                replies[i] = reply if reply.lstrip().startswith(prefill) else f"{prefill} {reply.lstrip()}"
                parsed[i] = parse(replies[i])
        return parsed, replies

    def pointwise(self, questions: Sequence[str], responses: Sequence[str], *, images: Sequence[Image.Image | None] | None = None,
                  descriptions: Sequence[str | None] | None = None) -> list[PointwiseVerdict]:
        """Score each response to its question out of 100."""
        n = len(questions)
        images = list(images) if images is not None else [None] * n
        descriptions = list(descriptions) if descriptions is not None else [None] * n
        if not (len(responses) == len(images) == len(descriptions) == n):
            raise ValueError("questions, responses, images and descriptions must have the same length")
        texts = [self._prompt_text(POINTWISE_PROMPT.format(question=q, response=r), POINTWISE_FORMAT, d, im is not None)
                 for q, r, im, d in zip(questions, responses, images, descriptions)]
        parsed, replies = self._ask(texts, images, parse_score, RETRY_POINTWISE, "Score:")
        return [PointwiseVerdict(score, reason, raw, how) for (score, reason, how), raw in zip(parsed, replies)]

    def pairwise(self, questions: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str], *,
                 images: Sequence[Image.Image | None] | None = None, descriptions: Sequence[str | None] | None = None) -> list[PairwiseVerdict]:
        """Which response to each question is better: 'first', 'second' or 'tie' (None: unreadable)."""
        n = len(questions)
        images = list(images) if images is not None else [None] * n
        descriptions = list(descriptions) if descriptions is not None else [None] * n
        if not (len(responses_a) == len(responses_b) == len(images) == len(descriptions) == n):
            raise ValueError("questions, both response lists, images and descriptions must have the same length")
        texts = [self._prompt_text(PAIRWISE_PROMPT.format(question=q, response_a=a, response_b=b), PAIRWISE_FORMAT, d, im is not None)
                 for q, a, b, im, d in zip(questions, responses_a, responses_b, images, descriptions)]
        parsed, replies = self._ask(texts, images, parse_preference, RETRY_PAIRWISE, "Better:")
        return [PairwiseVerdict(w, reason, raw, how) for (w, reason, how), raw in zip(parsed, replies)]


def preference_from_scores(score_a: float | None, score_b: float | None) -> str | None:
    """A pairwise verdict from two pointwise scores (None when either is missing)."""
    if score_a is None or score_b is None:
        return None
    return "first" if score_a > score_b else "second" if score_b > score_a else "tie"


# -- agreement with humans --------------------------------------------------------------
@dataclass
class Agreement:
    n: int
    n_human_ties: int
    n_unreadable: int
    accuracy_with_ties: float | None
    accuracy_without_ties: float | None
    kappa: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kappa(gold: list[str], pred: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not gold:
        return None
    if len(set(gold) | set(pred)) < 2:  # one class everywhere: kappa is undefined
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(cohen_kappa_score(gold, pred))
    return None if math.isnan(value) else value


def agreement(predicted: Sequence[str | None], labels: Sequence[str]) -> Agreement:
    """Judge verdicts vs human labels (first/second/tie), LLaVA-Critic's way.

    Accuracy with ties counts every labelled pair (a tie must be predicted as a tie);
    accuracy without ties drops the pairs humans called a tie. An unreadable verdict
    (None) counts as wrong. Kappa is Cohen's kappa over all labelled pairs, with
    'unreadable' as its own category.
    """
    if len(predicted) != len(labels):
        raise ValueError("predicted and labels must have the same length")
    pairs = [(p, g) for p, g in zip(predicted, labels) if g is not None]
    gold = [g for _, g in pairs]
    pred = [p if p is not None else "unreadable" for p, _ in pairs]
    hits = [p == g for p, g in zip(pred, gold)]
    no_ties = [h for h, g in zip(hits, gold) if g != "tie"]
    return Agreement(
        n=len(pairs),
        n_human_ties=sum(g == "tie" for g in gold),
        n_unreadable=sum(p == "unreadable" for p in pred),
        accuracy_with_ties=100.0 * sum(hits) / len(hits) if hits else None,
        accuracy_without_ties=100.0 * sum(no_ties) / len(no_ties) if no_ties else None,
        kappa=_kappa(gold, pred),
    )


# -- a labelled pair set anyone can build -------------------------------------------------
def make_answer_pairs(samples, *, n: int | None = None, tie_fraction: float = 0.2, seed: int = 0) -> list[dict[str, Any]]:
    """Labelled pairs from multiple-choice samples, for trying a judge without human labels.

    Each pair answers the question once correctly and once with a wrong option (label: the
    correct one), or twice correctly in different words (label: tie). The labels are true
    by construction, so agreement measures whether the judge recognises the right answer.
    """
    rng = random.Random(seed)
    pairs = []
    for s in samples:
        if not s.is_multiple_choice:
            continue
        letter, text = s.answer, s.answer_text
        good = f"The answer is ({letter}) {text}."
        if rng.random() < tie_fraction:
            a, b, label = good, f"{text}. I am choosing option {letter}.", "tie"
        else:
            wrong = rng.choice([k for k in range(len(s.options)) if k != s.answer_index])
            bad = f"The answer is ({s.letters[wrong]}) {s.options[wrong]}."
            a, b, label = (good, bad, "first") if rng.random() < 0.5 else (bad, good, "second")
        question = s.question + "\n" + "\n".join(f"{L}. {o}" for L, o in zip(s.letters, s.options))
        row = {"id": s.id, "question": question, "response_a": a, "response_b": b, "label": label}
        if s.images and s.images[0].path:
            row["image"] = s.images[0].path
        pairs.append(row)
        if n is not None and len(pairs) >= n:
            break
    return pairs


def check_mode(mode: str) -> str:
    if mode not in JUDGE_MODES:
        raise LeakauditError(f"unknown judge mode {mode!r}; use pointwise or pairwise")
    return mode


# -- labelled pair files ------------------------------------------------------------------
def read_pairs(path, mode: str) -> list[dict[str, Any]]:
    """Rows of a JSON Lines judge input, checked: ``question``; ``response`` or
    ``response_a``/``response_b``; optional ``image`` (absolute, or relative to the file's
    folder and not escaping it) and
    ``label`` (first/second/tie for pairs, a 0-100 score for single responses).
    """
    import json
    from pathlib import Path

    from leakaudit.data.images import ImageRef
    from leakaudit.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "no such file")
    rows = []
    from leakaudit.data.io import decode_utf8

    for n, line in enumerate(decode_utf8(path.read_bytes(), path, header_lines=0).splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise DataError(path, len(rows), None, f"invalid JSON: {str(exc)[:200]}", line=n + 1) from None
        if not isinstance(row, dict):
            raise DataError(path, len(rows), None, "a line must be a JSON object", line=n + 1)
        if not isinstance(row.get("question"), str) or not row["question"].strip():
            raise DataError(path, len(rows), "question", "missing or empty question", line=n + 1)
        pair = "response_a" in row or "response_b" in row
        if pair:
            for f in ("response_a", "response_b"):
                if not isinstance(row.get(f), str):
                    raise DataError(path, len(rows), f, "missing response text (a pair needs response_a and response_b)", line=n + 1)
        elif not isinstance(row.get("response"), str):
            raise DataError(path, len(rows), "response", "missing response (or response_a and response_b for a pair)", line=n + 1)
        if mode == "pairwise" and not pair:
            raise DataError(path, len(rows), "response_a", "pairwise judging needs response_a and response_b", line=n + 1)
        if row.get("label") is not None:
            if pair:
                label = normalize_label(row["label"])
                if label is None:
                    raise DataError(path, len(rows), "label", f"label {row['label']!r} is not first, second or tie", line=n + 1)
            else:
                label = _score_value(row["label"])
                if label is None:
                    raise DataError(path, len(rows), "label", f"label {row['label']!r} is not a score from 0 to 100", line=n + 1)
            row["_label"] = label
        if row.get("image"):
            image = Path(str(row["image"]))
            # an absolute path is the user's own file; a relative one must stay inside the file's folder
            root = image.parent if image.is_absolute() else path.parent
            row["_image"] = ImageRef.from_path(root, str(image), file=str(path), row=len(rows), field="image")
        row["_line"] = n + 1
        rows.append(row)
    if not rows:
        raise DataError(path, None, None, "no rows (empty file?)")
    return rows


def judge_rows(judge: "Judge", rows: list[dict[str, Any]], mode: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Judge every row; (result rows, agreement with the labels: pairs -> accuracy/kappa, scores -> correlations)."""
    check_mode(mode)
    images = [r["_image"].load() if r.get("_image") else None for r in rows]
    questions = [r["question"] for r in rows]
    results = []
    if mode == "pairwise":
        verdicts = judge.pairwise(questions, [r["response_a"] for r in rows], [r["response_b"] for r in rows], images=images)
        preds = [v.winner for v in verdicts]
        for r, v in zip(rows, verdicts):
            results.append({**_public(r), "verdict": v.winner, "reason": v.reason, "parsed_by": v.parsed_by, "raw": v.raw})
    else:
        pairs = [r for r in rows if "response_a" in r]
        singles = [r for r in rows if "response_a" not in r]
        preds = []
        if singles:
            vs = judge.pointwise([r["question"] for r in singles], [r["response"] for r in singles],
                                 images=[im for im, r in zip(images, rows) if "response_a" not in r])
            for r, v in zip(singles, vs):
                results.append({**_public(r), "score": v.score, "reason": v.reason, "parsed_by": v.parsed_by, "raw": v.raw})
        if pairs:
            pimgs = [im for im, r in zip(images, rows) if "response_a" in r]
            va = judge.pointwise([r["question"] for r in pairs], [r["response_a"] for r in pairs], images=pimgs)
            vb = judge.pointwise([r["question"] for r in pairs], [r["response_b"] for r in pairs], images=pimgs)
            for r, a, b in zip(pairs, va, vb):
                verdict = preference_from_scores(a.score, b.score)
                preds.append(verdict)
                results.append({**_public(r), "score_a": a.score, "score_b": b.score, "verdict": verdict,
                                "reason_a": a.reason, "reason_b": b.reason})
        rows = singles + pairs
    stats: dict[str, Any] = {"mode": mode, "n_rows": len(rows), "judge": judge.name}
    pair_rows = [(res, r) for res, r in zip(results, rows) if "verdict" in res]
    labelled = [(res["verdict"], r["_label"]) for res, r in pair_rows if r.get("_label") is not None]
    if labelled:
        stats["pairs"] = agreement([p for p, _ in labelled], [g for _, g in labelled]).to_dict()
    scored = [(res["score"], r["_label"]) for res, r in zip(results, rows) if "score" in res and r.get("_label") is not None]
    if scored:
        stats["scores"] = score_agreement([s for s, _ in scored], [g for _, g in scored])
    return results, stats


def score_agreement(scores: Sequence[float | None], labels: Sequence[float]) -> dict[str, Any]:
    """Pointwise scores vs human scores: Pearson r and Kendall tau (unreadable scores left out and counted)."""
    from scipy.stats import kendalltau, pearsonr

    pairs = [(s, g) for s, g in zip(scores, labels) if s is not None]
    out: dict[str, Any] = {"n": len(scores), "n_unreadable": len(scores) - len(pairs), "pearson": None, "kendall_tau": None}
    if len(pairs) >= 3 and len({s for s, _ in pairs}) > 1 and len({g for _, g in pairs}) > 1:
        xs, ys = zip(*pairs)
        out["pearson"] = float(pearsonr(xs, ys)[0])
        out["kendall_tau"] = float(kendalltau(xs, ys)[0])
    return out


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")} | {"line": row["_line"]}
