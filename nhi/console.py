"""Terminal output shared by the commands: alerts as they fire, progress, counts."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from contract.records import Finding

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def command() -> str:
    """How to run ``nhi`` again from the shell this one was started in: ``nhi`` when that is on
    PATH (and is this program), else the path it was started by (``.venv/bin/nhi`` after ``make
    demo``), else ``python -m nhi`` with this interpreter. Hints printed with it work in a fresh shell."""
    started = sys.argv[0] if sys.argv else ""
    on_path = shutil.which("nhi")
    if on_path and started and os.path.realpath(on_path) == os.path.realpath(started):
        return "nhi"
    if os.path.basename(started) == "nhi" and os.path.exists(started):
        relative = os.path.relpath(started)
        return relative if relative.startswith("..") or os.sep in relative else f".{os.sep}{relative}"
    return f"{sys.executable} -m nhi"


def alert_line(f: Finding) -> str:
    if f.activity == "close":
        return f"[green]RESOLVED[/] {f.detector:<19} {f.nhi}: {f.details.get('resolution', '')}"
    style = SEVERITY_STYLE.get(f.severity, "")
    label = f"[{style}]{f.severity.upper():<8}[/]"
    # summaries name the identity themselves
    return f"{label} {f.detector:<19} {escape(f.summary)}"


def print_alert(f: Finding) -> None:
    if f.activity == "update":
        return  # the same cause again: counted, not repeated on screen
    out.print(alert_line(f), markup=True)


class Bar:
    """A progress bar with one task; ``update`` takes what the task should show now."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task

    def update(self, completed: int, note: str = "") -> None:
        self._progress.update(self._task, completed=completed, note=note)


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Bar]:
    """A progress bar on stderr when it is a terminal; silent otherwise (logs stay clean)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=err,
        disable=not sys.stderr.isatty(),
        transient=False,
    )
    with bar:
        yield Bar(bar, bar.add_task(label, total=total, note=""))
