"""The regeneration loop: replace questions that fail the audit with new vision-dependent ones.

For every sample the audit labelled text-answerable or leaked: describe its image as text,
let the curator write candidates, keep those the judge scores at least ``min_score``, and
re-audit the survivors by really running the text-only LLM panel (no image) and the LVLM
with and without the image through the runner, into ``OUT/reaudit`` (so answers are stored
and a killed run resumes). A candidate is kept only when it is vision-dependent: no
text-only LLM answers it and the LVLM does not answer it without the image. Kept questions
are written in the input's own format (same images) with provenance columns; every
candidate, kept or not, is in ``provenance.jsonl`` with the reason it fell; the pass rate
of each stage per round is in ``regen_summary.json`` / ``rounds.csv``.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from leakaudit.answers.store import STORE_FILE, AnswerStore
from leakaudit.data.benchmark import Benchmark, load_benchmark
from leakaudit.data.schema import LETTERS, Sample
from leakaudit.data.textsafe import safe_filename
from leakaudit.errors import DataError, LeakauditError
from leakaudit.models.backends.base import LM
from leakaudit.regen.cache import GenerationCache
from leakaudit.regen.curator import Candidate, Curator
from leakaudit.regen.describe import SymbolicDescription, describe_image
from leakaudit.regen.judge import Judge
from leakaudit.regen.rows import UnmappableRow, rewrite_row

FAILING_LABELS = ("text-answerable", "leaked")
REAUDIT_DIR = "reaudit"
OUTPUT_DIR = "regenerated"
PROVENANCE_FILE = "provenance.jsonl"
SUMMARY_FILE = "regen_summary.json"
ROUNDS_FILE = "rounds.csv"
CACHE_FILE = "generations.jsonl"
STAGES = ("requested", "parsed", "valid", "passed_judge", "passed_reaudit")


@dataclass
class RoundStats:
    """How many candidates reached each stage in one round (``requested`` = sources x candidates)."""

    round: int
    sources: int
    requested: int = 0
    parsed: int = 0  # question items found in the curator's replies
    valid: int = 0  # passed the acceptance rules (well formed, answer not given away, not a duplicate)
    passed_judge: int = 0
    passed_reaudit: int = 0
    seconds: float = 0.0

    def rates(self) -> dict[str, float | None]:
        return {f"rate_{s}": (getattr(self, s) / self.requested if self.requested else None) for s in STAGES[1:]}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), **self.rates()}


@dataclass
class RegenResult:
    out_dir: Path
    rounds: list[RoundStats]
    kept: list[Sample]
    n_failing: int
    n_sources_replaced: int
    benchmark_file: Path | None
    benchmark_format: str | None
    provenance_file: Path
    summary_file: Path
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.to_dict() for r in self.rounds])

    def table(self):
        """The per-round pass rates as a rich table."""
        from rich.table import Table

        t = Table(title=f"Regeneration: {len(self.kept)} question(s) kept for {self.n_sources_replaced} of {self.n_failing} failing sample(s)")
        for col in ("round", "sources", *STAGES):
            t.add_column(col.replace("_", " "), justify="right")
        for r in self.rounds:
            cells = [str(r.round), str(r.sources), str(r.requested)]
            for s in STAGES[1:]:
                v = getattr(r, s)
                cells.append(f"{v} ({100 * v / r.requested:.0f}%)" if r.requested else str(v))
            t.add_row(*cells)
        return t


# -- inputs -----------------------------------------------------------------------------
def _store_path(run_dir: Path) -> Path | None:
    for p in (run_dir / STORE_FILE, run_dir / "run" / STORE_FILE):
        if p.is_file():
            return p
    return None


def load_audit(run_dir: str | Path, zoo: Any = None):
    """The audit of ``run_dir``: a saved audit folder (summary.json) or a run folder (answers.sqlite)."""
    from leakaudit.audit import AuditResult

    run_dir = Path(run_dir)
    if (run_dir / "summary.json").is_file():
        return AuditResult.load(run_dir)
    if _store_path(run_dir) is None:
        raise LeakauditError(f"{run_dir} is neither an audit folder (summary.json) nor a run folder ({STORE_FILE})")
    from leakaudit.answers.settings import resolve
    from leakaudit.workflows.pipeline import audit_run

    run_dir = _store_path(run_dir).parent
    settings, _ = resolve(run_dir)  # the settings the run recorded, so regeneration targets the audit's verdicts
    return audit_run(run_dir, settings, zoo=zoo)


def resolve_benchmark(run_dir: str | Path, audit_result: Any, benchmark: Benchmark | str | Path | None) -> Benchmark:
    """The audited benchmark: given, or found from the audit summary / the run's recorded source."""
    if isinstance(benchmark, Benchmark):
        return benchmark
    if benchmark is not None:
        return load_benchmark(benchmark)
    summary = getattr(audit_result, "summary", {}) or {}
    name, source = summary.get("benchmark"), summary.get("source")
    if not (isinstance(name, str) and source):
        store = _store_path(Path(run_dir))
        if store is not None:
            with AnswerStore(store, read_only=True) as st:
                for run in reversed(st.runs()):
                    if run.get("benchmark") and run.get("source"):
                        name, source = run["benchmark"], run["source"]
                        break
    if not (isinstance(name, str) and source):
        raise LeakauditError(f"cannot tell which benchmark {run_dir} audited; pass it with --benchmark NAME_OR_PATH")
    from leakaudit.registry import benchmarks

    if str(source).startswith("hf://"):
        return load_benchmark(name)
    if name in benchmarks and Path(source).exists():
        return load_benchmark(name, path=source)
    if Path(source).exists():
        return load_benchmark(source)
    raise LeakauditError(f"the audited benchmark {name!r} was read from {source}, which no longer exists; pass it with --benchmark")


def failing_samples(audit_result: Any, bench: Benchmark, limit: int | None = None) -> tuple[list[Sample], list[str]]:
    """Samples labelled text-answerable or leaked, in benchmark order; notes on those not found."""
    df = audit_result.samples
    bad = df[df["label"].isin(FAILING_LABELS)]
    if "benchmark" in bad.columns:
        bad = bad[bad["benchmark"] == bench.name]
    by_hash, by_id = bench.by_hash(), bench.by_id()
    wanted: list[Sample] = []
    missing = []
    for h, sid in zip(bad["sample_hash"], bad["sample_id"]):
        s = by_hash.get(str(h)) or by_id.get(str(sid))
        (wanted.append(s) if s is not None else missing.append(str(sid)))
    order = {s.id: i for i, s in enumerate(bench.samples)}
    wanted = sorted({s.id: s for s in wanted}.values(), key=lambda s: order[s.id])
    notes = [f"{len(missing)} failing sample(s) are not in the benchmark as loaded now (changed?): {', '.join(missing[:5])}"] if missing else []
    return (wanted[:limit] if limit is not None else wanted), notes


def _get_lm(model: str | LM, zoo: Any) -> LM:
    return model if isinstance(model, LM) else zoo.load(model)


def _default_llms(run_dir: Path, audit_result: Any, lvlm: LM | str) -> list[str]:
    """The audit's text-only evidence panel (its inspectors), else every LLM it saw, else the LVLM's own LLM."""
    summary = getattr(audit_result, "summary", {}) or {}
    llms = (summary.get("settings") or {}).get("inspectors") or (summary.get("models") or {}).get("llms")
    if llms:
        return list(llms)
    base = getattr(lvlm, "llm", None)
    return [base.name] if isinstance(base, LM) else ["smollm2-135m"]


# -- the re-audit -------------------------------------------------------------------------
@dataclass
class ReauditVerdict:
    text_correct: dict[str, bool]
    blind_correct: bool | None
    vision_correct: bool | None
    require_vision_correct: bool = False

    @property
    def vision_dependent(self) -> bool:
        ok = not any(self.text_correct.values()) and self.blind_correct is False
        return ok and (self.vision_correct is True or not self.require_vision_correct)

    @property
    def reason(self) -> str:
        if any(self.text_correct.values()):
            return "answered without the image by " + ", ".join(m for m, c in self.text_correct.items() if c)
        if self.blind_correct:
            return "the LVLM answers it without the image"
        if self.blind_correct is None:
            return "no blind answer was stored"
        if self.require_vision_correct and not self.vision_correct:
            return "the LVLM does not answer it with the image either"
        return "vision-dependent"


def reaudit(samples: list[Sample], bench: Benchmark, *, llms: Sequence[LM], lvlm: LM, run_dir: Path, scoring: str, shots: int,
            blind: str, circular: bool, progress: bool) -> dict[str, ReauditVerdict]:
    """Run the panel on candidate samples (answers stored in ``run_dir``); verdict per sample id."""
    from leakaudit.answers.runner import run

    cand = Benchmark(name=bench.name, samples=samples, source=str(run_dir), format="generated", root=bench.root, adapter=bench.adapter)
    common = dict(run_dir=run_dir, shots=shots, scoring=scoring, circular=circular, progress=progress, command="leakaudit regenerate (re-audit)")
    run(cand, list(llms), condition="text", **common)
    run(cand, [lvlm], condition="vision", **{**common, "shots": 0})
    run(cand, [lvlm], condition="blind", blind=blind, **{**common, "shots": 0})
    with AnswerStore(run_dir) as store:
        ans = store.answers(benchmark=bench.name, scoring=scoring)
    ans = ans[ans["sample_hash"].isin({s.content_hash for s in samples})]

    def hit(rows: pd.DataFrame) -> bool | None:
        """Answered correctly: under every rotation (circular), else in the unrotated run."""
        if rows.empty:
            return None
        if circular:
            return bool(rows.groupby("rotation")["correct"].any().all())
        plain = rows[rows["rotation"] == 0]
        return bool(plain["correct"].any()) if len(plain) else None

    out = {}
    for s in samples:
        a = ans[ans["sample_hash"] == s.content_hash]
        text = {m.name: hit(a[(a["model"] == m.name) & (a["condition"] == "text") & (a["shots"] == shots)]) for m in llms}
        out[s.id] = ReauditVerdict(
            text_correct={k: bool(v) for k, v in text.items()},
            blind_correct=hit(a[(a["model"] == lvlm.name) & (a["condition"] == "blind") & (a["blind_mode"] == blind)]),
            vision_correct=hit(a[(a["model"] == lvlm.name) & (a["condition"] == "vision")]),
        )
    return out


# -- writing --------------------------------------------------------------------------------
def _provenance_columns(p: dict[str, Any]) -> dict[str, Any]:
    """Flat, scalar provenance columns for the output file (full detail is in provenance.jsonl)."""
    return {
        "regen_source_id": p["source_id"],
        "regen_source_hash": p["source_hash"],
        "regen_round": p["round"],
        "regen_capability": p["capability"],
        "regen_curator": p["curator"],
        "regen_prompt_hash": p["prompt_hash"],
        "regen_reasoning": p["reasoning"],
        "regen_judge": p["judge"],
        "regen_judge_score": p["judge_score"],
        "regen_judge_reason": (p["judge_reason"] or "")[:500],
        "regen_audit": json.dumps(p["reaudit"], ensure_ascii=False),
    }


def _write_submission(samples: list[Sample], rows_meta: list[dict[str, Any]], out_dir: Path) -> Path:
    """The generic submission format (JSON Lines + images/), for layouts that cannot be rewritten."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for s, meta in zip(samples, rows_meta):
        images = []
        for k, ref in enumerate(s.images):
            img = ref.load()
            # ids come from the submission: one clean path component each, never ../ out of ``out_dir``
            rel = Path("images") / f"{safe_filename(s.meta.get('regen_source_id', s.id))}_{k}.png"
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            if not (out_dir / rel).is_file():
                img.save(out_dir / rel)
            images.append(rel.as_posix())
        lines.append(json.dumps({"id": s.id, "question": s.question, "options": s.options, "answer": s.answer, "images": images,
                                 "category": s.category, "l2_category": s.l2_category, **meta}, ensure_ascii=False))
    path = out_dir / "regenerated.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_regenerated(kept: list[tuple[Sample, Sample, dict[str, Any]]], bench: Benchmark, out_dir: Path) -> tuple[Path, str, list[str]]:
    """Write kept samples in the input's format (else the submission format); check they load back.

    ``kept``: (new sample, source sample, provenance). Returns (data file, adapter used, notes).
    """
    notes: list[str] = []
    new_samples = [k[0] for k in kept]
    prov_cols = [_provenance_columns(k[2]) for k in kept]
    raw_by_id = {s.id: r for s, r in zip(bench.samples, bench.raw_rows or [])}
    try:
        if bench.raw_rows is None or bench.adapter is None:
            raise UnmappableRow(f"benchmark '{bench.name}' keeps no source rows")
        rows = [rewrite_row(raw_by_id[src.id], src, new, cols) for (new, src, _), cols in zip(kept, prov_cols)]
        out = Benchmark(name=bench.name, samples=new_samples, source=bench.source, format=bench.format, root=bench.root,
                        raw_rows=rows, adapter=bench.adapter)
        path = out.write(out_dir)
        adapter = bench.adapter
        reloaded = load_benchmark(adapter, path=path) if adapter != "submission" else load_benchmark(path)
    except (UnmappableRow, DataError, LeakauditError, KeyError) as exc:
        notes.append(f"could not write in the input's own format ({exc}); wrote the generic submission format instead")
        path = _write_submission(new_samples, prov_cols, out_dir)
        adapter = "submission"
        reloaded = load_benchmark(path)
    if sorted(s.id for s in reloaded.samples) != sorted(s.id for s in new_samples):
        raise LeakauditError(f"the regenerated file {path} does not load back with the same {len(new_samples)} questions")
    return path, adapter, notes


# -- the loop -------------------------------------------------------------------------------
def _remember(earlier: dict[str, list[str]], source_id: str, line: str, keep: int = 6) -> None:
    lines = earlier.setdefault(source_id, [])
    if line not in lines:
        lines.append(line)
        del lines[:-keep]


def _judge_texts(c: Candidate) -> tuple[str, str]:
    question = c.question + "\n" + "\n".join(f"{L}. {o}" for L, o in zip(LETTERS, c.options))
    response = f"The answer is ({c.answer}) {c.answer_text}." + (f" {c.reasoning}" if c.reasoning else "")
    return question, response


def regenerate(
    run_dir: str | Path,
    out: str | Path,
    *,
    benchmark: Benchmark | str | Path | None = None,
    curator: str | LM = "smollm2-135m",
    judge: str | LM | None = None,
    llms: Sequence[str | LM] | None = None,
    lvlm: str | LM = "ocr+smollm2",
    rounds: int = 2,
    candidates: int = 2,
    min_score: float = 50.0,
    limit: int | None = None,
    scoring: str = "letter",
    shots: int = 0,
    blind: str = "drop",
    circular: bool = False,
    require_vision_correct: bool = False,
    max_retries: int = 2,
    curator_prefix: str = "",
    curator_max_new_tokens: int = 384,
    judge_max_new_tokens: int = 160,
    known_fact: bool = False,
    ocr: Any = True,
    describers: Sequence[LM] = (),
    zoo: Any = None,
    progress: bool = True,
) -> RegenResult:
    """Regenerate the failing samples of the audit in ``run_dir`` into ``out`` (see module docstring).

    Models are zoo names or ``LM`` objects; ``judge`` defaults to the curator; ``llms``
    defaults to the audit's text-only LLMs. ``scoring``/``shots``/``blind``/``circular`` are
    the re-audit protocol (the runner's); ``require_vision_correct`` also demands that the
    LVLM answers correctly with the image (worth it with a strong LVLM). ``describers`` are
    vision models that caption the images; ``known_fact`` adds the source question and
    answer to the description (see ``describe_image``).
    """
    if rounds < 1 or candidates < 1:
        raise LeakauditError("rounds and candidates must be at least 1")
    if not 0 <= min_score <= 100:
        raise LeakauditError(f"min score must be between 0 and 100, not {min_score}")
    run_dir, out = Path(run_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(isinstance(m, str) for m in [curator, judge, lvlm, *(llms or [])]) or llms is None:
        from leakaudit.models.zoo import resolve_zoo

        zoo = resolve_zoo(zoo)
    audit_result = load_audit(run_dir, zoo=zoo)
    bench = resolve_benchmark(run_dir, audit_result, benchmark)
    sources, notes = failing_samples(audit_result, bench, limit)

    cache = GenerationCache(out / CACHE_FILE)
    curator_lm = _get_lm(curator, zoo)
    judge_lm = _get_lm(judge, zoo) if judge is not None else curator_lm
    lvlm_lm = _get_lm(lvlm, zoo)
    llm_lms = [_get_lm(m, zoo) for m in (llms if llms is not None else _default_llms(run_dir, audit_result, lvlm_lm))]
    cur = Curator(curator_lm, max_retries=max_retries, answer_prefix=curator_prefix, max_new_tokens=curator_max_new_tokens, cache=cache)
    jud = Judge(judge_lm, max_new_tokens=judge_max_new_tokens, cache=cache)

    descriptions: dict[str, SymbolicDescription] = {}
    seen: dict[str, set[str]] = {}  # per source image: the same question about another image is a new question
    kept: list[tuple[Sample, Sample, dict[str, Any]]] = []
    provenance: list[dict[str, Any]] = []
    stats: list[RoundStats] = []
    replaced: set[str] = set()
    earlier: dict[str, list[str]] = {}  # source id -> "question: why it failed", fed to later rounds
    from tqdm.auto import tqdm

    for rnd in range(1, rounds + 1):
        todo = [s for s in sources if s.id not in replaced]
        rs = RoundStats(round=rnd, sources=len(todo), requested=len(todo) * candidates)
        stats.append(rs)
        if not todo:
            continue
        t0 = time.perf_counter()
        written: list[tuple[Candidate, Sample, Any]] = []
        for src in tqdm(todo, desc=f"round {rnd}: curator", unit="sample", disable=not progress, file=sys.stderr):
            if src.id not in descriptions:
                descriptions[src.id] = describe_image(src, ocr=ocr, describers=describers, include_known_fact=known_fact)
                notes += [n for n in descriptions[src.id].notes if n not in notes]
            result = cur.write(src, descriptions[src.id], n=candidates, seen=seen.setdefault(src.id, set()), earlier=earlier.get(src.id, ()))
            rs.parsed += result.n_items
            rs.valid += len(result.candidates)
            for rej in result.rejections:
                what = rej.item.get("question") if isinstance(rej.item, dict) else None
                _remember(earlier, src.id, f"{what!r}: {rej.reason}" if what else f"a reply: {rej.reason}")
                provenance.append({"round": rnd, "source_id": src.id, "status": "rejected-by-rules", "reason": rej.reason,
                                   "attempt": rej.attempt, "item": rej.item, "curator": cur.name, "prompt_hash": result.prompt_hash})
            written += [(c, src, result) for c in result.candidates]
        if not written:
            rs.seconds = time.perf_counter() - t0
            continue

        qs, rsps = zip(*(_judge_texts(c) for c, _, _ in written))
        images = [src.images[0].load() if src.images and judge_lm.supports_images else None for _, src, _ in written]
        verdicts = jud.pointwise(list(qs), list(rsps), images=images, descriptions=[descriptions[src.id].to_text() for _, src, _ in written])

        records, to_audit = [], []
        for (c, src, result), v in zip(written, verdicts):
            sample_id = f"{src.id}-regen-r{rnd}-{sum(1 for r in records if r['source_id'] == src.id) + 1}"
            rec = {
                "round": rnd, "id": sample_id, "source_id": src.id, "source_hash": src.content_hash, "capability": c.capability,
                "question": c.question, "options": c.options, "answer": c.answer, "reasoning": c.reasoning,
                "curator": c.curator, "prompt_hash": c.prompt_hash, "prompt_text": result.prompt_text, "attempt": c.attempt,
                "parsed_by": c.parsed_by, "judge": jud.name, "judge_score": v.score, "judge_reason": v.reason, "judge_parsed_by": v.parsed_by,
                "min_score": min_score, "reaudit": None,
            }
            records.append(rec)
            if v.score is None:
                rec.update(status="rejected-by-judge", reason="the judge's reply had no readable score")
            elif v.score < min_score:
                rec.update(status="rejected-by-judge", reason=f"judge score {v.score:g} < {min_score:g}")
            else:
                rs.passed_judge += 1
                to_audit.append((c.to_sample(src, sample_id), src, rec))

        if to_audit:
            verdict_by_id = reaudit([s for s, _, _ in to_audit], bench, llms=llm_lms, lvlm=lvlm_lm, run_dir=out / REAUDIT_DIR,
                                    scoring=scoring, shots=shots, blind=blind, circular=circular, progress=progress)
            for new, src, rec in to_audit:
                ver = verdict_by_id[new.id]
                ver.require_vision_correct = require_vision_correct
                rec["reaudit"] = {"text_correct": ver.text_correct, "blind_correct": ver.blind_correct, "vision_correct": ver.vision_correct,
                                  "scoring": scoring, "shots": shots, "blind_mode": blind, "circular": circular, "label": "vision-dependent" if ver.vision_dependent else "text-answerable"}
                if ver.vision_dependent and src.id not in replaced:
                    rs.passed_reaudit += 1
                    rec.update(status="kept", reason="vision-dependent")
                    replaced.add(src.id)
                    kept.append((new, src, rec))
                elif ver.vision_dependent:
                    rs.passed_reaudit += 1
                    rec.update(status="kept", reason="vision-dependent (another candidate of the source)")
                    kept.append((new, src, rec))
                else:
                    rec.update(status="rejected-by-reaudit", reason=ver.reason)
        for rec in records:
            if rec["status"] != "kept":
                _remember(earlier, rec["source_id"], f"{rec['question']!r}: {rec['reason']}")
        provenance += records
        rs.seconds = time.perf_counter() - t0

    # -- files -------------------------------------------------------------------------
    prov_file = out / PROVENANCE_FILE
    prov_file.write_text("".join(json.dumps(p, ensure_ascii=False, default=str) + "\n" for p in provenance), encoding="utf-8")
    bench_file, fmt_adapter = None, None
    if kept:
        bench_file, fmt_adapter, wnotes = write_regenerated(kept, bench, out / OUTPUT_DIR)
        notes += wnotes
    else:
        notes.append("no candidate survived the judge and the re-audit, so no regenerated benchmark file was written")
    pd.DataFrame([r.to_dict() for r in stats]).to_csv(out / ROUNDS_FILE, index=False)
    result = RegenResult(out_dir=out, rounds=stats, kept=[k[0] for k in kept], n_failing=len(sources), n_sources_replaced=len(replaced),
                         benchmark_file=bench_file, benchmark_format=fmt_adapter, provenance_file=prov_file, summary_file=out / SUMMARY_FILE,
                         notes=list(dict.fromkeys(notes)))
    summary = {
        "run_dir": str(run_dir), "benchmark": bench.name, "benchmark_source": bench.source,
        "n_failing": len(sources), "n_sources_replaced": len(replaced), "n_kept": len(kept),
        "benchmark_file": str(bench_file) if bench_file else None, "written_as": fmt_adapter,
        "rounds": [r.to_dict() for r in stats],
        "totals": {s: sum(getattr(r, s) for r in stats) for s in STAGES},
        "settings": {"curator": cur.name, "judge": jud.name, "llms": [m.name for m in llm_lms], "lvlm": lvlm_lm.name,
                     "rounds": rounds, "candidates": candidates, "min_score": min_score, "limit": limit, "scoring": scoring,
                     "shots": shots, "blind": blind, "circular": circular, "max_retries": max_retries, "known_fact": known_fact,
                     "curator_max_new_tokens": curator_max_new_tokens, "judge_max_new_tokens": judge_max_new_tokens,
                     "require_vision_correct": require_vision_correct,
                     "keep_rule": "no text-only LLM answers it and the LVLM does not answer it without the image"
                                  + (" (and answers it with the image)" if require_vision_correct else "")},
        "notes": result.notes,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return result
