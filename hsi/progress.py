"""Progress bars for the long loops: downloads, training, full-scene mapping, sweeps.

One rich ``Progress`` on stderr underneath each of them, so the results a command prints on
stdout stay clean. Every bar is silent when disabled (``--quiet``, or stderr not a terminal)
and rich is imported only when a bar is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
B = TypeVar("B", bound="_Bar")


def wanted(progress: bool | None) -> bool:
    """``None``: a bar only when stderr is a terminal."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def _rich_progress(*columns: str, transient: bool = False, bar: bool = True) -> Any:
    """A rich ``Progress`` on stderr: text columns (templates or rich column names) and a bar."""
    from rich import progress as rp
    from rich.console import Console

    named = {
        "bar": rp.BarColumn,
        "count": rp.MofNCompleteColumn,
        "elapsed": rp.TimeElapsedColumn,
        "remaining": rp.TimeRemainingColumn,
        "download": rp.DownloadColumn,
        "speed": rp.TransferSpeedColumn,
    }
    built = [named[c]() if c in named else rp.TextColumn(c) for c in columns]
    return rp.Progress(*built, console=Console(stderr=True), transient=transient)


def track(items: Iterable[T], label: str, enabled: bool) -> Iterator[T]:
    """Iterate ``items`` behind a transient bar labelled ``label``."""
    if not enabled:
        yield from items
        return
    items = list(items)
    with _rich_progress(label, "bar", "count", "elapsed", "remaining", transient=True) as p:
        task = p.add_task(label, total=len(items))
        for item in items:
            yield item
            p.advance(task)


class _Bar:
    """A rich bar in ``self._p`` shown while the ``with`` block runs, when ``self.enabled``."""

    enabled: bool
    _p: Any

    def __enter__(self: B) -> B:
        if self.enabled:
            self._p.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._p.__exit__(*exc)


class EpochBar(_Bar):
    """Training: a bar over every batch of every epoch, with the running loss and accuracy."""

    def __init__(self, epochs: int, batches: int, enabled: bool) -> None:
        self.enabled = enabled
        self.epochs, self.batches = epochs, batches
        if enabled:
            self._p = _rich_progress(
                "[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}",
                "bar",
                "count",
                "loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}",
                "{task.fields[val]}",
                "elapsed",
                "remaining",
            )
            self._task = self._p.add_task(
                "train", total=epochs * batches, epoch=1, epochs=epochs, loss=0.0, acc=0.0, val=""
            )

    def step(self, loss: float, acc: float) -> None:
        if self.enabled:
            self._p.update(self._task, advance=1, loss=loss, acc=acc)

    def epoch_done(self, epoch: int, row: dict[str, Any]) -> None:
        if self.enabled:
            val = "" if row["val_acc"] is None else f"val acc {row['val_acc']:.3f}"
            self._p.update(
                self._task,
                completed=epoch * self.batches,
                epoch=min(epoch + 1, self.epochs),
                val=val,
            )


class RunsBar(_Bar):
    """A sweep: a bar over its runs on a terminal, otherwise a line per finished run."""

    def __init__(self, total: int, done: int, enabled: bool, say: Callable[[str], None]) -> None:
        self.total, self.count, self.enabled, self.say = total, done, enabled, say
        if enabled:
            self._p = _rich_progress(
                "[bold]sweep", "bar", "count", "{task.fields[last]}", "elapsed", "remaining"
            )
            self._task = self._p.add_task("sweep", total=total, completed=done, last="")

    def done(self, line: str, last: str) -> None:
        """One more run finished: ``line`` describes it, ``last`` is its short score."""
        self.count += 1
        line = f"[{self.count}/{self.total}] {line}"
        if self.enabled:
            self._p.console.print(line, highlight=False)
            self._p.update(self._task, advance=1, last=f"last: {last}")
        else:
            self.say(line)


class DownloadBar:
    """A bar with the interface pooch's HTTPDownloader drives (tqdm is not installed).

    pooch sets ``total`` once the response headers arrive, calls ``update(n)`` per chunk, then
    ``reset()``, ``update(total)`` and ``close()`` after the last one.
    """

    def __init__(self, description: str) -> None:
        self._progress = _rich_progress(
            "[bold]{task.description}", "bar", "download", "speed", "remaining"
        )
        self._description = description
        self._task: Any = None
        self._total = 0
        self._closed = False

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = int(value or 0)
        total = self._total or None  # unknown length: an indeterminate bar
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=total)
        else:
            self._progress.update(self._task, total=total)

    def update(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def reset(self) -> None:
        if self._task is not None:
            self._progress.reset(self._task, total=self._total or None)

    def close(self) -> None:
        # Called by pooch on success and by us in every case; stopping twice must be harmless.
        if not self._closed:
            self._closed = True
            self._progress.stop()
