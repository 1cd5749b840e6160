#!/usr/bin/env python
"""Where llama.cpp's time goes when it scores letters: tokens evaluated, its own timings, and the rest.

The same 2-shot MMStar letter prompts as ``bench_engines.py``, through ``LlamaCppBackend``
(SmolLM2-135M Q4_1 GGUF), one request per question as the backend sends them. For each
setting it prints the prompt tokens llama.cpp evaluated per question (after its prompt
cache), its own prompt-evaluation and sampling milliseconds from the server's ``timings``,
and the wall time per request, so the gap between them is the request overhead (JSON,
top-k log-probs over the vocabulary). Settings: the backend's scoring setup (f32 KV cache,
no flash attention, top 100 log-probs), llama.cpp's defaults (f16 cache, flash attention),
and top 1 instead of top 100. Run it on a quiet machine::

    python scripts/llamacpp_profile.py --n 100
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--path", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mmstar_text" / "mmstar_text.parquet"))
    args = parser.parse_args(argv)

    from leakaudit.answers.prompts import build_prompt, select_fewshot
    from leakaudit.data.benchmark import load_benchmark
    from leakaudit.models.backends.llamacpp import LlamaCppBackend
    from leakaudit.models.zoo import load_zoo

    bench = load_benchmark("mmstar", path=args.path)
    samples = [s for s in bench.samples if s.is_multiple_choice][: args.n]
    fewshot = select_fewshot(bench, 2)
    prompts = [build_prompt(s, "text", shots=2, fewshot=fewshot, scoring="letter") for s in samples]
    gguf = load_zoo()["smollm2-135m-llamacpp"].resolve_gguf()
    rows = []
    for label, precise, top_k in (("backend (f32 KV, no flash attn), top 100", True, 100),
                                   ("llama.cpp defaults (f16 KV, flash attn), top 100", False, 100),
                                   ("backend, top 1", True, 1)):
        lm = LlamaCppBackend("profile", gguf, precise=precise, top_k=top_k)
        texts = [lm.render(p) for p in prompts]
        lm._server.handle_completions({"prompt": texts[0], "n_predict": 1, "n_probs": top_k, "cache_prompt": True, "temperature": 0.0})
        evaluated, prompt_ms, predicted_ms, wall_ms = [], [], [], []
        t_all = time.perf_counter()
        for text in texts:
            t0 = time.perf_counter()
            r = lm._server.handle_completions({"prompt": text, "n_predict": 1, "n_probs": top_k, "cache_prompt": True,
                                               "temperature": 0.0, "post_sampling_probs": False})
            wall_ms.append(1000 * (time.perf_counter() - t0))
            t = r.get("timings") or {}
            evaluated.append(t.get("prompt_n", float("nan")))
            prompt_ms.append(t.get("prompt_ms", float("nan")))
            predicted_ms.append(t.get("predicted_ms", float("nan")))
        total = time.perf_counter() - t_all
        rows.append((label, len(texts) / total, statistics.mean(evaluated), statistics.mean(prompt_ms), statistics.mean(predicted_ms),
                     statistics.mean(wall_ms)))
        del lm
    print(f"SmolLM2-135M Q4_1 through llama.cpp, {len(prompts)} MMStar questions, 2-shot letters, one request each "
          f"({os.cpu_count()} CPUs)")
    print(f"{'setting':<50}{'q/s':>6}{'tok eval':>9}{'eval ms':>8}{'pred ms':>8}{'wall ms':>8}")
    for label, qps, ev, pm, dm, wm in rows:
        print(f"{label:<50}{qps:>6.2f}{ev:>9.0f}{pm:>8.1f}{dm:>8.1f}{wm:>8.1f}")
    print("tok eval: prompt tokens llama.cpp evaluated per question after its prompt cache; eval/pred ms: its own timings; "
          "wall ms: the whole request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
