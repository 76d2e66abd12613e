"""Terminal output shared by the commands: alerts as they fire, progress, counts."""

from __future__ import annotations

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
