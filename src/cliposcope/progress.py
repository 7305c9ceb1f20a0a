"""Progress for every long step: a labelled bar (what, how many, rate, time left) on a
terminal, and on anything else (a log file, a pipe, a captured stream) plain lines no more
than LOG_INTERVAL_S apart once a bar has run LOG_DELAY_S, so a log shows the run is alive
without carriage-return clutter or a line for every quick step. A bar over nothing (every
embedding cached) is not shown. ``step`` prints the numbered step lines of multi-step
commands ("[2/5] ior on toy:default (model), 60 scenes").
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

from cliposcope.terminal import terminal_text

LOG_INTERVAL_S = 5.0


ANSI_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Off a terminal a bar shows only once it has run this long: quick steps leave no lines.
LOG_DELAY_S = 2.0


class _LineStream(io.TextIOBase):
    """What tqdm draws in place, as one line per refresh (for streams that are no TTY):
    carriage returns become line ends, cursor movements of nested bars are dropped."""

    def __init__(self, target):
        self.target = target
        self.last = ""

    def write(self, text: str) -> int:
        for line in ANSI_CONTROL.sub("", text).replace("\r", "\n").split("\n"):
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
        plain |= {"delay": LOG_DELAY_S}
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


HEARTBEAT_S = 10.0


@contextlib.contextmanager
def heartbeat(text: str, *, enabled: bool, every: float = HEARTBEAT_S) -> Iterator[None]:
    """A line ``TEXT (Ns)`` every ``every`` seconds while a step with no bar of its own runs
    (a model load); written to the stderr of when it started, which a load may swap."""
    if not enabled:
        yield
        return
    stream, started, stop = sys.stderr, time.perf_counter(), threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            elapsed = time.perf_counter() - started
            try:
                stream.write(f"{terminal_text(text)} ({elapsed:.0f}s)\n")
                stream.flush()
            except (OSError, ValueError):  # the stream is gone: nothing left to tell
                return

    thread = threading.Thread(target=beat, name="cliposcope-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def step(index: int, count: int, text: str, *, enabled: bool) -> None:
    """One numbered step line on stderr, e.g. ``[3/6] matching on toy:default``."""
    if enabled:
        print(f"[{index}/{count}] {terminal_text(text)}", file=sys.stderr, flush=True)
