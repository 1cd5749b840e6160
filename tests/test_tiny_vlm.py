"""Tiny random VLMs: built offline, loadable by the Auto classes, run on an image + text."""
from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from leakaudit.models.backends.tiny_vlm import build_tiny_idefics3, build_tiny_llava, build_tokenizer
from leakaudit.errors import LeakauditError

BUILDERS = {"llava": build_tiny_llava, "idefics3": build_tiny_idefics3}
MESSAGES = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Question: Which colour?\nA. red\nB. blue\n"}]}]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request, tmp_path_factory):
    return request.param, BUILDERS[request.param](tmp_path_factory.mktemp(request.param))


def test_loads_with_auto_classes_and_runs_on_image_and_text(built):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    kind, folder = built
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    assert model.config.model_type == kind
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    assert text.startswith("<|im_start|>user\n<image>Question: Which colour?") and text.endswith("<|im_start|>assistant\n")
    image = Image.new("RGB", (300, 200), (200, 30, 30))
    inputs = processor(images=[image], text=[text], return_tensors="pt")
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_image_tokens > 0
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(out.logits).all()
    generated = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]
    # pixels reach the logits: another image changes them
    other = processor(images=[Image.new("RGB", (300, 200), (20, 200, 240))], text=[text], return_tensors="pt")
    with torch.no_grad():
        assert not torch.allclose(model(**other).logits[0, -1], out.logits[0, -1])


def test_text_only_turns_render_too(built):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(built[1])
    text = processor.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_builds_are_seeded_and_cached(built, tmp_path):
    kind, folder = built
    again = BUILDERS[kind](tmp_path / "again")
    digest = lambda d: hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()  # noqa: E731
    assert digest(again) == digest(folder)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert BUILDERS[kind](folder) == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_default_folder_is_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LEAKAUDIT_CACHE", str(tmp_path))
    assert build_tiny_llava() == tmp_path / "tiny-llava"
    assert (tmp_path / "tiny-llava" / "config.json").is_file()


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LeakauditError, match="not empty"):
        build_tiny_llava(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_option_letters_are_single_tokens():
    tok = build_tokenizer()
    for letter in "ABCD":
        assert len(tok(" " + letter, add_special_tokens=False).input_ids) == 1
        assert len(tok(letter, add_special_tokens=False).input_ids) == 1
    assert tok.decode(tok("Answer: B. blue", add_special_tokens=False).input_ids) == "Answer: B. blue"
