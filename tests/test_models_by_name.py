"""Models by name (issue 15): hub ids, local folders and .gguf files in --models; --config files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from leakaudit.models.adhoc import adhoc_spec, kind_from_config, parse_model_args, resolve_models
from leakaudit.cli import main
from leakaudit.cli.config import defaults_for, write_config
from leakaudit.errors import ConfigError
from leakaudit.models.zoo import load_zoo


def _folder(tmp_path: Path, name: str, config: dict) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    return d


def test_kind_from_config():
    assert kind_from_config({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}) == "llm"
    assert kind_from_config({"architectures": ["LlavaForConditionalGeneration"], "vision_config": {}}) == "lvlm"
    assert kind_from_config({"architectures": ["Qwen2_5_VLForConditionalGeneration"]}) == "lvlm"
    assert kind_from_config({"architectures": ["Idefics3ForConditionalGeneration"]}) == "lvlm"


def test_adhoc_specs_for_folder_gguf_and_hub_id(tmp_path, monkeypatch):
    llm = adhoc_spec(str(_folder(tmp_path, "my-llm", {"architectures": ["LlamaForCausalLM"]})))
    assert (llm.name, llm.kind, llm.backend, Path(llm.hf_id).name) == ("my-llm", "llm", "hf", "my-llm")
    vlm = adhoc_spec(str(_folder(tmp_path, "my-vlm", {"architectures": ["LlavaForConditionalGeneration"], "vision_config": {}})))
    assert vlm.kind == "lvlm"
    gguf = tmp_path / "tiny.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    g = adhoc_spec(str(gguf), backend="hf")
    assert (g.name, g.backend, g.gguf) == ("tiny.Q4", "hf", {"path": str(gguf.resolve())})
    with pytest.raises(ConfigError, match="GGUF file not found"):
        adhoc_spec(str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="no config.json.*--kind"):
        adhoc_spec(str(tmp_path))
    assert adhoc_spec(str(tmp_path), kind="llm").kind == "llm"
    # offline and not cached: the kind cannot be read, so --kind is asked for
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("leakaudit.models.adhoc._hub_config", lambda ref: None)
    with pytest.raises(ConfigError, match="pass --kind"):
        adhoc_spec("Qwen/Qwen2.5-0.5B-Instruct")
    q = adhoc_spec("Qwen/Qwen2.5-0.5B-Instruct", kind="llm")
    assert (q.name, q.hf_id, q.backend) == ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "hf")
    with pytest.raises(ConfigError, match="unknown model 'no-such-model'"):
        adhoc_spec("no-such-model")


def test_resolve_models_adds_specs_and_overrides(tmp_path):
    zoo = load_zoo()
    folder = _folder(tmp_path, "local-smol", {"architectures": ["LlamaForCausalLM"]})
    z2, names = resolve_models(zoo, ["smollm2-135m", str(folder)], dtype="bf16", batch_size=4, device="cpu")
    assert names == ["smollm2-135m", "local-smol"]
    assert z2["local-smol"].hf_id == str(folder.resolve()) and "local-smol" not in zoo
    assert z2["smollm2-135m"].dtype == "bf16" and z2["smollm2-135m"].options["batch_size"] == 4
    assert z2["local-smol"].options == {"device": "cpu", "batch_size": 4}
    assert zoo["smollm2-135m"].dtype == "auto"  # the loaded zoo is not changed
    # an OCR composite passes the settings to the LLM it wraps (the composite itself takes none)
    z3, _ = resolve_models(zoo, ["ocr+smollm2"], dtype="fp32")
    assert z3["smollm2-135m"].dtype == "fp32" and z3["ocr+smollm2"].options == {}
    # --model-args: a typo is an error, a real argument goes to the backend
    with pytest.raises(ConfigError, match="'n_ctxx'"):
        resolve_models(zoo, ["smollm2-135m-llamacpp"], model_args="n_ctxx=2048")
    z4, _ = resolve_models(zoo, ["smollm2-135m-llamacpp"], model_args="n_ctx=2048")
    assert z4["smollm2-135m-llamacpp"].options["n_ctx"] == 2048
    # no names: the settings reach every zoo model whose backend takes them (a scan of the default group)
    z5, none = resolve_models(zoo, None, dtype="fp32")
    assert none is None and z5["gemma3-270m"].dtype == "fp32"


def test_parse_model_args():
    assert parse_model_args("n_ctx=2048, precise=false,chat_template=chatml") == {"n_ctx": 2048, "precise": False, "chat_template": "chatml"}
    with pytest.raises(Exception, match="key=value"):
        parse_model_args("n_ctx")


def test_config_keys_map_to_option_names(tmp_path):
    cmd = main.commands["scan"]
    got = defaults_for(cmd, {"models": ["a", "b"], "batch-size": 4, "min_confidence": 0.3, "model-args": {"n_ctx": 512},
                             "max-text-answerable": 0.2, "scan": {"n-boot": 50}},
                       known=["max-text-answerable"])
    assert got == {"models_opt": "a,b", "batch_size": 4, "min_confidence": 0.3, "model_args": "n_ctx=512", "n_boot": 50}
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        defaults_for(cmd, {"bogus": 1}, source="audit.yaml")


def test_gate_config_file_is_used_and_written_back(tmp_path):
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(yaml.safe_dump({"max-text-answerable": 0.25, "min-confidence": 0.3, "n-boot": 10, "gate": {"zoo": "tiny-llm"}}))
    sub = tmp_path / "sub.jsonl"
    sub.write_text('{"id": "a", "question": "q?", "options": ["x", "y"], "answer": "Z"}\n')
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["gate", str(sub), "--config", str(cfg), "--out", str(out), "--min-confidence", "0.6"])
    assert res.exit_code == 2, res.output  # the bad answer letter: exit 2, files written anyway
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert written["command"] == "gate" and written["max-text-answerable"] == 0.25 and written["zoo-group"] == "tiny-llm"
    assert written["min-confidence"] == 0.6  # the command line wins over the file
    # the written file is a valid --config for the same command
    res = CliRunner().invoke(main, ["gate", str(sub), "--config", str(out / "config.yaml"), "--out", str(tmp_path / "out2")])
    assert res.exit_code == 2 and "unknown key" not in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("shots: 0\nbogus: 1\n")
    res = CliRunner().invoke(main, ["gate", str(sub), "--config", str(bad), "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "bogus" in res.output and "bad.yaml" in res.output


def test_write_config(tmp_path):
    p = write_config(tmp_path, "run", {"models_opt": "a,b", "shots": 2, "config": "x.yaml", "limit": None, "base_llm": ()})
    assert yaml.safe_load(p.read_text()) == {"command": "run", "models-opt": "a,b", "shots": 2}


@pytest.mark.slow
def test_run_with_a_local_folder_and_a_gguf_path(tmp_path, smollm2_path):
    """The SmolLM2 safetensors folder (the hf backend's GGUF conversion) and the GGUF file itself, by path."""
    from leakaudit.models.backends.transformers_backend import dequantized_gguf_dir

    folder = dequantized_gguf_dir(smollm2_path)
    run_dir = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "demo", "--models", f"{folder},{smollm2_path}", "--condition", "text", "--scoring", "cloze",
                                    "--limit", "3", "--run-dir", str(run_dir), "--no-progress", "--dtype", "fp32",
                                    "--model-args", "max_batch_tokens=4096"], catch_exceptions=False)
    # max_batch_tokens is an hf argument: the llamacpp model of the .gguf does not take it, the folder's hf model does
    assert res.exit_code == 0, res.output
    assert folder.name in res.output and smollm2_path.stem in res.output
    # quiet by default: no third-party FutureWarnings or loading bars in the log
    for noise in ("FutureWarning", "past_key_values", "Loading weights", "de-quantizing"):
        assert noise not in res.stderr, res.stderr[-2000:]
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["dtype"] == "fp32" and str(smollm2_path) in cfg["models-opt"]
    from leakaudit.answers.store import AnswerStore

    with AnswerStore(run_dir) as store:
        df = store.answers()
    assert set(df["model"]) == {folder.name, smollm2_path.stem} and len(df) == 6
