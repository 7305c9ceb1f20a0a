"""`cliposcope export`: results as one tidy table (Parquet, CSV, JSON lines) or as
paper-style Markdown and LaTeX tables."""

from __future__ import annotations

import argparse
import sys

from cliposcope.app.outputs import check_output_file

NAME = "export"
HELP = "results as one tidy table (Parquet, CSV, JSON lines) or paper-style Markdown/LaTeX"
ORDER = 115


def configure(parser: argparse.ArgumentParser) -> None:
    from cliposcope.report.export import FORMATS

    suffixes = ", ".join(f"{suffix} {name}" for name, suffix in FORMATS.items())
    parser.add_argument(
        "results", nargs="+", metavar="RESULTS", help="result JSON files or folders of them"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    parser.add_argument(
        "--format",
        choices=list(FORMATS),
        help=f"default: from the suffix of --out ({suffixes})",
    )
    parser.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from cliposcope.report.export import format_for, read_results, write_export
    from cliposcope.terminal import terminal_text

    file_format = args.format or format_for(args.out)
    check_output_file(args.out, "--out")
    results = read_results(args.results)
    write_export(results, args.out, file_format)
    shown = terminal_text(args.out)
    print(f"wrote {shown} ({file_format}, {len(results)} result(s))", file=sys.stderr)
    return 0
