"""The walkthrough notebook is executed, so it cannot rot when the API changes.

It runs real small models (SmolLM2-135M from its wheel, RapidOCR) on a few demo questions,
in a kernel started from this interpreter (a temporary kernelspec, so the venv's packages
are the ones the notebook sees whatever kernels the machine has registered).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook extra not installed: pip install -e .[notebook]")
nbclient = pytest.importorskip("nbclient", reason="notebook extra not installed: pip install -e .[notebook]")
pytest.importorskip("ipykernel", reason="notebook extra not installed: pip install -e .[notebook]")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"
KERNEL = "leakaudit-test-python"


def _kernelspec(tmp: Path) -> None:
    """Register a kernel that runs this very interpreter, found through JUPYTER_PATH."""
    spec_dir = tmp / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "leakaudit tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def _cell(nb, tag: str):
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
            parts.append(out["data"].get("text/html", ""))
    return "\n".join(parts)


def test_notebook_is_valid_and_tagged():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for tag in ("setup", "load", "run", "audit", "evidence", "filter", "plot", "report", "gate", "published"):
        assert _cell(nb, tag) is not None
    # saved with its outputs (a reader sees the results without running it), written on no
    # machine's paths: re-save with `jupyter nbconvert --to notebook --execute --inplace`
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("outputs") for c in code), "save the notebook with its outputs"
    saved = "\n".join(_text(c) for c in code)
    assert "gate: " in _text(_cell(nb, "gate")) and "S_wv" in _text(_cell(nb, "audit"))
    for path in ("/tmp/", "/work/", "/root/", "/home/"):
        assert path not in saved, f"an absolute path ({path}...) in the saved outputs"


@pytest.mark.slow
def test_walkthrough_notebook_executes(tmp_path, monkeypatch, smollm2_path):
    pytest.importorskip("rapidocr_onnxruntime", reason="the walkthrough's vision model needs rapidocr-onnxruntime")
    _kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter") + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("LEAKAUDIT_WALKTHROUGH_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("LEAKAUDIT_WALKTHROUGH_LIMIT", "6")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell

    assert "ocr+smollm2" in _text(_cell(nb, "run"))
    audit_out = _text(_cell(nb, "audit"))
    assert "S_wv" in audit_out and "ocr+smollm2" in audit_out
    assert "text-answerable:" in _text(_cell(nb, "evidence"))
    assert "kept" in _text(_cell(nb, "filter"))
    images = [o for o in _cell(nb, "plot")["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) == 2
    assert "report:" in _text(_cell(nb, "report"))
    gate_out = _text(_cell(nb, "gate"))
    assert "gate: " in gate_out and "exit code" in gate_out and "text-answerable share" in gate_out
    pdf = tmp_path / "out" / "audit" / "audit.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert (tmp_path / "out" / "kept" / "removed.csv").is_file()
