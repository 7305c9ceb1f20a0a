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
from cliposcope.probes.registry import find_probe
from cliposcope.probes.verdicts import Verdict, data_key, verdicts
from cliposcope.report.table import describe_data


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


@dataclass
class Leaderboard:
    columns: list[Column]
    rows: dict[str, dict[str, Cell]]  # model label -> column key -> cell
    folders: list[str]
    unreadable: list[str]


def build(folders: Sequence[str | Path]) -> Leaderboard:
    from cliposcope.report.html import read_result_files

    columns: dict[str, Column] = {}
    rows: dict[str, dict[str, Cell]] = {}
    newest: dict[tuple[str, str], float] = {}
    unreadable: list[str] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise CliposcopeError(f"results folder not found: {folder}",
                                  hint="give the --out folders of runs")  # fmt: skip
        files, bad = read_result_files(folder)
        unreadable += [f"{folder}/{line}" for line in bad]
        results = [result for _, result in files]
        found = verdicts(results)
        for path, result in files:
            probe = find_probe(result.probe)
            if result.role != "model" or probe is None or probe.bias is None:
                continue
            figure = probe.bias(result)
            if figure is None or figure.total == 0:
                continue
            key = data_key(result)
            columns.setdefault(key, Column(key, result.probe, figure.bias, describe_data(result)))
            cell = Cell(
                figure.proportion.to_dict(),
                str(path),
                [v for v in found if v.model == result.label and v.data == key],
            )
            place, stamp = (result.label, key), path.stat().st_mtime
            earlier = rows.setdefault(result.label, {}).get(key)
            if earlier is None:
                rows[result.label][key], newest[place] = cell, stamp
            elif stamp >= newest[place]:
                cell.replaces = earlier.replaces + 1
                rows[result.label][key], newest[place] = cell, stamp
            else:
                earlier.replaces += 1
    if not rows:
        raise CliposcopeError(
            "no model result with a bias figure in " + ", ".join(map(str, folders)),
            hint="give folders written by `cliposcope run` or `demo`",
        )
    ordered = sorted(columns.values(), key=lambda c: (c.probe, c.data))
    return Leaderboard(ordered, rows, [str(f) for f in folders], unreadable)


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def verdict_text(verdict: Verdict) -> str:
    low, high = verdict.ci95
    mark = "beyond" if verdict.beyond_control else "not beyond"
    return (f"{mark} {verdict.control}: {_points(verdict.difference)} "
            f"({_points(low)} to {_points(high)})")  # fmt: skip


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
            line += [f"{cell.figure['estimate']:.6f}", f"{low:.6f}", f"{high:.6f}",
                     "; ".join(verdict_text(v) for v in cell.verdicts)]  # fmt: skip
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
            row.append({"estimate": cell.figure["estimate"],
                        "text": f"{100 * cell.figure['estimate']:.1f}",
                        "interval": f"{100 * low:.1f}-{100 * high:.1f}",
                        "total": cell.figure["total"],
                        "verdicts": [{"text": verdict_text(v), "beyond": v.beyond_control,
                                      "sentence": v.sentence} for v in cell.verdicts],
                        "replaces": cell.replaces, "source": cell.source})  # fmt: skip
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
