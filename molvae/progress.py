"""Progress bars (rich) shared by every long-running step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, soft_wrap=True)


class Bar:
    """A handle on one progress bar: ``advance`` it and set its status text."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def status(self, text: str) -> None:
        """Show ``text`` (e.g. live loss values) beside the bar."""
        if self._progress is not None:
            self._progress.update(self._task, status=text)


@contextlib.contextmanager
def progress_bar(total: float | None, description: str, enabled: bool = True) -> Iterator[Bar]:
    """A rich progress bar on stderr; a silent handle when ``enabled`` is false."""
    if not enabled:
        yield Bar(None, None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("<"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, status="")
        yield Bar(progress, task)
