"""`--config FILE.toml`: a command's options kept in a file, so a run can be repeated and
shared. Keys are the command's option names (``batch-size`` or ``batch_size``), values of
the option's type (a list for a repeatable option such as ``model``); an option given on
the command line overrides the file (a repeatable one replaces the file's list). The file
is checked against the command's options before anything runs, and the effective values
are recorded in every result the command writes (``run.config``).

    # run.toml, for `cliposcope run tor --config run.toml`
    model = ["toy:default"]
    null = ["sum"]
    n = 3
    sample = 2000
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cliposcope.errors import CliposcopeError
from cliposcope.terminal import terminal_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FLAG = "--config"
MAX_CONFIG_BYTES = 1024 * 1024
HINT = 'keys are the command\'s option names, e.g. model = ["toy:default"], n = 3'


def config_argument(argv: Sequence[str]) -> str | None:
    """The value of --config on the command line, if any (before parsing, so that options
    the file provides need not be on the command line)."""
    for index, token in enumerate(argv):
        if token == "--":
            return None
        if token == FLAG and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith(FLAG + "="):
            return token.partition("=")[2]
    return None


def chosen_command(parser: argparse.ArgumentParser, argv: Sequence[str]):
    """The (sub)command parser the arguments choose, following command names down."""
    tokens = [token for token in argv if not token.startswith("-")]
    while True:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not commands or not tokens:
            return parser
        name = tokens.pop(0)
        if name not in commands[0].choices:
            return parser
        parser = commands[0].choices[name]


def read_config(path: str) -> dict[str, Any]:
    """The file's table, checked: a regular UTF-8 file of bounded size holding TOML."""
    file = Path(path)
    if not file.is_file():
        raise CliposcopeError(f"{FLAG} {path} is not a file", hint="give a .toml file")
    if file.stat().st_size > MAX_CONFIG_BYTES:
        raise CliposcopeError(f"{FLAG} {path} is larger than 1 MiB", hint="a config is short")
    try:
        return tomllib.loads(file.read_bytes().decode("utf-8"))
    except OSError as error:
        raise CliposcopeError(
            f"{FLAG} {path} cannot be read ({error.strerror})", hint="check its permissions"
        ) from None
    except UnicodeDecodeError:
        raise CliposcopeError(f"{FLAG} {path} is not UTF-8 text", hint=HINT) from None
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        reason = "nests too deeply" if isinstance(error, RecursionError) else str(error)
        raise CliposcopeError(f"{FLAG} {path} is not valid TOML: {reason}", hint=HINT) from None


def _options_by_key(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    options = {}
    for action in parser._actions:
        for flag in action.option_strings:
            negative = isinstance(action, argparse.BooleanOptionalAction) and flag.startswith(
                "--no-"
            )
            if flag.startswith("--") and flag != FLAG and not negative:
                options[flag[2:]] = action
    return options


def _checked_value(path: str, key: str, value: Any, action: argparse.Action) -> Any:
    where = f"{FLAG} {path}: {key} = {value!r}"
    if isinstance(action, argparse._AppendAction):
        values = value if isinstance(value, list) else [value]
        return [_checked_value(path, key, item, _single(action)) for item in values]
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            raise CliposcopeError(f"{where} is not true or false", hint=f"{key} = true")
        if isinstance(action, argparse._StoreConstAction) and not value:
            return action.default
        return value if not isinstance(action, argparse._StoreConstAction) else action.const
    if isinstance(value, (dict, list)):
        raise CliposcopeError(f"{where} is not a single value", hint=HINT)
    kind = action.type or str
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise CliposcopeError(f"{where} is not a number", hint=f"{key} = 3")
    if kind is int and isinstance(value, float):
        raise CliposcopeError(f"{where} is not a whole number", hint=f"{key} = 3")
    if kind is str and not isinstance(value, str):
        raise CliposcopeError(f"{where} is not a string", hint=f'{key} = "..."')
    converted = kind(value)
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise CliposcopeError(f"{where} is not one of {choices}", hint=HINT)
    return converted


def _single(action: argparse.Action) -> argparse.Action:
    """A repeatable option's one value, checked as a plain option of the same type."""
    return argparse.Action(
        action.option_strings, action.dest, type=action.type, choices=action.choices
    )


def _given_on_command_line(action: argparse.Action, argv: Sequence[str]) -> bool:
    """Whether the command line gives the option, also as an abbreviation (``--mod``)."""
    for token in argv:
        if not token.startswith("--") or len(token) < 3:
            continue
        name = token.partition("=")[0]
        if any(flag.startswith(name) for flag in action.option_strings):
            return True
    return False


def _check_exclusive(command: argparse.ArgumentParser, set_by_file: set[str], argv, path: str):
    """Options that exclude each other on the command line exclude each other here too."""
    for group in command._mutually_exclusive_groups:
        chosen = [
            action.option_strings[0]
            for action in group._group_actions
            if action.dest in set_by_file or _given_on_command_line(action, argv)
        ]
        if len(chosen) > 1:
            raise CliposcopeError(
                f"{FLAG} {path}: {' and '.join(chosen)} exclude each other",
                hint="keep one of them",
            )


def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict | None:
    """Make the config file's values the chosen command's defaults (command line wins);
    what results record of it, or None without --config."""
    path = config_argument(argv)
    if path is None:
        return None
    command = chosen_command(parser, argv)
    options = _options_by_key(command)
    if not any(action.option_strings == [FLAG] for action in command._actions):
        raise CliposcopeError(f"{FLAG} does not apply to {command.prog}", hint="run, corpus, lab")
    table = read_config(path)
    defaults, recorded = {}, {}
    for key, value in table.items():
        action = options.get(key) or options.get(key.replace("_", "-"))
        if action is None:
            known = ", ".join(sorted(options))
            raise CliposcopeError(
                f"{FLAG} {path}: {terminal_text(key)} is not an option of {command.prog}",
                hint=f"its options: {known}",
            )
        checked = _checked_value(path, key, value, action)
        recorded[action.dest] = checked
        if _given_on_command_line(action, argv):
            continue  # the command line overrides the file
        defaults[action.dest] = checked
        action.required = False
    _check_exclusive(command, set(defaults), argv, path)
    command.set_defaults(**defaults)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"file": path, "sha256": digest, "values": recorded}


def effective_config(config: dict | None, args: argparse.Namespace) -> dict | None:
    """The record of the config with the values the command ran with."""
    if config is None:
        return None
    effective = {dest: getattr(args, dest, None) for dest in config["values"]}
    return config | {"effective": effective}
