"""The backtest's progress bar: a rich bar on stderr, moved in about 200 steps, or nothing."""

from __future__ import annotations

import sys


def no_progress(bars: int) -> None:
    pass


class progress_bar:
    """A rich progress bar on stderr (or nothing): ``with progress_bar(on, total, label) as advance``; ``advance(n)``
    counts ``n`` more bars closed."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled = enabled
        self.total = total
        self.label = label
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return no_progress
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(file=sys.stderr), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(f"backtest {self.label}", total=self.total)
        step = max(1, self.total // 200)  # rich is slow per call: move the bar in about 200 steps
        done = [0, 0]  # bars counted, bars shown

        def advance(bars: int) -> None:
            done[0] += bars
            if done[0] - done[1] >= step or done[0] >= self.total:
                self._bar.advance(task, done[0] - done[1])
                done[1] = done[0]

        return advance

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)
