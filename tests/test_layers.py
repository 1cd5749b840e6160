"""The package shows its layers: each stage imports only the stages before it, and nothing imports in a circle.

Every ``import`` in leakaudit and benchmarks_adapters counts, at module level or inside a
function (a lazy import is still a dependency), except those under ``if TYPE_CHECKING:``
(annotations only, never run). The stages, in the order data flows:
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: stage of each sub-package, lowest first; a module may import its own stage and lower ones
STAGES = {
    "core": 0,       # leakaudit/{errors,types,registry,outputs,version}.py: the words every stage shares
    "data": 1,       # questions: schema, benchmarks, files, images, demo (and benchmarks_adapters)
    "models": 2,     # the zoo and the backends behind one LM interface
    "answers": 3,    # prompts, the runner, engines, the store, imports, settings
    "audit": 4,      # metrics, signals, the filter
    "report": 5,     # the PDF and the figures
    "workflows": 6,  # pipeline, scan, gate
    "regen": 7,      # Auto-Bench regeneration and the judge
    "cli": 8,        # the command line
    "facade": 9,     # leakaudit/__init__.py (the public API) and __main__
}
CORE = {"errors", "types", "registry", "outputs", "version", "_moved"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in ("leakaudit", "benchmarks_adapters"):
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _stage(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "benchmarks_adapters":
        return STAGES["data"]
    if module in ("leakaudit", "leakaudit.__main__"):
        return STAGES["facade"]
    if parts[1] in CORE:
        return STAGES["core"]
    return STAGES[parts[1]]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}, for modules of this repository only."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        edges: dict[str, int] = {}
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else [])) if node.level else node.module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                r = resolve(t)
                if r and r != mod:
                    edges.setdefault(r, node.lineno)
        graph[mod] = edges
    return graph


def test_no_stage_imports_a_later_stage():
    graph = import_graph()
    wrong = [f"{m} (stage {_stage(m)}) imports {t} (stage {_stage(t)}) at line {line}"
             for m, edges in sorted(graph.items()) for t, line in sorted(edges.items())
             if t != "leakaudit" and _stage(t) > _stage(m)]
    assert not wrong, "\n".join(wrong)


def test_only_the_facade_imports_the_top_package():
    graph = import_graph()
    assert not [m for m, edges in graph.items() if "leakaudit" in edges and m not in ("leakaudit", "leakaudit.__main__")
                and not m.startswith("leakaudit._moved")]


def test_no_import_circles():
    import networkx as nx

    graph = import_graph()
    g = nx.DiGraph([(m, t) for m, edges in graph.items() for t in edges])
    circles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not circles, circles


def test_every_module_belongs_to_a_stage():
    top = sorted(m for m in _modules() if m.count(".") == 1 and m.startswith("leakaudit.") and m.split(".")[1] not in STAGES)
    assert set(m.split(".")[1] for m in top) <= CORE | {"__main__"}, top


def test_import_leakaudit_in_a_fresh_interpreter_loads_no_later_stage_and_no_warning():
    """``import leakaudit`` runs (no circle breaks it) and loads the first three stages at most, quietly."""
    code = ("import sys, warnings; warnings.simplefilter('error'); import leakaudit; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('leakaudit.')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert loaded <= CORE | {"data", "answers", "models"}, loaded


@pytest.mark.parametrize("old", ["leakaudit.store", "leakaudit.backends.base", "leakaudit.signals.extra", "leakaudit.evidence_tests.order",
                                 "leakaudit.engines.ray_engine", "leakaudit.gate"])
def test_old_module_paths_still_import_for_one_release_with_a_deprecation_warning(old):
    import importlib

    from leakaudit._moved import new_name

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match="moved to"):
        module = importlib.import_module(old)
    new = importlib.import_module(new_name(old))
    if old == "leakaudit.signals.extra":  # two modules merged: the package re-exports both
        assert module is new and module.Probe.__module__ == "leakaudit.audit.signals.probe"
    else:
        assert module is new


def test_old_names_of_renamed_modules_resolve_through_their_old_package():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from leakaudit.evidence_tests import mink, order  # noqa: F401 - the import is the test
        from leakaudit.signals.builtin import TextHits

    from leakaudit.audit.signals import min_k, option_order
    from leakaudit.audit.signals.text_hits import TextHits as New

    assert mink is min_k and order is option_order and TextHits is New


def test_architecture_doc_has_one_row_per_module():
    import re

    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `((?:leakaudit|benchmarks_adapters)/[^`]+\.py)` \|", doc, re.M)
    files = sorted(str(f.relative_to(ROOT)) for pkg in ("leakaudit", "benchmarks_adapters") for f in (ROOT / pkg).rglob("*.py"))
    assert sorted(rows) == files, {"missing": sorted(set(files) - set(rows)), "extra or repeated": sorted(r for r in set(rows) if rows.count(r) > 1 or r not in files)}
