"""`cliposcope table`: result JSON files merged into terminal tables (and CSV)."""

from __future__ import annotations

import argparse

from cliposcope.app.outputs import check_output_file

NAME = "table"
HELP = "merge result JSON files into tables (and CSV)"
ORDER = 120


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT.json")
    parser.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    parser.set_defaults(handler=cmd_table)


def cmd_table(args: argparse.Namespace) -> int:
    from cliposcope.report.table import render_tables, write_csv
    from cliposcope.results import ProbeResult

    if args.csv:
        check_output_file(args.csv, "--csv", ".csv")
    results = [ProbeResult.load(path) for path in args.results]
    print(render_tables(results))
    if args.csv:
        write_csv(args.csv, results)
    return 0
