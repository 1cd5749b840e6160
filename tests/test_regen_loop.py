"""The regeneration loop end to end with scripted models (deterministic), and with real SmolLM2 (slow)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from leakaudit import load_benchmark
from leakaudit.audit import AuditResult
from leakaudit.models.backends.scripted import ScriptedLM
from leakaudit.regen.loop import failing_samples, regenerate
from leakaudit.regen.rows import UnmappableRow, rewrite_row
from leakaudit.data.schema import Sample


def _audit_folder(tmp: Path, bench, failing: dict[str, str]) -> Path:
    """A saved audit (summary.json + samples) labelling ``failing`` ids; everything else vision-dependent."""
    rows = [{"benchmark": s.benchmark, "sample_id": s.id, "sample_hash": s.content_hash,
             "label": failing.get(s.id, "vision-dependent"), "kept": s.id not in failing} for s in bench.samples]
    AuditResult(metrics=pd.DataFrame(columns=["model", "benchmark", "category"]), samples=pd.DataFrame(rows), summary={"benchmark": bench.name, "source": bench.source}).save(tmp / "audit")
    return tmp / "audit"


def _item(q: str, answer: str) -> dict:
    return {"question": q, "options": ["white", "blue", "red", "green"], "answer": answer, "reasoning": "from the colours"}


def _curator(replies: list[str]) -> ScriptedLM:
    it = iter(replies)

    def respond(prompt):
        try:
            return next(it)
        except StopIteration:
            raise AssertionError("the curator was asked more often than scripted") from None

    return ScriptedLM("curator", respond)


def _judge(prompt) -> str:
    return "Score: 10. Vague." if "shade" in prompt.messages[0]["content"] else "Score: 90. Grounded in the colours."


def _models(replies):
    text_llm = ScriptedLM("text-llm", lambda p: "A")  # always answers A without the image
    lvlm = ScriptedLM("lvlm", lambda p: "B" if p.images else "C", supports_images=True)  # B with the image, C blind
    return dict(curator=_curator(replies), judge=ScriptedLM("judge", _judge), llms=[text_llm], lvlm=lvlm)


def _fake_ocr(img):
    return [("SALE", [[10, 10], [60, 10], [60, 30], [10, 30]], 0.95), ("noise", [[0, 0], [1, 0], [1, 1], [0, 1]], 0.2)]


GARBAGE = "I am a helpful assistant and I like images."
SCRIPT = [
    json.dumps([_item("Which colour fills region 1?", "B"), _item("Which colour is the flag in scene 1?", "A")]),  # s1, round 1
    json.dumps([_item("Which colour is in corner 2?", "C"), _item("Which shade is strip 2?", "B")]),  # s2, round 1
    GARBAGE, GARBAGE, GARBAGE,  # s3, round 1: 1 + 2 retries
    "```json\n" + json.dumps([_item("Which colour fills region 3?", "B"), _item("Which colour fills region 4?", "B")]) + "\n```",  # s2, round 2
    GARBAGE, GARBAGE, GARBAGE,  # s3, round 2
]


def test_loop_keeps_only_vision_dependent_candidates_and_writes_the_input_format(tmp_path, demo):
    ta = [s.id for s in demo.samples if s.meta.get("label") == "text-answerable"][:3]
    run_dir = _audit_folder(tmp_path, demo, {ta[0]: "text-answerable", ta[1]: "leaked", ta[2]: "text-answerable"})
    out = tmp_path / "regen"
    models = _models(SCRIPT)
    res = regenerate(run_dir, out, rounds=2, candidates=2, min_score=50, ocr=_fake_ocr, progress=False, **models)

    # per-round pass rates: requested, parsed, valid, judged, re-audited
    r1, r2 = res.rounds
    assert (r1.sources, r1.requested, r1.parsed, r1.valid, r1.passed_judge, r1.passed_reaudit) == (3, 6, 4, 4, 3, 1)
    assert (r2.sources, r2.requested, r2.parsed, r2.valid, r2.passed_judge, r2.passed_reaudit) == (2, 4, 2, 2, 2, 2)
    assert res.n_failing == 3 and res.n_sources_replaced == 2 and len(res.kept) == 3

    # every candidate has a status and reason; the rule "nothing text-answerable kept" holds
    prov = [json.loads(line) for line in res.provenance_file.read_text().splitlines()]
    status = {p["question"]: (p["status"], p["reason"]) for p in prov if "question" in p}
    assert status["Which colour fills region 1?"] == ("kept", "vision-dependent")
    assert status["Which colour is the flag in scene 1?"] == ("rejected-by-reaudit", "answered without the image by text-llm")
    assert status["Which colour is in corner 2?"] == ("rejected-by-reaudit", "the LVLM answers it without the image")
    assert status["Which shade is strip 2?"][0] == "rejected-by-judge" and "10" in status["Which shade is strip 2?"][1]
    assert sum(p["status"] == "rejected-by-rules" for p in prov) == 6  # the six garbage replies
    kept = [p for p in prov if p["status"] == "kept"]
    assert all(not any(p["reaudit"]["text_correct"].values()) and p["reaudit"]["blind_correct"] is False for p in kept)
    assert all(p["curator"] == "curator" and p["judge"] == "judge" and p["judge_score"] == 90 and p["prompt_text"] for p in kept)
    # round 2 told the curator what failed in round 1 (else greedy decoding would repeat itself)
    r2_prompt = next(p["prompt_text"] for p in kept if p["question"] == "Which colour fills region 3?")
    assert "Earlier attempts" in r2_prompt and "corner 2" in r2_prompt and "without the image" in r2_prompt
    # the OCR text (and not the low-confidence noise) reached the curator's prompt
    assert "SALE" in kept[0]["prompt_text"] and "noise" not in kept[0]["prompt_text"]

    # the regenerated file is the demo's own format and loads back with provenance
    assert res.benchmark_format == "demo" and res.benchmark_file.name == "demo.jsonl"
    back = load_benchmark("demo", path=res.benchmark_file.parent)
    assert sorted(s.id for s in back.samples) == sorted(s.id for s in res.kept)
    by_id = demo.by_id()
    for s in back.samples:
        src = by_id[s.meta["regen_source_id"]]
        assert s.images[0].raw_bytes() == src.images[0].raw_bytes() and s.category == src.category
        assert s.meta["regen_judge_score"] == 90 and s.meta["regen_curator"] == "curator"
        assert json.loads(s.meta["regen_audit"])["label"] == "vision-dependent"
        assert "label" not in s.meta  # the source question's ground-truth tag is not carried over
        assert s.answer == "B"

    summary = json.loads(res.summary_file.read_text())
    assert summary["n_kept"] == 3 and summary["totals"]["requested"] == 10 and summary["rounds"][0]["rate_passed_reaudit"] == pytest.approx(1 / 6)
    assert pd.read_csv(out / "rounds.csv")["passed_judge"].tolist() == [3, 2]

    # a second identical run resumes from the cache and the re-audit store: no model is asked again
    def never(prompt):
        raise AssertionError("asked again")

    again = regenerate(run_dir, out, rounds=2, candidates=2, min_score=50, ocr=_fake_ocr, progress=False,
                       curator=ScriptedLM("curator", never), judge=ScriptedLM("judge", never),
                       llms=[ScriptedLM("text-llm", never)], lvlm=ScriptedLM("lvlm", never, supports_images=True))
    assert sorted(s.id for s in again.kept) == sorted(s.id for s in res.kept)


def test_loop_with_no_survivor_writes_no_file_and_says_so(tmp_path, demo):
    src = next(s for s in demo.samples if s.meta.get("label") == "text-answerable")
    run_dir = _audit_folder(tmp_path, demo, {src.id: "text-answerable"})
    models = _models([json.dumps([_item("Which colour fills part 9?", "A")])])  # the text LLM answers A
    res = regenerate(run_dir, tmp_path / "out", benchmark=demo, rounds=1, candidates=1, ocr=False, progress=False, **models)
    assert res.kept == [] and res.benchmark_file is None
    assert any("no candidate survived" in n for n in res.notes)
    assert json.loads(res.summary_file.read_text())["n_kept"] == 0


def test_failing_samples_labels_and_limit(demo):
    ids = [s.id for s in demo.samples]
    fake = AuditResult(metrics=pd.DataFrame(), summary={}, samples=pd.DataFrame([
        {"benchmark": "demo", "sample_id": ids[5], "sample_hash": demo.samples[5].content_hash, "label": "leaked", "kept": False},
        {"benchmark": "demo", "sample_id": ids[1], "sample_hash": demo.samples[1].content_hash, "label": "text-answerable", "kept": False},
        {"benchmark": "demo", "sample_id": ids[2], "sample_hash": demo.samples[2].content_hash, "label": "vision-dependent", "kept": True},
        {"benchmark": "demo", "sample_id": "gone", "sample_hash": "0" * 24, "label": "leaked", "kept": False},
    ]))
    got, notes = failing_samples(fake, demo)
    assert [s.id for s in got] == [ids[1], ids[5]] and "gone" in notes[0]
    assert [s.id for s in failing_samples(fake, demo, limit=1)[0]] == [ids[1]]


# -- rows in other layouts --------------------------------------------------------------------
def _pair(question="Which one?", options=("cat", "dog", "cow"), answer="B", **kw):
    src = Sample(id="7", benchmark="x", question=question, options=list(options), answer=answer, hint=kw.pop("hint", None), meta=kw)
    new = Sample(id="7-regen-r1-1", benchmark="x", question="Which animal is on the left?", options=["hen", "pig"], answer="B")
    return src, new


def test_rewrite_row_vlmevalkit_letter_columns():
    src, new = _pair(hint="farm")
    raw = {"index": "7", "question": "Which one?", "hint": "farm", "A": "cat", "B": "dog", "C": "cow", "D": None, "answer": "B", "image": "b64"}
    row = rewrite_row(raw, src, new, {"regen_source_id": "7"})
    assert row == {"index": "7-regen-r1-1", "question": "Which animal is on the left?", "hint": None, "A": "hen", "B": "pig", "C": None,
                   "D": None, "answer": "B", "image": "b64", "regen_source_id": "7"}


def test_rewrite_row_scienceqa_choices_and_index_answer():
    src, new = _pair()
    raw = {"question": "Which one?", "choices": ["cat", "dog", "cow"], "answer": 1, "image": {"bytes": b"x"}, "solution": "dogs bark"}
    src.meta["solution"] = "dogs bark"
    row = rewrite_row(raw, src, new, {})
    assert row["choices"] == ["hen", "pig"] and row["answer"] == 1 and row["id"] == "7-regen-r1-1" and "solution" not in row


def test_rewrite_row_unmappable_inline_options():
    src, new = _pair()
    raw = {"question": "Which one?\nOptions: A: cat, B: dog, C: cow", "answer": "B"}
    with pytest.raises(UnmappableRow, match="question, options"):
        rewrite_row(raw, src, new, {})


def test_cli_regenerate_prints_the_round_table(tmp_path, demo, use_models):
    from click.testing import CliRunner

    from leakaudit.cli import main

    src = next(s for s in demo.samples if s.meta.get("label") == "text-answerable")
    run_dir = _audit_folder(tmp_path, demo, {src.id: "leaked"})
    m = _models([json.dumps([_item("Which colour fills area 5?", "B")])])
    use_models(m["curator"], m["judge"], *m["llms"], m["lvlm"])
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["regenerate", "--run-dir", str(run_dir), "-o", str(out), "--curator", "curator", "--judge", "judge",
                                    "--llms", "text-llm", "--lvlm", "lvlm", "--rounds", "1", "--candidates", "1", "--no-ocr"],
                            env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Regeneration: 1 question(s) kept" in res.output and "1 (100%)" in res.output and "demo.jsonl" in res.output
    assert load_benchmark("demo", path=out / "regenerated").samples[0].meta["regen_source_id"] == src.id
    bad = CliRunner().invoke(main, ["regenerate", "--run-dir", str(tmp_path), "-o", str(out)])
    assert bad.exit_code == 2 and "neither an audit folder" in bad.output


@pytest.mark.slow
def test_regenerate_end_to_end_with_smollm2(tmp_path, smollm2_path):
    """Offline on the demo: a real audit of 6 questions, then SmolLM2 as curator and judge.

    The 135M model writes poor questions; whatever it writes, the acceptance rules must
    hold: nothing a text-only model answers is kept, and the output (if any) loads back.
    """
    from leakaudit.audit import audit
    from leakaudit.answers.runner import run

    bench = load_benchmark("demo")
    text_ids = [s.id for s in bench.samples if s.meta.get("label") == "text-answerable"][:4]
    vision_ids = [s.id for s in bench.samples if s.meta.get("label") == "vision-dependent"][:2]
    sub = bench.subset(text_ids + vision_ids)
    run_dir = tmp_path / "run"
    run(sub, ["smollm2-135m"], condition="text", scoring="cloze", run_dir=run_dir, progress=False)
    run(sub, ["ocr+smollm2"], condition="vision", scoring="cloze", run_dir=run_dir, progress=False)
    run(sub, ["ocr+smollm2"], condition="blind", scoring="cloze", run_dir=run_dir, progress=False)
    failing = audit(run_dir).samples
    n_failing = int(failing["label"].isin(["text-answerable", "leaked"]).sum())
    assert n_failing >= 1, failing[["sample_id", "label"]]

    res = regenerate(run_dir, tmp_path / "out", curator="smollm2-135m", judge="smollm2-135m", llms=["smollm2-135m"], lvlm="ocr+smollm2",
                     rounds=1, candidates=2, limit=2, max_retries=1, scoring="cloze", curator_max_new_tokens=160,
                     judge_max_new_tokens=32, progress=False)
    [r1] = res.rounds
    assert r1.sources == min(2, n_failing) and r1.requested == 2 * r1.sources
    assert r1.valid >= r1.passed_judge >= r1.passed_reaudit == len(res.kept)
    prov = [json.loads(line) for line in res.provenance_file.read_text().splitlines()]
    assert all(p["status"] in ("kept", "rejected-by-rules", "rejected-by-judge", "rejected-by-reaudit") and p["reason"] for p in prov)
    for p in prov:
        if p["status"] == "kept":
            assert not any(p["reaudit"]["text_correct"].values()) and p["reaudit"]["blind_correct"] is False
    summary = json.loads(res.summary_file.read_text())
    assert summary["settings"]["curator"] == "smollm2-135m" and summary["n_kept"] == len(res.kept)
    # greedy decoding makes this run deterministic; the README's measurement (24 candidates,
    # 0 past the judge) says the 135M curator's questions never get past the rules and the
    # judge, so nothing is kept and no file is written
    assert res.kept == [], [(p["status"], p["reason"]) for p in prov]
    assert res.benchmark_file is None and any("no candidate survived" in n for n in res.notes)


def test_require_vision_correct_drops_questions_the_lvlm_gets_wrong_with_the_image(tmp_path, demo):
    src = next(s for s in demo.samples if s.meta.get("label") == "text-answerable")
    run_dir = _audit_folder(tmp_path, demo, {src.id: "text-answerable"})
    reply = json.dumps([_item("Which colour fills part 7?", "D")])  # text says A, blind C, with the image B: nobody is right
    loose = regenerate(run_dir, tmp_path / "a", rounds=1, candidates=1, ocr=False, progress=False, **_models([reply]))
    assert len(loose.kept) == 1
    strict = regenerate(run_dir, tmp_path / "b", rounds=1, candidates=1, ocr=False, progress=False, require_vision_correct=True,
                        **_models([reply]))
    assert strict.kept == []
    prov = [json.loads(line) for line in strict.provenance_file.read_text().splitlines()]
    assert prov[0]["status"] == "rejected-by-reaudit" and "with the image either" in prov[0]["reason"]


@pytest.mark.slow
def test_real_reaudit_of_a_given_candidate(tmp_path, smollm2_path, demo):
    """SmolLM2 rarely writes parseable questions or readable scores (see the end-to-end test),
    so this drives the re-audit with real models: a fixed candidate and judge verdict, then
    SmolLM2 (text) and the OCR + SmolLM2 composite (with and without the image) really answer."""
    from leakaudit.regen.describe import colour_summary

    src = next(s for s in demo.samples if s.meta.get("label") == "text-answerable")
    colours = [line.split(":")[0] for line in colour_summary(src.images[0].load())]
    wrong = [c for c in ("red", "blue", "green", "yellow", "purple", "orange", "white", "light grey") if c not in colours][:3]
    item = {"question": "Which colour covers the largest part of the image?", "correct": colours[0], "wrong": wrong,
            "reasoning": f"{colours[0]} covers the most pixels."}
    run_dir = _audit_folder(tmp_path, demo, {src.id: "text-answerable"})
    res = regenerate(run_dir, tmp_path / "out", curator=_curator([json.dumps([item])]), judge=ScriptedLM("judge", _judge),
                     llms=["smollm2-135m"], lvlm="ocr+smollm2", rounds=1, candidates=1, scoring="cloze", progress=False)
    [rec] = [json.loads(line) for line in res.provenance_file.read_text().splitlines()]
    audit_ = rec["reaudit"]
    assert rec["judge_score"] == 90 and set(audit_["text_correct"]) == {"smollm2-135m"}
    assert audit_["blind_correct"] is not None and audit_["vision_correct"] is not None and audit_["scoring"] == "cloze"
    assert (rec["status"] == "kept") == (not audit_["text_correct"]["smollm2-135m"] and audit_["blind_correct"] is False)
    if rec["status"] == "kept":
        back = load_benchmark("demo", path=res.benchmark_file.parent)
        assert back.samples[0].meta["regen_source_id"] == src.id
    else:
        assert res.benchmark_file is None


def test_reaudit_panel_defaults_to_the_audits_inspectors():
    """Base LLMs that only gave S_t (e.g. a random tiny VLM's text tower) do not join the re-audit panel."""
    from types import SimpleNamespace

    from leakaudit.regen.loop import _default_llms

    both = SimpleNamespace(summary={"settings": {"inspectors": ["a", "b"]}, "models": {"llms": ["a", "b", "tower"]}})
    assert _default_llms(Path("."), both, "lvlm") == ["a", "b"]
    older = SimpleNamespace(summary={"models": {"llms": ["a", "tower"]}})
    assert _default_llms(Path("."), older, "lvlm") == ["a", "tower"]
    assert _default_llms(Path("."), SimpleNamespace(summary={}), "lvlm") == ["smollm2-135m"]
