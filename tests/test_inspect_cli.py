"""``leakaudit benchmarks`` and ``leakaudit inspect`` through click, as a user runs them."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from leakaudit.cli import main


def make_submission(folder: Path) -> Path:
    """8 questions: 2 categories, one open, one without image, one exact duplicate, all answers 'A'."""
    (folder / "img").mkdir(parents=True)
    for k in range(3):
        Image.new("RGB", (10, 10), ("red", "green", "blue")[k]).save(folder / "img" / f"{k}.png")
    rows = [
        {"id": f"q{k}", "question": f"What colour is shape {k}?", "options": ["red", "green", "blue", "grey"][: 2 + k % 3],
         "answer": "A", "image": f"img/{k % 3}.png", "category": "colour" if k < 5 else "shape"}
        for k in range(6)
    ]
    rows.append({"id": "q6", "question": "How many sides has a square?", "answer": "4", "answer_type": "integer", "image": "img/0.png", "category": "shape"})
    rows.append({"id": "q7", "question": "Is water wet?", "options": ["yes", "no"], "answer": "A", "category": "shape"})
    rows.append({**rows[0], "id": "q0-copy"})
    path = folder / "sub.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_benchmarks_lists_adapters():
    result = CliRunner().invoke(main, ["benchmarks"])
    assert result.exit_code == 0, result.output
    for name in ("mmmu", "mmstar", "scienceqa", "ai2d", "seedbench", "mmbench", "mathvista", "mathvision", "mmmu_pro", "submission"):
        assert name in result.stdout
    assert "MMMU/MMMU" in result.stdout and "Lin-Chen/MMStar" in result.stdout


def test_benchmarks_json():
    result = CliRunner().invoke(main, ["benchmarks", "--json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["mmmu"]["hub_id"] == "MMMU/MMMU" and len(rows["mmmu"]["hub_configs"]) == 30
    assert rows["seedbench"]["hub_split"] == "test" and rows["mmbench"]["hub_configs"] == ["en"]


def test_inspect_json_counts(tmp_path):
    path = make_submission(tmp_path)
    result = CliRunner().invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert stats["n_samples"] == 9
    assert stats["by_category"] == {"colour": 6, "shape": 3}
    assert stats["option_counts"] == {"0": 1, "2": 4, "3": 2, "4": 2}
    assert stats["answer_letters"] == {"A": 8}
    assert stats["images_per_sample"] == {"0": 1, "1": 8}
    assert (stats["n_open"], stats["n_without_image"], stats["n_skipped"]) == (1, 1, 0)
    kinds = {p["kind"]: p for p in stats["problems"]}
    assert kinds["exact_duplicates"]["ids"] == ["q0,q0-copy"]
    assert kinds["samples_without_image"]["ids"] == ["q7"]
    assert "answer_letter_imbalance" not in kinds  # fewer than 20 multiple-choice questions: no test


def test_inspect_flags_answer_letter_imbalance(tmp_path):
    rows = [{"question": f"Q{k}?", "options": ["x", "y", "z", "w"], "answer": "A" if k % 5 else "B"} for k in range(60)]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = json.loads(CliRunner().invoke(main, ["inspect", str(path), "--json"]).stdout)
    (p,) = [p for p in stats["problems"] if p["kind"] == "answer_letter_imbalance"]
    assert "A 80%" in p["message"] and stats["answer_letter_test"]["p_value"] < 1e-6


def test_inspect_table_output_and_limit(tmp_path):
    path = make_submission(tmp_path)
    result = CliRunner().invoke(main, ["inspect", "submission", "--path", str(path), "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "3 samples" in result.stdout and "samples per category" in result.stdout and "answer letters" in result.stdout


def test_inspect_unknown_benchmark_exits_2():
    result = CliRunner().invoke(main, ["inspect", "no-such-bench"])
    assert result.exit_code == 2 and "unknown benchmark 'no-such-bench'" in result.output


def test_docs_example_submission_loads(tmp_path):
    """The JSONL example in docs/submission_format.md is a valid submission."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "submission_format.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", doc, re.S).group(1)
    rows = [json.loads(line) for line in block.splitlines() if line.strip()]
    for r in rows:
        for rel in ([r["image"]] if "image" in r else r["images"]):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4)).save(tmp_path / rel)
    path = tmp_path / "questions.jsonl"
    path.write_text(block, encoding="utf-8")
    stats = json.loads(CliRunner().invoke(main, ["inspect", str(path), "--json"]).stdout)
    assert stats["n_samples"] == 3 and stats["n_open"] == 1 and stats["images_per_sample"] == {"1": 2, "2": 1}
