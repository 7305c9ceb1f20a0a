"""The ``cliposcope`` command: a thin layer over the Python API.

The subcommands live in ``cliposcope.app.commands``, one module each (see its docstring);
this module builds the top-level parser from them and runs the chosen handler, turning
user mistakes, closed pipes and signals into one line and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

from cliposcope.app.config_file import apply_config, effective_config
from cliposcope.chatter import show_library_chatter
from cliposcope.errors import CliposcopeError
from cliposcope.provenance import invocation, run_config
from cliposcope.registry import package_modules
from cliposcope.terminal import terminal_text

COMMANDS_PACKAGE = "cliposcope.app.commands"


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line, like every other user error (argparse prints usage)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (hint: {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it cleans up exactly as Ctrl-C does."""


def _terminate(signum, frame):
    raise Terminated


def command_modules() -> list[ModuleType]:
    """Every command module of ``cliposcope.app.commands``, in listing order."""
    modules = [importlib.import_module(name) for name in package_modules(COMMANDS_PACKAGE)]
    return sorted(modules, key=lambda module: module.ORDER)


def build_parser() -> argparse.ArgumentParser:
    from cliposcope.version import __version__

    parser = OneLineParser(
        prog="cliposcope",
        description="Measure how much of each object survives in CLIP-style embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"cliposcope {__version__}")
    _add_verbose(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.configure(commands.add_parser(module.NAME, help=module.HELP))
    for command in _commands_below(parser):
        _add_verbose(command, default=argparse.SUPPRESS)
    return parser


def _commands_below(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, at any depth (``run tor``, ``lab train``, ...)."""
    below = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                below += [command, *_commands_below(command)]
    return below


def _add_verbose(parser: argparse.ArgumentParser, *, default) -> None:
    """``--verbose`` before or after the command; the command's own keeps the top one's."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="show what third-party libraries print while models, generators and detectors load",
    )


class OnceEach(logging.Filter):
    """A warning said once per command: a model and its control often meet the same one."""

    def __init__(self):
        super().__init__()
        self.said: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.said:
            return False
        self.said.add(message)
        return True


class InertFormatter(logging.Formatter):
    """Warnings quote names and specs from files: printed inert (cliposcope.terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_text(super().format(record))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes end in one line on stderr and exit code 2."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        config = apply_config(parser, arguments)
    except CliposcopeError as error:
        print(f"error: {terminal_text(error)}", file=sys.stderr)
        return 2
    args = parser.parse_args(arguments)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    warnings_to_stderr = logging.StreamHandler(sys.stderr)
    warnings_to_stderr.setFormatter(InertFormatter("warning: %(message)s"))
    warnings_to_stderr.setLevel(logging.WARNING)
    warnings_to_stderr.addFilter(OnceEach())
    library_log = logging.getLogger("cliposcope")
    library_log.addHandler(warnings_to_stderr)
    # printed once, by the handler above: a library that configures the root logger while
    # a model loads would print every warning a second time
    propagated, library_log.propagate = library_log.propagate, False
    token = invocation.set(("cliposcope", *arguments))
    config_token = run_config.set(effective_config(config, args))
    chatter_token = show_library_chatter.set(args.verbose)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CliposcopeError as error:
        print(f"error: {terminal_text(error)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `cliposcope models | head -1`: the reader has enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Terminated:
        print("cliposcope: terminated; partial outputs removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cliposcope: interrupted; partial outputs removed", file=sys.stderr)
        return 130
    except OSError as error:  # the machine refused: disk full, permissions, ...
        where = f": {error.filename}" if error.filename else ""
        print(
            f"error: {error.strerror or error}{where} (hint: check the path and free space)",
            file=sys.stderr,
        )
        return 2
    finally:
        invocation.reset(token)
        run_config.reset(config_token)
        show_library_chatter.reset(chatter_token)
        library_log.removeHandler(warnings_to_stderr)
        library_log.propagate = propagated
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
