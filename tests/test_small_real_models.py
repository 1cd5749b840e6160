"""The small-real panel's Qwen2.5-Coder models answer real questions on both backends.

Opt-in (``pytest -m models``): the GGUFs are 1.6 GB of wheels (``bash scripts/install.sh
--models small``) and the 1.5B takes minutes on 2 cores, so the default run and CI skip it.
"""
from __future__ import annotations

import math

import pytest

from leakaudit import load_benchmark
from leakaudit.errors import LeakauditError
from leakaudit.answers.runner import run
from leakaudit.answers.store import AnswerStore
from leakaudit.models.zoo import load_zoo

pytestmark = [pytest.mark.slow, pytest.mark.models]
QWEN = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


@pytest.fixture(scope="module")
def installed():
    zoo = load_zoo()
    for name in QWEN:
        try:
            zoo[name].resolve_gguf()  # assembled and sha256-checked, or why not
        except LeakauditError as exc:
            pytest.skip(f"{name} not installed ({exc})")
    return zoo


def test_five_questions_through_each_qwen_model_on_hf_and_llamacpp(installed, tmp_path, one_thread_when_busy):
    bench = load_benchmark("demo").subset([s.id for s in load_benchmark("demo").samples[:5]])
    models = [m for name in QWEN for m in (name, f"{name}-llamacpp")]
    run(bench, models, condition="text", run_dir=tmp_path, scoring="letter", zoo=installed, progress=False)
    with AnswerStore(tmp_path / "answers.sqlite", read_only=True) as store:
        answers = store.answers()
    n_options = {s.id: len(s.options) for s in bench.samples}
    for model in models:
        mine = answers[answers["model"] == model]
        assert len(mine) == 5, model
        for sid, scores in zip(mine["sample_id"], mine["option_scores"]):
            assert len(scores) == n_options[sid] and all(math.isfinite(x) for x in scores), (model, sid, scores)
    # the same weights through two backends pick the same letters (dequantized fp32 vs llama.cpp's Q4 kernels)
    for name in QWEN:
        hf = answers[answers["model"] == name].set_index("sample_id")["chosen"]
        cpp = answers[answers["model"] == f"{name}-llamacpp"].set_index("sample_id")["chosen"]
        assert (hf == cpp.reindex(hf.index)).sum() >= 4, (name, hf.to_dict(), cpp.to_dict())
