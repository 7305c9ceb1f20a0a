"""`cliposcope corpus NAME`: analyses of a caption corpus that need no model, one
subcommand per such probe (``corpus-stats`` is `corpus stats`)."""

from __future__ import annotations

import argparse

from cliposcope.app.commands.run import add_probe_command, hosted_by_corpus
from cliposcope.probes.registry import list_probes

NAME = "corpus"
HELP = "caption-corpus analyses (no model needed)"
ORDER = 90


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="corpus_command", metavar="COMMAND", required=True)
    for probe in list_probes():
        if hosted_by_corpus(probe):
            add_probe_command(commands, probe, probe.name.removeprefix("corpus-"))
