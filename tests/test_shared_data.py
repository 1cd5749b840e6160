"""The adapters on real benchmark samples from ../shared/data (skipped where that folder is absent)."""
from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from leakaudit.data.benchmark import get_adapter, load_benchmark
from leakaudit.data.inspect import inspect_benchmark

pytestmark = pytest.mark.shared_data


def test_mmstar_text_parquet(shared_data):
    path = shared_data / "mmstar_text" / "mmstar_text.parquet"
    bench = get_adapter("mmstar").load(path)
    assert len(bench) == 1500
    assert Counter(s.category for s in bench) == {
        "coarse perception": 250, "fine-grained perception": 250, "instance reasoning": 250,
        "logical reasoning": 250, "math": 250, "science & technology": 250,
    }
    assert len({s.l2_category for s in bench}) == 18
    # options were parsed out of the question text and removed from it
    assert all(len(s.options) >= 3 for s in bench)
    assert not any("Options:" in s.question or "Choices:" in s.question or "\n(A)" in s.question for s in bench)
    first = bench.by_id()["0"]
    assert first.question == "Which option describe the object relationship in the image correctly?"
    assert first.options == ["The suitcase is on the book.", "The suitcase is beneath the cat.", "The suitcase is beneath the bed.", "The suitcase is beneath the book."]
    assert first.answer == "A" and first.meta["source_benchmark"] == "MMBench"
    # the options survive in the text: every option of every sample appears in the original question
    raw = pd.read_parquet(path).set_index("index")["question"]
    assert all(o in raw[int(s.id)] for s in bench for o in s.options)
    assert all(s.images == [] and s.meta["has_image"] is False for s in bench)


def test_mmbench_samples(shared_data):
    folder = shared_data / "mmbench_samples"
    bench = get_adapter("mmbench").load(folder)
    assert len(bench) == 54
    raw = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    for s, r in zip(bench, raw):
        assert s.question == r["question"]  # CJK text untouched
        assert s.options == [r["options"][k] for k in "ABCD" if k in r["options"]]
        assert s.answer == r["answer"] and s.category == r["category"] and s.meta["lang"] == r["lang"]
        w, h = s.images[0].load().size
        assert w > 0 and h > 0
    assert Counter(s.meta["bench"] for s in bench) == {"MMBench": 40, "CCBench": 14}
    assert bench.samples[0].question == "图中所示建筑名称为？" and bench.samples[0].options[0] == "天坛"
    assert len({s.id for s in bench}) == 54


def test_mmmu_pro_samples(shared_data):
    folder = shared_data / "mmmu_pro_samples"
    bench = get_adapter("mmmu_pro").load(folder)
    assert len(bench) == 21
    raw = [json.loads(line) for line in (folder / "data.jsonl").read_text().splitlines() if line.strip()]
    assert [len(s.options) for s in bench] == [len(r["options"]) for r in raw]
    # the MMMU-derived rows carry the 10-option MMMU-Pro format (one has 9); the AI2D ones keep 4
    assert Counter(len(s.options) for s in bench) == {10: 9, 9: 1, 4: 11}
    assert all(s.images for s in bench)
    for s in bench:
        for img in s.images:
            assert min(img.load().size) > 0


def test_mathvision_testmini(shared_data):
    bench = get_adapter("mathvision").load(shared_data / "mathv_testmini")
    assert len(bench) == 304
    mc = [s for s in bench if s.is_multiple_choice]
    free = [s for s in bench if s.is_open]
    assert len(mc) == 190 and len(free) == 114
    assert all(len(s.options) == 5 and s.answer in "ABCDE" for s in mc)
    assert all(s.answer_type in ("integer", "float", "text") for s in free)
    assert Counter(s.answer_type for s in free)["integer"] > 50
    assert all(len(s.images) == 1 for s in bench)
    for s in bench.samples[:25]:
        assert min(s.images[0].load().size) > 0


def test_inspect_on_real_mmstar_finds_its_known_quirks(shared_data):
    stats = inspect_benchmark(load_benchmark("mmstar", path=shared_data / "mmstar_text"))
    kinds = {p["kind"]: p for p in stats["problems"]}
    assert stats["by_category"]["math"] == 250
    # MMStar pads MathVista yes/no questions with 'nan' options, and its answers lean to A/B
    assert kinds["placeholder_options"]["count"] == 178
    assert "answer_letter_imbalance" in kinds and stats["answer_letters"]["B"] == 447
