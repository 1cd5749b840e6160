"""The rich console every command prints through, and the global output settings.

``leakaudit --quiet`` and ``leakaudit --log-level`` (options of the command group) land in
:data:`OUTPUT`; :func:`configure_output` applies them once per process: our own log
records go to stderr at the chosen level, and the third-party noise a first run used to
print (13 ``past_key_values`` FutureWarnings, ~80 loading bars from transformers /
datasets / the hub, matplotlib's font warnings with their source line) is silenced unless
the level is ``debug``. ``NO_COLOR`` (https://no-color.org) turns colour off everywhere.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass

#: width when stdout is a file or pipe (CI logs): rich would otherwise wrap tables at 80 columns
PIPE_WIDTH = 140
LOG_LEVELS = ("debug", "info", "warning", "error")

#: loggers of libraries that print loading chatter at INFO/WARNING
THIRD_PARTY_LOGGERS = (
    "transformers", "datasets", "huggingface_hub", "matplotlib", "matplotlib.font_manager", "PIL", "urllib3", "filelock",
    "accelerate", "torch", "onnxruntime", "RapidOCR", "rapidocr_onnxruntime", "fsspec", "numexpr", "asyncio", "xllamacpp",
)
#: modules whose warnings (UserWarning, RuntimeWarning...) are theirs to fix, not the user's
THIRD_PARTY_MODULES = r"(transformers|torch|matplotlib|huggingface_hub|datasets|tqdm|PIL|onnxruntime|rapidocr\w*|accelerate|pandas|sklearn|numpy|xllamacpp|lm_eval|pyarrow)(\.|$)"


@dataclass
class OutputSettings:
    """What the global options asked for (one per process)."""

    quiet: bool = False
    log_level: str = "warning"

    @property
    def debug(self) -> bool:
        return self.log_level == "debug"

    @property
    def progress(self) -> bool:
        """Progress bars are shown unless ``--quiet``."""
        return not self.quiet


OUTPUT = OutputSettings()


def color_disabled() -> bool:
    """True when the ``NO_COLOR`` environment variable is set to anything non-empty."""
    return bool(os.environ.get("NO_COLOR"))


def make_console(stderr: bool = False):
    """A rich Console: the terminal's width on a terminal, ``PIPE_WIDTH`` columns in logs and pipes
    unless ``COLUMNS`` says otherwise (``COLUMNS=80 leakaudit scan demo > log`` wraps at 80).

    ``NO_COLOR`` gives plain text (no colour, no styles); ``--quiet`` keeps stdout for the
    result lines only (callers skip tables through :func:`quiet`).
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    kwargs: dict = {"stderr": stderr}
    if color_disabled():
        kwargs.update(no_color=True, color_system=None, highlight=False)
    if not stream.isatty():
        kwargs["width"] = _columns() or PIPE_WIDTH
    return Console(**kwargs)


def _columns() -> int | None:
    """``COLUMNS`` as a width, when it is a positive number."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def quiet() -> bool:
    """True under ``leakaudit --quiet``: commands print their result lines, no tables or bars."""
    return OUTPUT.quiet


def show_progress(no_progress: bool, as_json: bool = False) -> bool:
    """Whether a command shows its bars (stderr): not under ``--no-progress``, ``--quiet``, or
    ``--json`` where the command passes it (its stdout is one document; ``scan`` keeps its bars)."""
    return OUTPUT.progress and not no_progress and not as_json


def silence_third_party(debug: bool = False) -> None:
    """Turn off third-party warnings, loggers and loading bars (all kept under ``debug``).

    Environment variables cover libraries not imported yet (they read them at import);
    the library switches cover those already imported.
    """
    if debug:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # tqdm reads TQDM_* defaults at import: bars that pass no ``disable`` (transformers' GGUF
    # conversion, datasets) stay off; ours pass ``disable=`` explicitly and still show
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("ORT_LOG_SEVERITY_LEVEL", "3")  # onnxruntime (RapidOCR): errors only
    for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=THIRD_PARTY_MODULES)
    # matplotlib's "Glyph ... missing from font" is raised from our plotting calls
    warnings.filterwarnings("ignore", message=r".*(Glyph|font|findfont).*")
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "transformers" in sys.modules:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except Exception:  # noqa: BLE001 - a renamed switch must not break the CLI
            pass
    if "datasets" in sys.modules:
        try:
            import datasets

            datasets.disable_progress_bars()
        except Exception:  # noqa: BLE001
            pass
    if "huggingface_hub" in sys.modules:
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except Exception:  # noqa: BLE001
            pass


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (click's test runner swaps it per call)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging assigns it in __init__
        pass


def configure_output(quiet_: bool = False, log_level: str = "warning") -> OutputSettings:
    """Apply ``--quiet`` / ``--log-level``: our log records on stderr, third-party noise off.

    ``--quiet`` raises the level to ``error`` unless a level was asked for explicitly.
    """
    level = log_level.lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    OUTPUT.quiet = quiet_
    OUTPUT.log_level = level
    ours = logging.getLogger("leakaudit")
    ours.setLevel(getattr(logging, level.upper()))
    handler = next((h for h in ours.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        ours.addHandler(handler)
        ours.propagate = False
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s" if level == "debug" else "%(levelname)s: %(message)s"))
    if level == "debug":
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    silence_third_party(debug=level == "debug")
    return OUTPUT
