"""Third-party libraries talk while they load: download bars, deprecation warnings, log
lines. cliposcope keeps that talk out of the user's way and shows it only when asked
(``cliposcope --verbose``, or ``show_library_chatter`` in the Python API), so that a
failed load ends in cliposcope's one error line and a good one in cliposcope's output.

The talk reaches the terminal three ways, and each is caught for the duration of a load:
writes to ``sys.stderr``/``sys.stdout`` (torch hub's "Downloading:", tqdm bars),
Python warnings, and records of loggers outside ``cliposcope``. Handlers a library
creates while loading keep a reference to the stream they found, so that stream is a
gate that passes everything through once the load is over.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cliposcope.errors import CliposcopeError

show_library_chatter: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "show_library_chatter", default=False
)


class StreamGate(io.TextIOBase):
    """A text stream that holds what is written while closed and passes it through after."""

    def __init__(self, target):
        self.target = target
        self.held = io.StringIO()
        self.closed_gate = True

    def write(self, text: str) -> int:
        if self.closed_gate:
            return self.held.write(text)
        return self.target.write(text)

    def flush(self) -> None:
        # the target may be gone: a handler made during an earlier load in a session whose
        # streams were replaced since (a notebook cell, a captured test)
        if not self.closed_gate and not getattr(self.target, "closed", False):
            self.target.flush()

    def isatty(self) -> bool:  # bars that would draw in place print plain lines instead
        return False if self.closed_gate else self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self):
        return getattr(self.target, "encoding", "utf-8")


def _third_party_stream_handlers(stream_ids) -> list[logging.StreamHandler]:
    """Handlers of loggers outside cliposcope writing to the terminal, or to the gate of an
    earlier load (a handler made during that load keeps it). The root logger's handlers
    are not among them: cliposcope's own records reach those (see _ForeignHeld)."""
    loggers = [
        logger
        for name, logger in list(logging.root.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and not name.startswith("cliposcope")
    ]
    return [
        handler
        for logger in loggers
        for handler in logger.handlers
        # lastResort-style handlers look sys.stderr up on each record: see _Sorter
        if isinstance(handler, logging.StreamHandler)
        and "stream" in vars(handler)
        and (id(handler.stream) in stream_ids or isinstance(handler.stream, StreamGate))
    ]


def _is_ours(record: logging.LogRecord) -> bool:
    return record.name == "cliposcope" or record.name.startswith("cliposcope.")


class _ForeignHeld(logging.Filter):
    """On the root logger's handlers during a load: cliposcope's records pass, others are
    held (counted)."""

    def __init__(self):
        super().__init__()
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_ours(record):
            return True
        self.held += 1
        return False


class _Sorter(logging.Handler):
    """logging.lastResort during a load: cliposcope's warnings to the terminal, the rest
    into the gate."""

    def __init__(self, terminal, gate: StreamGate):
        super().__init__(logging.WARNING)
        self.terminal, self.gate = terminal, gate

    def emit(self, record: logging.LogRecord) -> None:
        stream = self.terminal if _is_ours(record) else self.gate
        stream.write(self.format(record) + "\n")


@contextmanager
def library_chatter_held(what: str) -> Iterator[None]:
    """Hold third-party output while ``what`` loads; with ``show_library_chatter`` set,
    let it through. When the load fails with a CliposcopeError, its hint says how many
    lines were held and how to see them."""
    if show_library_chatter.get():
        yield
        return
    real_err, real_out = sys.stderr, sys.stdout
    err_gate, out_gate = StreamGate(real_err), StreamGate(real_out)
    gate_for = {id(real_err): err_gate, id(sys.__stderr__): err_gate}
    gate_for |= {id(real_out): out_gate, id(sys.__stdout__): out_gate}
    moved = [(handler, handler.stream) for handler in _third_party_stream_handlers(gate_for)]
    for handler, stream in moved:
        handler.setStream(gate_for.get(id(stream), err_gate))
    foreign = _ForeignHeld()
    root_handlers = list(logging.getLogger().handlers)
    for handler in root_handlers:
        handler.addFilter(foreign)
    last_resort, logging.lastResort = logging.lastResort, _Sorter(real_err, err_gate)
    sys.stderr, sys.stdout = err_gate, out_gate
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    except CliposcopeError as error:
        held = err_gate.held.getvalue() + out_gate.held.getvalue()
        held_lines = len([line for line in held.splitlines() if line.strip()])
        held_lines += len(caught) + foreign.held
        if held_lines:
            note = (
                f"{held_lines} line(s) of library messages while loading {what} were "
                "hidden; cliposcope --verbose shows them"
            )
            error.hint = f"{error.hint}; {note}" if error.hint else note
        raise
    finally:
        sys.stderr, sys.stdout = real_err, real_out
        logging.lastResort = last_resort
        for handler in root_handlers:
            handler.removeFilter(foreign)
        for handler, stream in moved:
            handler.setStream(stream)
        err_gate.closed_gate = out_gate.closed_gate = False
