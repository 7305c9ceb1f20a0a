"""`cliposcope models`: the model families, spec syntax and pretrained tags."""

from __future__ import annotations

import argparse

NAME = "models"
HELP = "list model families, spec syntax, pretrained tags"
ORDER = 10


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--filter", metavar="TEXT", help="only open_clip architectures containing TEXT"
    )
    parser.add_argument(
        "--zoo",
        choices=("paper",),
        help="the models the paper compares, with the spec for each and the named sets "
        "(--model @paper-table1)",
    )
    parser.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from cliposcope.app.models import describe_models, describe_zoo

    print(describe_zoo() if args.zoo else describe_models(args.filter))
    return 0
