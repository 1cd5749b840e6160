"""One pipeline: recorded settings, an honest panel, refusals, and the signal registry (issue 10)."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from leakaudit.audit import audit
from leakaudit.data.benchmark import load_benchmark
from leakaudit.cli import main
from leakaudit.errors import ConfigError, LeakauditError
from leakaudit.audit.filter import filter_benchmark
from leakaudit.answers.settings import SETTINGS_FILE, AuditSettings, resolve
from leakaudit.answers.store import Answer, AnswerStore
from leakaudit.models.zoo import zoo_from_dict

# llm-a and llm-a-cpp are the same weights run by two backends; llm-b is another model;
# rnd-lm / rnd-vlm are random test models; vlm is a real LVLM built on llm-b.
ZOO = zoo_from_dict({"models": {
    "llm-a": {"kind": "llm", "backend": "scripted", "size": 0.135, "weights": "w-a"},
    "llm-a-cpp": {"kind": "llm", "backend": "scripted", "size": 0.135, "weights": "w-a"},
    "llm-b": {"kind": "llm", "backend": "scripted", "size": 0.27},
    "rnd-lm": {"kind": "llm", "backend": "scripted", "size": 0.001, "random_weights": True},
    "rnd-vlm": {"kind": "lvlm", "backend": "scripted", "size": 0.001, "base_llm": "rnd-lm", "random_weights": True},
    "vlm": {"kind": "lvlm", "backend": "scripted", "size": 0.3, "base_llm": "llm-b"},
}})

IDS = [f"s{i}" for i in range(10)]
# text-only hits: llm-a and its copy know s0-s3, llm-b knows s0; the random models "know" s4-s9 by luck
TEXT = {"llm-a": {"s0", "s1", "s2", "s3"}, "llm-a-cpp": {"s0", "s1", "s2", "s3"}, "llm-b": {"s0"}, "rnd-lm": set(IDS[4:])}
VISION = {"vlm": set(IDS[:8]), "rnd-vlm": set()}
BLIND = {"vlm": {"s0"}, "rnd-vlm": set(IDS[2:])}


@pytest.fixture
def bench_file(tmp_path):
    data = tmp_path / "bench.jsonl"
    data.write_text("".join(json.dumps({"id": sid, "question": f"question {sid}?", "options": ["w", "x", "y", "z"], "answer": "B",
                                        "category": "ab"[i % 2]}) + "\n" for i, sid in enumerate(IDS)))
    return data


def make_store(run, bench, text=TEXT, vision=VISION, blind=BLIND):
    with AnswerStore(run) as store:
        store.add_samples(bench.samples)
        for s in bench.samples:
            rows = [(m, "text", s.id in known) for m, known in text.items()]
            rows += [(m, "vision", s.id in known) for m, known in vision.items()]
            rows += [(m, "blind", s.id in known) for m, known in blind.items()]
            for model, cond, ok in rows:
                store.add(Answer(benchmark=s.benchmark, sample_id=s.id, sample_hash=s.content_hash, model=model, condition=cond,
                                 prompt_hash="p", scoring="letter", correct=ok, blind_mode="drop" if cond == "blind" else ""))
    return run


@pytest.fixture
def store(tmp_path, bench_file):
    bench = load_benchmark(str(bench_file))
    return bench, make_store(tmp_path / "run", bench), bench_file


@pytest.fixture
def zoo_file(tmp_path):
    import yaml

    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump({"models": {name: {k: v for k, v in spec.to_dict().items()
                                                       if k in ("kind", "backend", "size", "weights", "random_weights", "base_llm")
                                                       and v is not None}
                                               for name, spec in ZOO.specs.items()}}))
    return path


# -- settings ------------------------------------------------------------------------------
def test_settings_round_trip_and_override_lines(tmp_path):
    s = AuditSettings(inspectors=["llm-a", "llm-b"], k=2, n=8, min_confidence=0.5, shots=2, scoring="letter", circular=True,
                      blind_mode="grey", remove_signals=["blind-hits"], max_text_answerable=0.2, min_mg=5.0, signal_thresholds={"x": 0.3})
    path = s.save(tmp_path)
    assert path.name == SETTINGS_FILE and AuditSettings.load(tmp_path) == s
    assert AuditSettings.load(tmp_path / "answers.sqlite") == s        # the store file finds its folder
    assert AuditSettings.load(tmp_path / "elsewhere") is None
    merged, lines = resolve(tmp_path, k=3, shots=None, circular=True)
    assert merged.k == 3 and merged.shots == 2 and merged.circular is True
    assert lines == ["overriding recorded setting k=2 -> 3"]           # an unchanged flag is not an override
    fresh, lines = resolve(tmp_path / "new", k=3)
    assert fresh.k == 3 and lines == [] and fresh.min_confidence == AuditSettings().min_confidence
    (tmp_path / SETTINGS_FILE).write_text('{"k": 2, "colour": "red"}')
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        AuditSettings.load(tmp_path)


def test_audit_cli_reads_recorded_settings_and_says_what_a_flag_overrides(store, zoo_file):
    _, run, _ = store
    AuditSettings(inspectors=["llm-b"], min_confidence=None).save(run)
    out = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--json", "--n-boot", "0", "--zoo-file", str(zoo_file)])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["summary"]["settings"]["inspectors"] == ["llm-b"] and doc["summary"]["share_text_answerable"] == pytest.approx(0.1)
    out = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--json", "--n-boot", "0", "--zoo-file", str(zoo_file),
                                    "--inspectors", "llm-a,llm-b"])
    assert out.exit_code == 0, out.output
    assert "overriding recorded setting inspectors=llm-b -> llm-a,llm-b" in out.stderr
    assert json.loads(out.stdout)["summary"]["settings"]["overridden"] == [
        "overriding recorded setting n_boot=1000 -> 0", "overriding recorded setting inspectors=llm-b -> llm-a,llm-b"]


# -- the panel -------------------------------------------------------------------------------
def test_same_weights_vote_once_and_random_weights_never(store):
    _, run, _ = store
    res = audit(run, zoo=ZOO, n_boot=0)
    s = res.summary
    assert s["settings"]["inspectors"] == ["llm-a", "llm-b"]          # llm-a-cpp merged into llm-a, rnd-lm out
    assert s["panel"]["merged"] == {"llm-a-cpp": "llm-a"} and s["panel"]["random_weights"] == ["rnd-lm", "rnd-vlm"]
    assert s["panel"]["distinct_llms"] == 2 and s["panel"]["largest_b"] == 0.27 and s["panel"]["weak"]
    assert "MMStar: 8 LLMs, 7B-70B" in s["panel"]["text"] and "weak panel" in s["panel"]["warning"]
    ev = res.samples.set_index("sample_id")
    # 2 inspectors: floor(2 * 2/8) = 0 hits allowed; the random LM's lucky hits on s4-s9 do not count
    assert ev.loc["s1", "text_hits"] == 1 and ev.loc["s1", "text_n"] == 2 and ev.loc["s5", "text_hits"] == 0
    assert s["share_text_answerable"] == pytest.approx(0.4)
    # the random LVLM answers s2-s9 blind: it never votes, so no blind hit or leak comes from it
    assert ev.loc["s5", "blind_hits"] == 0 and ev.loc["s5", "label"] == "vision-dependent"
    # averages over LVLMs leave the random one out; its row is still in the table, marked
    assert res.averages[res.averages["category"].isna()]["MG"].iloc[0] == pytest.approx(res.metric("vlm").MG)
    assert "random weights" in res.metric("rnd-vlm").note
    assert "one inspector vote" in " ".join(s["notes"])


def test_min_mg_is_checked_per_real_lvlm(store):
    from leakaudit.workflows.gate import evaluate_checks

    _, run, _ = store
    res = audit(run, zoo=ZOO, n_boot=0)
    mg = res.metric("vlm").MG                                         # 80 - 10 = 70 points
    checks = evaluate_checks(res, settings=AuditSettings(max_text_answerable=1.0, min_mg=mg - 1))
    assert [c.name for c in checks if c.name.startswith("multi-modal")] == ["multi-modal gain: vlm"]   # the random one never counts
    assert all(c.passed for c in checks)
    assert not [c for c in evaluate_checks(res, settings=AuditSettings(max_text_answerable=1.0, min_mg=mg + 1)) if c.passed and "gain" in c.name]


def test_weights_identity_defaults_from_the_zoo():
    from leakaudit.models.zoo import load_zoo

    zoo = load_zoo()
    assert zoo["smollm2-135m"].weights_id(zoo) == zoo["smollm2-135m-llamacpp"].weights_id(zoo)
    assert zoo["gemma3-270m"].weights_id(zoo) != zoo["smollm2-135m"].weights_id(zoo)
    assert {n for n in zoo.names() if zoo[n].is_random} == {"tiny-llava", "tiny-llava-lm", "tiny-idefics3", "tiny-idefics3-lm"}
    with pytest.raises(ConfigError, match="random_weights"):
        zoo_from_dict({"models": {"x": {"kind": "llm", "backend": "scripted", "random_weights": "yes"}}})


# -- refusals ----------------------------------------------------------------------------------
def test_filter_refuses_a_store_without_inspector_answers(tmp_path, bench_file, zoo_file):
    bench = load_benchmark(str(bench_file))
    run = make_store(tmp_path / "run", bench, text={}, vision={"vlm": set(IDS)}, blind={"vlm": {"s0"}})
    out = tmp_path / "kept"
    res = CliRunner().invoke(main, ["filter", str(bench_file), "--run-dir", str(run), "-o", str(out), "--zoo-file", str(zoo_file)])
    assert res.exit_code == 2, res.output
    assert "no inspector LLM" in res.output and "leakaudit run" in res.output
    assert not out.exists()


def test_filter_refuses_an_empty_kept_set(store):
    bench, run, _ = store
    res = audit(run, zoo=ZOO, n_boot=0, inspectors=["llm-a"], k=0)
    everything = res.samples.assign(text_hits=1, text_n=1)               # as if every question were text-answerable
    res.samples = everything
    with pytest.raises(LeakauditError, match="keep 0 of 10"):
        filter_benchmark(bench, res)
    assert len(filter_benchmark(bench, res, allow_empty=True).kept) == 0


@pytest.mark.parametrize("flags, message", [(["--k", "9", "--n", "2"], "k=9 >= n=2"), (["--k", "2"], "k=2 >= the 2 inspector")])
def test_rules_that_can_never_flag_exit_2(store, zoo_file, flags, message):
    _, run, _ = store
    res = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--n-boot", "0", "--zoo-file", str(zoo_file), *flags])
    assert res.exit_code == 2 and message in res.output, res.output


def test_negative_k_is_refused(store, zoo_file):
    _, run, _ = store
    res = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--k", "-1"])
    assert res.exit_code == 2
    with pytest.raises(ConfigError, match="k must be >= 0"):
        AuditSettings(k=-1).validate()


def test_audit_cli_without_inspectors_gives_metrics_and_no_verdict(tmp_path, bench_file, zoo_file):
    bench = load_benchmark(str(bench_file))
    run = make_store(tmp_path / "run", bench, text={"rnd-lm": set(IDS)}, vision={"vlm": set(IDS)}, blind={"vlm": set()})
    res = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--zoo-file", str(zoo_file), "--n-boot", "0", "--json"])
    assert res.exit_code == 0, res.output                               # metrics need no panel (issue 20)
    doc = json.loads(res.stdout)
    assert doc["verdict"] is None and "no inspector LLM" in doc["verdict_reason"]  # the random LM is no inspector


# -- signals -------------------------------------------------------------------------------------
def test_builtin_signals_are_registered_and_listed():
    res = CliRunner().invoke(main, ["signals", "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [s["name"] for s in listed][:3] == ["text-hits", "blind-hits", "leaked"]
    assert all(s["description"] for s in listed)
    table = CliRunner().invoke(main, ["signals"])
    assert table.exit_code == 0 and "text-hits" in table.output


def test_a_third_party_signal_joins_evidence_filter_gate_and_listing(store):
    from leakaudit import registry
    from leakaudit.workflows.gate import evaluate_checks
    from leakaudit.audit.signals import Signal

    class OddId(Signal):
        """Benchmark-only signal: flags questions whose id ends in an odd digit (needs no runs)."""

        name = "odd-id"
        description = "question ids ending in an odd digit (a test plugin)"
        columns = ("odd_id",)
        removal_reason = "odd-id"

        def compute(self, ctx):
            return pd.DataFrame({"odd_id": [int(str(i)[-1]) % 2 == 1 for i in ctx.samples["sample_id"]]})

        def fires(self, evidence, settings):
            return evidence["odd_id"].astype(bool)

    bench, run, _ = store
    registry.signals.register("odd-id", OddId)
    try:
        listed = json.loads(CliRunner().invoke(main, ["signals", "--json"]).stdout)
        assert {"name": "odd-id", "description": "question ids ending in an odd digit (a test plugin)"}.items() <= \
            next(s for s in listed if s["name"] == "odd-id").items()
        res = audit(run, zoo=ZOO, n_boot=0)
        ev = res.samples.set_index("sample_id")
        assert bool(ev.loc["s3", "odd_id"]) and not bool(ev.loc["s4", "odd_id"])
        assert res.summary["signals"]["odd-id"]["share"] == pytest.approx(0.5)
        kept = filter_benchmark(bench, res, settings=AuditSettings(remove_signals=["odd-id"])).kept_ids
        assert kept == ["s4", "s6", "s8"]                                   # s0-s3 text-answerable, odd ids removed
        checks = evaluate_checks(res, settings=AuditSettings(max_text_answerable=1.0, signal_thresholds={"odd-id": 0.25}))
        odd = next(c for c in checks if c.name == "odd-id")
        assert odd.value == pytest.approx(0.5) and not odd.passed
    finally:
        registry.signals.unregister("odd-id")
    assert "odd-id" not in json.loads(CliRunner().invoke(main, ["signals", "--json"]).stdout)[-1]["name"]


# -- the audit agrees with the scan -----------------------------------------------------------------
def test_audit_and_report_of_a_scan_folder_give_the_scans_numbers(tmp_path):
    from test_scan_demo import scripted_models

    from leakaudit.workflows.scan import scan

    bench = load_benchmark("demo")
    know_a, know_b, base, reader = scripted_models(bench)
    # an LLM in the store that the scan did not use as inspector: a later audit must not count it
    res = scan(bench, models=[know_a, know_b, reader], base_llms={"reader": "base"}, out=tmp_path / "S", n_boot=50, progress=False,
               report=False, min_confidence=0.0)
    from leakaudit.answers.runner import run as run_models

    run_models(bench, [base], condition="text", run_dir=tmp_path / "S" / "run", scoring="cloze", progress=False)
    recorded = AuditSettings.load(tmp_path / "S" / "run")
    assert recorded.inspectors == ["know-a", "know-b"] and recorded.min_confidence == 0.0
    out = CliRunner().invoke(main, ["audit", "--run-dir", str(tmp_path / "S" / "run"), "--json", "--base-llm", "reader=base"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)["summary"]
    assert doc["share_text_answerable"] == res.audit.summary["share_text_answerable"]
    assert doc["settings"]["inspectors"] == res.audit.summary["settings"]["inspectors"] == ["know-a", "know-b"]
    rep = CliRunner().invoke(main, ["report", str(tmp_path / "S" / "run"), "--no-images", "--base-llm", "reader=base"])
    assert rep.exit_code == 0, rep.output
    share = res.audit.summary["share_text_answerable"]
    assert f"text-answerable {100 * share:.1f}%" in rep.stdout


def test_gate_limit_says_n_of_m(tmp_path):
    from test_gate import models, write_submission

    from leakaudit.workflows.gate import gate

    sub = write_submission(tmp_path / "sub.jsonl")
    v = gate(sub, out=tmp_path / "out", models=models(set()), limit=4)
    assert v.coverage == "4 of 10 questions (--limit 4)" and v.exit_code == 0
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["coverage"] == "4 of 10 questions (--limit 4)"
    assert "4 of 10 questions" in (tmp_path / "out" / "summary.md").read_text()


def test_audit_zoo_group_picks_the_panel(store, zoo_file):
    """``--zoo NAME`` on a command that reads stored answers: the group's LLMs are the inspectors."""
    import yaml

    _, run, _ = store
    AuditSettings(inspectors=["llm-a", "llm-b"], min_confidence=None).save(run)
    doc = yaml.safe_load(zoo_file.read_text())
    doc["groups"] = {"only-b": ["llm-b"]}
    zoo_file.write_text(yaml.safe_dump(doc))
    out = CliRunner().invoke(main, ["audit", "--run-dir", str(run), "--json", "--n-boot", "0", "--zoo-file", str(zoo_file), "--zoo", "only-b"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["summary"]["settings"]["inspectors"] == ["llm-b"]
    assert "overriding recorded setting inspectors=llm-a,llm-b -> llm-b" in out.stderr
