"""The PDF report, rendered from a real audit of the demo benchmark and read back with poppler.

Scripted models (deterministic, no weights) answer the demo through the real runner, the
real audit writes the output folder, and the report is checked the way a reader sees it:
pages rendered to PNG (``pdftoppm``), text extracted (``pdftotext``), fonts listed
(``pdffonts``). A small Chinese benchmark checks that CJK text is drawn with an embedded
font rather than as empty boxes.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageDraw
from reportlab.pdfbase import pdfmetrics

import leakaudit
from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.answers.prompts import question_block
from leakaudit.report import build_report, data_hash, leakiest, load_report_inputs, store_hash
from leakaudit.report.fonts import CJK_FONT_HINT, find_cjk_font, markup, register_fonts
from leakaudit.workflows.scan import scan

POPPLER = all(shutil.which(t) for t in ("pdftoppm", "pdftotext", "pdffonts"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed (apt-get install -y poppler-utils): pdftoppm/pdftotext/pdffonts")
CJK_QUESTION = "图中所示建筑名称为？"


# -- scripted models ---------------------------------------------------------------------------
def _responder(bench, decide):
    """A ScriptedLM respond(): find the asked sample by its question block, answer ``decide(sample, index, prompt)``."""
    blocks = [(question_block(s, keep_images=keep), i, s) for i, s in enumerate(bench.samples) for keep in (False, True)]

    def respond(prompt):
        asked = prompt.messages[-1]["content"]
        for block, i, s in blocks:
            if asked.startswith(block):
                return decide(s, i, prompt)
        raise AssertionError(f"scripted model got an unknown question: {asked[:80]!r}")

    return respond


def _wrong(s) -> str:
    return s.letters[(s.letters.index(s.answer) + 1) % len(s.letters)]


def scan_with_scripted_models(bench, out: Path, *, leaked: int = 3, report: bool = False, known_ids=(), with_lvlm: bool = True,
                              base_llm: str = "llm-half"):
    """``leakaudit.workflows.scan`` with three scripted LLMs and one scripted LVLM (its base LLM: ``base_llm``).

    The LLMs know the answers of questions labelled text-answerable (the demo's ground truth)
    and of ``known_ids``; the LVLM also answers the first ``leaked`` other questions blind.
    """
    known = set(known_ids)

    def _is_text(s) -> bool:
        return s.meta.get("label") == "text-answerable" or s.id in known

    knows = ScriptedLM("llm-knows", _responder(bench, lambda s, i, p: s.answer if _is_text(s) else _wrong(s)))
    half = ScriptedLM("llm-half", _responder(bench, lambda s, i, p: s.answer if _is_text(s) and i % 2 == 0 else _wrong(s)))
    guess = ScriptedLM("llm-guess", _responder(bench, lambda s, i, p: s.letters[i % len(s.letters)]))
    vision_ids = [s.id for s in bench.samples if not _is_text(s)][:leaked]

    def lvlm_answer(s, i, p):
        sees = bool(p.images)
        return s.answer if sees or _is_text(s) or s.id in vision_ids else _wrong(s)

    lvlm = ScriptedLM("lvlm-a", _responder(bench, lvlm_answer), supports_images=True)
    models = [knows, half, guess] + ([lvlm] if with_lvlm else [])
    result = scan(bench, models=models, base_llms={"lvlm-a": base_llm} if with_lvlm else None, out=out, scoring="letter", k=1,
                  n_boot=200, progress=False, report=report, command=f"leakaudit scan {bench.name} --out {out}")
    return result


def make_cjk_benchmark(folder: Path) -> Path:
    """Six Chinese multiple-choice questions in the demo layout (demo.jsonl + images/)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    questions = [
        (CJK_QUESTION, ["天坛", "故宫", "长城", "颐和园"], "A", "text-answerable"),
        ("中国的首都是哪座城市？", ["上海", "北京", "广州", "深圳"], "B", "text-answerable"),
        ("图中有几只猫？", ["一只", "两只", "三只", "四只"], "C", "vision-dependent"),
        ("图中的颜色是什么？", ["红色", "蓝色", "绿色", "黄色"], "D", "vision-dependent"),
        ("Which river flows through Paris? 巴黎", ["Seine", "Thames", "Danube", "Rhine"], "A", "text-answerable"),
        ("图中写的是哪个字？", ["山", "水", "火", "木"], "B", "vision-dependent"),
    ]
    with (folder / "demo.jsonl").open("w", encoding="utf-8") as fh:
        for i, (q, opts, ans, label) in enumerate(questions):
            img = Image.new("RGB", (160, 120), (40 * i, 120, 200 - 30 * i))
            ImageDraw.Draw(img).rectangle([20, 20, 60 + 10 * i, 90], fill=(250, 250, 250))
            img.save(folder / "images" / f"cjk-{i}.png")
            row = {"id": f"cjk-{i}", "question": q, "options": opts, "answer": ans, "image": f"images/cjk-{i}.png",
                   "category": "中文 常识" if label == "text-answerable" else "coarse perception", "l2_category": "x", "label": label}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Path:
    """A demo scan's output folder; its PDF built here so that a report error fails the test
    (``scan`` only logs one)."""
    out = tmp_path_factory.mktemp("demo_report")
    scan_with_scripted_models(leakaudit.load_benchmark("demo"), out)
    build_report(out, out / "audit.pdf")
    return out


@pytest.fixture(scope="module")
def cjk_report(tmp_path_factory) -> Path:
    folder = make_cjk_benchmark(tmp_path_factory.mktemp("cjk_bench"))
    out = tmp_path_factory.mktemp("cjk_report")
    scan_with_scripted_models(leakaudit.load_benchmark("demo", path=folder), out, leaked=1)
    build_report(out, out / "audit.pdf")
    return out


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


# -- tests ---------------------------------------------------------------------------------------
@needs_poppler
def test_demo_report_pages_and_headline_numbers(demo_report: Path, tmp_path: Path):
    pdf = demo_report / "audit.pdf"
    summary = json.loads((demo_report / "summary.json").read_text())
    pages = page_count(pdf)
    assert 5 <= pages <= 12, pages
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == pages
    for png in pngs:  # every page has ink beyond the footer (no empty page from a bad break)
        img = Image.open(png).convert("L")
        w, h = img.size
        assert img.crop((0, 0, w, int(h * 0.85))).getextrema()[0] < 128, f"{png.name} looks empty"

    text = pdf_text(pdf)
    first = text.split("\f")[0]
    assert f"{summary['n_samples']:,}" in first
    for key in ("share_text_answerable", "share_leaked", "share_kept"):
        assert f"{100 * summary[key]:.1f}%" in first, key
    assert summary["verdict"]["status"].upper() in first
    metrics = pd.read_csv(demo_report / "metrics.csv")
    lvlm = metrics[(metrics["model"] == "lvlm-a") & (metrics["category"] == "all")].iloc[0]
    row = next(line for line in first.splitlines() if line.strip().startswith("lvlm-a"))
    below = first.splitlines()[first.splitlines().index(row) + 1]  # the 95% intervals are printed under the values
    for col in ("S_v", "S_wv", "MG", "ML"):
        assert f"{lvlm[col]:.1f}" in row, col
        assert f"[{lvlm[col + '_lo']:.1f}, {lvlm[col + '_hi']:.1f}]" in below, col

    # the reproducibility footer is on every page
    digest = data_hash(pd.read_parquet(demo_report / "samples.parquet")["sample_hash"])
    for i, page in enumerate(text.split("\f")[:pages], start=1):
        assert digest in page, f"data hash missing on page {i}"
        assert f"page {i} of {pages}" in page
        assert "leakaudit scan demo" in page


@needs_poppler
def test_demo_report_evidence_and_appendix(demo_report: Path):
    text = pdf_text(demo_report / "audit.pdf")
    # the leakiest question is shown with the models that answered it blind
    samples = pd.read_parquet(demo_report / "samples.parquet")
    top = leakiest(samples, 1).iloc[0]
    bench = leakaudit.load_benchmark("demo").by_id()
    assert bench[top["sample_id"]].question in text
    assert "llm-knows" in text
    assert "image unavailable" not in text
    # appendix: the exact MMStar prompt lines, scoring, and store hash
    assert "Please select the correct answer from the options above." in text
    assert "Answer with the option's letter from the given choices directly" in text
    assert store_hash(demo_report / "run" / "answers.sqlite") in text
    assert (demo_report / "figures" / "mg_ml.png").is_file()


def test_store_hash_ignores_timing_and_order(demo_report: Path, tmp_path: Path):
    import sqlite3

    copy = tmp_path / "answers.sqlite"
    src = sqlite3.connect(demo_report / "run" / "answers.sqlite")
    src.backup(dst := sqlite3.connect(copy))
    src.close()
    before = store_hash(copy)
    dst.execute("UPDATE answers SET created_at = created_at + 100, seconds = 9.9")
    dst.commit()
    assert store_hash(copy) == before
    dst.execute("UPDATE answers SET correct = 1 - correct WHERE rowid = (SELECT MIN(rowid) FROM answers)")
    dst.commit()
    dst.close()
    assert store_hash(copy) != before


@needs_poppler
def test_cjk_question_renders_with_embedded_fonts(cjk_report: Path):
    assert find_cjk_font() is not None, f"no TrueType CJK font: {CJK_FONT_HINT}"
    pdf = cjk_report / "audit.pdf"
    text = pdf_text(pdf)
    assert CJK_QUESTION in text
    assert "天坛" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("yes" == r[-5] for r in rows), fonts  # the 'emb' column of every font
    cjk_name = pdfmetrics.getFont(register_fonts().cjk).face.name.decode()
    assert any(cjk_name in r[0] for r in rows), fonts  # the CJK glyphs come from the embedded CJK font


def test_report_degrades_without_images(demo_report: Path, tmp_path: Path):
    """A benchmark source that is gone costs the thumbnails, not the report."""
    moved = tmp_path / "moved"
    shutil.copytree(demo_report, moved, ignore=shutil.ignore_patterns("audit.pdf", "figures"))
    summary = json.loads((moved / "summary.json").read_text())
    summary["source"] = str(tmp_path / "nowhere")
    summary["benchmarks"] = {"no-such-benchmark": {"source": str(tmp_path / "nowhere")}}
    summary["benchmark"] = "no-such-benchmark"
    (moved / "summary.json").write_text(json.dumps(summary))
    inputs = load_report_inputs(moved)
    assert inputs.benchmarks == [] and "no-such-benchmark" in inputs.benchmark_error
    pdf = build_report(moved, tmp_path / "out.pdf")
    assert pdf.stat().st_size > 10_000
    if POPPLER:
        assert "image unavailable" in pdf_text(pdf)


def test_markup_escapes_and_switches_fonts():
    out = markup("a<b> & 图")
    assert out.startswith("a&lt;b&gt; &amp; ")
    if find_cjk_font() is not None:
        assert '<font name="LeakauditCJK">图</font>' in out


@needs_poppler
def test_report_on_real_mmbench_and_ccbench_samples(shared_data: Path, tmp_path: Path):
    """Real questions and photos (MMBench EN/CN, CCBench): Chinese text and JPEG thumbnails."""
    bench = leakaudit.load_benchmark("mmbench", path=shared_data / "mmbench_samples")
    first = bench.samples[0]
    assert first.question == CJK_QUESTION  # CCBench's first sample
    out = tmp_path / "mmbench"
    scan_with_scripted_models(bench, out, known_ids=[first.id])
    pdf = build_report(out, out / "audit.pdf")
    text = pdf_text(pdf)
    assert CJK_QUESTION in text and "天坛" in text
    assert "image unavailable" not in text
    assert first.category.split(" ")[0] in text  # a Chinese capability name


@needs_poppler
def test_report_of_a_text_only_audit(tmp_path: Path):
    """Only LLMs ran: no MG/ML, but the text-only evidence, heatmap of S_t and filter still show."""
    out = tmp_path / "text_only"
    scan_with_scripted_models(leakaudit.load_benchmark("demo", limit=20), out, with_lvlm=False)
    text = pdf_text(build_report(out, out / "audit.pdf"))
    assert "MG and ML are not available" in text
    assert "text-only accuracy" in text
    assert "What the filter kept and removed" in text
    assert (out / "figures" / "text_hits.png").is_file() and not (out / "figures" / "mg_ml.png").exists()


def test_scan_writes_the_report(tmp_path: Path):
    bench = leakaudit.load_benchmark("demo", limit=12)
    result = scan_with_scripted_models(bench, tmp_path / "scan", report=True)
    assert result.report_pdf == tmp_path / "scan" / "audit.pdf"
    assert result.report_pdf.read_bytes().startswith(b"%PDF")
    assert {p.name for p in (tmp_path / "scan" / "figures").glob("*.png")} >= {"mg_ml.png", "text_hits.png"}


def test_cli_report_from_report_dir_and_run_dir(demo_report: Path, tmp_path: Path):
    from click.testing import CliRunner

    from leakaudit.cli import main

    res = CliRunner().invoke(main, ["report", str(demo_report), "-o", str(tmp_path / "a.pdf")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    run_copy = tmp_path / "run"
    shutil.copytree(demo_report / "run", run_copy)
    res = CliRunner().invoke(main, ["report", str(run_copy), "-o", str(tmp_path / "b.pdf"), "--base-llm", "lvlm-a=llm-half"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
    assert (run_copy / "audit" / "summary.json").is_file()
    res = CliRunner().invoke(main, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "c.pdf")])
    assert res.exit_code == 2 and "summary.json" in res.output
