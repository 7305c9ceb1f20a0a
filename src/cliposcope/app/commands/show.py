"""`cliposcope show`: a contact sheet of a sample of scenes."""

from __future__ import annotations

import argparse
import sys

from cliposcope.app.outputs import check_output_file
from cliposcope.errors import CliposcopeError, check_range

NAME = "show"
HELP = "contact sheet of a sample of scenes"
ORDER = 50


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DIR", help="manifest folder or official-layout folder")
    parser.add_argument(
        "--out", required=True, metavar="SHEET.png", help="the contact sheet to write"
    )
    parser.add_argument("--count", type=int, default=24, help="scenes on the sheet (default 24)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the sample of scenes (default 0)"
    )
    parser.add_argument("--boxes", action="store_true", help="outline each object's mask box")
    parser.set_defaults(handler=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    import random

    from cliposcope.data.official import read_scenes
    from cliposcope.data.sheet import contact_sheet
    from cliposcope.terminal import terminal_text

    check_range("--count", args.count, 1, hint="how many scenes the sheet shows")
    check_range("--seed", args.seed, 0, hint="a non-negative integer")
    check_output_file(args.out, "--out", ".png")
    scenes = [s for s in read_scenes(args.dataset) if s.condition != "single"]
    if not scenes:
        raise CliposcopeError(
            f"no multi-object scenes in {terminal_text(args.dataset)}", hint="generate some"
        )
    sample = random.Random(args.seed).sample(scenes, min(args.count, len(scenes)))
    contact_sheet(sorted(sample, key=lambda s: s.id), args.out, outline=args.boxes)
    print(f"wrote {terminal_text(args.out)} ({len(sample)} scenes)", file=sys.stderr)
    return 0
