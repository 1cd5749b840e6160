"""The first hour (issue 15): readable output at any width, quiet logs, reruns that reuse, reuse of equivalent answers."""
from __future__ import annotations

import io
import json
import logging
import re
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.data.benchmark import load_benchmark
from leakaudit.cli import main
from leakaudit.cli.audit import METRICS_LEGEND, metrics_table, print_metrics
from leakaudit.workflows.scan import default_out, scan, set_aside

LONG = "smollm2-135m-llamacpp"  # the longest name in the tiny zoo (21 characters)
HUB = "Qwen/Qwen2.5-0.5B-Instruct"


def _audit_result(tmp_path: Path):
    """A scan with scripted models whose names are as long as real ones."""
    bench = load_benchmark("demo")
    gold = {s.question: s.answer_text for s in bench.samples if s.meta.get("label") == "text-answerable"}

    def llm(prompt):
        text = prompt.messages[-1]["content"]
        return next((a for q, a in gold.items() if q in text), "")

    models = [ScriptedLM(LONG, llm), ScriptedLM(HUB, llm), ScriptedLM("tiny-idefics3-lm", lambda p: ""),
              ScriptedLM("ocr+smollm2", llm, supports_images=True)]
    res = scan(bench, models=models, base_llms={"ocr+smollm2": "tiny-idefics3-lm"}, out=tmp_path / "r", n_boot=50,
               progress=False, report=False)
    return res


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    return _audit_result(tmp_path_factory.mktemp("scan"))


@pytest.mark.parametrize("width", [80, 100, 140])
def test_metrics_table_fits_the_width_with_every_name_in_full(scanned, width):
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    print_metrics(console, scanned.audit)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, text
    # every model name on one line, never cut with an ellipsis
    for name in (LONG, HUB, "tiny-idefics3-lm", "ocr+smollm2", "average (LVLMs)"):
        assert any(name in line for line in lines), (name, text)
    assert "…" not in text
    assert "MG = S_v - S_wv" in text.replace("\n", " ")  # the legend of the abbreviations


def test_wide_terminal_keeps_the_one_line_layout(scanned):
    wide = metrics_table(scanned.audit, width=400)
    assert [c.header for c in wide.columns][:3] == ["model", "kind", "base LLM"]
    narrow = metrics_table(scanned.audit, width=80)
    assert [c.header for c in narrow.columns][0] == "model" and "kind" not in [c.header for c in narrow.columns]


def test_scan_cli_rerun_in_the_default_folder_says_no_model_call(tmp_path, monkeypatch):
    """`scan` twice with no --out: the same reports/<bench>/ folder, the second run makes no model call."""
    monkeypatch.chdir(tmp_path)
    bench_file = tmp_path / "mini.jsonl"
    load_benchmark("demo").subset([s.id for s in load_benchmark("demo").samples[:6]]).write(bench_file)
    assert default_out("mini") == Path("reports") / "mini"
    res1 = scan(str(bench_file), models=[ScriptedLM("a", lambda p: "")], n_boot=0, progress=False, report=False)
    assert res1.out_dir == Path("reports") / "mini"
    assert "new answers" in res1.calls_message()
    res2 = scan(str(bench_file), models=[ScriptedLM("a", lambda p: "")], n_boot=0, progress=False, report=False)
    assert res2.out_dir == res1.out_dir
    assert res2.calls_message() == "all 6 answers already stored: no model call made"


def test_set_aside_keeps_the_previous_pdf_by_timestamp(tmp_path):
    pdf = tmp_path / "audit.pdf"
    assert set_aside(pdf) is None
    pdf.write_bytes(b"%PDF-1 old")
    kept = set_aside(pdf)
    assert kept is not None and not pdf.exists() and kept.read_bytes() == b"%PDF-1 old"
    assert re.fullmatch(r"audit-\d{8}-\d{6}\.pdf", kept.name)
    pdf.write_bytes(b"%PDF-1 newer")
    again = set_aside(pdf)
    assert again != kept and again.exists() and kept.exists()


def test_version_and_global_options():
    runner = CliRunner()
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0 and re.match(r"leakaudit, version \d", res.output)
    res = runner.invoke(main, ["--quiet", "--log-level", "info", "benchmarks"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["--log-level", "loud", "benchmarks"])
    assert res.exit_code == 2 and "loud" in res.output


def test_third_party_warnings_silenced_unless_debug():
    from leakaudit.cli.console import configure_output

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        configure_output(False, "warning")
        warnings.warn("`past_key_values` is deprecated", FutureWarning)
        warnings.warn_explicit("Glyph 26085 missing from font(s) DejaVu Sans.", UserWarning, "matplotlib/backends/backend_agg.py", 1,
                               module="matplotlib.backends.backend_agg")
    assert not caught
    assert logging.getLogger("transformers").getEffectiveLevel() >= logging.ERROR
    assert logging.getLogger("leakaudit").getEffectiveLevel() == logging.WARNING
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        configure_output(False, "debug")
        warnings.warn("`past_key_values` is deprecated", FutureWarning)
    assert caught
    configure_output(False, "warning")


def test_no_color_gives_plain_text(monkeypatch):
    from leakaudit.cli.console import make_console

    monkeypatch.setenv("NO_COLOR", "1")
    console = make_console()
    assert console.no_color and console.color_system is None
    console.print("[red]error[/red]")  # no escape codes under NO_COLOR
    colour_code = re.compile(r"\x1b\[[0-9;]*m")
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, no_color=console.no_color, color_system=console.color_system).print("[red]error[/red] x")
    assert not colour_code.search(buf.getvalue())
    monkeypatch.delenv("NO_COLOR")
    assert make_console().color_system is None or not make_console().no_color


def test_pipe_width_honours_columns(monkeypatch):
    """In a pipe or log the console is 140 wide, unless COLUMNS asks for another width."""
    from leakaudit.cli.console import PIPE_WIDTH, make_console

    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a terminal
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "80")
    console = make_console()
    assert console.width == 80
    console.print("verdict: " + "word " * 40)
    assert max(len(line) for line in sys.stdout.getvalue().splitlines()) <= 80
    monkeypatch.setenv("COLUMNS", "wide")
    assert make_console().width == PIPE_WIDTH


def test_ocr_blind_answers_are_copied_from_its_llm(tmp_path):
    """ocr+smollm2 blind (drop) = smollm2-135m text with the same prompt: copied, not asked again."""
    from leakaudit.answers.reuse import ALL, copy_equivalent_answers, equivalent_sources
    from leakaudit.answers.runner import build_items, run
    from leakaudit.answers.store import AnswerStore
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()

    def for_every_question(name, blind_mode):
        return [src for src, scope in equivalent_sources(zoo[name], name, "blind", blind_mode) if scope == ALL]

    assert for_every_question("ocr+smollm2", "drop") == [("smollm2-135m", "text")]
    assert for_every_question("ocr+smollm2", "grey") == []
    assert for_every_question("tiny-llava", "drop") == []
    bench = load_benchmark("demo").subset([s.id for s in load_benchmark("demo").samples[:5]])
    llm = ScriptedLM("smollm2-135m", lambda p: "")
    run(bench, [llm], condition="text", run_dir=tmp_path, scoring="cloze", progress=False)
    run(bench, [ScriptedLM("smollm2-135m", lambda p: "")], condition="text", run_dir=tmp_path, scoring="letter", progress=False)
    items = build_items(bench.samples, "blind", shots=0, fewshot=[], scoring="cloze", blind="drop", circular=False)
    keys = [it.key("ocr+smollm2", "blind", "drop", 0) for it in items]
    assert copy_equivalent_answers(tmp_path, "ocr+smollm2", "blind", "drop", ("smollm2-135m", "text"), keys) == 5
    # letter prompts differ between text and blind (MMStar's letter line): none of those is copied
    letter_items = build_items(bench.samples, "blind", shots=0, fewshot=[], scoring="letter", blind="drop", circular=False)
    assert copy_equivalent_answers(tmp_path, "ocr+smollm2", "blind", "drop", ("smollm2-135m", "text"),
                                   [it.key("ocr+smollm2", "blind", "drop", 0) for it in letter_items]) == 0
    reader = ScriptedLM("ocr+smollm2", lambda p: "", supports_images=True)
    summary = run(bench, [reader], condition="blind", run_dir=tmp_path, scoring="cloze", progress=False)
    assert reader.calls == 0 and summary.all_cached
    with AnswerStore(tmp_path) as store:
        df = store.answers(model="ocr+smollm2", condition="blind")
    assert len(df) == 5 and set(df["source"]) == {"copy:smollm2-135m/text"}


def test_blind_answers_of_questions_without_an_image_are_the_vision_answers(tmp_path):
    """A question without an image reads the same with and without "the image": the blind
    pass copies the vision answers (a text-only submission asks each LVLM once, not twice)."""
    from dataclasses import replace

    from leakaudit.data.benchmark import Benchmark
    from leakaudit.workflows.pipeline import ModelPlan, collect_answers
    from leakaudit.answers.store import AnswerStore

    demo = load_benchmark("demo")
    samples = [replace(s, images=[]) if i % 2 else s for i, s in enumerate(demo.samples[:6])]
    assert [bool(s.images) for s in samples] == [True, False] * 3
    bench = Benchmark(name="mixed", samples=samples, source="test", format="generated")
    seen: list[int] = []
    lvlm = ScriptedLM("lvlm", lambda p: seen.append(len(p.images)) or "A", supports_images=True)
    plan = ModelPlan(lvlms=[lvlm], blind_modes={"lvlm": "drop"})
    collect_answers(bench, plan, run_dir=tmp_path, zoo=None, shots=0, scoring="generate", circular=False, limit=None, progress=False)
    assert len(seen) == 6 + 3  # vision: 6 questions; blind: only the 3 with an image are asked again
    with AnswerStore(tmp_path) as store:
        blind = store.answers(model="lvlm", condition="blind").set_index("sample_id")
        vision = store.answers(model="lvlm", condition="vision").set_index("sample_id")
    assert len(blind) == 6
    copied = blind[blind["source"] == "copy:lvlm/vision"]
    assert sorted(copied.index) == sorted(s.id for s in samples if not s.images)
    assert (copied["chosen"] == vision.loc[copied.index, "chosen"]).all()
    # with grey stand-ins nothing is copied: the blind prompt of an image-less question has no
    # picture either, but grey is its own condition and keeps its own answers
    seen.clear()
    grey = ModelPlan(lvlms=[ScriptedLM("lvlm2", lambda p: seen.append(1) or "A", supports_images=True)], blind_modes={"lvlm2": "grey"})
    collect_answers(bench, grey, run_dir=tmp_path, zoo=None, shots=0, scoring="generate", circular=False, limit=None, progress=False)
    assert len(seen) == 12


def test_ocr_vision_answers_to_questions_without_an_image_are_its_llm_text_answers(tmp_path):
    """The OCR composite reads no image when there is none: its vision prompt is its LLM's
    text prompt (cloze scoring), so scan and gate copy those answers, and the plan says so."""
    from dataclasses import replace

    from leakaudit.data.benchmark import Benchmark
    from leakaudit.workflows.pipeline import _reuse_equivalent
    from leakaudit.answers.plan import make_plan
    from leakaudit.answers.reuse import ALL, NO_IMAGE, equivalent_sources
    from leakaudit.answers.runner import run
    from leakaudit.answers.store import AnswerStore
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    assert equivalent_sources(zoo["ocr+smollm2"], "ocr+smollm2", "vision", "") == [(("smollm2-135m", "text"), NO_IMAGE)]
    assert equivalent_sources(zoo["ocr+smollm2"], "ocr+smollm2", "blind", "drop") == [
        (("smollm2-135m", "text"), ALL), (("ocr+smollm2", "vision"), NO_IMAGE)]
    assert equivalent_sources(zoo["tiny-llava"], "tiny-llava", "vision", "") == []
    demo = load_benchmark("demo")
    samples = [replace(s, images=[]) if i % 2 else s for i, s in enumerate(demo.samples[:6])]
    bench = Benchmark(name="mixed", samples=samples, source="test", format="generated")
    for scoring, expected in (("cloze", 3), ("letter", 0)):  # letter: the text prompt has MMStar's letter line
        run(bench, [ScriptedLM("smollm2-135m", lambda p: "")], condition="text", run_dir=tmp_path, scoring=scoring, progress=False)
        assert _reuse_equivalent(bench, "ocr+smollm2", "ocr+smollm2", "vision", 0, "drop", zoo=zoo, run_dir=tmp_path,
                                 scoring=scoring, circular=False, limit=None) == expected
        jobs = [("smollm2-135m", "text", 0, "drop"), ("ocr+smollm2", "vision", 0, "drop"), ("ocr+smollm2", "blind", 0, "drop")]
        frame = make_plan(bench, jobs, zoo=zoo, run_dir=None, scoring=scoring, circular=False, limit=None)
        assert frame["to_ask"].tolist() == ([6, 3, 0] if scoring == "cloze" else [6, 6, 3]), scoring
    with AnswerStore(tmp_path) as store:
        vision = store.answers(model="ocr+smollm2", condition="vision")
    assert sorted(vision["sample_id"]) == sorted(s.id for s in samples if not s.images)
    assert set(vision["source"]) == {"copy:smollm2-135m/text"}


def test_tiny_group_runs_each_set_of_weights_once():
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    names = [s.name for s in zoo.group("tiny")]
    assert "smollm2-135m" in names and "smollm2-135m-llamacpp" not in names
    assert "smollm2-135m-llamacpp" in [s.name for s in zoo.group("tiny-full")]


def test_fast_gguf_reading_gives_the_same_fields_and_tensors(smollm2_path):
    import gguf
    import numpy as np

    from leakaudit.models.backends.gguf_fast import fast_gguf_reading

    slow = gguf.GGUFReader(str(smollm2_path))
    original_map, original_reader = gguf.get_tensor_name_map, gguf.GGUFReader
    with fast_gguf_reading():
        fast = gguf.GGUFReader(str(smollm2_path))
        assert not isinstance(fast.data, np.memmap)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        # transformers opens the file three times (config, tokenizer, weights): parsed once
        assert gguf.GGUFReader(str(smollm2_path)) is fast
    assert gguf.GGUFReader is original_reader
    assert gguf.get_tensor_name_map is original_map and isinstance(gguf.GGUFReader(str(smollm2_path)).data, np.memmap)
    assert list(slow.fields) == list(fast.fields)
    assert slow.fields["tokenizer.ggml.tokens"].contents() == fast.fields["tokenizer.ggml.tokens"].contents()
    assert [t.name for t in slow.tensors] == [t.name for t in fast.tensors]
    for a, b in zip(slow.tensors, fast.tensors):
        assert a.tensor_type == b.tensor_type and np.array_equal(a.data, b.data)


def test_cache_lock_is_exclusive_across_processes(tmp_path):
    import subprocess
    import sys

    from leakaudit.models.zoo import cache_lock

    target = tmp_path / "entry"
    probe = ("import fcntl, sys; f = open(sys.argv[1], 'a+')\n"
             "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
             "except BlockingIOError:\n    print('held')")
    lock_file = str(tmp_path / ".entry.lock")
    with cache_lock(target):
        held = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True, text=True).stdout.strip()
    free = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True, text=True).stdout.strip()
    assert (held, free) == ("held", "free")


def test_background_conversions_plan_only_what_is_missing(monkeypatch, tmp_path):
    from leakaudit.models import prepare
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    specs = prepare.specs_in_order(["ocr+smollm2", "gemma3-270m", "tiny-llava"], zoo)
    # the wrapped LLM comes before its composite; unknown names and LM objects are skipped
    assert [s.name for s in specs] == ["smollm2-135m", "ocr+smollm2", "gemma3-270m", "tiny-llava"]
    monkeypatch.setattr(prepare, "needs_conversion", lambda spec: spec.name in {"smollm2-135m", "gemma3-270m"})
    bg = prepare.BackgroundConversions(specs)
    assert [s.name for s in bg.specs] == ["gemma3-270m"]  # the first one converts in its own turn
    monkeypatch.setattr(prepare, "needs_conversion", lambda spec: spec.name == "smollm2-135m")
    idle = prepare.BackgroundConversions(specs).start()
    assert idle.specs == [] and idle._proc is None
    idle.stop()


def test_background_conversions_only_for_models_loaded_here(monkeypatch):
    """Ray workers load (and convert) their own weights: the driver converts nothing then."""
    from leakaudit.models import prepare
    from leakaudit.answers.engines import use_engine
    from leakaudit.workflows.pipeline import background_conversions
    from leakaudit.models.zoo import load_zoo

    class RemoteEngine:
        local = False

    monkeypatch.setattr(prepare, "needs_conversion", lambda spec: True)
    zoo = load_zoo()
    assert [s.name for s in background_conversions(["smollm2-135m", "gemma3-270m"], zoo).specs] == ["gemma3-270m"]
    with use_engine(RemoteEngine()):
        assert background_conversions(["smollm2-135m", "gemma3-270m"], zoo).specs == []


def test_a_finished_background_conversion_gives_its_thread_back_between_batches(tmp_path):
    """The runner polls between batches: the model whose turn came during the conversion gets
    torch's lent thread back as soon as the child ends, not at the next model."""
    import subprocess

    import torch

    from leakaudit.models import prepare
    from leakaudit.answers.runner import run

    threads = torch.get_num_threads()
    bg = prepare.BackgroundConversions([])
    bg._proc = subprocess.Popen([sys.executable, "-c", "pass"])
    bg._proc.wait()
    bg._torch_threads, lent = threads + 1, threads  # as if one of threads + 1 had been lent
    prepare._ACTIVE.append(bg)
    seen: list[int] = []
    try:
        run(load_benchmark("demo", limit=3), [ScriptedLM("s", lambda p: seen.append(torch.get_num_threads()) or "A")],
            condition="text", run_dir=tmp_path, batch_size=1, progress=False)
        assert seen[0] == lent and seen[1:] == [threads + 1, threads + 1]
    finally:
        bg.stop()
        torch.set_num_threads(threads)
    assert bg not in prepare._ACTIVE


def test_needs_conversion_reads_the_cache(monkeypatch, tmp_path, smollm2_path):
    from leakaudit.models import prepare
    from leakaudit.models.backends.transformers_backend import converted_dir
    from leakaudit.models.zoo import load_zoo

    monkeypatch.setenv("LEAKAUDIT_CACHE", str(tmp_path))
    spec = load_zoo()["smollm2-135m"]
    assert prepare.needs_conversion(spec)
    done = converted_dir(spec.resolve_gguf())
    done.mkdir(parents=True)
    (done / "config.json").write_text("{}")
    assert not prepare.needs_conversion(spec)
    assert not prepare.needs_conversion(load_zoo()["tiny-llava"])  # built, not converted


def test_background_child_runs_and_lends_a_torch_thread(monkeypatch, tmp_path):
    import dataclasses

    import torch

    from leakaudit.models import prepare
    from leakaudit.models.zoo import load_zoo

    monkeypatch.setenv("LEAKAUDIT_CACHE", str(tmp_path))
    spec = load_zoo()["smollm2-135m"]
    broken = [dataclasses.replace(spec, name=f"m{i}", gguf={"path": str(tmp_path / f"missing{i}.gguf")}) for i in range(2)]
    monkeypatch.setattr(prepare, "needs_conversion", lambda s: True)
    before = torch.get_num_threads()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    bg = prepare.BackgroundConversions(broken).start()
    assert [s.name for s in bg.specs] == ["m1"] and calls == [1]
    bg._proc.wait(timeout=120)  # the child fails on the missing file: the run converts it in its turn
    assert bg._proc.returncode == 1
    bg.poll()
    assert calls == [1, 2]
    bg.stop()
    assert calls == [1, 2] and torch.get_num_threads() == 2
    monkeypatch.undo()
    assert torch.get_num_threads() == before
