"""Turns benchmark samples into stored answers, resumably.

For every (model, sample[, rotation]) the store key is computed *before* anything is
loaded: keys already in the store are skipped, and a model whose answers are all stored is
never even loaded. Each batch's answers are committed the moment they exist, so a killed
run loses at most one batch and the next identical command carries on from there.
"""
from __future__ import annotations

import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from leakaudit.answers.extract import extract_choice, extract_open, match_open
from leakaudit.answers.prompts import build_prompt, check_settings, cloze_continuations, condition_images, prompt_hash, select_fewshot
from leakaudit.answers.store import Answer, AnswerStore
from leakaudit.data.benchmark import Benchmark
from leakaudit.data.schema import Sample
from leakaudit.errors import LeakauditError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.models.zoo import resolve_zoo
from leakaudit.types import KEY_FIELDS, AnswerKey, answer_key, stored_blind_mode

PROMPT_STYLE = "mmstar"


@dataclass
class _Item:
    """One question to ask: a sample (possibly rotated) with its text-only prompt."""

    sample: Sample  # as asked (rotated for circular runs)
    original: Sample  # as in the benchmark: its hash keys the answer
    rotation: int
    scoring: str
    prompt: Prompt

    def key(self, model: str, condition: str, blind_mode: str, shots: int) -> AnswerKey:
        return answer_key(
            benchmark=self.original.benchmark,
            sample_hash=self.original.content_hash,
            model=model,
            condition=condition,
            blind_mode=blind_mode,
            shots=shots,
            prompt_hash=prompt_hash(self.prompt),
            scoring=self.scoring,
            rotation=self.rotation,
        )


@dataclass
class RunRow:
    model: str
    condition: str
    n: int
    new: int
    cached: int
    accuracy: float  # percent; circular runs: a sample counts only if every rotation is right
    seconds: float


@dataclass
class RunSummary:
    """What a run did, per model: how many answers were new or already stored, and accuracy."""

    rows: list[RunRow]
    run_dir: Path
    benchmark: str
    condition: str
    blind_mode: str
    shots: int
    scoring: str
    circular: bool
    fewshot_ids: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(r.new for r in self.rows)

    @property
    def total(self) -> int:
        return sum(r.n for r in self.rows)

    @property
    def all_cached(self) -> bool:
        """True when no model was called: every answer was already in the store."""
        return self.new == 0

    def cached_message(self) -> str | None:
        return f"all {self.total} answers already stored: no model call made" if self.all_cached else None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.rows], columns=list(RunRow.__dataclass_fields__))

    def table(self):
        from rich.table import Table

        mode = f" ({self.blind_mode})" if self.blind_mode else ""
        title = f"{self.benchmark}: {self.condition}{mode}, {self.shots}-shot, {self.scoring} scoring" + (", circular" if self.circular else "")
        table = Table(title=title)
        for col, justify in (("model", "left"), ("condition", "left"), ("n", "right"), ("new", "right"), ("cached", "right"), ("accuracy %", "right"), ("seconds", "right")):
            table.add_column(col, justify=justify)
        for r in self.rows:
            acc = "-" if math.isnan(r.accuracy) else f"{r.accuracy:.1f}"
            table.add_row(r.model, r.condition, str(r.n), str(r.new), str(r.cached), acc, f"{r.seconds:.1f}")
        return table

    def print(self, console=None) -> None:
        """Print the table (and the "no model call" line when everything was cached)."""
        from rich.console import Console

        console = console or Console()
        console.print(self.table())
        msg = self.cached_message()
        if msg:
            console.print(msg)


# -- helpers --------------------------------------------------------------------------------
def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for pkg in ("leakaudit", "transformers", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _model_name(model: str | LM) -> str:
    return model if isinstance(model, str) else model.name


def _check_modality(name: str, condition: str, *, supports_images: bool | None = None, kind: str | None = None) -> None:
    if condition not in ("vision", "blind"):
        return
    text_only = supports_images is False or kind == "llm"
    if text_only:
        what = "sees the images" if condition == "vision" else "is the vision model's no-image baseline"
        raise LeakauditError(
            f"model {name!r} is text-only (no image input) and cannot run the {condition!r} condition, which {what}; "
            f"run it with --condition text, or pick a vision-language model (kind 'lvlm')"
        )


def resolve_models(models: Sequence[str | LM], condition: str, zoo: Any = None) -> tuple[Any, list[str | LM]]:
    """(zoo, models with canonical zoo names); refuses unknown names and text-only models
    for ``vision`` / ``blind`` from the zoo entry alone, before anything is loaded."""
    zoo_obj = resolve_zoo(zoo) if any(isinstance(m, str) for m in models) else None
    resolved: list[str | LM] = []
    for m in models:
        if isinstance(m, LM):
            _check_modality(m.name, condition, supports_images=m.supports_images)
            resolved.append(m)
        else:
            spec = zoo_obj[m]
            _check_modality(spec.name, condition, kind=getattr(spec, "kind", None))
            resolved.append(spec.name)
    return zoo_obj, resolved


def _release(zoo: Any, name: str, lm: LM) -> None:
    """Free a model this run loaded (through the zoo's cache when it keeps one)."""
    if hasattr(zoo, "unload"):
        zoo.unload(name)
    else:
        lm.close()


def _argmax(scores: Sequence[float]) -> int | None:
    """Index of the single best score; None on a tie at the top (no preference is no answer)."""
    clean = [s if s is not None and not math.isnan(s) else -math.inf for s in scores]
    best = max(clean)
    if best == -math.inf or clean.count(best) > 1:
        return None
    return clean.index(best)


def build_items(
    samples: Iterable[Sample],
    condition: str,
    *,
    shots: int,
    fewshot: Sequence[Sample],
    scoring: str,
    blind: str,
    circular: bool,
) -> list[_Item]:
    """One item per sample (per rotation when circular), with the text-only prompt."""
    items = []
    for s in samples:
        eff_scoring = "generate" if s.is_open else scoring
        rotations = range(len(s.options)) if circular and s.is_multiple_choice else range(1)
        for r in rotations:
            asked = s.rotated(r) if r else s
            prompt = build_prompt(asked, condition, shots=shots, fewshot=fewshot, scoring=eff_scoring, blind=blind, images=False, style=PROMPT_STYLE)
            items.append(_Item(sample=asked, original=s, rotation=r, scoring=eff_scoring, prompt=prompt))
    return items


def _answer_batch(lm: LM, batch: list[_Item], *, max_new_tokens: int) -> list[dict[str, Any]]:
    """Ask ``lm`` about a batch of items (grouped by scoring); one result dict per item."""
    results: list[dict[str, Any] | None] = [None] * len(batch)
    by_scoring: dict[str, list[int]] = {}
    for i, it in enumerate(batch):
        by_scoring.setdefault(it.scoring, []).append(i)
    for scoring, idx in by_scoring.items():
        prompts = [batch[i].prompt for i in idx]
        samples = [batch[i].sample for i in idx]
        if scoring == "letter":
            scores = lm.letter_logprobs(prompts, [list(s.letters) for s in samples])
            for i, s, sc in zip(idx, samples, scores):
                best = _argmax(sc)
                chosen = s.letters[best] if best is not None else None
                results[i] = dict(raw_response=None, option_scores=[float(x) for x in sc], chosen=chosen,
                                  extraction="argmax" if chosen else "tie", correct=chosen == s.answer)
        elif scoring == "cloze":
            conts = [cloze_continuations(s, keep_images=bool(p.images)) for s, p in zip(samples, prompts)]
            lls = lm.loglikelihood(prompts, conts)
            for i, s, ll in zip(idx, samples, lls):
                sc = [float(total) / max(1, int(ntok)) for total, ntok in ll]
                best = _argmax(sc)
                chosen = s.letters[best] if best is not None else None
                results[i] = dict(raw_response=None, option_scores=sc, chosen=chosen,
                                  extraction="argmax-normalised" if chosen else "tie", correct=chosen == s.answer)
        else:
            texts = lm.generate(prompts, max_new_tokens=max_new_tokens)
            for i, s, text in zip(idx, samples, texts):
                if s.is_open:
                    chosen, method = extract_open(text, s.answer_type)
                    correct = match_open(text, s.answer, s.answer_type)
                else:
                    chosen, method = extract_choice(text, s)
                    correct = chosen == s.answer
                results[i] = dict(raw_response=text, option_scores=None, chosen=chosen, extraction=method, correct=bool(correct))
    return results  # type: ignore[return-value]


def _accuracy(store: AnswerStore, keys: list[AnswerKey], model: str, condition: str, blind_mode: str, shots: int, circular: bool) -> float:
    df = store.answers(model=model, condition=condition, blind_mode=blind_mode, shots=shots)
    if df.empty:
        return float("nan")
    wanted = set(keys)
    df = df[[tuple(row) in wanted for row in df[list(KEY_FIELDS)].itertuples(index=False, name=None)]]
    if df.empty:
        return float("nan")
    if circular:
        return 100.0 * df.groupby("sample_hash")["correct"].all().mean()
    return 100.0 * df["correct"].mean()


# -- the run --------------------------------------------------------------------------------
def run(
    benchmark: Benchmark,
    models: Sequence[str | LM],
    *,
    condition: str,
    run_dir: str | Path,
    shots: int = 0,
    scoring: str = "letter",
    blind: str = "drop",
    circular: bool = False,
    limit: int | None = None,
    zoo: Any = None,
    progress: bool = True,
    batch_size: int = 8,
    max_new_tokens: int = 32,
    seed: int = 0,
    command: str | None = None,
    long_prompts: str | None = None,
    engine: Any = None,
    keep_loaded: bool = False,
) -> RunSummary:
    """Ask every model every sample under one condition; answers go to ``run_dir``'s store.

    ``models`` are zoo names (loaded through ``leakaudit.models.zoo`` only when something is left
    to answer) or ``LM`` objects. ``text`` runs any model without images; ``vision`` needs
    ``supports_images``; ``blind`` runs a vision model with no image (``drop``), a grey
    image (``grey``) or seeded noise (``noise``) of the same size. Few-shot demonstrations
    come from the whole benchmark (``select_fewshot``), so ``limit`` never changes them.
    A prompt over a model's budget (``leakaudit.data.prompt_limits``) is truncated or skipped
    (``long_prompts``: truncate | skip; default ``$LEAKAUDIT_LONG_PROMPTS`` or truncate), and
    the run record lists each such question with its reason.
    ``engine`` (default: the one set by ``leakaudit.answers.engines.use_engine``, else this process)
    says where the pending questions are answered; this process always writes the store.
    ``keep_loaded`` leaves zoo models loaded for the caller's next run (``scan`` asks an LVLM
    with and without images on one loaded engine) instead of freeing them at the end.
    """
    from leakaudit.data.prompt_limits import resolve_mode

    long_mode = resolve_mode(long_prompts)
    check_settings(condition=condition, scoring=scoring, blind=blind)
    if condition in ("vision", "blind") and getattr(benchmark, "no_images", False):
        raise LeakauditError(f"benchmark {benchmark.name!r} was loaded with --no-images (its images are references, never opened): "
                             f"a {condition} run needs the images; load it without --no-images, or import published {condition} predictions")
    if shots < 0:
        raise LeakauditError(f"shots must be 0 or more, not {shots}")
    if batch_size < 1:
        raise LeakauditError(f"batch size must be at least 1, not {batch_size}")
    if not models:
        raise LeakauditError("no models given")
    blind_mode = stored_blind_mode(condition, blind)
    zoo_obj, models = resolve_models(models, condition, zoo)

    samples = list(benchmark.samples)[: limit if limit is not None else None]
    fewshot = select_fewshot(benchmark, shots, seed) if shots else []
    items = build_items(samples, condition, shots=shots, fewshot=fewshot, scoring=scoring, blind=blind, circular=circular)

    rows: list[RunRow] = []
    model_infos: list[dict[str, Any]] = []
    long_notes: dict[str, list[dict[str, Any]]] = {}
    status = "complete"
    store = AnswerStore(run_dir)
    if engine is None:
        from leakaudit.answers.engines.base import current_engine

        engine = current_engine()
    try:
        store.add_samples(samples)
        if engine is not None and not getattr(engine, "local", True):
            rows, model_infos[:] = _run_on_engine(engine, models, items, store, zoo_obj, condition=condition, blind=blind,
                                                  blind_mode=blind_mode, shots=shots, batch_size=batch_size,
                                                  max_new_tokens=max_new_tokens, progress=progress, circular=circular)
            models = []  # answered: the local loop below has nothing to do
        for model in models:
            name = _model_name(model)
            existing = store.existing_keys(model=name, condition=condition, blind_mode=blind_mode, shots=int(shots))
            keyed: dict[AnswerKey, _Item] = {}
            model_items, notes = _fit_items(items, model, zoo_obj, long_mode, condition=condition, shots=shots, fewshot=fewshot, blind=blind)
            if notes:
                long_notes[name] = notes
            for it in model_items:
                keyed.setdefault(it.key(name, condition, blind_mode, shots), it)
            pending = [(k, it) for k, it in keyed.items() if k not in existing]
            cached = len(keyed) - len(pending)
            t0 = time.perf_counter()
            new = 0
            if pending:
                lm = model if isinstance(model, LM) else zoo_obj.load(name)
                try:
                    _check_modality(name, condition, supports_images=lm.supports_images)
                    new = _run_model(lm, pending, store, condition=condition, blind=blind, blind_mode=blind_mode, shots=shots,
                                     batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress, name=name)
                finally:
                    model_infos.append(lm.info())  # after the work: backends report their counters too
                    if not isinstance(model, LM) and not keep_loaded:
                        _release(zoo_obj, name, lm)
            else:
                model_infos.append({"name": name, "loaded": False, "reason": "all answers already stored"})
            acc = _accuracy(store, list(keyed), name, condition, blind_mode, shots, circular)
            rows.append(RunRow(model=name, condition=condition, n=len(keyed), new=new, cached=cached, accuracy=acc, seconds=time.perf_counter() - t0))
    except BaseException as exc:
        status = f"interrupted: {type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            _record_run_safely(store, status, {
                "command": command if command is not None else shlex.join(sys.argv),
                "status": status,
                "versions": _versions(),
                "benchmark": benchmark.name,
                "source": benchmark.source,
                "n_samples": len(samples),
                "limit": limit,
                "condition": condition,
                "blind_mode": blind_mode,
                "shots": shots,
                "fewshot_ids": [s.id for s in fewshot[:shots]],
                "fewshot_spare_ids": [s.id for s in fewshot[shots:]],
                "fewshot_seed": seed,
                "scoring": scoring,
                "prompt_style": PROMPT_STYLE,
                "circular": circular,
                "models": model_infos,
                "rows": [r.__dict__ for r in rows],
                "long_prompts": long_notes,
            })
        finally:
            store.close()
    return RunSummary(rows=rows, run_dir=Path(run_dir), benchmark=benchmark.name, condition=condition, blind_mode=blind_mode,
                      shots=shots, scoring=scoring, circular=circular, fewshot_ids=[s.id for s in fewshot[:shots]])


def _fit_items(items: list[_Item], model: str | LM, zoo: Any, mode: str, *, condition: str, shots: int,
               fewshot: Sequence[Sample], blind: str) -> tuple[list[_Item], list[dict[str, Any]]]:
    """The items within ``model``'s prompt budget (truncated or dropped) and a note per changed one."""
    import logging

    from leakaudit.data.prompt_limits import estimate_tokens, fit_prompt, model_prompt_limit

    limit = model_prompt_limit(model, zoo)
    out: list[_Item] = []
    notes: list[dict[str, Any]] = []
    for it in items:
        if estimate_tokens(it.prompt.messages, it.prompt.answer_prefix) <= limit:
            out.append(it)
            continue

        def build(smp: Sample, it: _Item = it) -> Prompt:
            return build_prompt(smp, condition, shots=shots, fewshot=fewshot, scoring=it.scoring, blind=blind, images=False, style=PROMPT_STYLE)

        asked, prompt, note = fit_prompt(it.sample, build, limit, mode)
        note = {**(note or {}), "sample_id": it.original.id, "rotation": it.rotation}
        notes.append(note)
        if asked is not None:
            out.append(_Item(sample=asked, original=it.original, rotation=it.rotation, scoring=it.scoring, prompt=prompt))
    if notes:
        skipped = sum(n["action"] == "skip" for n in notes)
        logging.getLogger(__name__).warning("%s: %d prompt(s) over the %d-token budget: %d truncated, %d skipped (listed in the run record)",
                                            _model_name(model), len(notes), limit, len(notes) - skipped, skipped)
    return out, notes


def _record_run_safely(store: AnswerStore, status: str, info: dict[str, Any]) -> None:
    """Record the run; when the run already failed (e.g. a full disk), a failing record must not hide that error."""
    from leakaudit.answers.store import StoreError

    try:
        store.record_run(info)
    except StoreError:
        if status == "complete":
            raise


def _with_images(it: _Item, condition: str, blind: str) -> _Item:
    """The item as asked: its prompt with the condition's images (none, the real ones, grey, noise)."""
    images = condition_images(it.sample, condition, blind)
    return _Item(sample=it.sample, original=it.original, rotation=it.rotation, scoring=it.scoring,
                 prompt=Prompt(messages=it.prompt.messages, images=images, prefix_len=it.prompt.prefix_len,
                               answer_prefix=it.prompt.answer_prefix))


def _run_on_engine(engine: Any, models: list[str | LM], items: list[_Item], store: AnswerStore, zoo_obj: Any, *,
                   condition: str, blind: str, blind_mode: str, shots: int, batch_size: int, max_new_tokens: int,
                   progress: bool, circular: bool) -> tuple[list[RunRow], list[dict[str, Any]]]:
    """Every model's pending items at once on a remote engine; answers stored here as they stream back."""
    from leakaudit.answers.engines.base import ModelWork

    if any(isinstance(m, LM) for m in models):
        raise LeakauditError("a distributed engine loads models on its workers: name zoo models, not LM objects")
    work, keyed_by, cached_by = [], {}, {}
    for name in models:
        existing = store.existing_keys(model=name, condition=condition, blind_mode=blind_mode, shots=int(shots))
        keyed: dict[AnswerKey, _Item] = {}
        for it in items:
            keyed.setdefault(it.key(name, condition, blind_mode, shots), it)
        pending = [(k, it) for k, it in keyed.items() if k not in existing]
        keyed_by[name], cached_by[name] = keyed, len(keyed) - len(pending)
        if pending:
            work.append(ModelWork(name, pending))

    def sink(name: str, chunk: list, results: list[dict[str, Any]], per_item: float) -> int:
        return _store_results(store, name, chunk, results, condition=condition, blind_mode=blind_mode, shots=shots, per_item=per_item)

    done = engine.execute(work, zoo=zoo_obj, condition=condition, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          prepare=lambda it: _with_images(it, condition, blind), sink=sink, progress=progress) if work else {}
    rows, infos = [], []
    for name in models:
        d = done.get(name)
        infos.append(d["info"] if d and d.get("info") else {"name": name, "loaded": False, "reason": "all answers already stored"})
        acc = _accuracy(store, list(keyed_by[name]), name, condition, blind_mode, shots, circular)
        rows.append(RunRow(model=name, condition=condition, n=len(keyed_by[name]), new=d["new"] if d else 0, cached=cached_by[name],
                           accuracy=acc, seconds=d["seconds"] if d else 0.0))
    return rows, infos


def _store_results(store: AnswerStore, name: str, chunk: list[tuple[AnswerKey, _Item]], results: list[dict[str, Any]], *,
                   condition: str, blind_mode: str, shots: int, per_item: float) -> int:
    """Write one batch of answers (the store ignores keys it already has); returns how many were new."""
    new = 0
    for (key, it), res in zip(chunk, results):
        new += store.add(Answer(sample_id=it.original.id, seconds=per_item, **key._asdict(), **res))
    return new


def _run_model(lm: LM, pending: list[tuple[AnswerKey, _Item]], store: AnswerStore, *, condition: str, blind: str, blind_mode: str,
               shots: int, batch_size: int, max_new_tokens: int, progress: bool, name: str) -> int:
    """Answer ``pending`` items with ``lm`` batch by batch, storing each batch at once."""
    from tqdm.auto import tqdm

    from leakaudit.models.prepare import poll_active

    new = 0
    with tqdm(total=len(pending), desc=name, unit="q", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(pending), batch_size):
            chunk = pending[start:start + batch_size]
            batch = [_with_images(it, condition, blind) for _, it in chunk]
            t0 = time.perf_counter()
            results = _answer_batch(lm, batch, max_new_tokens=max_new_tokens)
            per_item = (time.perf_counter() - t0) / len(batch)
            poll_active()  # a background conversion that ended gives its core back
            new += _store_results(store, name, chunk, results, condition=condition, blind_mode=blind_mode, shots=shots, per_item=per_item)
            bar.update(len(chunk))
    return new


__all__ = ["RunRow", "RunSummary", "build_items", "resolve_models", "run"]
