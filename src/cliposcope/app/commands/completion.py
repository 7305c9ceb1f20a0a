"""`cliposcope completion`: a shell completion script for bash, zsh or fish, on stdout.

bash and zsh scripts come from shtab; fish is generated here from the same parser, since
shtab's fish support is newer than the shtab versions cliposcope accepts. Before either,
options that take a path (a DIR/FILE/PATH metavar, a file-name metavar such as
``OUT.npy``, or a path-like destination such as ``--out`` or ``--checkpoint``) are marked
so that the shell completes file or directory names for them.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Iterator

NAME = "completion"
HELP = "print a shell completion script (bash, zsh or fish)"
ORDER = 130

PROG = "cliposcope"
SHELLS = ("bash", "zsh", "fish")
INSTALL_COMMANDS = {
    "bash": f"{PROG} completion bash > ~/.local/share/bash-completion/completions/{PROG}",
    "zsh": f'{PROG} completion zsh > "${{fpath[1]}}/_{PROG}"',
    "fish": f"{PROG} completion fish > ~/.config/fish/completions/{PROG}.fish",
}
INSTALL = "install it where your shell looks for completions, then start a new shell:\n" + (
    "\n".join(f"  {shell + ':':6}{command}" for shell, command in INSTALL_COMMANDS.items())
)

FILE = "file"
DIRECTORY = "directory"
# Words of a metavar (split at "_", "." and the like) that name what the value is.
DIRECTORY_METAVAR_WORDS = {"DIR", "FOLDER"}
FILE_METAVAR_WORDS = {"FILE", "PATH", "PNG", "CSV", "JSON", "HTML", "NPY", "TABLE"}
# Destinations that hold a path, for arguments whose metavar does not say (or is unset).
DIRECTORY_DESTINATIONS = {"cache_dir", "dataset", "images", "scenes", "shards"}
FILE_DESTINATIONS = {"checkpoint", "csv", "input", "out", "plot", "results", "runs"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Print a completion script for SHELL to stdout."
    parser.epilog = INSTALL
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(handler=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    from cliposcope.app.cli import build_parser

    print(completion_script(build_parser(), args.shell), end="")
    return 0


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell`` (one of ``SHELLS``)."""
    mark_path_options(parser)
    if shell == "fish":
        return fish_script(parser)
    import shtab

    script = shtab.complete(parser, shell=shell)
    return script if script.endswith("\n") else script + "\n"


def mark_path_options(parser: argparse.ArgumentParser) -> None:
    """Tag every argument that takes a path with shtab's file or directory completer."""
    import shtab

    completers = {FILE: shtab.FILE, DIRECTORY: shtab.DIRECTORY}
    for _, command in commands_of(parser):
        for action in command._actions:
            kind = path_kind(action)
            if kind:
                action.complete = completers[kind]


def path_kind(action: argparse.Action) -> str | None:
    """``FILE``, ``DIRECTORY`` or None: what kind of path ``action``'s value is, if any."""
    if action.nargs == 0 or action.choices or isinstance(action, argparse._SubParsersAction):
        return None
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    words = set(re.split(r"[^A-Z0-9]+", metavar.upper()))
    if words & DIRECTORY_METAVAR_WORDS:
        return DIRECTORY
    has_file_suffix = re.fullmatch(r"[\w-]+\.[A-Za-z0-9]+", metavar) is not None
    if words & FILE_METAVAR_WORDS or has_file_suffix:
        return FILE
    if action.dest in DIRECTORY_DESTINATIONS:
        return DIRECTORY
    if action.dest in FILE_DESTINATIONS:
        return FILE
    return None


def commands_of(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and every subcommand below it, each with its path of command names."""
    yield path, parser
    for name, (command, _) in subcommands_of(parser).items():
        yield from commands_of(command, (*path, name))


def subcommands_of(
    parser: argparse.ArgumentParser,
) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """The public subcommands of ``parser``: name to (its parser, its one-line help)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for listed in action._choices_actions:
                if listed.help != argparse.SUPPRESS:
                    found[listed.dest] = (action.choices[listed.dest], listed.help or "")
    return found


def fish_script(parser: argparse.ArgumentParser) -> str:
    """A fish script: one ``complete`` line per subcommand and per option, at every depth.

    A line applies at a command path when every name on the path has been typed and no
    other command name that would lead elsewhere has (a child of the path, or a sibling of
    a name on it: that keeps ``lab export`` apart from the top-level ``export``).
    """
    prog = parser.prog
    lines = [
        f"# fish completion for {prog}; install: {INSTALL_COMMANDS['fish']}",
        f"complete -c {prog} -e",
    ]
    for path, command in commands_of(parser):
        condition = fish_quote(fish_condition(parser, path))
        for name, (_, summary) in subcommands_of(command).items():
            lines.append(
                f"complete -c {prog} -f -n {condition} -a {fish_quote(name)}"
                f" -d {fish_quote(summary)}"
            )
        for action in command._actions:
            if action.help == argparse.SUPPRESS:
                continue
            if action.option_strings:
                lines.append(fish_option_line(prog, condition, command, action))
            elif action.choices and not isinstance(action, argparse._SubParsersAction):
                choices = " ".join(str(choice) for choice in action.choices)
                lines.append(
                    f"complete -c {prog} -f -n {condition} -a {fish_quote(choices)}"
                    f" -d {fish_quote(help_text(command, action))}"
                )
    return "\n".join(lines) + "\n"


def fish_condition(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> str:
    """The fish test that the command line is at ``path`` (and not below or beside it)."""
    excluded: set[str] = set()
    level = parser
    for name in path:
        subcommands = subcommands_of(level)
        excluded |= set(subcommands)
        level = subcommands[name][0]
    excluded |= set(subcommands_of(level))
    excluded -= set(path)
    tests = [f"__fish_seen_subcommand_from {name}" for name in path]
    if excluded:
        tests.append(f"not __fish_seen_subcommand_from {' '.join(sorted(excluded))}")
    return "; and ".join(tests) or "true"


def fish_option_line(
    prog: str, condition: str, command: argparse.ArgumentParser, action: argparse.Action
) -> str:
    """One ``complete`` line for an option: its names, its value, its help."""
    parts = [f"complete -c {prog} -n {condition}"]
    for option in action.option_strings:
        if option.startswith("--"):
            parts.append(f"-l {fish_quote(option[2:])}")
        elif len(option) == 2:
            parts.append(f"-s {fish_quote(option[1:])}")
        else:
            parts.append(f"-o {fish_quote(option[1:])}")
    if action.nargs != 0:
        kind = path_kind(action)
        if kind == FILE:
            parts.append("-r -F")
        elif kind == DIRECTORY:
            parts.append("-r -f -a '(__fish_complete_directories)'")
        elif action.choices:
            choices = " ".join(str(choice) for choice in action.choices)
            parts.append(f"-r -f -a {fish_quote(choices)}")
        else:
            parts.append("-r -f")
    parts.append(f"-d {fish_quote(help_text(command, action))}")
    return " ".join(parts)


def help_text(command: argparse.ArgumentParser, action: argparse.Action) -> str:
    """``action``'s help as ``--help`` shows it (``%(default)s`` filled in), or its metavar."""
    if not action.help:
        return str(action.metavar or action.dest)
    try:
        return command._get_formatter()._expand_help(action)
    except (KeyError, TypeError, ValueError):
        return action.help


def fish_quote(text: str) -> str:
    """``text`` as one fish word: single-quoted, on one line, without control characters."""
    printable = "".join(
        " " if unicodedata.category(character).startswith("C") else character for character in text
    )
    one_line = " ".join(printable.split())
    escaped = one_line.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
