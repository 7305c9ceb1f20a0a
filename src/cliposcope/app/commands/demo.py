"""`cliposcope demo`: the offline demo on the shipped toy CLIP, ending in a report."""

from __future__ import annotations

import argparse

from cliposcope.app.outputs import check_output_folder
from cliposcope.errors import check_range

NAME = "demo"
HELP = "offline demo on the shipped toy CLIP, with report"
ORDER = 70


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="cliposcope-demo",
        metavar="DIR",
        help="new folder for scenes, results and report (default cliposcope-demo)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the scenes and controls (default 0)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress or step lines")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the demo does and how long; write nothing",
    )
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from cliposcope.app.demo import run_demo

    check_range("--seed", args.seed, 0, hint="a non-negative integer")
    check_output_folder(args.out, "--out")
    if args.dry_run:
        from cliposcope.app.demo import demo_plan

        print(demo_plan(args.out))
        return 0
    run_demo(args.out, seed=args.seed, progress=not args.quiet)
    return 0
