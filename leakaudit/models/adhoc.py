"""Models by name: a hub id, a local folder or a ``.gguf`` file wherever a zoo name works.

``--models Qwen/Qwen2.5-0.5B-Instruct,./my-model,./m.gguf`` needs no zoo entry: each
reference that is not a zoo name becomes an ad-hoc ``ModelSpec`` added to a copy of the
zoo, so the runner, the store and the audit treat it like any zoo model. Its kind (LLM or
vision-language model) is read from its ``config.json`` where one can be found (a local
folder, or the hub cache); otherwise ``--kind`` says it. ``--backend``, ``--device``,
``--dtype``, ``--batch-size`` and ``--model-args key=value,...`` become backend keyword
arguments (``ModelSpec.options``), checked against what the backend's constructor takes.

The name answers are stored under is the reference as given for a hub id, and the folder
or file name for a local path (a path differs from machine to machine; the name must not).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from leakaudit.errors import ConfigError, LeakauditError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: the first four bytes of every GGUF file
GGUF_MAGIC = b"GGUF"
#: config.json hints that a checkpoint takes images
_VLM_KEYS = ("vision_config", "vision_tower", "mm_vision_tower", "image_token_id", "image_token_index", "visual")
_VLM_ARCH = re.compile(r"(ForConditionalGeneration|ImageTextToText|VL|Vision|Llava|Idefics|Qwen2_5_VL|SmolVLM|Paligemma)", re.I)


def parse_model_args(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """``"n_ctx=2048,trust_remote_code=true"`` -> ``{"n_ctx": 2048, "trust_remote_code": True}`` (YAML scalars)."""
    if not text:
        return {}
    if isinstance(text, dict):
        return dict(text)
    out: dict[str, Any] = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise LeakauditError(f"--model-args expects key=value pairs separated by commas, got {part!r}")
        key, value = part.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key.isidentifier():
            raise LeakauditError(f"--model-args: {key!r} is not a keyword argument name")
        try:
            out[key] = yaml.safe_load(value.strip()) if value.strip() else ""
        except yaml.YAMLError:
            out[key] = value.strip()
    return out


def kind_from_config(config: dict[str, Any]) -> str:
    """``lvlm`` when a transformers config describes a model that takes images, else ``llm``."""
    if any(k in config for k in _VLM_KEYS):
        return "lvlm"
    archs = config.get("architectures") or []
    if any(_VLM_ARCH.search(a) and not a.endswith("ForCausalLM") for a in archs):
        return "lvlm"
    return "llm"


def _hub_config(ref: str) -> dict[str, Any] | None:
    """The hub id's config.json from the local hub cache (or the hub when online); None when unreachable."""
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(ref, "config.json")
    except Exception:  # noqa: BLE001 - offline and not cached, private, or no such repo
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _default_gguf_backend() -> str:
    return "llamacpp" if importlib.util.find_spec("xllamacpp") is not None else "hf"


def is_reference(name: str) -> bool:
    """True for something that names weights rather than a zoo entry: a path or a hub id."""
    return name.endswith(".gguf") or Path(name).expanduser().exists() or bool(HUB_ID.match(name))


def adhoc_spec(ref: str, *, kind: str | None = None, backend: str | None = None) -> Any:
    """A ``ModelSpec`` for a hub id, a local folder or a GGUF file (see module docstring)."""
    from leakaudit.models.zoo import KINDS, ModelSpec

    if kind is not None and kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    path = Path(ref).expanduser()
    if ref.endswith(".gguf"):
        if not path.is_file():
            raise ConfigError(f"model {ref!r}: GGUF file not found")
        with path.open("rb") as fh:
            head = fh.read(4)
        if head != GGUF_MAGIC:
            raise ConfigError(f"model {ref!r}: {path} is not a GGUF file (it starts with {head!r}, a GGUF file with {GGUF_MAGIC!r})")
        backend = backend or _default_gguf_backend()
        return ModelSpec(name=path.stem, kind=kind or "llm", backend=backend, gguf={"path": str(path.resolve())},
                         note=f"ad hoc: {path.name}")
    if path.is_dir():
        cfg_file = path / "config.json"
        if not cfg_file.is_file() and not any(path.glob("*.gguf")):
            raise ConfigError(f"model {ref!r}: the folder {path} holds no model (no config.json, no .gguf file); "
                              "give a folder saved by save_pretrained, a .gguf file, a zoo name or a hub id")
        if kind is None:
            if not cfg_file.is_file():
                raise ConfigError(f"model {ref!r}: the folder has no config.json to tell an LLM from a vision-language model; pass --kind llm|lvlm")
            try:
                kind = kind_from_config(json.loads(cfg_file.read_text(encoding="utf-8")))
            except ValueError as exc:
                raise ConfigError(f"model {ref!r}: {cfg_file} is not valid JSON ({exc}); pass --kind llm|lvlm") from exc
        return ModelSpec(name=path.resolve().name, kind=kind, backend=backend or "hf", hf_id=str(path.resolve()),
                         note=f"ad hoc: local folder {path.resolve().name}")
    if path.exists():
        raise ConfigError(f"model {ref!r}: a file that is neither a .gguf nor a model folder")
    if HUB_ID.match(ref):
        if kind is None:
            cfg = _hub_config(ref)
            if cfg is None:
                raise ConfigError(f"model {ref!r}: its config.json is neither cached nor reachable (offline?), so its kind is "
                                  f"unknown; pass --kind llm|lvlm")
            kind = kind_from_config(cfg)
        return ModelSpec(name=ref, kind=kind, backend=backend or "hf", hf_id=ref, note="ad hoc: hub id")
    raise ConfigError(f"unknown model {ref!r}: not a zoo name (see `leakaudit models`), a hub id (org/name), a local folder or a .gguf file")


def _accepted(backend: str) -> set[str] | None:
    """Keyword arguments a backend's constructor takes (None: it takes any)."""
    from leakaudit import registry

    if backend not in registry.backends:
        return set()
    cls = registry.backends.get(backend)
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n in params if n not in ("self", "name")}


def _with_options(spec: Any, options: dict[str, Any], *, strict: bool) -> Any:
    """``spec`` with ``options`` merged (only those its backend takes unless ``strict``)."""
    accepted = _accepted(spec.backend)
    keep = {}
    for key, value in options.items():
        if accepted is None or key in accepted:
            keep[key] = value
        elif strict:
            known = ", ".join(sorted(accepted)) if accepted else "none"
            raise ConfigError(f"model {spec.name!r}: the {spec.backend} backend takes no argument {key!r}; it takes: {known}")
    if not keep:
        return spec
    changes: dict[str, Any] = {"options": {**spec.options, **keep}}
    if "dtype" in keep and hasattr(spec, "dtype"):
        from leakaudit.models.zoo import DTYPES

        if keep["dtype"] not in DTYPES:
            raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, not {keep['dtype']!r}")
        changes["dtype"] = keep.pop("dtype")
        changes["options"] = {**spec.options, **keep}
    return dataclasses.replace(spec, **changes)


def resolve_models(zoo: Any, names: Sequence[str] | None, *, kind: str | None = None, backend: str | None = None,
                   device: str | None = None, dtype: str | None = None, batch_size: int | None = None,
                   model_args: str | dict[str, Any] | None = None) -> tuple[Any, list[str] | None]:
    """(a zoo that knows every model in ``names``, the names answers are stored under).

    Zoo names pass through; hub ids, folders and GGUF files become ad-hoc specs. Device,
    dtype and batch size apply to every model whose backend takes them (all models of
    the zoo when ``names`` is None, e.g. a scan of the default group); ``model_args``
    must be taken by the backend of each named model (of each zoo model when no names).
    """
    from leakaudit.models.zoo import Zoo

    specs = dict(zoo.specs)
    out: list[str] | None = None
    if names is not None:
        out = []
        for ref in names:
            if ref in zoo and not (backend or kind):
                out.append(zoo[ref].name)
                continue
            if ref in zoo:  # a zoo model run with another backend / kind: a variant under its own name
                base = zoo[ref]
                spec = dataclasses.replace(base, kind=kind or base.kind, backend=backend or base.backend)
                if backend and backend != base.backend:
                    spec = dataclasses.replace(spec, name=f"{base.name}@{backend}")
            elif is_reference(ref):
                spec = adhoc_spec(ref, kind=kind, backend=backend)
            else:
                zoo[ref]  # raises the zoo's "unknown model" error with its hint
                continue  # pragma: no cover
            if ref not in zoo and spec.name in specs:
                other = specs[spec.name]
                if (other.hf_id, other.gguf) != (spec.hf_id, spec.gguf):
                    raise ConfigError(f"model {ref!r} would be stored as {spec.name!r}, the name of another model; rename the folder or file")
            specs[spec.name] = spec
            out.append(spec.name)
        out = list(dict.fromkeys(out))
    common = {k: v for k, v in (("device", device), ("dtype", dtype), ("batch_size", batch_size)) if v is not None}
    extra = parse_model_args(model_args)
    targets: Iterable[str] = out if out is not None else list(specs)
    if common or extra:
        for name in list(targets):
            spec = specs[name]
            specs[name] = _with_options(spec, {**common, **extra}, strict=False)
            if spec.wraps and spec.wraps in specs:  # a composite: its LLM gets the settings too
                specs[spec.wraps] = _with_options(specs[spec.wraps], {**common, **extra}, strict=False)
        for key in extra:  # a --model-args key no chosen backend takes is a typo, not a no-op
            if not any(key in specs[n].options for n in targets) and not any(
                    specs[n].wraps and key in specs[specs[n].wraps].options for n in targets if specs[n].wraps in specs):
                backends = sorted({specs[n].backend for n in targets})
                raise ConfigError(f"--model-args {key!r}: none of the chosen models' backends ({', '.join(backends)}) takes it")
    if specs == zoo.specs:
        return zoo, out
    return Zoo(specs, dict(zoo.groups), source=zoo.source), out


__all__ = ["adhoc_spec", "is_reference", "kind_from_config", "parse_model_args", "resolve_models"]
