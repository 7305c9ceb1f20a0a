"""Progress for every long step: a labelled bar (what, how many, rate, time left) on a
terminal, and on anything else (a log file, a pipe, a captured stream) plain lines no more
than LOG_INTERVAL_S apart, so a log shows the run is alive without carriage-return
clutter. A bar over nothing (every embedding cached) is not shown. ``step`` prints the
numbered step lines of multi-step commands ("[2/5] ior on toy:default: 60 scenes").
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

from cliposcope.terminal import terminal_text

LOG_INTERVAL_S = 5.0


class _LineStream(io.TextIOBase):
    """What tqdm draws in place, as one line per refresh (for streams that are no TTY)."""

    def __init__(self, target):
        self.target = target
        self.last = ""

    def write(self, text: str) -> int:
        for line in text.replace("\r", "\n").split("\n"):
            line = line.rstrip()
            if line.strip() and line != self.last:  # a bar's close repeats its last state
                self.target.write(line + "\n")
                self.last = line
        return len(text)

    def flush(self) -> None:
        if not getattr(self.target, "closed", False):
            self.target.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str,
    enabled: bool,
    **options: Any,
) -> tqdm:
    """A tqdm bar labelled ``desc`` counting ``unit``; disabled when not ``enabled`` or when
    there is nothing to count."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    nothing = total == 0
    stream = sys.stderr
    if not _is_terminal(stream):
        plain = {"file": _LineStream(stream), "mininterval": LOG_INTERVAL_S, "ascii": True}
        options = plain | {"ncols": 100} | options
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled or nothing,
        dynamic_ncols=_is_terminal(stream),
        **options,
    )


def step(index: int, count: int, text: str, *, enabled: bool) -> None:
    """One numbered step line on stderr, e.g. ``[3/6] matching on toy:default``."""
    if enabled:
        print(f"[{index}/{count}] {terminal_text(text)}", file=sys.stderr, flush=True)
