"""The runner with scripted models: answers stored once, resume, modality checks, blind and circular."""
from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from PIL import Image

from leakaudit.models.backends.base import Prompt
from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.data.benchmark import Benchmark
from leakaudit.errors import LeakauditError
from leakaudit.data.images import ImageRef
from leakaudit.answers.runner import run
from leakaudit.data.schema import Sample
from leakaudit.answers.store import AnswerStore
from leakaudit.models.zoo import zoo_from_dict

N = 6


def _png(size) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 60, 90)).save(buf, format="PNG")
    return buf.getvalue()


def _bench(n: int = N, with_open: bool = False) -> Benchmark:
    samples = [
        Sample(
            id=f"q{i}", benchmark="toy", question=f"What is {i} + 1?",
            options=[str(i + 5), str(i + 1), str(i + 2), str(i + 3)], answer="B",
            images=[ImageRef(data=_png((20 + i, 10 + 2 * i)))], category="math",
        )
        for i in range(n)
    ]
    if with_open:
        samples.append(Sample(id="open", benchmark="toy", question="How many sides has a hexagon?", answer="6", answer_type="integer"))
    return Benchmark(name="toy", samples=samples, source="memory", format="generated")


def _oracle_letter(prompt: Prompt) -> str:
    """Read the last question of the prompt and answer it correctly (as a letter)."""
    text = prompt.messages[-1]["content"]
    i = int(re.search(r"What is (\d+) \+ 1\?", text).group(1))
    for letter, option in re.findall(r"^([A-J])\. (.+)$", text, re.MULTILINE):
        if option == str(i + 1):
            return letter
    return "6"  # the open question


def _oracle_text(prompt: Prompt) -> str:
    text = prompt.messages[-1]["content"]
    m = re.search(r"What is (\d+) \+ 1\?", text)
    return str(int(m.group(1)) + 1) if m else "6"


def _count(run_dir) -> int:
    with AnswerStore(run_dir) as st:
        return st.count()


def test_answers_stored_once_and_second_run_makes_no_call(tmp_path):
    bench = _bench()
    lm = ScriptedLM("oracle", _oracle_letter)
    s1 = run(bench, [lm], condition="text", run_dir=tmp_path, shots=2, progress=False, batch_size=4)
    assert lm.calls == N and s1.rows[0].new == N and s1.rows[0].cached == 0
    assert s1.rows[0].accuracy == 100.0 and not s1.all_cached
    with AnswerStore(tmp_path) as st:
        df = st.answers()
        runs = st.runs()
        assert len(st.samples()) == N
    assert len(df) == N and df["correct"].all()
    assert set(df["extraction"]) == {"argmax"} and df["raw_response"].isna().all()
    assert all(len(x) == 4 for x in df["option_scores"]) and (df["seconds"] >= 0).all()
    assert set(df["shots"]) == {2} and set(df["condition"]) == {"text"}
    info = runs[-1]
    assert info["shots"] == 2 and len(info["fewshot_ids"]) == 2 and info["scoring"] == "letter"
    assert info["prompt_style"] == "mmstar" and "torch" in info["versions"] and info["status"] == "complete"
    assert info["models"][0]["name"] == "oracle"

    again = ScriptedLM("oracle", _oracle_letter)
    s2 = run(bench, [again], condition="text", run_dir=tmp_path, shots=2, progress=False)
    assert again.calls == 0
    assert s2.all_cached and s2.rows[0].cached == N and s2.rows[0].accuracy == 100.0
    assert s2.cached_message() == f"all {N} answers already stored: no model call made"
    assert _count(tmp_path) == N


def test_adding_a_model_runs_only_that_model(tmp_path):
    bench = _bench()
    run(bench, [ScriptedLM("a", lambda p: "A")], condition="text", run_dir=tmp_path, progress=False)
    a_again, b = ScriptedLM("a", lambda p: "A"), ScriptedLM("b", _oracle_letter)
    summary = run(bench, [a_again, b], condition="text", run_dir=tmp_path, progress=False)
    assert a_again.calls == 0 and b.calls == N
    frame = summary.to_frame().set_index("model")
    assert frame.loc["a", "accuracy"] == 0.0 and frame.loc["b", "accuracy"] == 100.0
    assert frame.loc["a", "new"] == 0 and frame.loc["b", "new"] == N
    assert _count(tmp_path) == 2 * N


def test_changed_settings_are_new_keys(tmp_path):
    bench = _bench()
    run(bench, [ScriptedLM("a", _oracle_letter)], condition="text", run_dir=tmp_path, progress=False)
    lm = ScriptedLM("a", _oracle_letter)
    run(bench, [lm], condition="text", shots=2, run_dir=tmp_path, progress=False)
    assert lm.calls == N  # 2-shot prompts differ from 0-shot ones
    lm = ScriptedLM("a", _oracle_letter)
    run(bench, [lm], condition="text", run_dir=tmp_path, progress=False, limit=N + 10)
    assert lm.calls == 0


def test_zoo_models_are_not_loaded_when_everything_is_cached(tmp_path):
    zoo = zoo_from_dict({"models": {"scripted-llm": {"kind": "llm", "backend": "scripted", "options": {"respond": _oracle_letter}}}})
    loads = []
    construct = zoo.construct

    def counting(spec, **overrides):
        lm = construct(spec, **overrides)
        loads.append(lm)
        return lm

    zoo.construct = counting
    bench = _bench()
    first = run(bench, ["scripted-llm"], condition="text", run_dir=tmp_path, zoo=zoo, progress=False)
    assert len(loads) == 1 and loads[0].calls == N and first.rows[0].accuracy == 100.0
    second = run(bench, ["scripted-llm"], condition="text", run_dir=tmp_path, zoo=zoo, progress=False)
    assert len(loads) == 1 and second.all_cached  # nothing left to answer: never loaded
    with AnswerStore(tmp_path) as st:
        assert st.runs()[-1]["models"] == [{"name": "scripted-llm", "loaded": False, "reason": "all answers already stored"}]
    with pytest.raises(LeakauditError, match="text-only"):
        run(bench, ["scripted-llm"], condition="vision", run_dir=tmp_path, zoo=zoo, progress=False)
    assert len(loads) == 1  # refused from the zoo entry's kind, before loading


def test_vision_and_blind_refuse_a_text_only_model(tmp_path):
    lm = ScriptedLM("llm", lambda p: "A")
    for cond in ("vision", "blind"):
        with pytest.raises(LeakauditError, match=r"text-only .*--condition text"):
            run(_bench(), [lm], condition=cond, run_dir=tmp_path, progress=False)
    assert lm.calls == 0 and _count(tmp_path) == 0


def test_vision_sees_the_images_and_text_none(tmp_path):
    seen = []
    vlm = ScriptedLM("vlm", lambda p: (seen.append([im.size for im in p.images]), "B")[1], supports_images=True)
    run(_bench(3), [vlm], condition="vision", run_dir=tmp_path, progress=False)
    assert seen == [[(20, 10)], [(21, 12)], [(22, 14)]]
    seen.clear()
    run(_bench(3), [vlm], condition="text", run_dir=tmp_path, progress=False)  # an LVLM's text path
    assert seen == [[], [], []]


@pytest.mark.parametrize("mode", ["drop", "grey", "noise"])
def test_blind_modes_give_right_sized_stand_ins(tmp_path, mode):
    seen = []

    def respond(p: Prompt) -> str:
        seen.append([(im.size, im.getextrema()) for im in p.images])
        return "B"

    vlm = ScriptedLM("vlm", respond, supports_images=True)
    run(_bench(3), [vlm], condition="blind", blind=mode, run_dir=tmp_path, progress=False)
    if mode == "drop":
        assert seen == [[], [], []]
    else:
        assert [[size for size, _ in imgs] for imgs in seen] == [[(20, 10)], [(21, 12)], [(22, 14)]]
        for imgs in seen:
            (_, extrema), = imgs
            if mode == "grey":
                assert extrema == ((128, 128), (128, 128), (128, 128))
            else:
                assert all(lo < 30 and hi > 225 for lo, hi in extrema)  # full-range noise
    with AnswerStore(tmp_path) as st:
        df = st.answers()
    assert set(df["blind_mode"]) == {mode} and set(df["condition"]) == {"blind"}


def test_circular_stores_one_answer_per_rotation(tmp_path):
    bench = _bench(3)
    oracle = ScriptedLM("oracle", _oracle_letter)
    s = run(bench, [oracle], condition="text", circular=True, run_dir=tmp_path, progress=False)
    assert oracle.calls == 12 and s.rows[0].n == 12 and s.rows[0].accuracy == 100.0
    with AnswerStore(tmp_path) as st:
        df = st.answers()
    assert sorted(df.groupby("sample_id")["rotation"].apply(sorted).tolist()) == [[0, 1, 2, 3]] * 3
    assert df.groupby("sample_id")["sample_hash"].nunique().eq(1).all()  # keyed by the original sample
    # the correct letter moves with the rotation; a constant answer can never be right on all
    assert sorted(df[df.sample_id == "q0"]["chosen"]) == ["A", "B", "C", "D"]
    constant = run(bench, [ScriptedLM("always-b", lambda p: "B")], condition="text", circular=True, run_dir=tmp_path, progress=False)
    assert constant.rows[0].accuracy == 0.0
    again = ScriptedLM("oracle", _oracle_letter)
    run(bench, [again], condition="text", circular=True, run_dir=tmp_path, progress=False)
    assert again.calls == 0


def test_cloze_generate_and_open_questions(tmp_path):
    bench = _bench(4, with_open=True)
    cloze = ScriptedLM("m", _oracle_text)
    s = run(bench, [cloze], condition="text", scoring="cloze", run_dir=tmp_path, progress=False)
    assert s.rows[0].accuracy == 100.0
    with AnswerStore(tmp_path) as st:
        df = st.answers(scoring="cloze")
        open_rows = st.answers(sample_id="open")
    assert set(df["extraction"]) == {"argmax-normalised"} and len(df) == 4
    # the open question is always generated and matched as a number
    assert len(open_rows) == 1 and open_rows.iloc[0]["scoring"] == "generate"
    assert open_rows.iloc[0]["chosen"] == "6" and bool(open_rows.iloc[0]["correct"])

    replies = {"0": "The answer is B.", "1": "I have no idea", "2": "(B)", "3": "It is 4"}
    gen = ScriptedLM("g", lambda p: replies.get(re.search(r"What is (\d+)", p.messages[-1]["content"]).group(1), "")
                     if "What is" in p.messages[-1]["content"] else "seven")
    s = run(bench, [gen], condition="text", scoring="generate", run_dir=tmp_path, progress=False)
    with AnswerStore(tmp_path) as st:
        df = st.answers(model="g").set_index("sample_id")
    assert df.loc["q0", "extraction"] == "the-answer-is" and df.loc["q0", "correct"]
    assert pd.isna(df.loc["q1", "chosen"]) and df.loc["q1", "extraction"] == "unmatched" and not df.loc["q1", "correct"]
    assert df.loc["q2", "extraction"] == "letter-only" and df.loc["q3", "extraction"] == "option-text"
    assert df.loc["q0", "raw_response"] == "The answer is B."
    assert not df.loc["open", "correct"] and df.loc["open", "extraction"] == "unmatched"
    assert s.rows[0].accuracy == pytest.approx(100 * 3 / 5)


def test_a_tie_is_no_answer(tmp_path):
    s = run(_bench(2), [ScriptedLM("mute", lambda p: "?")], condition="text", run_dir=tmp_path, progress=False)
    with AnswerStore(tmp_path) as st:
        df = st.answers()
    assert df["chosen"].isna().all() and set(df["extraction"]) == {"tie"} and s.rows[0].accuracy == 0.0


def test_bad_arguments(tmp_path):
    lm = ScriptedLM("a", lambda p: "A")
    with pytest.raises(LeakauditError, match="condition"):
        run(_bench(), [lm], condition="audio", run_dir=tmp_path)
    with pytest.raises(LeakauditError, match="blind mode"):
        run(_bench(), [lm], condition="blind", blind="black", run_dir=tmp_path)
    with pytest.raises(LeakauditError, match="no models"):
        run(_bench(), [], condition="text", run_dir=tmp_path)


def test_summary_table_prints(tmp_path):
    from rich.console import Console

    bench = _bench(2)
    run(bench, [ScriptedLM("a", _oracle_letter)], condition="text", run_dir=tmp_path, progress=False)
    summary = run(bench, [ScriptedLM("a", _oracle_letter)], condition="text", run_dir=tmp_path, progress=False)
    console = Console(record=True, width=120)
    summary.print(console)
    out = console.export_text()
    assert "accuracy %" in out and "100.0" in out and "all 2 answers already stored: no model call made" in out


# -- the CLI layer ----------------------------------------------------------------------------
def test_cli_models_run_errors_and_export(tmp_path):
    import json

    from click.testing import CliRunner

    from leakaudit.cli import main

    zoo_file = tmp_path / "zoo.yaml"
    zoo_file.write_text(
        "models:\n"
        "  api-llm: {kind: llm, backend: openai, api_model: some-llm, size: 7}\n"
        "  api-vlm: {kind: lvlm, backend: openai, api_model: some-vlm, base_llm: api-llm}\n"
        "groups:\n  pair: [api-llm, api-vlm]\n"
    )
    cli = CliRunner()
    listed = cli.invoke(main, ["models", "--zoo-file", str(zoo_file), "--zoo", "pair", "--json"])
    assert listed.exit_code == 0, listed.output
    records = {r["name"]: r for r in json.loads(listed.output)}
    assert records["api-vlm"]["kind"] == "lvlm" and records["api-vlm"]["base_llm"] == "api-llm"
    assert records["api-llm"]["size_b"] == 7 and records["api-llm"]["groups"] == "pair"

    refused = cli.invoke(main, ["run", "demo", "--models", "api-llm", "--condition", "vision", "--run-dir", str(tmp_path / "r"), "--zoo-file", str(zoo_file)])
    assert refused.exit_code == 2 and "text-only" in refused.output
    unknown = cli.invoke(main, ["run", "demo", "--models", "nope", "--condition", "text", "--run-dir", str(tmp_path / "r"), "--zoo-file", str(zoo_file)])
    assert unknown.exit_code == 2 and "unknown model 'nope'" in unknown.output
    nothing = cli.invoke(main, ["run", "demo", "--condition", "text", "--run-dir", str(tmp_path / "r"), "--zoo-file", str(zoo_file)])
    assert nothing.exit_code == 2 and "--models" in nothing.output

    run(_bench(3), [ScriptedLM("a", _oracle_letter)], condition="text", run_dir=tmp_path / "r", progress=False)
    out = tmp_path / "answers.parquet"
    exported = cli.invoke(main, ["export", "--run-dir", str(tmp_path / "r"), "-o", str(out)])
    assert exported.exit_code == 0 and "wrote 3 answers" in exported.output
    assert len(pd.read_parquet(out)) == 3
    missing = cli.invoke(main, ["export", "--run-dir", str(tmp_path), "-o", str(out)])
    assert missing.exit_code == 2 and "no answer store" in missing.output
