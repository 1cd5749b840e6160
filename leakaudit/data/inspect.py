"""``leakaudit inspect``: what a benchmark contains and what looks wrong, before any model runs.

Counts (categories, option counts, answer letters, images per sample, open questions)
tell a user whether the file was read as intended; the problem list points at things
that bias an audit: skipped rows, exact duplicates, placeholder options such as
``nan``, and an answer-letter distribution a letter-biased model would exploit.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from typing import Any

from leakaudit.data.benchmark import Benchmark
from leakaudit.data.schema import LETTERS, Sample

#: option texts that are padding, not options (MMStar pads yes/no questions with "nan")
PLACEHOLDER_OPTIONS = {"", "nan", "none", "null", "n/a"}
#: chi-square p-value below which the answer letters count as imbalanced
IMBALANCE_P = 1e-3
MAX_IDS = 10
#: the runner's own estimate and default budget (``leakaudit.data.prompt_limits``): inspect warns about what a run would cut
from leakaudit.data.prompt_limits import CHARS_PER_TOKEN
from leakaudit.data.prompt_limits import DEFAULT_MAX_PROMPT_TOKENS as DEFAULT_CONTEXT_TOKENS  # noqa: E402


def _counts(values) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _problem(kind: str, message: str, ids: list[str] | None = None, count: int | None = None) -> dict[str, Any]:
    ids = ids or []
    return {"kind": kind, "count": count if count is not None else len(ids), "message": message, "ids": ids[:MAX_IDS]}


def duplicate_key(sample: Sample) -> str:
    """What two copies of one question share: text, options, answer and image bytes, not the id."""
    h = hashlib.sha256(json.dumps([sample.question, sample.hint or "", sample.options, sample.answer], ensure_ascii=False).encode())
    for img in sample.images:
        h.update(hashlib.sha256(img.raw_bytes()).digest())
    return h.hexdigest()


def answer_letter_imbalance(bench: Benchmark) -> dict[str, Any] | None:
    """Chi-square of answer letters against a uniform guess per question (option counts differ)."""
    from scipy.stats import chisquare

    mc = [s for s in bench if s.is_multiple_choice]
    if len(mc) < 20:
        return None
    observed = Counter(s.answer for s in mc)
    expected: dict[str, float] = defaultdict(float)
    for s in mc:
        for letter in s.letters:
            expected[letter] += 1 / len(s.options)
    letters = [L for L in LETTERS if expected.get(L, 0) > 0]
    obs = [observed.get(L, 0) for L in letters]
    exp = [expected[L] for L in letters]
    stat, p = chisquare(obs, exp)
    shares = {L: round(o / len(mc), 4) for L, o in zip(letters, obs)}
    return {"chi2": float(stat), "p_value": float(p), "shares": shares, "expected_shares": {L: round(e / len(mc), 4) for L, e in zip(letters, exp)}}


def estimated_prompt_tokens(sample: Sample) -> int:
    """Characters of hint, question and options over ``CHARS_PER_TOKEN``: a tokenizer-free estimate."""
    chars = len(sample.question) + len(sample.hint or "") + sum(len(o) + 4 for o in sample.options) + 200
    return chars // CHARS_PER_TOKEN


def decode_problems(bench: Benchmark, on_error: str = "raise") -> list[dict[str, Any]]:
    """Decode every image (bounded by ``images.MAX_PIXELS``): a truncated or corrupt file is found now, not mid-run.

    ``on_error="raise"`` raises the first ``DataError`` (file, row, field); ``skip`` lists them.
    """
    from leakaudit.errors import DataError

    bad: list[dict[str, Any]] = []
    for s in bench.samples:
        for ref in s.images:
            try:
                ref.load()
            except DataError as err:
                if on_error == "raise":
                    raise
                bad.append({"id": s.id, "file": err.file, "row": err.row, "field": err.field, "reason": err.message})
    return bad


def inspect_benchmark(bench: Benchmark, *, decode_images: bool = True, on_error: str = "raise",
                      context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> dict[str, Any]:
    """Statistics and problems of ``bench`` as one JSON-ready dict.

    Every image is decoded (``decode_images``); prompts whose estimated length exceeds
    ``context_tokens`` are listed, since a run truncates or skips them (``--long-prompts``).
    """
    samples = bench.samples
    problems: list[dict[str, Any]] = []
    unreadable = decode_problems(bench, on_error) if decode_images else []
    if unreadable:
        first = unreadable[0]
        problems.append(_problem("unreadable_images", f"{len(unreadable)} image(s) do not decode; first: file {first['file']}, row {first['row']}, "
                                 f"field '{first['field']}': {first['reason']}", [u["id"] for u in unreadable]))
    long_ids = [s.id for s in samples if estimated_prompt_tokens(s) > context_tokens]
    if long_ids:
        problems.append(_problem("long_prompts", f"{len(long_ids)} question(s) need about more than {context_tokens:,} tokens "
                                 f"(estimated at {CHARS_PER_TOKEN} characters per token): a run truncates them, or skips them with "
                                 f"--long-prompts skip", long_ids))

    if len(bench.skipped):
        reasons = Counter(f"{s.field}: {s.reason.split(':')[0]}" for s in bench.skipped)
        top = "; ".join(f"{r} ({n})" for r, n in reasons.most_common(3))
        problems.append(_problem("skipped_rows", f"{len(bench.skipped)} row(s) skipped: {top}", [str(s.row) for s in bench.skipped]))

    by_hash: dict[str, list[str]] = defaultdict(list)
    by_text: dict[tuple, list[str]] = defaultdict(list)
    for s in samples:
        by_hash[duplicate_key(s)].append(s.id)
        by_text[(s.question.strip().lower(), tuple(o.strip().lower() for o in s.options))].append(s.id)
    exact = [ids for ids in by_hash.values() if len(ids) > 1]
    if exact and any(s.images for s in samples):
        problems.append(_problem("exact_duplicates", f"{len(exact)} group(s) of identical samples (question, options, answer and images)", [",".join(g) for g in exact], count=len(exact)))
    elif exact:
        # a copy without images (e.g. MMStar's text export) cannot tell these apart
        problems.append(_problem("duplicate_text", f"{len(exact)} group(s) share question, options and answer; this copy has no images, so they may differ only in the image", [",".join(g) for g in exact], count=len(exact)))
    same_text = [ids for ids in by_text.values() if len(ids) > 1]
    n_same_text = sum(len(g) for g in same_text)

    placeholder = [s.id for s in samples if any(o.strip().lower() in PLACEHOLDER_OPTIONS for o in s.options)]
    if placeholder:
        problems.append(_problem("placeholder_options", f"{len(placeholder)} sample(s) have padding options such as 'nan' that no one would pick, so the real chance of a guess is higher than 1/n", placeholder))
    repeated = []
    for s in samples:
        real = [o.strip().lower() for o in s.options if o.strip().lower() not in PLACEHOLDER_OPTIONS]
        if len(set(real)) < len(real):
            repeated.append(s.id)
    if repeated:
        problems.append(_problem("repeated_options", f"{len(repeated)} sample(s) list the same option text twice", repeated))

    imbalance = answer_letter_imbalance(bench)
    if imbalance and imbalance["p_value"] < IMBALANCE_P:
        shares = ", ".join(f"{L} {v:.0%}" for L, v in imbalance["shares"].items())
        problems.append(_problem("answer_letter_imbalance", f"answer letters are imbalanced (chi-square p={imbalance['p_value']:.1e}): {shares}; a letter-biased model gains from this", count=1))

    no_image = [s.id for s in samples if not s.images and not s.meta.get("image_refs")]  # --no-images keeps references
    if no_image and len(no_image) < len(samples):
        problems.append(_problem("samples_without_image", f"{len(no_image)} of {len(samples)} samples have no image: vision cannot help on them", no_image))
    elif no_image:
        problems.append(_problem("no_images", "no sample has an image: only text-only (LLM) conditions can run on this copy", count=len(no_image)))

    return {
        "benchmark": bench.name,
        "source": bench.source,
        "format": bench.format,
        "n_samples": len(samples),
        "n_multiple_choice": sum(s.is_multiple_choice for s in samples),
        "n_open": sum(s.is_open for s in samples),
        "n_without_image": len(no_image),
        "n_skipped": len(bench.skipped),
        "by_category": _counts(s.category or "(none)" for s in samples),
        "by_l2_category": _counts(s.l2_category or "(none)" for s in samples),
        "option_counts": {str(k): v for k, v in sorted(Counter(len(s.options) for s in samples).items())},
        "answer_letters": {L: v for L, v in sorted(Counter(s.answer for s in samples if s.is_multiple_choice).items())},
        "answer_types": _counts(s.answer_type for s in samples),
        "images_per_sample": {str(k): v for k, v in sorted(Counter(len(s.images) or len(s.meta.get("image_refs") or []) for s in samples).items())},
        "n_same_question_text": n_same_text,
        "answer_letter_test": imbalance,
        "skipped": [{"file": s.file, "row": s.row, "field": s.field, "reason": s.reason} for s in bench.skipped],
        "unreadable_images": unreadable,
        "problems": problems,
    }
