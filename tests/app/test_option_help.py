"""Every option and argument of every command says what it is for in --help."""

from __future__ import annotations

import argparse

from cliposcope.app.cli import build_parser


def _arguments(parser: argparse.ArgumentParser, path: tuple[str, ...]):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                yield from _arguments(command, (*path, name))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield path, action


def test_every_option_of_every_command_has_help_text():
    arguments = list(_arguments(build_parser(), ("cliposcope",)))
    without_help = [
        f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
        for path, action in arguments
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert len(arguments) > 400  # every command's parser was walked, at every depth
    assert without_help == []


def test_every_subcommand_has_a_summary():
    parser = build_parser()
    pending = [parser]
    summaries = 0
    while pending:
        for action in pending.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions}
                assert listed == set(action.choices), "a subcommand without help"
                assert all(choice.help for choice in action._choices_actions)
                summaries += len(listed)
                pending += list(dict.fromkeys(action.choices.values()))
    assert summaries > 20
