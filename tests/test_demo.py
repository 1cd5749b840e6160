"""The built-in demo benchmark: reproducible bytes, balanced design, loading, OCR-readable text."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

import leakaudit
from benchmarks_adapters.demo import DemoAdapter
from leakaudit.data.demo import DEMO_FILE, GENERATOR_FILE, WORD_GROUPS, demo_dir, generate_demo
from leakaudit.errors import DataError

VISION, TEXT = "vision-dependent", "text-answerable"


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("LEAKAUDIT_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> leakaudit.Benchmark:
    folder = generate_demo(tmp_path_factory.mktemp("demo"))
    return DemoAdapter().load(path=folder)


def test_generation_is_byte_identical(tmp_path):
    first = _digest(generate_demo(tmp_path / "a"))
    second = _digest(generate_demo(tmp_path / "b"))
    assert len(first) == 61  # demo.jsonl + 60 images
    assert first == second


def test_load_by_name_uses_generated_cache_not_hub(cache):
    bench = leakaudit.load_benchmark("demo")
    assert Path(bench.source) == cache / "demo-v1"
    assert (cache / "demo-v1" / DEMO_FILE).is_file()
    assert len(bench) == 60
    assert bench.name == "demo" and all(s.benchmark == "demo" for s in bench)
    # the folder form loads the same samples, with the same content hashes
    again = leakaudit.load_benchmark("demo", path=cache / "demo-v1")
    assert [s.content_hash for s in again] == [s.content_hash for s in bench]


def test_demo_dir_reuses_a_complete_copy_and_repairs_a_broken_or_stale_one(cache):
    folder = demo_dir()
    data = folder / DEMO_FILE
    stamp = data.stat().st_mtime_ns
    assert demo_dir() == folder and data.stat().st_mtime_ns == stamp  # cached: not rewritten

    (folder / "images" / "demo-007.png").unlink()
    assert (demo_dir() / "images" / "demo-007.png").is_file()  # incomplete -> regenerated

    (folder / GENERATOR_FILE).write_text(json.dumps({"fingerprint": "made-by-older-code"}))
    demo_dir()
    assert json.loads((folder / GENERATOR_FILE).read_text())["fingerprint"] != "made-by-older-code"


def test_labels_letters_and_categories_are_balanced(demo):
    labels = Counter(s.meta["label"] for s in demo)
    assert labels == {VISION: 30, TEXT: 30}
    for label in (VISION, TEXT):
        letters = Counter(s.answer for s in demo if s.meta["label"] == label)
        assert set(letters) == set("ABCD")
        assert max(letters.values()) - min(letters.values()) <= 1, letters
    assert Counter(s.answer for s in demo) == {"A": 15, "B": 15, "C": 15, "D": 15}
    # both kinds appear early, so `--limit 10` still has both
    assert {s.meta["label"] for s in demo.samples[:10]} == {VISION, TEXT}
    for s in demo:
        assert len(s.options) == 4 and len(set(s.options)) == 4
        assert s.category and s.l2_category
    cats = {s.category for s in demo}
    assert {"fine-grained perception", "coarse perception", "math", "logical reasoning", "science & technology"} <= cats
    # most vision-dependent questions are text in the image, so OCR has something to read
    readable = [s for s in demo if s.meta["label"] == VISION and "rendered_text" in s.meta]
    assert len(readable) >= 15
    assert all(s.answer_text == s.meta["rendered_text"] for s in readable)


def test_word_questions_offer_four_equally_plausible_words(demo):
    words = [s for s in demo if s.meta["kind"] == "word"]
    assert len(words) == len(WORD_GROUPS)
    groups = {frozenset(g) for g in WORD_GROUPS}
    assert all(frozenset(s.options) in groups for s in words)
    # the gold word is not always the same member of its group, nor in the same slot
    assert len({s.answer for s in words}) == 4


def test_count_options_are_consecutive_and_gold_matches_drawn_count(demo):
    for s in (s for s in demo if s.meta["kind"] == "count"):
        nums = [int(o) for o in s.options]
        assert nums == list(range(nums[0], nums[0] + 4)) and nums[0] >= 1


def test_images_decode(demo):
    for s in demo:
        assert len(s.images) == 1
        img = s.images[0].load()
        assert img.size == (384, 384) and img.mode == "RGB"


def test_bad_row_names_file_row_and_field(tmp_path):
    folder = generate_demo(tmp_path / "d")
    lines = (folder / DEMO_FILE).read_text().splitlines()
    row = json.loads(lines[3])
    row["answer"] = "E"
    lines[3] = json.dumps(row)
    (folder / DEMO_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        leakaudit.load_benchmark("demo", path=folder)
    assert err.value.row == 3 and err.value.field == "answer" and DEMO_FILE in err.value.file
    skipped = leakaudit.load_benchmark("demo", path=folder, on_error="skip")
    assert len(skipped) == 59 and len(skipped.skipped) == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="demo.jsonl not found"):
        leakaudit.load_benchmark("demo", path=tmp_path)


@pytest.mark.slow
def test_ocr_reads_the_rendered_text(demo):
    from leakaudit.models.backends.ocr_composite import ocr_text

    readable = [s for s in demo if "rendered_text" in s.meta]
    misread = {s.id: (s.meta["rendered_text"], ocr_text(s.images[0].load())) for s in readable}
    misread = {k: v for k, v in misread.items() if v[0].lower() != v[1].lower()}
    assert not misread, misread
    # decoration of text-answerable questions carries no text
    for s in [s for s in demo if s.meta["label"] == TEXT][:8]:
        assert ocr_text(s.images[0].load()) == ""


def test_new_generator_with_same_output_keeps_the_files(cache):
    folder = demo_dir()
    image = folder / "images" / "demo-001.png"
    stamp = image.stat().st_mtime_ns
    (folder / GENERATOR_FILE).write_text(json.dumps({"fingerprint": "older-code-same-drawing"}))
    assert demo_dir() == folder
    assert image.stat().st_mtime_ns == stamp  # bytes equal: not rewritten under a reader's feet
    assert json.loads((folder / GENERATOR_FILE).read_text())["fingerprint"] != "older-code-same-drawing"


def test_a_written_subset_reloads_as_a_demo_folder(demo, tmp_path):
    subset = demo.subset([s.id for s in demo.samples[:5]])
    subset.write(tmp_path / "kept")
    again = leakaudit.load_benchmark("demo", path=tmp_path / "kept")
    assert [s.content_hash for s in again] == [s.content_hash for s in subset]
    assert [s.meta["label"] for s in again] == [s.meta["label"] for s in subset]
