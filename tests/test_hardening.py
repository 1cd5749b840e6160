"""Hardening: a gate that is never ambiguous, a store that fails safe, bounded work, real image
decoding, trust made explicit, and property-based tests of the loaders (hypothesis)."""
from __future__ import annotations

import io
import json
import os
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.errors import ConfigError, DataError, LeakauditError
from leakaudit.answers.store import Answer, AnswerStore, StoreError

ROWS = [{"id": f"q{i}", "question": f"Which one is number {i}?", "options": [f"a{i}", f"b{i}", f"c{i}"], "answer": "ABC"[i % 3]} for i in range(6)]


def write_sub(path: Path, rows=ROWS) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def answer(i: int, **kw) -> Answer:
    return Answer("b", f"s{i}", f"h{i}", "m", "text", "p", "letter", True, option_scores=[0.0, -1.0], **kw)


# -- the gate ---------------------------------------------------------------------------------
class Boom(ScriptedLM):
    def loglikelihood(self, prompts, continuations):
        raise RuntimeError("backend exploded \x1b[31min red\x1b[0m")


def test_gate_unexpected_exception_is_a_fresh_error_verdict(tmp_path):
    from leakaudit.workflows.gate import EXIT_ERROR, gate

    out = tmp_path / "out"
    out.mkdir()
    (out / "verdict.json").write_text(json.dumps({"status": "pass", "exit_code": 0}))
    (out / "summary.json").write_text("{}")
    v = gate(write_sub(tmp_path / "s.jsonl"), out=out, models=[Boom("x", lambda p: "A"), ScriptedLM("y", lambda p: "A")])
    assert v.status == "error" and v.exit_code == EXIT_ERROR
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["status"] == "error" and "backend exploded" in verdict["error"]["message"] and "\x1b" not in verdict["error"]["message"]
    assert not (out / "summary.json").exists()  # a stale audit summary is removed with the stale verdict
    assert ET.parse(out / "junit.xml").getroot().get("errors") == "1"
    assert "ERROR" in (out / "summary.md").read_text()


def test_gate_recursion_error_is_exit_2(tmp_path, monkeypatch):
    import leakaudit.data.benchmark as benchmark
    from leakaudit.workflows.gate import gate

    def deep(*a, **k):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(benchmark, "load_benchmark", deep)
    v = gate(write_sub(tmp_path / "s.jsonl"), out=tmp_path / "o", models=[ScriptedLM("x", lambda p: "A")])
    assert v.exit_code == 2 and "nested too deeply" in v.error["message"]


def test_gate_unwritable_out_is_reported_before_any_work(tmp_path):
    from leakaudit.workflows.gate import OutDirError, gate

    calls = []
    lm = ScriptedLM("x", lambda p: calls.append(1) or "A")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutDirError, match="--out"):
        gate(write_sub(tmp_path / "s.jsonl"), out=blocker / "out", models=[lm])
    assert calls == []


def test_gate_refuses_thresholds_that_cannot_fail(tmp_path):
    from leakaudit.workflows.gate import gate

    v = gate(write_sub(tmp_path / "s.jsonl"), out=tmp_path / "o", models=[ScriptedLM("x", lambda p: "A"), ScriptedLM("y", lambda p: "A")], k=3, n=3)
    assert v.exit_code == 2 and "k=3 >= n=3" in v.error["message"]


def test_cli_unexpected_error_is_one_line_exit_2(monkeypatch, tmp_path):
    import leakaudit.data.inspect as insp
    from leakaudit.cli import main

    def broken(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(insp, "inspect_benchmark", broken)
    monkeypatch.setattr("leakaudit.cli.data.inspect_benchmark", broken)
    sub = write_sub(tmp_path / "s.jsonl")
    monkeypatch.delenv("LEAKAUDIT_DEBUG", raising=False)
    res = CliRunner().invoke(main, ["inspect", str(sub)])
    assert res.exit_code == 2 and "unexpected failure: KeyError" in res.output and "LEAKAUDIT_DEBUG=1" in res.output
    assert "Traceback" not in res.output
    monkeypatch.setenv("LEAKAUDIT_DEBUG", "1")
    res = CliRunner().invoke(main, ["inspect", str(sub)])
    assert res.exit_code == 2 and "Traceback" in res.output


def test_clean_message_and_safe_filename():
    from leakaudit.data.textsafe import clean_message, safe_filename

    assert clean_message("a\x1b[31mred\x1b[0m\x00b\x07") == "ared\\x00b\\x07"
    ET.fromstring(f"<a>{clean_message(chr(1) + 'x' + chr(0x1f))}</a>")
    assert len(clean_message("x" * 10_000)) < 4100
    for bad in ("../../x", "/etc/passwd", "..", "a/b\\c", "x" * 5000, "\x00"):
        name = safe_filename(bad)
        assert "/" not in name and "\\" not in name and not name.startswith(".") and 0 < len(name) <= 120
    assert safe_filename("../a") != safe_filename("..a")  # distinct ids stay distinct
    assert safe_filename("q-12_ok.v2") == "q-12_ok.v2"


def test_regenerated_images_stay_inside_out(tmp_path):
    from leakaudit.data.images import ImageRef
    from leakaudit.regen.loop import _write_submission
    from leakaudit.data.schema import Sample

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    s = Sample(id="../../x", benchmark="b", question="q?", options=["a", "b"], answer="A", images=[ImageRef(data=buf.getvalue())],
               meta={"regen_source_id": "../../x"})
    out = tmp_path / "deep" / "out"
    _write_submission([s], [{}], out)
    written = [p for p in tmp_path.rglob("*.png")]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)


# -- the store --------------------------------------------------------------------------------
def test_read_only_open_changes_nothing(tmp_path):
    with AnswerStore(tmp_path / "run") as st:
        st.add(answer(1))
    f = tmp_path / "run" / "answers.sqlite"
    c = sqlite3.connect(f)
    c.execute("PRAGMA journal_mode=DELETE")
    c.close()
    before = f.read_bytes()
    with AnswerStore(tmp_path / "run", read_only=True) as st:
        assert st.count() == 1 and len(st.answers()) == 1
        with pytest.raises(StoreError):
            st.add(answer(2))
    assert f.read_bytes() == before
    assert sqlite3.connect(f).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_audit_of_a_read_only_run_folder(tmp_path):
    from leakaudit.cli import main

    with AnswerStore(tmp_path / "run") as st:
        for i in range(4):
            st.add(answer(i))
    os.chmod(tmp_path / "run" / "answers.sqlite", 0o444)
    os.chmod(tmp_path / "run", 0o555)
    try:
        res = CliRunner().invoke(main, ["audit", "--run-dir", str(tmp_path / "run"), "--n-boot", "0"])
        assert res.exit_code == 0, res.output
    finally:
        os.chmod(tmp_path / "run", 0o755)


def test_full_disk_stops_the_run_with_what_was_stored(tmp_path, monkeypatch):
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.runner import run

    bench = load_benchmark(str(write_sub(tmp_path / "s.jsonl")))
    real_add = AnswerStore.add.__wrapped__
    calls = {"n": 0}

    def add(self, a):
        calls["n"] += 1
        if calls["n"] > 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real_add(self, a)

    from leakaudit.answers import store as store_mod

    monkeypatch.setattr(AnswerStore, "add", store_mod._guarded("storing an answer")(add))
    with pytest.raises(StoreError, match="disk is full.*intact"):
        run(bench, [ScriptedLM("m", lambda p: "A")], condition="text", run_dir=tmp_path / "run", progress=False, batch_size=1)
    monkeypatch.undo()
    with AnswerStore(tmp_path / "run", read_only=True) as st:
        assert st.count() == 3


def test_enospc_is_a_disk_full_message(tmp_path):
    import errno

    from leakaudit.answers.store import _store_error

    err = _store_error(tmp_path / "answers.sqlite", OSError(errno.ENOSPC, "No space left on device"), "storing an answer")
    assert isinstance(err, StoreError) and "disk is full" in str(err)


def test_store_check_and_repair_keep_every_readable_answer(tmp_path):
    from leakaudit.answers.store_tools import check_store, repair_store

    with AnswerStore(tmp_path / "run") as st:
        for i in range(40):
            st.add(answer(i))
    f = tmp_path / "run" / "answers.sqlite"
    c = sqlite3.connect(f)
    c.execute("UPDATE answers SET option_scores = 'nope' WHERE sample_id = 's5'")
    c.commit()
    c.close()
    with AnswerStore(tmp_path / "run", read_only=True) as st, pytest.raises(DataError) as err:
        st.answers()
    assert err.value.field == "option_scores" and "rowid" in str(err.value.row) and str(f) in str(err.value)
    report = check_store(tmp_path / "run")
    assert not report["ok"] and "option_scores" in report["problems"][0]
    r = repair_store(tmp_path / "run")
    assert r["kept"]["answers"] == 40 and r["json_cells_cleared"] == 1 and Path(r["old_file"]).is_file()
    assert check_store(tmp_path / "run")["ok"]
    # a truncated copy of a larger store: the surviving pages are salvaged
    with AnswerStore(tmp_path / "big") as st:
        for i in range(2000):
            st.add(answer(i, raw_response="x" * 50))
    g = tmp_path / "big" / "answers.sqlite"
    data = g.read_bytes()
    g.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="store repair"):
        AnswerStore(tmp_path / "big", read_only=True)
    r = repair_store(tmp_path / "big")
    assert 0 < r["kept"]["answers"] < 2000
    with AnswerStore(tmp_path / "big", read_only=True) as st:
        assert st.count() == r["kept"]["answers"]


def test_arrow_scores_parse_slice_by_slice_like_the_lists(tmp_path, monkeypatch):
    """``answers(scores="arrow")`` parses option_scores a few rows at a time: plain slices by
    Arrow, a slice with another cell (nested, null, NaN) by JSON, the same values as
    ``scores="lists"``; bad JSON still names its row."""
    import pandas as pd

    import leakaudit.answers.store as store_mod

    monkeypatch.setattr(store_mod, "SCORE_PARSE_ROWS", 3)
    scores = [[0.0, -1.0], [-2.5, 1e-3], None, [0.5, -0.5, -1.5], [], [-1.0, -3.0], [1.0, 2.0]]
    with AnswerStore(tmp_path / "run") as st:
        for i, sc in enumerate(scores):
            st.add(Answer("b", f"s{i}", f"h{i}", "m", "text", "p", "letter", True, option_scores=sc))
    c = sqlite3.connect(tmp_path / "run" / "answers.sqlite")
    c.execute("UPDATE answers SET option_scores = '[ -1.0 ,  -3.0 ]' WHERE sample_id = 's5'")  # spaces: still plain
    c.commit()
    with AnswerStore(tmp_path / "run", read_only=True) as st:
        arrow, lists = st.answers(scores="arrow"), st.answers()
    assert str(arrow["option_scores"].dtype).startswith("list<item: double>")
    as_lists = [None if v is None or v is pd.NA else list(v) for v in arrow["option_scores"].tolist()]
    expected = [None if v is None else [float(x) for x in v] for v in lists["option_scores"]]
    assert as_lists == expected
    assert dict(zip(arrow["sample_id"], as_lists))["s5"] == [-1.0, -3.0]
    c.execute("UPDATE answers SET option_scores = '[1, oops]' WHERE sample_id = 's6'")
    c.commit()
    c.close()
    for how in ("arrow", "lists"):  # a list-shaped cell with bad JSON: the row, not a ValueError
        with AnswerStore(tmp_path / "run", read_only=True) as st, pytest.raises(DataError) as err:
            st.answers(scores=how)
        assert err.value.field == "option_scores" and "rowid 7" in str(err.value.row)


def test_export_format_follows_the_suffix(tmp_path):
    with AnswerStore(tmp_path / "run") as st:
        st.add(answer(1))
        with pytest.raises(LeakauditError, match="x.txt"):
            st.export(tmp_path / "x.txt")
        st.export(tmp_path / "x.jsonl")
        st.export(tmp_path / "x.csv")
    assert json.loads((tmp_path / "x.jsonl").read_text().splitlines()[0])["sample_id"] == "s1"
    assert not (tmp_path / "x.txt").exists()


# -- bounded work -------------------------------------------------------------------------------
def test_long_prompts_truncated_or_skipped_with_a_reason(tmp_path):
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.answers.runner import run

    rows = [{**ROWS[0], "question": "why " * 40_000}] + ROWS[1:3]
    bench = load_benchmark(str(write_sub(tmp_path / "s.jsonl", rows)))
    seen = []
    lm = ScriptedLM("m", lambda p: seen.append(sum(len(m["content"]) for m in p.messages)) or "A")
    lm.max_prompt_tokens = 1000
    run(bench, [lm], condition="text", run_dir=tmp_path / "t", progress=False, long_prompts="truncate")
    assert max(seen) < 1000 * 3 + 100
    with AnswerStore(tmp_path / "t", read_only=True) as st:
        assert st.count() == 3
        note = st.runs()[-1]["long_prompts"]["m"][0]
        assert note["sample_id"] == "q0" and note["action"] == "truncate" and note["estimated_tokens"] > 1000
    run(bench, [lm], condition="text", run_dir=tmp_path / "s", progress=False, long_prompts="skip")
    with AnswerStore(tmp_path / "s", read_only=True) as st:
        assert st.count() == 2 and st.runs()[-1]["long_prompts"]["m"][0]["action"] == "skip"
    # resuming a truncated run asks nothing again (the truncated prompt's key is stable)
    n = len(seen)
    run(bench, [lm], condition="text", run_dir=tmp_path / "t", progress=False, long_prompts="truncate")
    assert len(seen) == n


def test_inspect_warns_about_long_prompts_and_max_prompt_tokens_is_validated(tmp_path):
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.data.inspect import inspect_benchmark
    from leakaudit.models.zoo import zoo_from_dict

    bench = load_benchmark(str(write_sub(tmp_path / "s.jsonl", [{**ROWS[0], "question": "why " * 10_000}] + ROWS[1:])))
    kinds = {p["kind"]: p for p in inspect_benchmark(bench)["problems"]}
    assert kinds["long_prompts"]["ids"] == ["q0"]
    with pytest.raises(ConfigError, match="max_prompt_tokens"):
        zoo_from_dict({"models": {"m": {"kind": "llm", "backend": "scripted", "max_prompt_tokens": "lots"}}})


def test_prompt_budget_comes_from_the_zoo_or_the_tokenizer(tmp_path):
    from leakaudit.data.prompt_limits import DEFAULT_MAX_PROMPT_TOKENS, model_prompt_limit
    from leakaudit.models.zoo import zoo_from_dict

    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 2048}))
    (tmp_path / "huge").mkdir()
    (tmp_path / "huge" / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1e30}))
    zoo = zoo_from_dict({"models": {
        "set": {"kind": "llm", "backend": "scripted", "max_prompt_tokens": 512},
        "tok": {"kind": "llm", "backend": "hf", "hf_id": str(tmp_path / "tok")},
        "huge": {"kind": "llm", "backend": "hf", "hf_id": str(tmp_path / "huge")},
    }})
    assert model_prompt_limit("set", zoo) == 512
    assert model_prompt_limit("tok", zoo) == 2048
    assert model_prompt_limit("huge", zoo) == DEFAULT_MAX_PROMPT_TOKENS


# -- images -----------------------------------------------------------------------------------
def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_16_bit_images_are_rescaled_not_white():
    from leakaudit.data.images import ImageRef

    arr = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    img = ImageRef(data=_png(Image.fromarray(arr))).load()
    px = np.asarray(img)
    assert img.mode == "L" and px.min() == 0 and px.max() == 255 and 100 < px.mean() < 155
    f = np.asarray(ImageRef(data=_tiff(Image.fromarray(np.linspace(-1, 1, 64).reshape(8, 8).astype(np.float32)))).load())
    assert f.min() == 0 and f.max() == 255


def _tiff(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="TIFF")
    return buf.getvalue()


def test_alpha_palette_and_cmyk_images_convert_correctly():
    from leakaudit.data.images import ImageRef

    p = Image.new("P", (4, 4), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.putpixel((0, 0), 1)
    rgb = np.asarray(ImageRef(data=_png(p, transparency=0)).load())
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[3, 3]) == (255, 255, 255)  # transparent -> white, not black
    la = np.asarray(ImageRef(data=_png(Image.new("LA", (2, 2), (0, 0)))).load())
    assert la.min() == 255
    buf = io.BytesIO()
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(buf, format="JPEG")
    c = np.asarray(ImageRef(data=buf.getvalue()).load())
    assert c[..., 0].mean() > 200 and c[..., 1].mean() < 60


def test_inspect_decodes_every_image(tmp_path):
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.data.inspect import inspect_benchmark

    arr = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    (tmp_path / "t.png").write_bytes(_png(Image.fromarray(arr))[:300])
    bench = load_benchmark(str(write_sub(tmp_path / "s.jsonl", [{**ROWS[0], "image": "t.png"}])))  # the header alone is fine
    with pytest.raises(DataError) as err:
        inspect_benchmark(bench)
    assert err.value.row == 0 and err.value.field == "image" and err.value.file.endswith("s.jsonl")
    stats = inspect_benchmark(bench, on_error="skip")
    assert stats["unreadable_images"][0]["field"] == "image"


# -- trust --------------------------------------------------------------------------------------
def test_remote_code_needs_a_pinned_revision_and_the_flag(monkeypatch):
    from leakaudit.models.zoo import ALLOW_REMOTE_CODE_ENV, zoo_from_dict

    entry = {"kind": "llm", "backend": "hf", "hf_id": "org/model", "trust_remote_code": True}
    monkeypatch.delenv(ALLOW_REMOTE_CODE_ENV, raising=False)
    with pytest.raises(ConfigError, match="pins no commit"):
        zoo_from_dict({"models": {"m": {**entry, "revision": "main"}}}).load("m")
    zoo = zoo_from_dict({"models": {"m": {**entry, "revision": "0123456789abcdef0123456789abcdef01234567"}}})
    with pytest.raises(ConfigError, match="--allow-remote-code"):
        zoo.load("m")


def test_default_panel_excludes_remote_code_models(monkeypatch):
    from leakaudit.workflows.scan import plan_models
    from leakaudit.models.zoo import ALLOW_REMOTE_CODE_ENV, load_zoo

    monkeypatch.delenv(ALLOW_REMOTE_CODE_ENV, raising=False)
    zoo = load_zoo()
    plan = plan_models(zoo)
    names = plan.names()["inspectors"] + plan.names()["lvlms"]
    assert "InternLM2-20B" not in names and any("InternLM2-20B" in s for s in plan.skipped)
    assert all(not zoo[n].trust_remote_code for n in names)
    monkeypatch.setenv(ALLOW_REMOTE_CODE_ENV, "1")
    assert "InternLM2-20B" in plan_models(zoo).names()["inspectors"]


def test_api_key_env_is_limited_and_foreign_hosts_warned(monkeypatch, caplog):
    pytest.importorskip("httpx")
    from leakaudit.models.backends.openai_api import OpenAIBackend
    from leakaudit.models.zoo import zoo_from_dict

    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        zoo_from_dict({"models": {"g": {"kind": "llm", "backend": "openai", "api_model": "x", "options": {"api_key_env": "GITHUB_TOKEN"}}}})
    with pytest.raises(ConfigError, match="_API_KEY"):
        OpenAIBackend("g", "x", api_key_env="GITHUB_TOKEN")
    zoo_from_dict({"allowed_api_key_env": ["GATEWAY_TOKEN"],
                   "models": {"g": {"kind": "llm", "backend": "openai", "api_model": "x", "options": {"api_key_env": "GATEWAY_TOKEN"}}}})
    monkeypatch.setenv("MY_API_KEY", "k")
    with caplog.at_level("WARNING"):
        OpenAIBackend("g", "x", api_key_env="MY_API_KEY", base_url="http://example.com/v1").close()
    assert "unencrypted HTTP" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        OpenAIBackend("g", "x", api_key_env="MY_API_KEY", base_url="https://gateway.example.org/v1").close()
    assert "gateway.example.org" in caplog.text


# -- property-based: the loaders raise DataError or succeed, never anything else -------------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=20)
row_strategy = st.dictionaries(st.sampled_from(["id", "question", "options", "answer", "answer_type", "image", "hint", "A", "B", "C", "category"]),
                               json_values, max_size=8)
PROP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _load_or_data_error(path: Path):
    from leakaudit.data.benchmark import load_benchmark

    try:
        bench = load_benchmark(str(path))
    except DataError as err:
        assert err.file is not None
        return None
    for s in bench.samples:  # whatever loads is a valid sample
        assert s.question and (not s.options or s.answer in s.letters)
    return bench


@PROP
@given(rows=st.lists(row_strategy, min_size=1, max_size=4))
def test_jsonl_loader_property(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("p")
    _load_or_data_error(write_sub(d / "s.jsonl", rows))


@PROP
@given(text=st.text(alphabet=st.sampled_from(list("ab,\"\n\t[]{}0 \\'AaNn")), max_size=200))
def test_csv_loader_property(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("p")
    (d / "s.csv").write_text("question,A,B,options,answer\n" + text, encoding="utf-8")
    _load_or_data_error(d / "s.csv")


@PROP
@given(raw=st.binary(max_size=300))
def test_binary_garbage_property(tmp_path_factory, raw):
    d = tmp_path_factory.mktemp("p")
    for name in ("s.jsonl", "s.parquet", "s.tsv"):
        (d / name).write_bytes(raw)
        _load_or_data_error(d / name)


@PROP
@given(value=st.text(max_size=300) | st.binary(max_size=50) | json_values)
def test_cell_parsers_property(value):
    from benchmarks_adapters.common import image_refs, options_from_list, text

    for fn in (lambda v: options_from_list(v), lambda v: text(v, required=True), lambda v: image_refs(v, root=Path("/nonexistent-root"))):
        try:
            fn(value)
        except DataError:
            pass


def test_a_yaml_error_is_one_line_with_its_line_and_column(tmp_path):
    """An unparsable zoo or --config file: one line naming the file, line and column (not PyYAML's multi-line report)."""
    from leakaudit.cli.config import read_config
    from leakaudit.errors import ConfigError
    from leakaudit.models.zoo import load_zoo

    bad = tmp_path / "cfg.yaml"
    bad.write_text("k: 2\nlist: [1, 2\n")
    for read in (read_config, load_zoo):
        with pytest.raises(ConfigError) as err:
            read(bad)
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith(f"{bad}: not valid YAML at line 3, column 1:"), msg
    bad.write_bytes(b"k: 2\nname: \xff\n")
    with pytest.raises(ConfigError, match="invalid UTF-8 at line 2"):
        read_config(bad)


def test_an_output_path_inside_a_file_is_one_line_naming_it(tmp_path):
    from leakaudit.cli import main

    sub = tmp_path / "sub.jsonl"
    sub.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Which {i}?", "options": ["a", "b"], "answer": "AB"[i % 2]}) + "\n" for i in range(8)))
    res = CliRunner().invoke(main, ["probe", str(sub), "-o", str(sub / "p.csv")])
    assert res.exit_code == 2 and res.output.strip() == f"error: {sub}: File exists (a folder is needed here, but this is a file)"
