"""`cliposcope leaderboard`: one row per model across result folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cliposcope.app.outputs import check_output_file

NAME = "leaderboard"
HELP = "one row per model across result folders: bias indices, verdicts, the paper's figures"
ORDER = 110


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", nargs="+", metavar="RESULTS_DIR", help="folders of results, one or more"
    )
    parser.add_argument(
        "--out",
        default="leaderboard.html",
        metavar="FILE.html",
        help="sortable HTML page (default leaderboard.html)",
    )
    parser.add_argument("--csv", metavar="FILE.csv", help="default: beside --out, as .csv")
    parser.set_defaults(handler=cmd_leaderboard)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from cliposcope.report.leaderboard import write_leaderboard
    from cliposcope.terminal import terminal_text

    csv_path = args.csv or str(Path(args.out).with_suffix(".csv"))
    check_output_file(args.out, "--out", ".html")
    check_output_file(csv_path, "--csv", ".csv")
    board = write_leaderboard(args.results, args.out, csv_path)
    paper = f", the paper's figures beside {len(board.paper)} of them" if board.paper else ""
    print(
        f"wrote {terminal_text(args.out)} and {terminal_text(csv_path)}: "
        f"{len(board.rows)} model(s), "
        f"{len(board.columns)} column(s){paper}",
        file=sys.stderr,
    )
    return 0
