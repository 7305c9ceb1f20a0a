"""`cliposcope table`: result JSON files merged into terminal tables (and the tidy CSV
that `cliposcope export` writes)."""

from __future__ import annotations

import argparse

from cliposcope.app.outputs import check_output_file

NAME = "table"
HELP = "merge result JSON files into tables (and a tidy CSV)"
ORDER = 120


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT.json")
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the results as one tidy CSV: a row per figure and position, "
        "numbers as numbers (as `cliposcope export --format csv` writes)",
    )
    parser.set_defaults(handler=cmd_table)


def cmd_table(args: argparse.Namespace) -> int:
    from cliposcope.report.export import write_export
    from cliposcope.report.table import render_tables
    from cliposcope.results import ProbeResult

    if args.csv:
        check_output_file(args.csv, "--csv", ".csv")
    results = [ProbeResult.load(path) for path in args.results]
    print(render_tables(results))
    if args.csv:
        write_export(results, args.csv, "csv")
    return 0
