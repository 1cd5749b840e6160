"""The rich console every command prints through."""
from __future__ import annotations

import sys

#: width when stdout is a file or pipe (CI logs): rich would otherwise wrap tables at 80 columns
PIPE_WIDTH = 140


def make_console(stderr: bool = False):
    """A rich Console: the terminal's width on a terminal, ``PIPE_WIDTH`` columns in logs and pipes."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=PIPE_WIDTH)
