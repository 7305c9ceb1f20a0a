"""The subcommands of ``cliposcope``, one module each, found by scanning this package:
adding a command is adding a module, and nothing lists them.

Every public module here is a command and defines:

- ``NAME: str``: the subcommand, as typed (``cliposcope NAME``);
- ``HELP: str``: its one line in ``cliposcope --help``;
- ``ORDER: int``: its place in that listing (lowest first);
- ``configure(parser: argparse.ArgumentParser) -> None``: adds its options, or its nested
  subcommands, to the parser made for it, and sets the ``handler`` default of each parser
  that runs something;
- its handler(s): ``handler(args: argparse.Namespace) -> int``, the exit code. User
  mistakes raise ``CliposcopeError``; ``cli.main`` turns them into one line on stderr.

Modules whose names start with ``_`` are helpers shared by commands (``_shared``: encoder,
engine and corpus-source options, writing results), not commands.
"""
