"""`cliposcope table`: result JSON files merged into terminal tables (and the tidy CSV
that `cliposcope export` writes)."""

from __future__ import annotations

import argparse

from cliposcope.app.outputs import check_output_file

NAME = "table"
HELP = "merge result JSON files into tables (and a tidy CSV)"
ORDER = 120


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULT.json",
        help="result JSON files (the summaries of a folder are left out)",
    )
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the results as one tidy CSV: a row per figure and position, "
        "numbers as numbers (as `cliposcope export --format csv` writes)",
    )
    parser.set_defaults(handler=cmd_table)


def cmd_table(args: argparse.Namespace) -> int:
    """Every file named must be a result in its probe's shape (else one error line), but
    for the summaries a results folder may hold beside its results (a glob such as
    results/*.json names them too); a result of a probe that is not installed is listed
    under "Left out"."""
    from pathlib import Path

    from cliposcope.errors import CliposcopeError
    from cliposcope.report.export import write_export
    from cliposcope.report.html import NOT_RESULTS
    from cliposcope.report.table import not_installed, render_tables, screen
    from cliposcope.results import TAMPERED_HINT, ProbeResult

    if args.csv:
        check_output_file(args.csv, "--csv", ".csv")
    paths = [path for path in args.results if Path(path).name not in NOT_RESULTS]
    if not paths:
        raise CliposcopeError(
            f"{args.results[0]} is a summary, not a result", hint="give the result JSON files"
        )
    results = [ProbeResult.load(path) for path in paths]
    shown, left = screen(results)
    for result, line in left:
        if not not_installed(result):
            raise CliposcopeError(line, hint=TAMPERED_HINT)
    if not shown:
        raise CliposcopeError(
            f"nothing to show: {left[0][1]}", hint="install the plugin that provides the probe"
        )
    print(render_tables(results))
    if args.csv:
        write_export(results, args.csv, "csv")
    return 0
