"""One set of flags (issue 10, item 6): every command follows the same rules, old spellings still parse."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from leakaudit.cli import main
from leakaudit.cli.options import AliasedOption

#: commands that write a file or folder of their own (import and run write into --run-dir)
WRITERS = {"audit", "filter", "scan", "gate", "report", "export", "regenerate", "judge", "compare", "probe", "inspect"}


def _leaves(group: click.Group = main, prefix: str = "") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out.update(_leaves(cmd, f"{prefix}{name} "))
        else:
            out[f"{prefix}{name}"] = cmd
    return out


COMMANDS = _leaves()


def _visible(param: click.Parameter) -> list[str]:
    hidden = set(getattr(param, "hidden_aliases", ())) if isinstance(param, AliasedOption) else set()
    if getattr(param, "hidden", False):
        return []
    return [o for o in [*param.opts, *getattr(param, "secondary_opts", [])] if o not in hidden]


def _by_flag(cmd: click.Command) -> dict[str, click.Parameter]:
    return {o: p for p in cmd.params for o in _visible(p)}


def test_the_command_list_is_complete():
    assert {"run", "scan", "gate", "audit", "filter", "import", "store check", "store repair"} <= set(COMMANDS)
    assert WRITERS <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_reports_json(name):
    flags = _by_flag(COMMANDS[name])
    assert "--json" in flags, f"`leakaudit {name}` reports something but has no --json"
    assert flags["--json"].name == "as_json" and flags["--json"].is_flag


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_output_is_dash_o(name):
    flags = _by_flag(COMMANDS[name])
    assert "-o" in flags and "--out" in flags, f"`leakaudit {name}` writes a file but has no -o/--out"
    assert flags["-o"] is flags["--out"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_zoo_is_a_name_and_zoo_file_a_path(name):
    flags = _by_flag(COMMANDS[name])
    if "--zoo" in flags:
        assert not isinstance(flags["--zoo"].type, click.Path), f"`leakaudit {name} --zoo` takes a path"
        assert flags["--zoo"].name == "zoo_group"
        assert "--zoo-file" in flags, f"`leakaudit {name}` has --zoo but no --zoo-file"
    if "--zoo-file" in flags:
        assert isinstance(flags["--zoo-file"].type, click.Path)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_one_spelling_per_setting(name):
    cmd = COMMANDS[name]
    flags = _by_flag(cmd)
    for old in ("--text-shots", "--blind-mode", "--group", "--skipped-out", "--describer", "-b"):
        assert old not in flags, f"`leakaudit {name}` shows the old spelling {old}"
    for p in cmd.params:
        if isinstance(p, click.Option):
            assert not p.multiple, f"`leakaudit {name} {p.opts[0]}` is a repeated option; lists are comma lists"
        if p.name == "shots":
            assert "--shots" in p.opts
        if p.name in ("blind", "blind_mode"):
            assert "--blind" in p.opts


def _params(argv: list[str]) -> dict:
    name, *rest = argv
    cmd = main.commands[name]
    with cmd.make_context(name, rest, resilient_parsing=False) as ctx:
        return dict(ctx.params)


def test_old_spellings_still_parse():
    assert _params(["audit", "--run-dir", "d", "--text-shots", "2"])["shots"] == 2
    assert _params(["audit", "--run-dir", "d", "--shots", "2"])["shots"] == 2
    assert _params(["filter", "b", "--run-dir", "d", "-o", "x", "--text-shots", "1"])["shots"] == 1
    assert _params(["report", "d", "--text-shots", "2"])["shots"] == 2
    p = _params(["import", "f.csv", "--format", "vlmevalkit", "--model", "m", "--condition", "blind", "--benchmark", "b",
                 "--run-dir", "d", "--blind-mode", "grey"])
    assert p["blind"] == "grey"
    assert _params(["inspect", "b", "--skipped-out", "s.csv"])["skipped_out"].name == "s.csv"
    assert _params(["regenerate", "--run-dir", ".", "-o", "o", "-b", "mmstar"])["benchmark"] == "mmstar"


def test_old_zoo_file_spelling_moves_to_zoo_file(tmp_path):
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("models:\n  a: {kind: llm, backend: scripted, options: {respond: A}}\n"
                   "  b: {kind: llm, backend: scripted, options: {respond: B}}\ngroups:\n  g: [a]\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["models", "--zoo", str(zoo), "--group", "g", "--json"])
    assert res.exit_code == 0, res.output
    assert "use --zoo-file" in res.output
    new = CliRunner().invoke(main, ["models", "--zoo-file", str(zoo), "--zoo", "g", "--json"])
    assert new.exit_code == 0, new.output
    assert [r["name"] for r in json.loads(new.stdout)] == ["a"]
    assert "use --zoo-file" not in new.output


def test_help_shows_only_the_new_spellings():
    text = CliRunner().invoke(main, ["audit", "--help"]).output
    assert "--shots" in text and "--text-shots" not in text and "-o, --out" in text
    assert "--blind-mode" not in CliRunner().invoke(main, ["import", "--help"]).output


SCRIPTED_ZOO = "models:\n  scripted-a: {kind: llm, backend: scripted, options: {respond: 'A'}}\ngroups:\n  one: [scripted-a]\n"


def test_run_json_is_the_run_summary(tmp_path):
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(SCRIPTED_ZOO, encoding="utf-8")
    argv = ["run", "demo", "--zoo", "one", "--zoo-file", str(zoo), "--condition", "text", "--run-dir", str(tmp_path / "r"),
            "--limit", "4", "--json"]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["condition"] == "text" and doc["shots"] == 0 and doc["new"] == 4 and doc["total"] == 4
    assert [r["model"] for r in doc["rows"]] == ["scripted-a"]
    again = json.loads(CliRunner().invoke(main, argv).stdout)
    assert again["new"] == 0 and again["all_cached"] is True
