"""`cliposcope report`: the HTML report of a folder of results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cliposcope.app.outputs import check_output_file

NAME = "report"
HELP = "HTML report from a folder of results"
ORDER = 100


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", metavar="RESULTS_DIR", help="a folder of results (`run`, `corpus`, `demo`)"
    )
    parser.add_argument("--out", metavar="report.html", help="default: RESULTS_DIR/report.html")
    parser.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from cliposcope.report.html import build_report
    from cliposcope.terminal import terminal_text

    check_output_file(args.out or Path(args.results) / "report.html", "--out", ".html")
    print(f"wrote {terminal_text(build_report(args.results, args.out))}", file=sys.stderr)
    return 0
