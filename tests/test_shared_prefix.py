"""Batches after a cached prefix attend to it in place (``shared_prefix.py``), to fp32 precision.

Tiny randomly initialised models of each enabled family (Llama with grouped KV heads, Qwen2,
Gemma-3 with sliding and full layers) are scored three ways: the shared-prefix path, the
per-row copy of the KV cache it replaces, and one plain forward pass over prefix + row with no
cache at all (the independent reference). All three must agree to 1e-4 in fp32, at the last
token and at every position (cloze scoring reads those). Families it cannot serve keep the
cache path.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from leakaudit.models.backends import shared_prefix  # noqa: E402
from leakaudit.models.backends.transformers_backend import HFBackend  # noqa: E402

VOCAB = 96


def _tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    words = {f"w{i}": i for i in range(VOCAB - 2)} | {"<pad>": VOCAB - 2, "<eos>": VOCAB - 1}
    tok = Tokenizer(WordLevel(words, unk_token="<pad>"))
    tok.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def _model(family: str, window: int = 4096):
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512)
    if family == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    elif family == "qwen2":
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))
    elif family == "gemma3":
        cfg = transformers.Gemma3TextConfig(**common, head_dim=16, sliding_window=window,
                                            layer_types=["sliding_attention", "full_attention", "sliding_attention"])
        model = transformers.Gemma3ForCausalLM(cfg)
    else:
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4))
    return model.eval()


def _backend(model, enabled: bool = True) -> HFBackend:
    return HFBackend("tiny", model=model, tokenizer=_tokenizer(), dtype="fp32", fp32_head=False, shared_prefix=enabled)


PREFIX = [3, 17, 9, 41, 5, 22, 8, 60, 13, 2, 31, 7]
ROWS = [[11, 4, 19, 23, 5], [6, 30], [44, 12, 9, 1, 2, 3, 70, 15], [50]]  # unequal lengths: right padding


def _reference(lm: HFBackend, row: list[int]) -> torch.Tensor:
    """Log-probs at each of the row's positions from one forward pass over prefix + row, no cache."""
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([PREFIX + row])).logits[0, len(PREFIX):]
    return torch.log_softmax(logits.float(), dim=-1)


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma3"])
def test_the_shared_prefix_path_equals_the_cache_copy_and_a_plain_forward_pass(family):
    torch.manual_seed(0)
    model = _model(family)
    shared = _backend(model)
    assert shared.shared_prefix and model.config._attn_implementation == shared_prefix.NAME
    copied = _backend(model, enabled=False)  # the same weights, the per-row cache copy
    state = shared._prefix_state(tuple(PREFIX))
    positions = [list(range(len(r))) for r in ROWS]
    before = shared.stats.get("shared_prefix_passes", 0)
    got, _ = shared._extend(state, ROWS, positions=positions)
    assert shared.stats["shared_prefix_passes"] == before + 1
    want, _ = copied._extend(copied._prefix_state(tuple(PREFIX)), ROWS, positions=positions)
    for row, g, w in zip(ROWS, got, want):
        ref = _reference(shared, row)
        assert torch.allclose(g, ref, atol=1e-4), (family, float((g - ref).abs().max()))
        assert torch.allclose(w, ref, atol=1e-4)
    # and a single row, at its last token (letter scoring)
    one, _ = shared._extend(state, [ROWS[0]])
    assert torch.allclose(one[0][-1], _reference(shared, ROWS[0])[-1], atol=1e-4)


def test_a_sliding_window_shorter_than_the_sequence_keeps_the_cache_path():
    torch.manual_seed(0)
    model = _model("gemma3", window=len(PREFIX) + 4)  # the longer rows reach past the window
    lm = _backend(model)
    assert lm.shared_prefix and not shared_prefix.supports(model, len(PREFIX) + 8)
    assert shared_prefix.supports(model, len(PREFIX) + 4)
    got, _ = lm._extend(lm._prefix_state(tuple(PREFIX)), ROWS)
    assert lm.stats.get("shared_prefix_passes", 0) == 0
    for row, g in zip(ROWS, got):
        assert torch.allclose(g[-1], _reference(lm, row)[-1], atol=1e-4)


def test_families_it_cannot_serve_are_left_as_they_are():
    torch.manual_seed(0)
    gpt2 = _model("gpt2")
    before = gpt2.config._attn_implementation
    assert not shared_prefix.enable(gpt2) and gpt2.config._attn_implementation == before
    eager = _model("llama")
    eager.set_attn_implementation("eager")  # a user's choice is kept
    assert not shared_prefix.enable(eager) and eager.config._attn_implementation == "eager"
    assert not _backend(eager).shared_prefix
    llama = _model("llama")
    assert not _backend(llama, enabled=False).shared_prefix and llama.config._attn_implementation == "sdpa"


def test_without_a_shared_prefix_the_model_runs_sdpa_unchanged():
    """Generation, lm-eval and the prefix itself pass no shared prefix: SDPA, to the digit."""
    torch.manual_seed(0)
    model = _model("qwen2")
    ids = torch.tensor([PREFIX + ROWS[0]])
    with torch.inference_mode():
        before = model(input_ids=ids).logits
        assert shared_prefix.enable(model)
        after = model(input_ids=ids).logits
        generated = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False, pad_token_id=VOCAB - 2)
    assert torch.equal(before, after) and generated.shape == (1, ids.shape[1] + 4)


def test_bf16_rows_stay_close_to_fp32():
    torch.manual_seed(0)
    model = _model("llama")
    fp32 = _backend(model)
    want, _ = fp32._extend(fp32._prefix_state(tuple(PREFIX)), ROWS)
    bf16 = HFBackend("tiny-bf16", model=_model("llama").to(torch.bfloat16), tokenizer=_tokenizer(), dtype="bf16", fp32_head=False)
    bf16.model.load_state_dict({k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})
    got, _ = bf16._extend(bf16._prefix_state(tuple(PREFIX)), ROWS)
    assert bf16.stats["shared_prefix_passes"] == 1
    for g, w in zip(got, want):
        assert torch.allclose(g.float(), w, atol=0.05)
