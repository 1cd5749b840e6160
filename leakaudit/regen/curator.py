"""The Auto-Bench curator: an LLM writes new vision-dependent questions from an image description.

Per MMStar capability (the sample's category), the curator model gets the symbolic image
description and writes question / options / answer / reasoning items, asked for as JSON.
Following Auto-Bench, each question has one definite answer and its distractors are
plausible but not true of the image. Replies are parsed robustly (JSON anywhere in the
text, or the Auto-Bench ``<Question:> <Answer:> <Reasoning:>`` tags); a reply that yields
nothing usable is retried a bounded number of times with the reason fed back. Items that
give their answer away (answer text or words only the answer has in the question), have
an answer outside the options, fewer than two or duplicated options, or repeat an earlier
question are rejected, each with its reason, so the loop can report why candidates fell.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from leakaudit.data.schema import LETTERS, MAX_OPTIONS, MIN_OPTIONS, Sample
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.regen.cache import GenerationCache
from leakaudit.regen.describe import SymbolicDescription
from leakaudit.regen.parsing import first_json, norm_text, normalize_options, parse_tagged, resolve_answer, split_inline_options


@dataclass(frozen=True)
class Capability:
    name: str
    description: str
    skills: tuple[str, ...]


#: MMStar's six core capabilities and their eighteen axes (the data's category / l2_category)
CAPABILITIES: dict[str, Capability] = {
    c.name: c
    for c in (
        Capability("coarse perception", "the overall look of the image: its scene, topic, style, quality and mood",
                   ("image scene and topic", "image style & quality", "image emotion")),
        Capability("fine-grained perception", "details of the image: counting objects, recognising them and their text, locating them",
                   ("object counting", "recognition", "localization")),
        Capability("instance reasoning", "attributes of single objects and relations between objects in the image",
                   ("single-instance reasoning", "cross-instance attribute reasoning", "cross-instance relation reasoning")),
        Capability("logical reasoning", "reasoning over what the image shows: diagrams, sequences, code, everyday situations",
                   ("code & sequence reasoning", "diagram reasoning", "common reasoning")),
        Capability("science & technology", "science and engineering knowledge applied to what the image shows",
                   ("biology & chemistry & physics", "electronics & energy & mechanical eng.", "geography & earth science & agriculture")),
        Capability("math", "geometry, numbers and statistics read from the image",
                   ("geometry", "numeric commonsense and calculation", "statistical reasoning")),
    )
}
DEFAULT_CAPABILITY = "fine-grained perception"

_CAPABILITY_HINTS = (
    ("count", "fine-grained perception"), ("recogn", "fine-grained perception"), ("locali", "fine-grained perception"),
    ("ocr", "fine-grained perception"), ("text", "fine-grained perception"), ("position", "fine-grained perception"),
    ("colour", "instance reasoning"), ("color", "instance reasoning"), ("attribute", "instance reasoning"), ("relation", "instance reasoning"),
    ("scene", "coarse perception"), ("style", "coarse perception"), ("emotion", "coarse perception"), ("topic", "coarse perception"),
    ("math", "math"), ("geometr", "math"), ("statist", "math"), ("numer", "math"), ("chart", "math"),
    ("science", "science & technology"), ("biology", "science & technology"), ("physics", "science & technology"),
    ("chemistry", "science & technology"), ("geograph", "science & technology"),
    ("logic", "logical reasoning"), ("diagram", "logical reasoning"), ("code", "logical reasoning"), ("sequence", "logical reasoning"),
)


def capability_for(sample: Sample) -> Capability:
    """The MMStar capability of a sample: its category when it is one, else a keyword match."""
    for value in (sample.category, sample.l2_category):
        if value and value.strip().lower() in CAPABILITIES:
            return CAPABILITIES[value.strip().lower()]
    for value in (sample.l2_category, sample.category):
        if not value:
            continue
        low = value.lower()
        for cap in CAPABILITIES.values():
            if low in cap.skills:
                return cap
        for key, name in _CAPABILITY_HINTS:
            if key in low:
                return CAPABILITIES[name]
    return CAPABILITIES[DEFAULT_CAPABILITY]


SYSTEM_PROMPT = (
    "You write multiple-choice questions for a benchmark that tests whether a model can see an image. "
    "You cannot see the image; you are given a description of it. Rules:\n"
    "1. The question can only be answered by looking at the image, never from common sense, general knowledge or its own wording.\n"
    "2. Exactly one option is correct, and the description shows it.\n"
    "3. The wrong options are plausible and close to the correct one (the same kind of thing), but not true of the image.\n"
    "4. Never put the answer, or words only the answer has, in the question.\n"
    "5. Do not copy the known question."
)
USER_TEMPLATE = (
    "Image description:\n{description}\n\n"
    "Capability to test: {capability} ({capability_description}; skills: {skills}).\n"
    "Write {n} different question(s) about this image. Reply with JSON only, a list like:\n"
    '[{{"question": "...", "correct": "the right answer", "wrong": ["a wrong answer", "another", "another"], '
    '"reasoning": "what in the image shows the answer"}}]'
)
#: one worked example shown as a previous turn (``Curator(example=True)``): small models copy
#: the format of a demonstration far more reliably than they follow a description of it
EXAMPLE_DESCRIPTION = (
    "Image size (width x height, pixels): 400x300\n"
    "Text in the image (OCR, box [x1, y1, x2, y2]):\n- \"EXIT\" [20, 30, 120, 70]\n"
    "Colours (share of the pixels, where they are):\n- white: 70%, all over the image\n- green: 25%, mostly top left"
)
EXAMPLE_REPLY = json.dumps([
    {"question": "Which word is written on the sign in the image?", "correct": "EXIT", "wrong": ["STOP", "OPEN", "PUSH"],
     "reasoning": "OCR reads EXIT at the top left."},
    {"question": "Besides white, which colour covers the largest area of the image?", "correct": "green",
     "wrong": ["red", "blue", "yellow"], "reasoning": "green covers 25% of the pixels."},
], ensure_ascii=False)
EARLIER_TEMPLATE = "Earlier attempts for this image failed; write different questions that avoid these problems:"
RETRY_TEMPLATE = "Your reply could not be used: {reason}. Reply again with only the JSON list in the format above."


@dataclass
class Candidate:
    """One accepted question written by the curator for a source sample."""

    question: str
    options: list[str]
    answer: str  # letter
    reasoning: str
    capability: str
    source_id: str
    source_hash: str
    curator: str
    prompt_hash: str
    attempt: int
    parsed_by: str  # json | tagged

    @property
    def answer_text(self) -> str:
        return self.options[LETTERS.index(self.answer)]

    def to_sample(self, source: Sample, sample_id: str, meta: dict[str, Any] | None = None) -> Sample:
        """A new Sample reusing the source's images, category and split (no hint: the question stands alone)."""
        return Sample(
            id=sample_id,
            benchmark=source.benchmark,
            split=source.split,
            question=self.question,
            options=list(self.options),
            answer=self.answer,
            images=list(source.images),
            category=source.category,
            l2_category=source.l2_category,
            meta=dict(meta or {}),
        ).validate(row=sample_id)


@dataclass
class Rejection:
    reason: str
    attempt: int
    item: Any = None


@dataclass
class CurationResult:
    """What the curator produced for one source sample: accepted candidates and why others fell."""

    source_id: str
    capability: str
    prompt_text: str
    prompt_hash: str
    candidates: list[Candidate] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    n_items: int = 0  # question items found in the replies (before the acceptance rules)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the acceptance rules ---------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(norm_text(text)) if w not in ENGLISH_STOP_WORDS and (len(w) > 2 or w.isdigit())}


def _contains_phrase(haystack: str, needle: str) -> bool:
    h, n = f" {norm_text(haystack)} ", f" {norm_text(needle)} "
    return n.strip() != "" and n in h


def answer_leak(question: str, options: list[str], answer_index: int) -> str | None:
    """Why the answer can be read off the question, or None.

    Leaks: the answer text appears in the question; or the question contains more of the
    answer's distinctive words (content words no distractor has) than of any distractor's.
    """
    answer = options[answer_index]
    if _contains_phrase(question, answer):
        return f"the answer {answer!r} appears in the question"
    q_words = _content_words(question)
    words = [_content_words(o) for o in options]

    def distinctive(k: int) -> set[str]:
        others = set().union(*(w for j, w in enumerate(words) if j != k)) if len(words) > 1 else set()
        return words[k] - others

    hits = [distinctive(k) & q_words for k in range(len(options))]
    best_other = max((len(h) for k, h in enumerate(hits) if k != answer_index), default=0)
    if hits[answer_index] and len(hits[answer_index]) > best_other:
        return f"the question contains {', '.join(sorted(hits[answer_index]))!s}, word(s) only the answer has"
    return None


def check_item(item: Any, *, seen: set[str], source: Sample | None = None) -> tuple[dict[str, Any] | None, str]:
    """Apply the acceptance rules to one parsed item; (clean item or None, reason).

    Items give ``options`` + ``answer`` (letter or text), or ``correct`` + ``wrong`` (the
    format asked for: small models confuse option lists with letters).
    """
    if not isinstance(item, dict):
        return None, f"item is a {type(item).__name__}, not an object with question/options/answer"
    low = {str(k).strip().lower(): v for k, v in item.items()}
    question = low.get("question") or low.get("q")
    if not isinstance(question, str) or not question.strip():
        return None, "missing question"
    question = question.strip()
    raw_options = low.get("options", low.get("choices"))
    options = normalize_options(raw_options)
    answer: Any = low.get("answer")
    correct = low.get("correct", low.get("correct_answer"))
    if not options and correct is not None:
        # the answer / distractors form: the right answer goes to a position fixed by the question
        wrong = normalize_options(low.get("wrong", low.get("distractors", low.get("incorrect"))))
        if not isinstance(correct, str) or not correct.strip():
            return None, "empty correct answer"
        slot = int(hashlib.sha256(norm_text(question).encode()).hexdigest(), 16) % (len(wrong) + 1)
        options = wrong[:slot] + [correct.strip()] + wrong[slot:]
        answer = LETTERS[slot]
    if not options:
        # options written inline in the question: "What is it? (A) cat (B) dog"
        inline = split_inline_options(question)
        m = re.search(r"(?:^|\s)\(?A[.:)]", question)
        if m and len(inline) >= MIN_OPTIONS:
            options, question = inline, question[: m.start()].strip()
    options = [o.strip() for o in options]
    if len(options) < MIN_OPTIONS:
        return None, f"{len(options)} option(s); at least {MIN_OPTIONS} are needed"
    if len(options) > MAX_OPTIONS:
        return None, f"{len(options)} options; at most {MAX_OPTIONS} are supported"
    if any(not o for o in options):
        return None, "an option is empty"
    normed = [norm_text(o) for o in options]
    dupes = sorted({o for o in options if normed.count(norm_text(o)) > 1})
    if dupes:
        return None, f"options duplicated: {dupes[0]!r}"
    letter, why = resolve_answer(answer, options)
    if letter is None:
        return None, why
    leak = answer_leak(question, options, LETTERS.index(letter))
    if leak:
        return None, leak
    key = norm_text(question)
    if source is not None and key == norm_text(source.question):
        return None, "same question as the source sample"
    if key in seen:
        return None, "duplicate of an earlier question"
    reasoning = low.get("reasoning") or low.get("rationale") or low.get("explanation") or ""
    return {"question": question, "options": options, "answer": letter, "reasoning": str(reasoning).strip()}, "ok"


def parse_items(text: str) -> tuple[list[Any], str, str]:
    """Question items from a reply: (items, 'json' | 'tagged' | '', error when none)."""
    value = first_json(text)
    if isinstance(value, dict):
        for key in ("questions", "items", "data", "results"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
        else:
            value = [value]
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return value, "json", ""
    tagged = parse_tagged(text)
    if tagged:
        return tagged, "tagged", ""
    if not (text or "").strip():
        return [], "", "the reply was empty"
    if "{" in text or "[" in text:
        return [], "", "the JSON in the reply is malformed or cut off before its first question was complete (too long?)"
    return [], "", "no JSON list of questions (and no <Question:> <Answer:> tags) was found"


# -- the curator ----------------------------------------------------------------------
class Curator:
    """Writes candidate questions with ``lm`` (any zoo model that can generate).

    ``max_retries`` bounds the extra attempts per source sample; ``answer_prefix`` starts the
    assistant's reply (e.g. ``[{"question": "``), which keeps small models on the JSON track;
    ``example`` puts one worked description -> JSON exchange in front of the request.
    """

    def __init__(self, lm: LM, *, max_retries: int = 2, max_new_tokens: int = 384, answer_prefix: str = "",
                 example: bool = True, cache: GenerationCache | None = None):
        self.lm = lm
        self.example = example
        self.max_retries = max_retries
        self.max_new_tokens = max_new_tokens
        self.answer_prefix = answer_prefix
        self.cache = cache if cache is not None else GenerationCache()

    @property
    def name(self) -> str:
        return self.lm.name

    def prompt_messages(self, description: SymbolicDescription, capability: Capability, n: int,
                        earlier: Sequence[str] = ()) -> list[dict[str, str]]:
        def user(desc_text: str, cap: Capability, k: int) -> str:
            return USER_TEMPLATE.format(description=desc_text, capability=cap.name, capability_description=cap.description,
                                        skills=", ".join(cap.skills), n=k)

        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        if self.example:
            messages += [{"role": "user", "content": user(EXAMPLE_DESCRIPTION, CAPABILITIES["fine-grained perception"], 2)},
                         {"role": "assistant", "content": EXAMPLE_REPLY}]
        request = user(description.to_text(), capability, n)
        if earlier:
            request += "\n\n" + EARLIER_TEMPLATE + "\n" + "\n".join(f"- {e}" for e in earlier)
        return messages + [{"role": "user", "content": request}]

    def write(self, source: Sample, description: SymbolicDescription, n: int = 2, *, seen: set[str] | None = None,
              earlier: Sequence[str] = ()) -> CurationResult:
        """Up to ``n`` accepted candidates for ``source``; ``seen`` (normalised questions) is updated.

        ``earlier``: what went wrong in previous rounds ("question -> reason"), added to the
        request so a later round asks something new (greedy decoding would repeat itself).
        """
        seen = seen if seen is not None else set()
        capability = capability_for(source)
        messages = self.prompt_messages(description, capability, n, earlier)
        prompt_text = json.dumps(messages, ensure_ascii=False)
        result = CurationResult(
            source_id=source.id, capability=capability.name, prompt_text=prompt_text,
            prompt_hash=hashlib.sha256((prompt_text + self.answer_prefix).encode()).hexdigest()[:16],
        )
        for attempt in range(1 + self.max_retries):
            prompt = Prompt(messages=messages, answer_prefix=self.answer_prefix)
            reply = self.cache.generate(self.lm, [prompt], self.max_new_tokens)[0]
            full = reply if reply.lstrip().startswith(self.answer_prefix.strip()) else self.answer_prefix + reply
            result.replies.append(full)
            items, parsed_by, error = parse_items(full)
            result.n_items += len(items)
            reasons: list[str] = []
            if not items:
                result.rejections.append(Rejection(error, attempt))
                reasons.append(error)
            for item in items:
                if len(result.candidates) >= n:
                    break
                clean, why = check_item(item, seen=seen, source=source)
                if clean is None:
                    result.rejections.append(Rejection(why, attempt, item))
                    reasons.append(why)
                    continue
                seen.add(norm_text(clean["question"]))
                result.candidates.append(Candidate(
                    **clean, capability=capability.name, source_id=source.id, source_hash=source.content_hash,
                    curator=self.lm.name, prompt_hash=result.prompt_hash, attempt=attempt, parsed_by=parsed_by,
                ))
            if len(result.candidates) >= n:
                break
            missing = n - len(result.candidates)
            reason = "; ".join(dict.fromkeys(reasons)) or f"{missing} more question(s) are needed"
            messages = messages + [
                {"role": "assistant", "content": full},
                {"role": "user", "content": RETRY_TEMPLATE.format(reason=reason)},
            ]
        return result
