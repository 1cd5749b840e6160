"""The audit's settings, recorded beside the answers so every stage gives the same verdict.

``scan``, ``gate``, ``run`` and ``import`` write ``settings.json`` next to ``answers.sqlite``;
``audit``, ``filter``, ``report``, ``gate`` and ``regenerate`` read it back. Without it, the same
answers gave two verdicts (the scan counted three inspectors with a confidence floor, a later
``audit`` of the same folder counted five without one). A flag given explicitly still wins,
and the command says so ("overriding recorded setting k=2 -> 3").

``AuditSettings()`` is also the one place the defaults live (measured on the demo with the tiny
zoo, see README "Defaults"): cloze scoring, 0-shot, a text-only hit counts when the model gives
the answer at least half of its option probability, MMStar's 2-of-8 rule, 10 % text-answerable
allowed by the gate.
"""
from __future__ import annotations

import json
import math
import types
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from leakaudit.errors import ConfigError

SETTINGS_FILE = "settings.json"

#: MMStar's panel, the reference a panel's strength is stated against
MMSTAR_PANEL = {"n_llms": 8, "min_size_b": 7.0, "max_size_b": 70.0, "text": "MMStar: 8 LLMs, 7B-70B"}


@dataclass
class AuditSettings:
    """Every choice that changes a verdict: the panel, the rule, the scoring and the thresholds."""

    #: LLMs whose text-only hits are evidence (None: every LLM with real weights in the store)
    inspectors: list[str] | None = None
    #: vision models asked with and without the image (None: every LVLM in the store)
    lvlms: list[str] | None = None
    #: LLMs asked text-only only for an LVLM's S_t (ML); not inspectors
    base_llm_runs: list[str] = field(default_factory=list)
    #: LVLM -> base LLM for models the zoo does not know
    base_llms: dict[str, str] = field(default_factory=dict)
    #: text-answerable above ``k`` hits (with ``n``: above floor(N*k/n)); None/None is MMStar's 2 of 8
    k: int | None = None
    n: int | None = None
    #: a text-only hit counts when the model gives the answer at least this share (None: every hit)
    min_confidence: float | None = 0.5
    shots: int = 0
    scoring: str = "cloze"
    circular: bool = False
    #: what a blind run shows (None: each LVLM's zoo setting)
    blind_mode: str | None = None
    #: signals whose questions the filter removes on top of the default ones (``blind-hits``)
    remove_signals: list[str] = field(default_factory=list)
    balance: bool = False
    #: gate thresholds (shares are fractions, MG in points, checked per real LVLM)
    max_text_answerable: float = 0.10
    min_mg: float | None = None
    max_leaked: float | None = None
    #: thresholds of other (third-party) signals, by signal name
    signal_thresholds: dict[str, float] = field(default_factory=dict)
    #: model-based signals to compute (``--signals``; ``leakaudit signals`` lists them); the probe always runs
    extra_signals: list[str] = field(default_factory=list)
    n_boot: int = 1000
    seed: int = 0

    # -- checks ------------------------------------------------------------------------
    def validate(self) -> "AuditSettings":
        """Refuse rules that can never flag anything (``k >= n``) or make no sense (``k < 0``)."""
        if self.k is not None and self.k < 0:
            raise ConfigError(f"k must be >= 0, got k={self.k}; MMStar's rule is --k 2 --n 8")
        if self.n is not None and self.n <= 0:
            raise ConfigError(f"n must be > 0, got n={self.n}; MMStar's rule is --k 2 --n 8")
        if self.n is not None and (self.k if self.k is not None else 2) >= self.n:
            raise ConfigError(f"k={self.k if self.k is not None else 2} >= n={self.n}: no question could ever be text-answerable, "
                              "so every benchmark would pass; use k < n (MMStar: --k 2 --n 8)")
        if self.min_confidence is not None and not 0.0 <= float(self.min_confidence) <= 1.0:
            raise ConfigError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        for name in ("shots", "n_boot", "seed"):  # numpy refuses a negative seed; the others count
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {name}={getattr(self, name)}")
        return self

    @property
    def drop_blind(self) -> bool:
        return "blind-hits" in self.remove_signals

    # -- files ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<memory>") -> "AuditSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        for name, value in data.items():
            wrong = setting_type_error(name, value)
            if wrong:
                raise ConfigError(f"{source}: setting {name!r} {wrong}")
        return cls(**data)

    def save(self, run_dir: str | Path) -> Path:
        """Write ``settings.json`` into ``run_dir`` (beside ``answers.sqlite``)."""
        path = Path(run_dir) / SETTINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> "AuditSettings | None":
        """The settings recorded in ``run_dir`` (a run folder or its answers.sqlite), None when none were."""
        path = settings_path(run_dir)
        if not path.is_file():
            return None
        from leakaudit.data.io import read_json_file

        data = read_json_file(path)  # bad UTF-8 or JSON: a DataError naming the file and line
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object of settings")
        return cls.from_dict(data, source=str(path))

    # -- overrides ----------------------------------------------------------------------
    def override(self, **explicit: Any) -> tuple["AuditSettings", list[str]]:
        """These settings with the explicitly given values (None = not given) and one line per change."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        lines: list[str] = []
        for name, value in explicit.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r}")
            if value is None:
                continue
            old = getattr(self, name)
            if value != old:
                lines.append(f"overriding recorded setting {name}={_show(old)} -> {_show(value)}")
            changes[name] = value
        return replace(self, **changes), lines


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "(none)"
    return str(value)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value has the type a settings field is declared with (lists and dicts checked item by item)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _fits(v, args[1]) for k, v in value.items())
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return True


def setting_type_error(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the setting ``name`` (a settings.json someone edited), or None."""
    hint = get_type_hints(AuditSettings).get(name)
    if hint is None or _fits(value, hint):
        return None
    expected = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "").replace("None", "null")
    return f"is {json.dumps(value, default=str)[:80]}, expected {expected}"


def settings_path(run_dir: str | Path) -> Path:
    p = Path(run_dir)
    return (p.parent if p.suffix == ".sqlite" else p) / SETTINGS_FILE


def resolve(run_dir: str | Path | None, **explicit: Any) -> tuple[AuditSettings, list[str]]:
    """Recorded settings of ``run_dir`` (defaults where none) with explicit flags on top.

    Only a recorded setting that a flag changes gives an "overriding" line; flags on a folder
    without ``settings.json`` simply apply.
    """
    recorded = AuditSettings.load(run_dir) if run_dir is not None else None
    if recorded is None:
        merged, _ = AuditSettings().override(**explicit)
        return merged.validate(), []
    merged, lines = recorded.override(**explicit)
    return merged.validate(), lines


def record(run_dir: str | Path, **values: Any) -> AuditSettings:
    """Write ``values`` into ``run_dir``'s settings (creating them from the defaults); returns them.

    ``run`` and ``import`` record how answers were made (shots, scoring, circular) without
    touching a panel a scan recorded earlier.
    """
    current = AuditSettings.load(run_dir) or AuditSettings()
    updated, _ = current.override(**values)
    updated.validate().save(run_dir)
    return updated


__all__ = ["AuditSettings", "MMSTAR_PANEL", "SETTINGS_FILE", "record", "resolve", "settings_path"]
