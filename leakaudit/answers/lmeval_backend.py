"""The lm-evaluation-harness path: the same questions scored by lm-eval itself.

Why: lm-eval is the reference implementation most readers trust for log-likelihood
multiple-choice scoring. Running leakaudit's samples through it (a) cross-checks our own
cloze scoring and (b) lets a zoo entry with ``backend: lmeval`` answer through HFLM.

Two pieces:

- ``run_lmeval_task(samples, model, tokenizer, ...)`` writes the samples as a local
  JSON-lines lm-eval task (``dataset_path: json``, ``output_type: multiple_choice``),
  runs ``lm_eval.simple_evaluate`` with ``HFLM(pretrained=<loaded model>)`` and reads the
  per-sample log back into leakaudit ``Answer`` rows (condition ``text``).
- ``LMEvalBackend`` serves leakaudit's ``LM`` interface through HFLM's ``loglikelihood``
  and ``generate_until`` (``Instance`` objects with ``args=(context, continuation)``).

The context lm-eval builds (plain text, no chat template) is reproduced exactly by
``lmeval_context(sample, demos, scoring)``::

    {demo_1 doc_text} {demo_1 answer}\\n\\n ... {demo_k doc_text} {demo_k answer}\\n\\n{doc_text}

where ``doc_text`` is ``cloze_context(sample)`` = leakaudit's MMStar question block
(``Hint/Question/Options``) followed by ``Answer:``, and each option is scored as the
continuation ``" " + option text`` (``TARGET_DELIMITER``). Letter mode appends MMStar's
"Please select..."/"Answer with the option's letter..." lines and scores ``" A"``, ``" B"``...

Scores: for ``cloze`` the chosen option is lm-eval's ``acc_norm`` choice (argmax of
log-likelihood divided by the option's character length) and ``option_scores`` holds those
normalised values (``normalise="tokens"`` uses the native runner's per-token mean instead);
for ``letter`` it is ``acc``'s choice (raw log-likelihood). The raw log-likelihoods are kept
in ``raw_response`` (JSON). Stored answers get ``prompt_hash`` ``lmeval-<digest>`` of the task
format and demonstrations, so they never collide with the native runner's answers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import yaml

from leakaudit.answers.prompts import LLM_LETTER_LINE, SELECT_LINE, cloze_continuations, question_block, select_fewshot, shots_for
from leakaudit.answers.store import Answer, answer_from_dict
from leakaudit.data.schema import Sample
from leakaudit.errors import LeakauditError, MissingDependencyError
from leakaudit.models.backends.base import LM, Prompt
from leakaudit.types import SCORINGS

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.answers.store import AnswerStore

log = logging.getLogger(__name__)

#: what lm-eval puts between a context and its continuation, and between demonstrations
TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"
ANSWER_CUE = "Answer:"
#: bump when the task format below changes: it is part of every stored prompt_hash
TASK_FORMAT_VERSION = 1
#: lm-eval scores log-likelihoods only: every scoring but free generation
LMEVAL_SCORINGS = tuple(s for s in SCORINGS if s != "generate")
#: how the cloze choice is length-normalised: lm-eval's acc_norm, or the runner's per-token mean
NORMALISATIONS = ("chars", "tokens")


def _require_lmeval():
    try:
        import lm_eval  # noqa: F401
        from lm_eval.models.huggingface import HFLM  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("the lm-eval path needs lm-evaluation-harness: pip install 'leakaudit[lmeval]'") from exc
    return lm_eval


# -- the text lm-eval sees ------------------------------------------------------------------
def cloze_context(sample: Sample) -> str:
    """``doc_to_text`` in cloze mode: the question block without the option list, then ``Answer:``.

    lm-eval scores each option as ``cloze_context(sample) + " " + option``; a native
    scorer that uses this context and the continuations of ``lmeval_choices`` (with the
    leading space) computes the same numbers.
    """
    return question_block(sample, keep_images=False, with_options=False) + ANSWER_CUE


def letter_context(sample: Sample) -> str:
    """``doc_to_text`` in letter mode: MMStar's LLM prompt, then ``Answer:``."""
    return question_block(sample, keep_images=False) + SELECT_LINE + LLM_LETTER_LINE + ANSWER_CUE


def doc_text(sample: Sample, scoring: str = "cloze") -> str:
    _check_scoring(scoring)
    return cloze_context(sample) if scoring == "cloze" else letter_context(sample)


def lmeval_choices(sample: Sample, scoring: str = "cloze") -> list[str]:
    """``doc_to_choice``: option texts (cloze) or option letters (letter), without the delimiter.

    The cloze texts are the native runner's ``prompts.cloze_continuations`` minus the
    leading space, which lm-eval adds back as ``TARGET_DELIMITER``.
    """
    _check_scoring(scoring)
    if scoring == "letter":
        return list(sample.letters)
    return [c[len(TARGET_DELIMITER):] for c in cloze_continuations(sample)]


def lmeval_context(sample: Sample, demos: Sequence[Sample] = (), scoring: str = "cloze") -> str:
    """The exact context string lm-eval builds for ``sample`` after ``demos`` (plain text)."""
    parts = []
    for demo in demos:
        parts.append(doc_text(demo, scoring) + TARGET_DELIMITER + lmeval_choices(demo, scoring)[demo.answer_index] + FEWSHOT_DELIMITER)
    return "".join(parts) + doc_text(sample, scoring)


def _check_scoring(scoring: str) -> None:
    if scoring not in LMEVAL_SCORINGS:
        raise LeakauditError(f"the lm-eval path scores 'cloze' or 'letter', not {scoring!r} (use the hf backend for generate)")


# -- writing the task ----------------------------------------------------------------------------
@dataclass
class LMEvalTask:
    """One lm-eval task written to disk: a group of samples that share the same demonstrations."""

    name: str
    yaml_path: Path
    samples: list[Sample]
    demos: list[Sample]
    prompt_hash: str
    config: dict[str, Any] = field(repr=False, default_factory=dict)


def _doc(sample: Sample, scoring: str) -> dict[str, Any]:
    return {
        "query": doc_text(sample, scoring),
        "choices": lmeval_choices(sample, scoring),
        "gold": sample.answer_index,
        "id": sample.id,
        "sample_hash": sample.content_hash,
    }


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_lmeval_tasks(
    samples: Sequence[Sample],
    *,
    shots: int = 0,
    fewshot: Sequence[Sample] = (),
    scoring: str = "cloze",
    out_dir: str | Path,
) -> list[LMEvalTask]:
    """Write lm-eval task YAMLs (and their JSON-lines data) for ``samples`` under ``out_dir/tasks``.

    Samples are grouped by their demonstrations (``prompts.shots_for``: the first ``shots``
    of ``fewshot`` that are not the sample itself), so a demonstration is never shown as its
    own example; each group is one task whose few-shot split holds exactly its demos, taken
    in order (``sampler: first_n``). Nothing outside ``out_dir`` is touched: the datasets
    cache goes to ``out_dir/hf_cache``. Each task can be rerun with the ``lm_eval`` CLI
    (``--include_path out_dir/tasks``).
    """
    _check_scoring(scoring)
    out = Path(out_dir).resolve()
    tasks_dir = out / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, ...], tuple[list[Sample], list[Sample]]] = {}
    for s in samples:
        demos = shots_for(s, fewshot, shots) if shots > 0 else []
        key = tuple(d.content_hash for d in demos)
        groups.setdefault(key, ([], demos))[0].append(s)

    tasks = []
    for group_samples, demos in groups.values():
        identity = {
            "format": TASK_FORMAT_VERSION,
            "scoring": scoring,
            "shots": shots,
            "target_delimiter": TARGET_DELIMITER,
            "fewshot_delimiter": FEWSHOT_DELIMITER,
            "demos": [d.content_hash for d in demos],
        }
        prompt_digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
        content_digest = hashlib.sha256(json.dumps([prompt_digest, [s.content_hash for s in group_samples]]).encode()).hexdigest()[:12]
        name = f"leakaudit_{scoring}_{shots}shot_{content_digest}"
        test_file = tasks_dir / f"{name}.test.jsonl"
        _write_jsonl(test_file, (_doc(s, scoring) for s in group_samples))
        data_files = {"test": str(test_file)}
        config: dict[str, Any] = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": data_files, "cache_dir": str(out / "hf_cache")},
            "test_split": "test",
            "num_fewshot": shots,
            "output_type": "multiple_choice",
            "doc_to_text": "query",
            "doc_to_choice": "choices",
            "doc_to_target": "gold",
            "target_delimiter": TARGET_DELIMITER,
            "fewshot_delimiter": FEWSHOT_DELIMITER,
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
            ],
            "metadata": {"version": TASK_FORMAT_VERSION, "leakaudit_prompt": prompt_digest},
        }
        if shots > 0:
            fewshot_file = tasks_dir / f"{name}.fewshot.jsonl"
            _write_jsonl(fewshot_file, (_doc(d, scoring) for d in demos))
            data_files["fewshot"] = str(fewshot_file)
            config["fewshot_split"] = "fewshot"
            config["fewshot_config"] = {"sampler": "first_n"}
        yaml_path = tasks_dir / f"{name}.yaml"
        yaml_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        tasks.append(LMEvalTask(name, yaml_path, list(group_samples), list(demos), f"lmeval-{prompt_digest}", config))
    return tasks


# -- running it ----------------------------------------------------------------------------------
def _model_name(model: Any) -> str:
    inner = getattr(model, "model", model)
    cfg = getattr(inner, "config", None)
    return str(getattr(cfg, "_name_or_path", "") or type(inner).__name__)


def make_hflm(model: Any, tokenizer: Any = None, *, batch_size: int = 8, max_length: int | None = None):
    """HFLM around an already loaded transformers model (HFLM's own loader is not used:
    ``model_args`` with both ``gguf_file=`` and ``tokenizer=`` fails in lm-eval 0.4.13)."""
    _require_lmeval()
    from lm_eval.models.huggingface import HFLM

    if isinstance(model, HFLM):
        return model
    if isinstance(getattr(model, "hflm", None), HFLM):  # an LMEvalBackend
        return model.hflm
    if isinstance(model, LM) and hasattr(model, "model"):  # an HFBackend: its loaded weights
        model, tokenizer = model.model, model.tokenizer
    if tokenizer is None:
        raise LeakauditError("the lm-eval path needs the tokenizer that belongs to the loaded model")
    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length)


def run_lmeval_task(
    samples: Iterable[Sample],
    model: Any,
    tokenizer: Any = None,
    *,
    shots: int = 0,
    fewshot_ids: Sequence[str] | None = None,
    scoring: str = "cloze",
    out_dir: str | Path,
    model_name: str | None = None,
    batch_size: int = 8,
    store: "AnswerStore | None" = None,
    normalise: str = "chars",
) -> list[dict[str, Any]]:
    """Score ``samples`` (text condition) with lm-eval and return one Answer dict per sample.

    ``model`` is a loaded ``transformers`` causal LM (with ``tokenizer``), an ``HFBackend``,
    an ``LMEvalBackend`` or an ``HFLM``; ``fewshot_ids`` names the demonstrations among
    ``samples`` in order (default: ``prompts.select_fewshot``, the native runner's recorded
    choice); a sample never sees itself as a demonstration. Open questions are skipped (lm-eval's
    multiple_choice needs options). Each dict has the ``Answer`` fields plus
    ``loglikelihoods`` (raw), ``acc``/``acc_norm`` (lm-eval's own verdicts), ``task``, and the
    ``context`` and ``continuations`` lm-eval actually scored.
    ``out_dir`` receives the task files, ``lmeval_results.json`` and ``answers.jsonl``; with
    ``store`` the answers are also added to that ``AnswerStore``.

    ``normalise`` picks the cloze choice: ``chars`` is lm-eval's ``acc_norm`` (log-likelihood
    per character of the option), ``tokens`` the native runner's per-token mean (token counts
    from HFLM's own tokenization are in ``n_tokens`` either way). Letter scoring is raw.
    """
    lm_eval = _require_lmeval()
    from lm_eval.tasks import TaskManager

    _check_scoring(scoring)
    if normalise not in NORMALISATIONS:
        raise LeakauditError(f"normalise must be one of {', '.join(NORMALISATIONS)}, not {normalise!r}")
    all_samples = list(samples)
    mc = [s for s in all_samples if s.is_multiple_choice]
    if len(mc) < len(all_samples):
        log.warning("lm-eval path: skipping %d open question(s) without options", len(all_samples) - len(mc))
    if not mc:
        raise LeakauditError("no multiple-choice samples to score with lm-eval")
    demos: list[Sample] = []
    if shots > 0:
        if fewshot_ids is None:
            demos = select_fewshot(mc, shots)
        else:
            by_id = {s.id: s for s in all_samples}
            missing = [i for i in fewshot_ids if i not in by_id]
            if missing:
                raise LeakauditError(f"few-shot id(s) not among the samples: {', '.join(map(str, missing))}")
            demos = [by_id[i] for i in fewshot_ids]

    out = Path(out_dir)
    tasks = write_lmeval_tasks(mc, shots=shots, fewshot=demos, scoring=scoring, out_dir=out)
    lm = make_hflm(model, tokenizer, batch_size=batch_size)
    name = model_name or _model_name(lm)
    manager = TaskManager(include_path=str(out / "tasks"), include_defaults=False)
    started = time.perf_counter()
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=[t.name for t in tasks],
        task_manager=manager,
        log_samples=True,
        bootstrap_iters=0,
        # log-likelihood scoring with first_n demos is deterministic: leave the caller's
        # global random / numpy / torch generators alone
        random_seed=None,
        numpy_random_seed=None,
        torch_random_seed=None,
    )
    elapsed = time.perf_counter() - started
    if results is None:  # non-zero rank in a distributed launch
        return []
    per_sample = elapsed / len(mc)

    rows: list[dict[str, Any]] = []
    for task in tasks:
        by_id = {s.id: s for s in task.samples}
        logged = results.get("samples", {}).get(task.name)
        if logged is None:
            raise LeakauditError(f"lm-eval returned no per-sample log for task {task.name}")
        for entry in logged:
            sample = by_id[entry["doc"]["id"]]
            n_tokens = [len(lm._encode_pair(ctx, cont)[1]) for ctx, cont in entry["arguments"]]
            rows.append(_answer_row(sample, entry, task, n_tokens, scoring=scoring, normalise=normalise, shots=shots, model_name=name, seconds=per_sample))

    out.mkdir(parents=True, exist_ok=True)
    summary = {k: results.get(k) for k in ("results", "configs", "versions", "n-shot", "lm_eval_version", "transformers_version")}
    (out / "lmeval_results.json").write_text(json.dumps(summary, indent=1, default=str, ensure_ascii=False), encoding="utf-8")
    _write_jsonl(out / "answers.jsonl", rows)
    if store is not None:
        store.add_samples(mc)
        store.add_many(answer_from_dict(r) for r in rows)
    return rows


def _answer_row(
    sample: Sample,
    entry: dict[str, Any],
    task: LMEvalTask,
    n_tokens: list[int],
    *,
    scoring: str,
    normalise: str,
    shots: int,
    model_name: str,
    seconds: float,
) -> dict[str, Any]:
    """One lm-eval log entry -> an Answer dict (argmax as lm-eval's acc_norm / acc)."""
    import numpy as np

    lls = np.array([float(r[0][0]) for r in entry["resps"]], dtype=float)
    choices = entry["doc"]["choices"]
    if scoring == "letter":
        scores, extraction, verdict = lls, "lmeval:acc", entry.get("acc")
    elif normalise == "chars":
        scores = lls / np.array([float(len(c)) for c in choices])
        extraction, verdict = "lmeval:acc_norm", entry.get("acc_norm")
    else:
        scores = lls / np.maximum(1.0, np.array(n_tokens, dtype=float))
        extraction, verdict = "lmeval:per-token", None
    pick = int(np.argmax(scores))
    chosen = sample.letters[pick]
    answer = Answer(
        benchmark=sample.benchmark,
        sample_id=sample.id,
        sample_hash=sample.content_hash,
        model=model_name,
        condition="text",
        # the per-token choice is a different answer for the same prompt: keep both storable
        prompt_hash=task.prompt_hash + ("-pertoken" if extraction == "lmeval:per-token" else ""),
        scoring=scoring,
        correct=chosen == sample.answer,
        shots=shots,
        raw_response=json.dumps({"loglikelihoods": lls.tolist()}),
        option_scores=[float(x) for x in scores],
        chosen=chosen,
        extraction=extraction,
        seconds=seconds,
        source="live",
    )
    return {
        **asdict(answer),
        "loglikelihoods": lls.tolist(),
        "n_tokens": n_tokens,
        "acc": entry.get("acc"),
        "acc_norm": entry.get("acc_norm"),
        "lmeval_verdict": verdict,
        "task": task.name,
        "context": entry["arguments"][0][0],
        "continuations": [a[1] for a in entry["arguments"]],
    }


# -- the LM interface through HFLM ---------------------------------------------------------------
def _cpu_fp32(options: dict[str, Any]) -> dict[str, Any]:
    """``dtype: auto`` on a CPU means fp32 on the lm-eval path: HFLM scores with one model, so
    there is no fp32 copy to check bf16's close calls with (the hf backend's auto has one)."""
    if options.get("dtype", "auto") == "auto":
        import torch

        if not torch.cuda.is_available():
            return {**options, "dtype": "fp32"}
    return options


class LMEvalBackend(LM):
    """leakaudit's ``LM`` served by lm-eval's ``HFLM`` (text only).

    Weights are loaded by the ``hf`` backend (``HFBackend``: hub id, folder, or GGUF
    dequantised once and cached as safetensors), and prompts are rendered by its
    ``render`` (chat template, or plain ``Role: content`` for ``prompt_style: plain``), so
    both backends score exactly the same text; only the scoring goes through HFLM's
    ``loglikelihood`` / ``generate_until``. Letter scores are the log-likelihoods of each
    letter as the continuation (`` A`` after ``Answer:``; after a template's trailing
    newline that newline is scored with the letter, the same for every letter).
    """

    supports_images = False

    def __init__(
        self,
        name: str,
        model: Any = None,
        tokenizer: Any = None,
        *,
        path: str | Path | None = None,
        gguf_file: str | Path | None = None,
        batch_size: int = 8,
        max_length: int | None = None,
        hf: Any = None,
        **hf_options: Any,
    ):
        _require_lmeval()
        from leakaudit.models.backends.transformers_backend import HFBackend

        self.name = name
        if hf is None:
            source = model if isinstance(model, (str, Path)) else path
            if source is not None and gguf_file is None and str(source).endswith(".gguf"):
                source, gguf_file = None, source
            preloaded = None if isinstance(model, (str, Path)) else model
            if preloaded is None and source is None and gguf_file is None:
                raise LeakauditError(f"model {name!r}: backend 'lmeval' needs a loaded model, `model:`/`path:` (hub id or folder) or `gguf_file:`")
            hf = HFBackend(name, source, gguf_file=gguf_file, model=preloaded, tokenizer=tokenizer, **_cpu_fp32(hf_options))
        if getattr(hf, "processor", None) is not None:
            raise LeakauditError(f"model {name!r}: the lmeval backend is text-only; load the LVLM with the hf backend")
        self.hf = hf
        # HFLM scores with the one model it is given: an hf backend's fp32 copy where it has one
        scorer = hf._check_model if getattr(hf, "_check_model", None) is not None else hf.model
        self.hflm = make_hflm(scorer, hf.tokenizer, batch_size=batch_size, max_length=max_length)

    @classmethod
    def from_spec(cls, spec: Any, zoo: Any = None, **overrides: Any) -> "LMEvalBackend":
        """A zoo entry with ``backend: lmeval``: loaded like an ``hf`` entry, scored by HFLM."""
        from leakaudit.models.backends.transformers_backend import HFBackend

        if spec.kind != "llm" and not spec.text_tower:
            raise LeakauditError(f"model {spec.name!r}: the lmeval backend is text-only (kind: llm)")
        options = {**spec.options, **overrides}
        mine = {k: options.pop(k) for k in ("batch_size", "max_length") if k in options}
        hf = HFBackend.from_spec(spec, zoo, **_cpu_fp32({"dtype": spec.dtype, **options}))
        return cls(spec.name, hf=hf, **mine)

    def render(self, prompt: Prompt) -> str:
        """The text HFLM scores: exactly what the ``hf`` backend would feed the model."""
        if prompt.images:
            raise LeakauditError(f"model {self.name!r} (lmeval backend) is text-only but the prompt has {len(prompt.images)} image(s)")
        return self.hf.render(prompt)

    def _instances(self, kind: str, args: list[tuple]) -> list[Any]:
        from lm_eval.api.instance import Instance

        return [Instance(request_type=kind, doc={}, arguments=a, idx=i) for i, a in enumerate(args)]

    def _n_tokens(self, context: str, continuation: str) -> int:
        if context:
            return len(self.hflm._encode_pair(context, continuation)[1])
        return len(self.hflm.tok_encode(continuation, add_special_tokens=False))

    def loglikelihood(self, prompts: list[Prompt], continuations: list[list[str]]) -> list[list[tuple[float, int]]]:
        pairs = [(self.render(p), c, pi) for pi, (p, conts) in enumerate(zip(prompts, continuations)) for c in conts]
        raw = self.hflm.loglikelihood(self._instances("loglikelihood", [(ctx, c) for ctx, c, _ in pairs]), disable_tqdm=len(pairs) < 50)
        out: list[list[tuple[float, int]]] = [[] for _ in prompts]
        for (ctx, c, pi), (ll, _greedy) in zip(pairs, raw):
            out[pi].append((float(ll), self._n_tokens(ctx, c)))
        return out

    def letter_logprobs(self, prompts: list[Prompt], letters: list[list[str]]) -> list[list[float]]:
        conts = []
        for p, ls in zip(prompts, letters):
            ctx = self.render(p)
            sep = "" if (not ctx or ctx[-1].isspace()) else " "
            conts.append([sep + letter for letter in ls])
        return [[ll for ll, _ in row] for row in self.loglikelihood(prompts, conts)]

    def generate(self, prompts: list[Prompt], max_new_tokens: int = 64) -> list[str]:
        gen = {"until": [], "max_gen_toks": int(max_new_tokens), "do_sample": False}
        args = [(self.render(p), dict(gen)) for p in prompts]
        return [text.strip() for text in self.hflm.generate_until(self._instances("generate_until", args), disable_tqdm=len(args) < 10)]

    def run_task(self, samples: Iterable[Sample], **kwargs: Any) -> list[dict[str, Any]]:
        """``run_lmeval_task`` with this backend's HFLM, stored under this model's name."""
        kwargs.setdefault("model_name", self.name)
        return run_lmeval_task(samples, self.hflm, **kwargs)

    def info(self) -> dict[str, Any]:
        import lm_eval

        return {
            **self.hf.info(),
            "name": self.name,
            "backend": "lmeval",
            "lm_eval_version": getattr(lm_eval, "__version__", "unknown"),
        }

    def close(self) -> None:
        self.hf.close()
        self.hflm = None  # type: ignore[assignment]
