"""Progress bars (rich) shared by every long-running step."""

from __future__ import annotations

import contextlib
import time
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

    def resize(self, total: float) -> None:
        """The work turned out to be ``total`` (e.g. a time budget planned the steps)."""
        if self._progress is not None:
            self._progress.update(self._task, total=total)


class LogBar(Bar):
    """Progress for a log file (stderr is not a terminal): a plain line every ``every`` s."""

    def __init__(self, total: float | None, description: str, every: float = 30.0) -> None:
        super().__init__(None, None)
        self.total, self.description, self.every = total, description, every
        self.done = 0.0
        self.text = ""
        self.start = self.last = time.monotonic()

    def advance(self, n: float = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.emit()

    def status(self, text: str) -> None:
        self.text = text

    def resize(self, total: float) -> None:
        self.total = total

    def emit(self) -> None:
        of = f"/{self.total:g}" if self.total else ""
        elapsed = time.monotonic() - self.start
        console.print(f"{self.description}: {self.done:g}{of} [{elapsed:.0f} s] {self.text}")


@contextlib.contextmanager
def progress_bar(total: float | None, description: str, enabled: bool = True) -> Iterator[Bar]:
    """A rich progress bar on stderr; a silent handle when ``enabled`` is false."""
    if not enabled:
        yield Bar(None, None)
        return
    if not console.is_terminal:
        bar = LogBar(total, description)
        yield bar
        bar.emit()
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
