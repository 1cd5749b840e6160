"""Each hub adapter reads a local file in that hub dataset's OWN column layout.

The fixtures are parquet files written the way HF ``datasets`` stores an ``Image``
feature (a ``{'bytes', 'path'}`` struct), so what passes here is what a user's
``ds.to_parquet(...)`` copy of the real dataset looks like. The hub path itself is
checked by handing ``load_hub_rows`` a real in-memory ``datasets.Dataset``.
"""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from benchmarks_adapters.ai2d import AI2DAdapter
from benchmarks_adapters.mathvision import MathVisionAdapter
from benchmarks_adapters.mathvista import MathVistaAdapter
from benchmarks_adapters.mmbench import MMBenchAdapter
from benchmarks_adapters.mmmu import SUBJECTS, MMMUAdapter
from benchmarks_adapters.mmmu_pro import MMMUProAdapter
from benchmarks_adapters.mmstar import MMStarAdapter
from benchmarks_adapters.scienceqa import ScienceQAAdapter
from benchmarks_adapters.seedbench import SEEDBenchAdapter
from leakaudit.data.benchmark import get_adapter
from leakaudit.errors import HubUnavailableError


def png(color: str, size=(8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def hf_image(color: str) -> dict:
    """An image cell as HF datasets stores it in parquet."""
    return {"bytes": png(color), "path": f"{color}.png"}


def write_parquet(tmp_path, rows, name="data.parquet"):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_mmmu_hub_layout(tmp_path):
    no_img = {f"image_{k}": None for k in range(3, 8)}
    rows = [
        {"id": "validation_Art_Theory_1", "question": "Which style is <image 1> compared with <image 2>?", "options": "['Baroque', 'Gothic', \"Rococo's\"]",
         "explanation": "", "image_1": hf_image("red"), "image_2": hf_image("blue"), **no_img, "img_type": "['Paintings']", "answer": "B",
         "topic_difficulty": "Medium", "question_type": "multiple-choice", "subfield": "Art History"},
        {"id": "validation_Math_7", "question": "Compute the area of <image 1>.", "options": "[]", "explanation": "",
         "image_1": hf_image("green"), "image_2": None, **no_img, "img_type": "['Diagrams']", "answer": "12.5",
         "topic_difficulty": "Hard", "question_type": "open", "subfield": "Geometry"},
    ]
    bench = MMMUAdapter().load(write_parquet(tmp_path, rows))
    mc, op = bench.samples
    assert mc.id == "validation_Art_Theory_1"
    assert mc.options == ["Baroque", "Gothic", "Rococo's"]
    assert (mc.answer, mc.answer_type) == ("B", "letter")
    assert len(mc.images) == 2 and mc.images[1].raw_bytes() == png("blue")
    assert (mc.category, mc.l2_category, mc.meta["discipline"]) == ("Art Theory", "Art History", "Art & Design")
    assert "<image 1>" in mc.question and mc.split == "validation"
    assert op.is_open and op.options == [] and op.answer == "12.5" and op.answer_type == "float"
    assert op.meta["discipline"] == "Science"
    assert len(MMMUAdapter.hub_configs) == 30 and len(set(SUBJECTS)) == 30


def test_mmmu_pro_hub_layout(tmp_path):
    letters = [f"opt {k}" for k in range(10)]
    rows = [{"id": "test_Physics_3", "question": "What does <image 1> show?", "options": str(letters), "explanation": "",
             "image_1": hf_image("red"), **{f"image_{k}": None for k in range(2, 8)}, "img_type": "['Plots']",
             "answer": "J", "topic_difficulty": "Easy", "subject": "Physics"}]
    (s,) = MMMUProAdapter().load(write_parquet(tmp_path, rows)).samples
    assert s.id == "test_Physics_3" and len(s.options) == 10 and s.answer == "J" and s.answer_text == "opt 9"
    assert s.category == "Physics" and len(s.images) == 1


def test_mmstar_hub_layout(tmp_path):
    rows = [
        {"index": 0, "question": "Which object is on the table?\nOptions: A: a cup, a plate, B: a cat, C: a dog, D: a book",
         "image": hf_image("red"), "answer": "A", "category": "coarse perception", "l2_category": "image scene and topic",
         "meta_info": {"source": "MMBench", "split": "dev", "image_path": "x.jpg"}},
        {"index": 1, "question": "Hint: Please answer.\nQuestion: What is 2+2?\nChoices:\n(A) 3\n(B) 4\n(C) 5\n(D) 6",
         "image": hf_image("blue"), "answer": "B", "category": "math", "l2_category": "numeric commonsense and calculation",
         "meta_info": {"source": "MathVista", "split": "testmini", "image_path": "y.jpg"}},
    ]
    a, b = MMStarAdapter().load(write_parquet(tmp_path, rows)).samples
    assert a.question == "Which object is on the table?"
    assert a.options == ["a cup, a plate", "a cat", "a dog", "a book"]  # the comma inside option A does not split it
    assert a.meta["source_benchmark"] == "MMBench" and a.meta["has_image"] is True and a.split == "val"
    assert b.question == "Hint: Please answer.\nQuestion: What is 2+2?"
    assert b.options == ["3", "4", "5", "6"] and b.answer_text == "4"
    assert (b.category, b.l2_category) == ("math", "numeric commonsense and calculation")


def test_scienceqa_hub_layout_keeps_imageless_questions(tmp_path):
    rows = [
        {"image": hf_image("red"), "question": "Which is a mammal?", "choices": ["shark", "whale", "trout"], "answer": 1,
         "hint": "Look at the picture.", "task": "closed choice", "grade": "grade4", "subject": "natural science",
         "topic": "biology", "category": "Classification", "skill": "Identify mammals", "lecture": "", "solution": ""},
        {"image": None, "question": "Which word is a noun?", "choices": ["run", "dog"], "answer": 1, "hint": "",
         "task": "closed choice", "grade": "grade2", "subject": "language science", "topic": "grammar",
         "category": "Parts of speech", "skill": "Nouns", "lecture": "", "solution": ""},
    ]
    a, b = ScienceQAAdapter().load(write_parquet(tmp_path, rows)).samples
    assert (a.id, a.answer, a.answer_text, a.hint) == ("0", "B", "whale", "Look at the picture.")
    assert (a.category, a.l2_category, a.meta["skill"]) == ("natural science", "biology", "Identify mammals")
    assert b.images == [] and b.meta["has_image"] is False and b.hint is None and b.answer == "B"


def test_ai2d_hub_layout(tmp_path):
    rows = [{"question": "Which stage comes after the egg?", "options": ["larva", "adult", "pupa", "egg"], "answer": "0", "image": hf_image("red")}]
    (s,) = AI2DAdapter().load(write_parquet(tmp_path, rows)).samples
    assert (s.id, s.answer, s.answer_text, len(s.images)) == ("0", "A", "larva", 1)


def test_seedbench_hub_layout_keeps_only_image_rows(tmp_path):
    base = {"choice_a": "one", "choice_b": "two", "choice_c": "three", "choice_d": "four", "segment": None}
    rows = [
        {**base, "question_id": "101", "question": "How many dogs?", "answer": "B", "question_type_id": 5, "data_type": "image", "data_id": "a.jpg", "image": [hf_image("red")]},
        {**base, "question_id": "v9", "question": "What happens next?", "answer": "A", "question_type_id": 10, "data_type": "video", "data_id": "v.mp4", "image": []},
        {**base, "question_id": "102", "question": "What text is shown?", "answer": "D", "question_type_id": 9, "data_type": "image", "data_id": "b.jpg", "image": [hf_image("blue")]},
    ]
    bench = SEEDBenchAdapter().load(write_parquet(tmp_path, rows))
    assert [s.id for s in bench] == ["101", "102"]
    assert [s.category for s in bench] == ["Instances Counting", "Text Understanding"]
    assert bench.samples[0].options == ["one", "two", "three", "four"] and bench.samples[1].answer_text == "four"


def test_mmbench_hub_layout_nan_options_and_circular_groups(tmp_path):
    nan = float("nan")
    rows = [
        {"index": 17, "question": "What is the mood?", "hint": nan, "A": "happy", "B": "sad", "C": "angry", "D": "calm", "answer": "D",
         "category": "image_emotion", "image": hf_image("red"), "source": "x", "L2-category": "coarse_perception", "comment": nan, "split": "dev"},
        {"index": 1000017, "question": "What is the mood?", "hint": nan, "A": "calm", "B": "happy", "C": nan, "D": nan, "answer": "A",
         "category": "image_emotion", "image": hf_image("red"), "source": "x", "L2-category": "coarse_perception", "comment": nan, "split": "dev"},
        {"index": 18, "question": "图中是什么动物？", "hint": "请仔细看图。", "A": "猫", "B": "狗", "C": nan, "D": nan, "answer": "B",
         "category": "celebrity", "image": hf_image("blue"), "source": "y", "L2-category": "fine", "comment": nan, "split": "dev"},
    ]
    import pandas as pd

    path = tmp_path / "mmbench_dev_en.parquet"
    pd.DataFrame(rows).to_parquet(path)  # pandas writes the NaN cells as nulls, as the hub copy has them
    a, b, c = MMBenchAdapter().load(path).samples
    assert a.options == ["happy", "sad", "angry", "calm"] and a.hint is None and a.l2_category == "coarse_perception"
    assert b.options == ["calm", "happy"]  # NaN C/D: a 2-option question
    assert a.meta["circular_group"] == b.meta["circular_group"] == 17
    assert (c.question, c.hint, c.options) == ("图中是什么动物？", "请仔细看图。", ["猫", "狗"])


def test_mathvista_hub_layout_text_answer_becomes_letter(tmp_path):
    meta = {"category": "math-targeted-vqa", "context": "bar chart", "grade": "high school", "img_height": 6, "img_width": 8,
            "language": "english", "skills": ["statistical reasoning"], "source": "ChartQA", "split": "testmini", "task": "figure question answering"}
    rows = [
        {"pid": "1", "question": "Which bar is tallest?", "image": "images/1.jpg", "decoded_image": hf_image("red"), "choices": ["red", "blue", "green"],
         "unit": None, "precision": None, "answer": "blue", "question_type": "multi_choice", "answer_type": "text", "metadata": meta, "query": ""},
        {"pid": "2", "question": "What is the value of the red bar?", "image": "images/2.jpg", "decoded_image": hf_image("blue"), "choices": None,
         "unit": None, "precision": 1.0, "answer": "3.5", "question_type": "free_form", "answer_type": "float", "metadata": meta, "query": ""},
    ]
    a, b = MathVistaAdapter().load(write_parquet(tmp_path, rows)).samples
    assert (a.answer, a.answer_text, a.options) == ("B", "blue", ["red", "blue", "green"])
    assert (a.category, a.l2_category, a.meta["skills"]) == ("math-targeted-vqa", "figure question answering", ["statistical reasoning"])
    assert b.is_open and (b.answer, b.answer_type, b.meta["precision"]) == ("3.5", "float", 1.0)
    assert b.images[0].raw_bytes() == png("blue")


def test_mathvision_hub_layout(tmp_path):
    rows = [
        {"id": "6", "question": "Which picture shows it?\n<image1>", "options": ["A", "B", "C", "D", "E"], "answer": "D", "solution": None,
         "level": 3, "subject": "logic", "image": "images/6.jpg", "decoded_image": hf_image("red")},
        {"id": "4", "question": "How many digits?\n<image1>", "options": [], "answer": "6", "solution": None,
         "level": 1, "subject": "counting", "image": "images/4.jpg", "decoded_image": hf_image("blue")},
    ]
    a, b = MathVisionAdapter().load(write_parquet(tmp_path, rows)).samples
    assert (a.answer, len(a.options), a.category, a.meta["level"]) == ("D", 5, "logic", "3")
    assert b.is_open and (b.answer, b.answer_type) == ("6", "integer")


def test_hub_rows_map_like_a_local_copy(tmp_path, monkeypatch):
    """load_hub_rows over several configs yields the hub layout; same samples as the parquet copy."""
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"), "options": datasets.Value("string"),
        "answer": datasets.Value("string"), "question_type": datasets.Value("string"), "subfield": datasets.Value("string"),
        "image_1": datasets.Image(),
    })

    def fake_load_dataset(hub_id, config, split, revision):
        assert (hub_id, split, revision) == ("MMMU/MMMU", "validation", "abc123")
        color = "red" if config == "Art" else "blue"
        return datasets.Dataset.from_dict({
            "id": [f"validation_{config}_1"], "question": [f"Q about <image 1> in {config}"], "options": ["['x', 'y']"],
            "answer": ["A"], "question_type": ["multiple-choice"], "subfield": ["s"], "image_1": [{"bytes": png(color), "path": None}],
        }, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(MMMUAdapter, "hub_configs", ("Art", "Math"))
    hub = MMMUAdapter().load(revision="abc123")
    assert [s.id for s in hub] == ["validation_Art_1", "validation_Math_1"] and hub.format == "hub"
    assert hub.source == "hf://MMMU/MMMU@abc123/validation"
    local = MMMUAdapter().load(write_parquet(tmp_path, hub.raw_rows))
    assert [s.content_hash for s in hub] == [s.content_hash for s in local]


def test_hub_unavailable_says_how_to_use_a_local_copy(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'lmms-lab/ai2d' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(HubUnavailableError) as exc:
        get_adapter("ai2d").load()
    msg = str(exc.value)
    assert "lmms-lab/ai2d" in msg and "--path" in msg and "parquet" in msg and "TSV" in msg


def test_vlmevalkit_tsv_loads_through_a_hub_adapter(tmp_path):
    import base64

    import pandas as pd

    b64 = base64.b64encode(png("red")).decode()
    frame = pd.DataFrame([
        {"index": 5, "question": "Mood?", "hint": "", "A": "happy", "B": "sad", "C": "", "D": "", "answer": "B", "category": "emotion", "l2-category": "coarse", "image": b64},
        {"index": 1000005, "question": "Mood?", "hint": "", "A": "sad", "B": "happy", "C": "", "D": "", "answer": "A", "category": "emotion", "l2-category": "coarse", "image": "5"},
    ])
    path = tmp_path / "MMBench_DEV_EN.tsv"
    frame.to_csv(path, sep="\t", index=False)
    a, b = MMBenchAdapter().load(path).samples
    assert a.options == ["happy", "sad"] and a.answer_text == "sad" and b.answer_text == "sad"
    assert b.images[0].raw_bytes() == png("red")  # the short "5" refers to row index 5's image
    assert a.meta["circular_group"] == b.meta["circular_group"] == 5


def test_mathvista_github_json_keyed_by_pid(tmp_path):
    """MathVista's GitHub annotations are one JSON object keyed by pid, with image paths."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "7.png").write_bytes(png("red"))
    data = {"7": {"pid": "7", "question": "Which is larger?", "image": "images/7.png", "choices": ["left", "right"], "answer": "right",
                  "question_type": "multi_choice", "answer_type": "text", "precision": None, "unit": None,
                  "metadata": {"category": "general-vqa", "task": "visual question answering", "skills": ["numeric commonsense"]}}}
    (tmp_path / "testmini.json").write_text(json.dumps(data))
    (s,) = MathVistaAdapter().load(tmp_path).samples
    assert (s.id, s.answer, s.category) == ("7", "B", "general-vqa") and s.images[0].raw_bytes() == png("red")
