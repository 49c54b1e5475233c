"""`arp` command groups, one module each, registered by ar_perception.cli (each has `register(app)`).

Heavy imports (torch, onnxruntime, mcap, faster-whisper...) happen inside the commands, never at import.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ar_perception.errors import ArpError, GraphError

__all__ = ["fail", "progress_bar"]


def fail(e: ArpError) -> NoReturn:
    """Print an error's lines to stderr as they are (no markup, no wrapping) and exit: 2 for a graph that
    does not validate, 1 for anything else."""
    err = Console(stderr=True)
    for line in e.problems if isinstance(e, GraphError) else str(e).splitlines():
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2 if isinstance(e, GraphError) else 1)


def progress_bar(*, disable: bool = False) -> Progress:
    """The bar of long commands, on stderr: description, bar, done/total, a `note` field, elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True, soft_wrap=True),
        disable=disable,
    )
