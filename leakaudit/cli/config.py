"""Run configuration files: ``--config audit.yaml`` holds the settings a command line would.

The keys are the command's option names (``batch-size`` or ``batch_size``, ``min-confidence``,
``models``...), so the file and the command line say the same thing in the same words:

```yaml
models: [smollm2-135m, ./my-model, Qwen/Qwen2.5-0.5B-Instruct]   # or "a,b,c"
dtype: fp32
model-args: {n_ctx: 2048}                                       # or "n_ctx=2048"
shots: 0
scoring: cloze
min-confidence: 0.5
scan:                                                           # only for `leakaudit scan`
  n-boot: 200
```

A section named after a command (``run:``, ``scan:``, ``gate:``) applies to that command
only; a key another command would take but this one does not is ignored, a key no command
knows is an error naming the file and the key. Options given on the command line win over
the file. ``write_config`` writes the values a command actually used back into its output
folder (``config.yaml``), so ``--config OUT/config.yaml`` repeats the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from leakaudit.data.io import read_yaml_file
from leakaudit.errors import ConfigError

CONFIG_FILE = "config.yaml"
#: commands whose options a config file may hold (sections and ignored keys are checked against them)
COMMANDS = ("run", "scan", "gate", "audit", "filter")


def _norm(key: str) -> str:
    return str(key).strip().lstrip("-").replace("-", "_").lower()


def option_names(command: Any) -> dict[str, str]:
    """Every spelling a config key may take for ``command``'s parameters -> the parameter name."""
    out: dict[str, str] = {}
    for p in getattr(command, "params", []):
        if p.name is None:
            continue
        out[_norm(p.name)] = p.name
        for opt in list(getattr(p, "opts", [])) + list(getattr(p, "secondary_opts", [])):
            if opt.startswith("--no-") and opt in getattr(p, "secondary_opts", []):
                continue
            out[_norm(opt)] = p.name
    return out


def _to_cli_value(param_name: str, value: Any) -> Any:
    """YAML lists and mappings in the form the option parses (``a,b``; ``k=v,k2=v2``)."""
    if isinstance(value, (list, tuple)) and param_name not in ("base_llm",):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_scalar(v)}" for k, v in value.items())
    return value


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def read_config(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; ConfigError naming the file when it is not one."""
    path = Path(path)
    data = read_yaml_file(path, "configuration file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a configuration file is a mapping of option names to values, not a {type(data).__name__}")
    return data


def defaults_for(command: Any, data: dict[str, Any], *, source: str = "<config>", known: Iterable[str] = ()) -> dict[str, Any]:
    """``{parameter name: value}`` for click's ``default_map`` from a parsed configuration.

    ``known`` are option spellings other commands take (ignored here rather than refused).
    """
    names = option_names(command)
    other = {_norm(k) for k in known}
    cmd_name = getattr(command, "name", None)
    flat = {k: v for k, v in data.items() if _norm(k) not in {_norm(c) for c in COMMANDS}}
    section = next((v for k, v in data.items() if _norm(k) == _norm(cmd_name or "")), None) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: section {cmd_name!r} must be a mapping of option names to values")
    out: dict[str, Any] = {}
    for scope, mapping in (("", flat), (f"{cmd_name}.", section)):
        for key, value in mapping.items():
            if _norm(key) == "command":  # written by write_config: which command used these settings
                continue
            name = names.get(_norm(key))
            if name is None or name == "config":
                if scope == "" and _norm(key) in other:
                    continue  # another command's option (e.g. gate's max-text-answerable in a scan)
                choices = ", ".join(sorted({k.replace("_", "-") for k in names if k != "config"}))
                raise ConfigError(f"{source}: unknown key {scope}{key!r} for `leakaudit {cmd_name}`; known: {choices}")
            out[name] = _to_cli_value(name, value)
    return out


def load_defaults(path: str | Path, command: Any, known: Iterable[str] = ()) -> dict[str, Any]:
    """Read ``path`` and map it onto ``command``'s options (see :func:`defaults_for`)."""
    return defaults_for(command, read_config(path), source=str(path), known=known)


def write_config(folder: str | Path, command: str, params: dict[str, Any]) -> Path:
    """Write the values a command used as ``folder/config.yaml`` (option spellings, Nones left out)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"command": command}
    for key, value in params.items():
        if key == "config" or value is None or value == ():
            continue
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, Path):
            value = str(value)
        doc[key.replace("_", "-")] = value
    path = folder / CONFIG_FILE
    path.write_text("# written by leakaudit: the settings this run used; repeat it with --config " + CONFIG_FILE + "\n"
                    + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


__all__ = ["CONFIG_FILE", "defaults_for", "load_defaults", "option_names", "read_config", "write_config"]
