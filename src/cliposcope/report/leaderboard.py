"""`cliposcope leaderboard DIR...`: one row per model across result folders (runs on
different days included), one column per bias index *and* data, so results of another
protocol, object count, query set or scene set never share a column.

A cell holds the model's bias figure (e.g. TOR first-object preference) with its 95%
interval, and the verdict against each control measured beside it (probes.verdicts).
Where the same model was measured on the same data more than once, the newest result file
counts and the cell says how many older ones it replaces. Output: a self-contained HTML
page whose columns sort on a click (or on ``#sort=COLUMN-asc|desc`` in its address), and
the same numbers as CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes
from cliposcope.errors import CliposcopeError
from cliposcope.probes.verdicts import Verdict, bias_figure, data_key, verdicts
from cliposcope.report.table import describe_data
from cliposcope.results import ProbeResult


@dataclass(frozen=True)
class Column:
    key: str  # data_key: probe, data fingerprints, scoring rules
    probe: str
    bias: str
    data: str  # a readable line: protocol, object count, data and its fingerprint


@dataclass
class Cell:
    figure: dict
    source: str
    verdicts: list[Verdict] = field(default_factory=list)
    replaces: int = 0
    verdicts_from: str | None = None  # an older run's file, when the newest had no control


@dataclass
class Leaderboard:
    columns: list[Column]
    rows: dict[str, dict[str, Cell]]  # model label -> column key -> cell
    folders: list[str]
    unreadable: list[str]


def row_name(result: ProbeResult) -> str:
    """The model's label, with the first digits of its weights hash when the label alone
    could name different weights (a spec with --checkpoint, a retrained toy)."""
    weights = str(result.model.get("weights_hash") or "")
    return f"{result.label} [{weights.removeprefix('sha256:')[:8]}]" if weights else result.label


def build(folders: Sequence[str | Path]) -> Leaderboard:
    from cliposcope.report.html import read_result_files

    columns: dict[str, Column] = {}
    rows: dict[str, dict[str, Cell]] = {}
    newest: dict[tuple[str, str], float] = {}
    unreadable: list[str] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise CliposcopeError(
                f"results folder not found: {folder}", hint="give the --out folders of runs"
            )
        files, bad = read_result_files(folder)
        unreadable += [f"{folder}/{line}" for line in bad]
        found = verdicts([result for _, result in files])
        for path, result in files:
            figure = bias_figure(result) if result.role == "model" else None
            if figure is None:
                continue
            key, name = data_key(result), row_name(result)
            columns.setdefault(key, Column(key, result.probe, figure.bias, describe_data(result)))
            cell = Cell(
                figure.to_dict(),
                str(path),
                [v for v in found if v.model == result.label and v.data == key],
            )
            place, stamp = (name, key), path.stat().st_mtime
            earlier = rows.setdefault(name, {}).get(key)
            if earlier is not None and stamp < newest[place]:
                earlier, cell = cell, earlier  # the cell on file is the newer one
            elif earlier is None:
                rows[name][key], newest[place] = cell, stamp
                continue
            else:
                newest[place] = stamp
            cell.replaces += earlier.replaces + 1
            if not cell.verdicts and earlier.verdicts:  # the newer run had no control beside it
                cell.verdicts, cell.verdicts_from = earlier.verdicts, earlier.source
            rows[name][key] = cell
    if not rows:
        listed = ", ".join(map(str, folders))
        raise CliposcopeError(
            f"no model result with a bias figure in {listed}",
            hint="give folders written by `cliposcope run` or `demo`",
        )
    ordered = sorted(columns.values(), key=lambda c: (c.probe, c.data))
    return Leaderboard(ordered, rows, [str(f) for f in folders], unreadable)


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def verdict_text(verdict: Verdict) -> str:
    low, high = verdict.ci95
    mark = "beyond" if verdict.beyond_control else "not beyond"
    return (
        f"{mark} {verdict.control}: {_points(verdict.difference)} "
        f"({_points(low)} to {_points(high)})"
    )


def csv_text(board: Leaderboard) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["model"]
    for column in board.columns:
        name = f"{column.probe} {column.bias} [{column.data}]"
        header += [f"{name} estimate", f"{name} ci_low", f"{name} ci_high", f"{name} verdicts"]
    writer.writerow(header)
    for model, cells in sorted(board.rows.items()):
        line = [model]
        for column in board.columns:
            cell = cells.get(column.key)
            if cell is None:
                line += ["", "", "", ""]
                continue
            low, high = cell.figure["ci95"]
            line += [
                f"{cell.figure['estimate']:.6f}",
                f"{low:.6f}",
                f"{high:.6f}",
                "; ".join(verdict_text(v) for v in cell.verdicts),
            ]
        writer.writerow(line)
    return buffer.getvalue()


def html_text(board: Leaderboard) -> str:
    from cliposcope.report.html import template_environment

    table = []
    for model, cells in sorted(board.rows.items()):
        row = []
        for column in board.columns:
            cell = cells.get(column.key)
            if cell is None:
                row.append(None)
                continue
            low, high = cell.figure["ci95"]
            row.append(
                {
                    "estimate": cell.figure["estimate"],
                    "text": f"{100 * cell.figure['estimate']:.1f}",
                    "interval": f"{100 * low:.1f}-{100 * high:.1f}",
                    "total": cell.figure.get("total"),
                    "verdicts_from": cell.verdicts_from,
                    "verdicts": [
                        {
                            "text": verdict_text(v),
                            "beyond": v.beyond_control,
                            "sentence": v.sentence,
                        }
                        for v in cell.verdicts
                    ],
                    "replaces": cell.replaces,
                    "source": cell.source,
                }
            )
        table.append({"model": model, "cells": row})
    return (
        template_environment()
        .get_template("leaderboard.html.j2")
        .render(
            columns=board.columns, rows=table, folders=board.folders, unreadable=board.unreadable
        )
    )


def write_leaderboard(
    folders: Sequence[str | Path], html: str | Path, csv_path: str | Path
) -> Leaderboard:
    board = build(folders)
    atomic_write_bytes(html, html_text(board).encode("utf-8"))
    atomic_write_bytes(csv_path, csv_text(board).encode("utf-8"))
    return board
