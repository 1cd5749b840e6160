"""The built-in demo benchmark, generated offline and byte-for-byte reproducibly with Pillow.

It exists so that every stage (run, audit, filter, report, gate) can be tried and tested
without downloading anything, on data whose ground truth is known: each sample carries
``label`` ``vision-dependent`` (the answer is only in the image: a rendered word or
number, a count, a colour, a position) or ``text-answerable`` (everyday knowledge a
135M-parameter LLM answers from the question alone; the image is decoration). An audit
should separate the two, which is what the demo's precision/recall numbers measure.

Design choices that matter for that separation:

- the four options of a vision-dependent question are equally plausible without the image
  (words of similar frequency, random numbers of equal length, all colours / positions),
  and the gold letter is balanced over A-D within each label, so a blind model is at chance;
- most vision-dependent questions are text-in-image (large, dark on white) so that an
  OCR + LLM composite has something real to gain from the pixels;
- everything is drawn from one seeded ``random.Random`` with Pillow's bundled default font
  (not a system font), so images, and therefore content hashes, are identical on every run.

Layout written by ``generate_demo``: ``demo.jsonl`` (one row per sample: id, question,
options, answer, image, category, l2_category, label, kind) and ``images/<id>.png``.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw, ImageFont

DEMO_VERSION = "demo-v1"
DEMO_SEED = 20240331
DEMO_FILE = "demo.jsonl"
IMAGE_SIZE = 384
LETTERS = "ABCD"

VISION = "vision-dependent"
TEXT = "text-answerable"

Draw = Callable[[random.Random], Image.Image]

# -- vision-dependent question material ------------------------------------------------------
#: groups of four common concrete nouns of similar length and frequency: without the image
#: no member of a group is a better guess than another.
WORD_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("garden", "window", "pencil", "basket"),
    ("river", "table", "candle", "mirror"),
    ("bridge", "rocket", "ladder", "orange"),
    ("forest", "pillow", "button", "hammer"),
    ("castle", "wallet", "kettle", "saddle"),
    ("planet", "carpet", "bottle", "jacket"),
    ("island", "helmet", "tunnel", "violin"),
    ("silver", "copper", "marble", "timber"),
    ("lemon", "melon", "mango", "peach"),
    ("tiger", "horse", "camel", "zebra"),
)
WORD_QUESTIONS = (
    "Which word is written in the image?",
    "What word appears in the picture?",
    "Which word can be read in the image?",
)
NUMBER_QUESTIONS = (
    "What number is shown in the image?",
    "Which number is written in the picture?",
)
N_NUMBER_QUESTIONS = 8

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 70, 220),
    "green": (30, 160, 60),
    "yellow": (240, 205, 20),
    "purple": (140, 50, 170),
    "orange": (245, 135, 20),
}
SHAPES = ("circle", "square", "triangle")
POSITIONS = ("left", "right", "top", "bottom")

# -- text-answerable question bank ------------------------------------------------------------
_SCI = ("science & technology", "biology & chemistry & physics")
_GEO = ("science & technology", "geography & earth science & agriculture")
_ENG = ("science & technology", "electronics & energy & mechanical eng.")
_NUM = ("math", "numeric commonsense and calculation")
_COMMON = ("logical reasoning", "common reasoning")
_SEQ = ("logical reasoning", "code & sequence reasoning")

#: (question, gold answer, three clearly wrong distractors, (category, l2_category))
TEXT_BANK: tuple[tuple[str, str, tuple[str, str, str], tuple[str, str]], ...] = (
    ("Which animal says 'meow'?", "cat", ("cow", "duck", "horse"), _SCI),
    ("Which animal says 'moo'?", "cow", ("cat", "frog", "owl"), _SCI),
    ("Which animal barks?", "dog", ("fish", "snake", "butterfly"), _SCI),
    ("What do bees make?", "honey", ("milk", "bread", "cheese"), _SCI),
    ("Which animal has a long trunk?", "elephant", ("rabbit", "penguin", "frog"), _SCI),
    ("What is frozen water called?", "ice", ("steam", "sand", "smoke"), _SCI),
    ("What colour is the sky on a clear sunny day?", "blue", ("brown", "pink", "black"), _SCI),
    ("What do fish use to breathe underwater?", "gills", ("wings", "wheels", "leaves"), _SCI),
    ("What is the capital of France?", "Paris", ("Tokyo", "Cairo", "Lima"), _GEO),
    ("What is the capital of Japan?", "Tokyo", ("Berlin", "Oslo", "Lima"), _GEO),
    ("What is the capital of Italy?", "Rome", ("Madrid", "Dublin", "Cairo"), _GEO),
    ("In which country is the Eiffel Tower?", "France", ("Brazil", "Japan", "Canada"), _GEO),
    ("What do farmers grow in their fields?", "crops", ("cars", "phones", "shoes"), _GEO),
    ("What does a light bulb need to glow?", "electricity", ("water", "sand", "paper"), _ENG),
    ("Which of these vehicles flies in the sky?", "airplane", ("bicycle", "boat", "train"), _ENG),
    ("How many days are in a week?", "7", ("3", "10", "12"), _NUM),
    ("How many legs does a dog have?", "4", ("2", "6", "9"), _NUM),
    ("What is 2 + 2?", "4", ("1", "9", "15"), _NUM),
    ("How many months are in a year?", "12", ("5", "7", "30"), _NUM),
    ("How many hours are in a day?", "24", ("3", "50", "100"), _NUM),
    ("What is 10 + 10?", "20", ("1", "5", "99"), _NUM),
    ("What do you use to cut paper?", "scissors", ("spoon", "pillow", "socks"), _COMMON),
    ("What do people wear on their feet?", "shoes", ("hats", "gloves", "rings"), _COMMON),
    ("What is the opposite of hot?", "cold", ("tall", "loud", "fast"), _COMMON),
    ("What do you use to write on paper?", "pen", ("fork", "shoe", "cup"), _COMMON),
    ("Where do people keep food cold at home?", "refrigerator", ("oven", "sofa", "closet"), _COMMON),
    ("What do you drink when you are thirsty?", "water", ("sand", "glue", "paint"), _COMMON),
    ("What comes next: 1, 2, 3, 4, ...?", "5", ("9", "0", "7"), _SEQ),
    ("What comes next: 2, 4, 6, 8, ...?", "10", ("3", "7", "1"), _SEQ),
    ("Which day comes after Monday?", "Tuesday", ("Friday", "Sunday", "Saturday"), _SEQ),
)


@dataclass
class _Item:
    """One question before letters are assigned: gold text, distractors and how to draw it."""

    kind: str
    label: str
    question: str
    gold: str
    distractors: list[str]
    category: str
    l2_category: str
    draw: Draw
    rendered_text: str | None = None
    ordered: bool = False  # options keep numeric order (counting); gold slot chosen by window


# -- drawing ---------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled font (identical on every machine, unlike system fonts)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _canvas(colour=(255, 255, 255)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), colour)
    return img, ImageDraw.Draw(img)


def _shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill) -> None:
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(0, 0, 0), width=2)
    elif shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(0, 0, 0), width=2)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill, outline=(0, 0, 0), width=2)
    else:  # pragma: no cover - programming error
        raise ValueError(shape)


def _text_image(text: str, rng: random.Random, *, sign: bool) -> Image.Image:
    """Large dark text on white (optionally on a pale sign), placed with a small random offset."""
    img, draw = _canvas()
    font = _font(rng.choice((56, 64, 72)))
    cx = IMAGE_SIZE / 2 + rng.randint(-30, 30)
    cy = IMAGE_SIZE / 2 + rng.randint(-60, 60)
    if sign:
        left, top, right, bottom = draw.textbbox((cx, cy), text, font=font, anchor="mm")
        pale = rng.choice(((255, 244, 200), (220, 238, 255), (228, 248, 228)))
        draw.rounded_rectangle((left - 24, top - 20, right + 24, bottom + 20), radius=14, fill=pale, outline=(60, 60, 60), width=3)
    ink = (rng.randint(0, 40),) * 3
    draw.text((cx, cy), text, font=font, fill=ink, anchor="mm")
    return img


def _count_image(n: int, shape: str, colour: str, rng: random.Random) -> Image.Image:
    """``n`` equal shapes in distinct cells of a 3x3 grid (never overlapping)."""
    img, draw = _canvas()
    cell = IMAGE_SIZE / 3
    for c in rng.sample(range(9), n):
        cx = (c % 3 + 0.5) * cell + rng.randint(-12, 12)
        cy = (c // 3 + 0.5) * cell + rng.randint(-12, 12)
        _shape(draw, shape, cx, cy, 34, COLOURS[colour])
    return img


def _colour_image(shape: str, colour: str, other_shape: str, other_colour: str, rng: random.Random) -> Image.Image:
    """The asked-about shape in ``colour`` next to a different shape in another colour."""
    img, draw = _canvas()
    left_first = rng.random() < 0.5
    xs = (110, 274) if left_first else (274, 110)
    _shape(draw, shape, xs[0], 192 + rng.randint(-40, 40), 60, COLOURS[colour])
    _shape(draw, other_shape, xs[1], 192 + rng.randint(-40, 40), 45, COLOURS[other_colour])
    return img


def _background_image(colour: str, rng: random.Random) -> Image.Image:
    """The whole picture filled with one colour, with a small white circle for texture."""
    img, draw = _canvas(COLOURS[colour])
    cx, cy = rng.randint(80, 304), rng.randint(80, 304)
    draw.ellipse((cx - 30, cy - 30, cx + 30, cy + 30), fill=(255, 255, 255))
    return img


def _position_image(shape: str, colour: str, where: str, rng: random.Random) -> Image.Image:
    img, draw = _canvas()
    jitter = rng.randint(-40, 40)
    centre = {
        "left": (70, 192 + jitter),
        "right": (314, 192 + jitter),
        "top": (192 + jitter, 70),
        "bottom": (192 + jitter, 314),
    }[where]
    _shape(draw, shape, *centre, 45, COLOURS[colour])
    return img


def _decoration_image(rng: random.Random) -> Image.Image:
    """An image unrelated to the question (random stripes, blobs or a lone shape); no text."""
    style = rng.choice(("stripes", "blobs", "shape"))
    palette = list(COLOURS.values())
    if style == "stripes":
        img, draw = _canvas()
        width = rng.randint(16, 40)
        for i, x in enumerate(range(0, IMAGE_SIZE, width)):
            draw.rectangle((x, 0, x + width, IMAGE_SIZE), fill=palette[(i + rng.randint(0, 5)) % len(palette)])
        return img.rotate(rng.choice((0, 45, 90)), fillcolor=(255, 255, 255))
    if style == "blobs":
        # apart from each other: touching circles read as "8" to OCR
        img, draw = _canvas((rng.randint(200, 255),) * 3)
        placed: list[tuple[int, int, int]] = []
        for _ in range(200):
            if len(placed) == 12:
                break
            cx, cy, r = rng.randint(0, IMAGE_SIZE), rng.randint(0, IMAGE_SIZE), rng.randint(15, 50)
            if all((cx - x) ** 2 + (cy - y) ** 2 > (r + q + 12) ** 2 for x, y, q in placed):
                placed.append((cx, cy, r))
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rng.choice(palette))
        return img
    img, draw = _canvas()
    _shape(draw, rng.choice(SHAPES), 192, 192, rng.randint(60, 110), rng.choice(palette))
    return img


# -- question construction -------------------------------------------------------------------
def _vision_items(rng: random.Random) -> list[_Item]:
    items: list[_Item] = []
    perception = "fine-grained perception"
    for i, group in enumerate(WORD_GROUPS):
        gold = rng.choice(group)
        sign = i % 2 == 1
        items.append(_Item(
            "word", VISION, WORD_QUESTIONS[i % len(WORD_QUESTIONS)], gold, [w for w in group if w != gold],
            perception, "recognition", lambda r, t=gold, s=sign: _text_image(t, r, sign=s), rendered_text=gold,
        ))
    for i in range(N_NUMBER_QUESTIONS):
        lo, hi = (100, 999) if i % 2 == 0 else (1000, 9999)
        numbers = [str(n) for n in rng.sample(range(lo, hi + 1), 4)]
        gold = numbers[0]
        items.append(_Item(
            "number", VISION, NUMBER_QUESTIONS[i % len(NUMBER_QUESTIONS)], gold, numbers[1:],
            perception, "recognition", lambda r, t=gold, s=(i % 4 >= 2): _text_image(t, r, sign=s), rendered_text=gold,
        ))
    for _ in range(4):
        n, shape, colour = rng.randint(4, 7), rng.choice(SHAPES), rng.choice(list(COLOURS))
        plural = {"circle": "circles", "square": "squares", "triangle": "triangles"}[shape]
        items.append(_Item(
            "count", VISION, f"How many {plural} are in the image?", str(n), [], perception, "object counting",
            lambda r, n=n, s=shape, c=colour: _count_image(n, s, c, r), ordered=True,
        ))
    for _ in range(2):
        shape, other = rng.sample(SHAPES, 2)
        colour, other_colour, *rest = rng.sample(list(COLOURS), len(COLOURS))
        distractors = [other_colour] + rest[:2]
        items.append(_Item(
            "colour", VISION, f"What colour is the {shape} in the image?", colour, distractors, perception, "recognition",
            lambda r, s=shape, c=colour, o=other, oc=other_colour: _colour_image(s, c, o, oc, r),
        ))
    for _ in range(2):
        colour, *rest = rng.sample(list(COLOURS), 4)
        items.append(_Item(
            "background", VISION, "What is the main colour of this image?", colour, rest, "coarse perception",
            "image style & quality", lambda r, c=colour: _background_image(c, r),
        ))
    for where in rng.sample(POSITIONS, 4):
        shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
        items.append(_Item(
            "position", VISION, f"In which part of the image is the {shape}?", where, [p for p in POSITIONS if p != where],
            perception, "localization", lambda r, s=shape, c=colour, w=where: _position_image(s, c, w, r),
        ))
    return items


def _text_items() -> list[_Item]:
    return [
        _Item("knowledge", TEXT, q, gold, list(distractors), cat, l2, _decoration_image)
        for q, gold, distractors, (cat, l2) in TEXT_BANK
    ]


def _balanced_slots(items: list[_Item], rng: random.Random) -> list[int]:
    """Gold positions 0..3 for ``items`` (grouped by kind): one cyclic A-D sequence runs over
    all items, so every kind, every label and the whole demo get each letter equally often
    (up to one), then positions are shuffled within each kind."""
    slots: list[int] = []
    start = 0
    for kind in dict.fromkeys(item.kind for item in items):
        n = sum(item.kind == kind for item in items)
        kind_slots = [(start + k) % len(LETTERS) for k in range(n)]
        rng.shuffle(kind_slots)
        slots.extend(kind_slots)
        start += n
    return slots


def _options(item: _Item, slot: int, rng: random.Random) -> list[str]:
    """Four options with the gold answer at index ``slot``."""
    if item.ordered:  # consecutive numbers in increasing order; the window puts gold at ``slot``
        start = int(item.gold) - slot
        return [str(start + k) for k in range(len(LETTERS))]
    others = list(item.distractors)
    rng.shuffle(others)
    return others[:slot] + [item.gold] + others[slot:]


def _build_rows(rng: random.Random | None = None) -> list[tuple[dict, _Item]]:
    """All demo rows (without images written) paired with their item; deterministic for a seed."""
    rng = rng or random.Random(DEMO_SEED)
    items = _vision_items(rng) + _text_items()  # grouped by kind, as _balanced_slots expects
    placed = [(item, _options(item, slot, rng), slot) for item, slot in zip(items, _balanced_slots(items, rng))]
    rng.shuffle(placed)  # mix kinds so that any prefix (--limit) holds both labels
    rows = []
    for n, (item, options, slot) in enumerate(placed, start=1):
        sample_id = f"demo-{n:03d}"
        row = {
            "id": sample_id,
            "question": item.question,
            "options": options,
            "answer": LETTERS[slot],
            "image": f"images/{sample_id}.png",
            "category": item.category,
            "l2_category": item.l2_category,
            "label": item.label,
            "kind": item.kind,
        }
        if item.rendered_text is not None:
            row["rendered_text"] = item.rendered_text
        rows.append((row, item))
    return rows


# -- evidence extension (issue 11): labelled positives and negatives per signal ----------------
#: ground truth per signal: True = the signal should fire, False = it should not, None = no claim
TRUTH_SIGNALS = ("probe", "ocr_only", "wrong_image", "member", "elimination")

#: passages every web-trained LM has read many times (membership positives); their word-shuffled
#: copies, generated here, cannot have been read (membership negatives)
FAMOUS_TEXTS: tuple[tuple[str, str], ...] = (
    ("To be, or not to be, that is the question", "William Shakespeare"),
    ("Four score and seven years ago our fathers brought forth on this continent a new nation", "Abraham Lincoln"),
    ("It was the best of times, it was the worst of times", "Charles Dickens"),
    ("All happy families are alike; each unhappy family is unhappy in its own way", "Leo Tolstoy"),
    ("That's one small step for man, one giant leap for mankind", "Neil Armstrong"),
    ("We hold these truths to be self-evident, that all men are created equal", "Thomas Jefferson"),
    ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife", "Jane Austen"),
    ("In the beginning God created the heaven and the earth", "the Bible"),
    ("The only thing we have to fear is fear itself", "Franklin D. Roosevelt"),
    ("Ask not what your country can do for you, ask what you can do for your country", "John F. Kennedy"),
    ("We shall fight on the beaches, we shall fight on the landing grounds", "Winston Churchill"),
    ("Twinkle, twinkle, little star, how I wonder what you are", "Jane Taylor"),
)
FAMOUS_QUESTION = 'Who wrote or said this: "{text}"?'

#: answerable only by elimination among the options: asked openly, many answers are right
ELIMINATION_BANK: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("Which of these is a fruit?", "banana", ("hammer", "chair", "sock")),
    ("Which of these is a musical instrument?", "violin", ("spoon", "brick", "pillow")),
    ("Which of these is a vegetable?", "carrot", ("bicycle", "lamp", "shoe")),
    ("Which of these animals can fly?", "eagle", ("cow", "pig", "goat")),
    ("Which of these is a planet?", "Mars", ("Paris", "Nile", "Everest")),
    ("Which of these is a tool?", "wrench", ("cloud", "apple", "song")),
    ("Which of these is a body part?", "elbow", ("ladder", "cookie", "kite")),
    ("Which of these is a piece of furniture?", "sofa", ("rain", "tiger", "lemon")),
    ("Which of these is a language?", "Spanish", ("Saturn", "granite", "tulip")),
    ("Which of these is a flower?", "tulip", ("wallet", "engine", "bread")),
)

#: shortcut items: the gold option repeats the question's wording and is the longest option
SHORTCUT_ADJECTIVES = ("wooden", "striped", "shiny", "broken", "tiny", "giant", "frozen", "golden")
SHORTCUT_NOUNS = tuple(w for group in WORD_GROUPS for w in group)
N_SHORTCUT = 16


def _truth(**given: bool | None) -> dict[str, bool | None]:
    return {k: given.get(k) for k in TRUTH_SIGNALS}


def _base_truth(item: _Item) -> dict[str, bool | None]:
    """Per-signal ground truth of the original 60 questions, from their kind and label."""
    return _truth(
        probe=False,
        ocr_only=item.rendered_text is not None if item.label == VISION else None,
        wrong_image=item.label == TEXT,
        elimination=False if item.kind == "knowledge" else None,
    )


def _evidence_items(rng: random.Random) -> list[tuple[_Item, dict[str, bool | None], str | None]]:
    """New questions for the signals of issue 11: (item, truth, label or None)."""
    out: list[tuple[_Item, dict[str, bool | None], str | None]] = []
    for _ in range(N_SHORTCUT):
        adj = rng.choice(SHORTCUT_ADJECTIVES)
        noun, *others = rng.sample(SHORTCUT_NOUNS, 4)
        item = _Item("shortcut", TEXT, f"The {adj} {noun} in the picture is easy to see. What does the picture show?",
                     f"a {adj} {noun} that is easy to see", [f"a {o}" for o in others], "instance reasoning", "attribute reasoning",
                     _decoration_image)
        out.append((item, _truth(probe=True, wrong_image=True, member=False), TEXT))
    authors = [a for _, a in FAMOUS_TEXTS]
    for shuffled in (False, True):
        for text_, author in FAMOUS_TEXTS:
            words = text_.split()
            if shuffled:
                while words == text_.split():
                    rng.shuffle(words)
            distractors = rng.sample([a for a in authors if a != author], 3)
            item = _Item("shuffled-text" if shuffled else "famous-text", TEXT, FAMOUS_QUESTION.format(text=" ".join(words)), author,
                         distractors, "logical reasoning", "common reasoning", _decoration_image)
            out.append((item, _truth(probe=False, member=not shuffled), None))
    for q, gold, distractors in ELIMINATION_BANK:
        item = _Item("elimination", TEXT, q, gold, list(distractors), "logical reasoning", "common reasoning", _decoration_image)
        out.append((item, _truth(probe=False, wrong_image=True, member=None, elimination=True), TEXT))
    return out


def _evidence_rows(first_id: int) -> list[tuple[dict, _Item]]:
    """The extension's rows, numbered from ``first_id``; their own seeded generator leaves the first 60 untouched."""
    rng = random.Random(f"{DEMO_SEED}:evidence")
    entries = _evidence_items(rng)
    slots = [k % len(LETTERS) for k in range(len(entries))]
    rng.shuffle(slots)
    order = list(range(len(entries)))
    rng.shuffle(order)
    rows = []
    for n, i in enumerate(order, start=first_id):
        item, truth, label = entries[i]
        options = _options(item, slots[i], rng)
        sample_id = f"demo-{n:03d}"
        row = {"id": sample_id, "question": item.question, "options": options, "answer": LETTERS[slots[i]],
               "image": f"images/{sample_id}.png", "category": item.category, "l2_category": item.l2_category,
               "kind": item.kind, "truth_signals": truth}
        if label is not None:
            row["label"] = label
        rows.append((row, item))
    return rows


def generate_demo(out_dir: str | Path, *, extended: bool = False) -> Path:
    """Write the demo (``demo.jsonl`` + ``images/``) into ``out_dir`` and return that folder.

    The same seed, drawing order and bundled font make the output byte-identical on every run.
    ``extended=True`` writes the evidence demo: the same 60 questions (ids, labels, images
    unchanged) with a ``truth_signals`` field, plus questions that give each signal of
    ``leakaudit.audit.signals`` labelled positives and negatives (see ``TRUTH_SIGNALS``).
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(DEMO_SEED)
    rows = _build_rows(rng)
    if extended:  # the same 60 rows (ids, labels, images) plus per-signal truth, then the new ones
        rows = [({**row, "truth_signals": _base_truth(item)}, item) for row, item in rows]
        rows += _evidence_rows(len(rows) + 1)
    lines = []
    for row, item in rows:
        # one child generator per image: drawing one image never shifts another's randomness
        img = item.draw(random.Random(f"{DEMO_SEED}:{row['id']}"))
        img.save(out / row["image"], format="PNG")
        lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
    (out / DEMO_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def cache_dir() -> Path:
    """leakaudit's cache folder: ``$LEAKAUDIT_CACHE``, else ``$XDG_CACHE_HOME/leakaudit``, else ``~/.cache/leakaudit``."""
    env = os.environ.get("LEAKAUDIT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "leakaudit"


GENERATOR_FILE = "generator.json"


def generator_fingerprint() -> str:
    """Identifies the code and Pillow that draw the demo: a cached copy made by other code is stale."""
    import PIL

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{DEMO_VERSION}:{DEMO_SEED}:Pillow {PIL.__version__}".encode())
    return h.hexdigest()[:16]


def evidence_demo_dir() -> Path:
    """The evidence demo folder; load it with ``load_benchmark("demo", path=evidence_demo_dir())``."""
    return demo_dir(extended=True)


def _is_complete(folder: Path) -> bool:
    data = folder / DEMO_FILE
    if not data.is_file():
        return False
    try:
        stamp = json.loads((folder / GENERATOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != generator_fingerprint():
        return False
    try:
        rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
        return bool(rows) and all((folder / r["image"]).is_file() for r in rows)
    except (ValueError, KeyError, TypeError):
        return False


def _same_files(new: Path, old: Path) -> bool:
    """Whether ``old`` holds exactly the data files of ``new`` (generator stamp aside)."""
    if not old.is_dir():
        return False
    listing = lambda d: sorted(p.relative_to(d) for p in d.rglob("*") if p.is_file() and p.name != GENERATOR_FILE)  # noqa: E731
    files = listing(new)
    return files == listing(old) and all((new / f).read_bytes() == (old / f).read_bytes() for f in files)


def demo_dir(*, extended: bool = False) -> Path:
    """The cached generated demo (``<cache>/demo-v1``), generated on first use, when incomplete,
    or when it was made by a different version of this generator or of Pillow.
    ``extended=True``: the evidence demo (``<cache>/demo-v1-evidence``, see ``generate_demo``).

    Generation happens in a temporary sibling folder that is renamed into place, so
    concurrent processes never see a half-written demo.
    """
    target = cache_dir() / (DEMO_VERSION + ("-evidence" if extended else ""))
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEMO_VERSION}-", dir=target.parent))
    try:
        generate_demo(tmp, extended=extended)
        stamp = {"fingerprint": generator_fingerprint(), "version": DEMO_VERSION, "seed": DEMO_SEED}
        (tmp / GENERATOR_FILE).write_text(json.dumps(stamp), encoding="utf-8")
        if _same_files(tmp, target):  # new code, same bytes: restamp, leave readers' files alone
            os.replace(tmp / GENERATOR_FILE, target / GENERATOR_FILE)
            return target
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process put a complete copy there first
            if not _is_complete(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
