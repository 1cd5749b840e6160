"""Tiny, randomly initialised vision-language models built from configs, with no download.

They exist so that the transformers backend's VLM path (processor, chat template with an
image, pixel values, image tokens, forward pass, generation) runs end to end in tests and
dry runs on a CPU. Their answers are noise: they test plumbing, never accuracy.

Each builder writes a folder that ``AutoProcessor.from_pretrained`` and
``AutoModelForImageTextToText.from_pretrained`` load: weights drawn from a fixed seed,
a byte-level BPE tokenizer made offline (with the model's image tokens and single-token
option letters " A".." J"), a PIL image processor with explicit sizes (no torchvision),
and a chat template that accepts ``{"type": "image"}`` / ``{"type": "text"}`` parts.
Builds are cached: the default folder is ``<cache>/tiny-llava`` / ``<cache>/tiny-idefics3``
and a folder with a finished build is returned as is.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from leakaudit.data.demo import cache_dir
from leakaudit.errors import LeakauditError

TINY_VLM_SEED = 1234
_BUILD_MARKER = "leakaudit_tiny_vlm.json"
_VERSION = 1

#: ChatML with image parts; string contents work too (text-only turns)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_BASE_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]
_IDEFICS3_SPECIAL = ["<fake_token_around_image>", "<global-img>", "<end_of_utterance>"] + [
    f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)
]


def build_tokenizer(extra_special: list[str] = ()):
    """A byte-level BPE tokenizer with no training data: the 256 byte symbols, the special
    tokens, and merges that make option letters (" A".." J") single tokens, as letter
    scoring expects."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = _BASE_SPECIAL + [t for t in extra_special if t not in _BASE_SPECIAL]
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(special)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    merges = []
    for letter in "ABCDEFGHIJ":
        merges.append(("Ġ", letter))
        vocab.setdefault("Ġ" + letter, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=special[1:],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _text_config(vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=False,
    )


def _save_model(model_cls, config, out: Path) -> None:
    """Initialise from the fixed seed and save; generation stops at <|im_end|>."""
    import torch

    torch.manual_seed(TINY_VLM_SEED)
    model = model_cls(config).eval()
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.save_pretrained(out)


def _write_llava(out: Path) -> None:
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    image_size, patch_size = 32, 8
    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=image_size, patch_size=patch_size, projection_dim=32,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=_text_config(len(tokenizer), ids("<|endoftext|>"), ids("<|im_start|>"), ids("<|im_end|>")),
        image_token_id=ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    _save_model(LlavaForConditionalGeneration, config, out)


def _write_idefics3(out: Path) -> None:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor, Idefics3VisionConfig
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    image_size, patch_size, scale_factor = 32, 8, 2
    image_seq_len = (image_size // patch_size) ** 2 // scale_factor**2
    tokenizer = build_tokenizer(_IDEFICS3_SPECIAL)
    ids = tokenizer.convert_tokens_to_ids
    vision = Idefics3VisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=image_size, patch_size=patch_size,
    )
    config = Idefics3Config(
        vision_config=vision,
        text_config=_text_config(len(tokenizer), ids("<|endoftext|>"), ids("<|im_start|>"), ids("<|im_end|>")),
        image_token_id=ids("<image>"),
        scale_factor=scale_factor,
    )
    image_processor = Idefics3ImageProcessorPil(
        do_resize=True,
        size={"longest_edge": image_size},
        max_image_size={"longest_edge": image_size},
        do_image_splitting=False,
    )
    processor = Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=image_seq_len, chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    _save_model(Idefics3ForConditionalGeneration, config, out)


def _is_built(folder: Path, kind: str) -> bool:
    marker = folder / _BUILD_MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("kind") == kind and info.get("version") == _VERSION and info.get("seed") == TINY_VLM_SEED


def _build(kind: str, writer: Callable[[Path], None], out_dir: str | Path | None) -> Path:
    """Build into a temporary sibling and rename it into place (concurrent callers are safe)."""
    target = Path(out_dir) if out_dir is not None else cache_dir() / kind
    if _is_built(target, kind):
        return target
    if target.is_dir() and any(target.iterdir()) and not (target / _BUILD_MARKER).exists():
        raise LeakauditError(f"{target} is not empty and holds no tiny-VLM build; pick an empty or new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        writer(tmp)
        (tmp / _BUILD_MARKER).write_text(json.dumps({"kind": kind, "version": _VERSION, "seed": TINY_VLM_SEED}), encoding="utf-8")
        if target.exists():  # empty, or an older build of ours (it has the marker)
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not _is_built(target, kind):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_tiny_llava(out_dir: str | Path | None = None) -> Path:
    """A ~0.1M-parameter LLaVA (CLIP vision tower + Llama) with its processor; returns the folder."""
    return _build("tiny-llava", _write_llava, out_dir)


def build_tiny_idefics3(out_dir: str | Path | None = None) -> Path:
    """A ~0.1M-parameter Idefics3 (SmolVLM's architecture) with its processor; returns the folder."""
    return _build("tiny-idefics3", _write_idefics3, out_dir)
