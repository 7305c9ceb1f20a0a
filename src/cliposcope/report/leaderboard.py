"""`cliposcope leaderboard DIR...`: one row per model across result folders (runs on
different days included), one column per bias index *and* data, so results of another
protocol, object count, query set or scene set never share a column.

A cell holds the model's bias figure (e.g. TOR first-object preference) with its 95%
interval, and the verdict against each control measured beside it (probes.verdicts).
Where the same model was measured on the same data more than once, the newest run counts
(by the time its result records, the file's time only for results that record none) and
the cell says how many older ones it replaces; verdicts are kept per control, the newest
of each, so a later run against one control never hides the verdict against another.
Copies of one result (the same experiment and role) count once. Output: a self-contained HTML
page whose columns sort on a click (or on ``#sort=COLUMN-asc|desc`` in its address), and
the same numbers as CSV.

A model with random weights (its recorded weights source, report.table.shown_label) reads
``SPEC (random weights)``, and the CSV's ``weights`` column says ``random`` or ``trained``.
A row whose spec is that of a model of the paper's zoo (data.zoo; the same canonical spec,
or a local copy of a hub model, as report.beside_paper matches them) gets the paper's
published figures for that model beside the measured ones: a column per published table,
dataset and metric (``paper Table 1, ComCO: TOR retrieval accuracy, first object (%)``,
in percent as published), and the paper's name of the model; other rows leave them empty.
The paper names no architecture per row, so the spec of each zoo model is a best guess.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes
from cliposcope.errors import CliposcopeError
from cliposcope.probes.verdicts import Verdict, bias_figure, data_key, verdicts
from cliposcope.report.csv_cells import csv_text as spreadsheet_safe_csv
from cliposcope.report.table import describe_data, shown_label, weights_kind
from cliposcope.results import ProbeResult
from cliposcope.terminal import terminal_text

log = logging.getLogger(__name__)


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
    verdicts_from: str | None = None  # older runs' files that verdicts were kept from


@dataclass(frozen=True)
class PaperColumn:
    """One published figure of the paper's tables: its table, dataset and metric."""

    table: str
    dataset: str
    metric: str

    @property
    def name(self) -> str:
        return f"paper {self.table}, {self.dataset}: {self.metric}"


@dataclass
class PaperRow:
    """The paper's figures for a row's model: the zoo's names of it, values in percent."""

    models: list[str]
    values: dict[PaperColumn, float]


PAPER_MODEL = "paper model (spec: best guess)"


@dataclass
class Leaderboard:
    columns: list[Column]
    rows: dict[str, dict[str, Cell]]  # model label -> column key -> cell
    folders: list[str]
    unreadable: list[str]
    weights: dict[str, str | None] = field(default_factory=dict)  # "random" / "trained"
    paper_columns: list[PaperColumn] = field(default_factory=list)
    paper: dict[str, PaperRow] = field(default_factory=dict)  # rows of a zoo model only


def row_name(result: ProbeResult) -> str:
    """The model's label as tables show it (a random-weight model says so), with the
    first digits of its weights hash when the label alone could name different weights
    (a spec with --checkpoint, a retrained toy)."""
    weights = str(result.model.get("weights_hash") or "")
    label = shown_label(result)
    return f"{label} [{weights.removeprefix('sha256:')[:8]}]" if weights else label


def paper_row(spec: str | None) -> PaperRow | None:
    """The published figures of the zoo model(s) whose spec is ``spec``; None for none."""
    from cliposcope.data.zoo import paper_name, zoo_figures
    from cliposcope.report.beside_paper import same_model

    models: list[str] = []
    values: dict[PaperColumn, float] = {}
    for zoo_spec, figures in zoo_figures().items():
        if not same_model(spec, zoo_spec):
            continue
        for figure in figures:
            models.append(paper_name(figure))
            values.setdefault(
                PaperColumn(figure.table, figure.dataset, figure.metric), figure.value
            )
    return PaperRow(list(dict.fromkeys(models)), values) if values else None


def join_paper(
    specs: dict[str, str | None], weights: dict[str, str | None]
) -> tuple[list[PaperColumn], dict[str, PaperRow]]:
    """The paper's columns that any row fills, in the order of the paper's tables, and
    each row of a zoo model's figures. A model measured with random weights is not the
    paper's model, whatever its spec."""
    from cliposcope.data.published import published_figures

    found = {
        name: row
        for name, spec in specs.items()
        if weights.get(name) != "random" and (row := paper_row(spec)) is not None
    }
    filled = {column for row in found.values() for column in row.values}
    order = [PaperColumn(f.table, f.dataset, f.metric) for f in published_figures()]
    return [column for column in dict.fromkeys(order) if column in filled], found


def made_at(path: Path, result: ProbeResult) -> str:
    """When a result was made: its run record, else (format 1) its file's time."""
    ended = result.run.get("ended_utc") if isinstance(result.run, dict) else None
    if isinstance(ended, str) and ended:
        return ended
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
    return stamp.isoformat(timespec="seconds")


def build(folders: Sequence[str | Path]) -> Leaderboard:
    from cliposcope.report.html import read_result_files, screen_folder

    columns: dict[str, Column] = {}
    runs: dict[tuple[str, str], list[tuple[str, Cell]]] = {}
    seen: set[tuple[str, str, str]] = set()
    unreadable: list[str] = []
    specs: dict[str, str | None] = {}  # row name -> the model's spec
    weights: dict[str, str | None] = {}  # row name -> "random" / "trained"
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise CliposcopeError(
                f"results folder not found: {terminal_text(folder)}",
                hint="give the --out folders of runs",
            )
        files, bad = read_result_files(folder)
        for line in bad:
            log.warning("leaderboard: skipped %s/%s", terminal_text(folder), line)
            unreadable.append(f"{terminal_text(folder)}/{line}")
        kept, left_out = screen_folder([result for _, result in files], "leaderboard")
        unreadable += left_out
        shown = {id(result) for result in kept}
        files = [(path, result) for path, result in files if id(result) in shown]
        found = verdicts([result for _, result in files])
        for path, result in files:
            figure = bias_figure(result) if result.role == "model" else None
            if figure is None:
                continue
            if result.identity:
                copy = (result.identity, result.role, json.dumps(result.run, sort_keys=True))
                if copy in seen:
                    continue  # the same run of the same experiment, in another file
                seen.add(copy)
            key, name = data_key(result), row_name(result)
            columns.setdefault(key, Column(key, result.probe, figure.bias, describe_data(result)))
            cell = Cell(
                figure.to_dict(),
                str(path),
                [v for v in found if v.model == result.label and v.data == key],
            )
            runs.setdefault((name, key), []).append((made_at(path, result), cell))
            specs.setdefault(name, result.model.get("spec"))
            if weights.get(name) is None:
                weights[name] = weights_kind(result)
    rows: dict[str, dict[str, Cell]] = {}
    for (name, key), made in runs.items():
        made.sort(key=lambda item: item[0], reverse=True)
        newest = made[0][1]
        newest.replaces = len(made) - 1
        sources = [source for source in _verdict_sources(made) if source != newest.source]
        newest.verdicts = newest_verdict_per_control([cell for _, cell in made])
        newest.verdicts_from = ", ".join(sources) or None
        rows.setdefault(name, {})[key] = newest
    if not rows:
        listed = ", ".join(terminal_text(folder) for folder in folders)
        raise CliposcopeError(
            f"no model result with a bias figure in {listed}",
            hint="give folders written by `cliposcope run` or `demo`",
        )
    ordered = sorted(columns.values(), key=lambda c: (c.probe, c.data))
    paper_columns, paper = join_paper(specs, weights)
    return Leaderboard(
        ordered,
        rows,
        [str(f) for f in folders],
        unreadable,
        {name: weights.get(name) for name in rows},
        paper_columns,
        paper,
    )


def newest_verdict_per_control(cells: Sequence[Cell]) -> list[Verdict]:
    """From runs newest first: each control's verdict from the newest run that has one."""
    chosen: dict[str, Verdict] = {}
    for cell in cells:
        for verdict in cell.verdicts:
            chosen.setdefault(verdict.control, verdict)
    return list(chosen.values())


def _verdict_sources(made: Sequence[tuple[str, Cell]]) -> list[str]:
    """The files whose verdicts the newest cell kept."""
    sources, controls = [], set()
    for _, cell in made:
        new = {v.control for v in cell.verdicts} - controls
        if new:
            sources.append(cell.source)
            controls |= new
    return sources


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def verdict_text(verdict: Verdict) -> str:
    low, high = verdict.ci95
    mark = "beyond" if verdict.beyond_control else "not beyond"
    return (
        f"{mark} {verdict.control}: {_points(verdict.difference)} "
        f"({_points(low)} to {_points(high)}), Holm p {verdict.p_shown(verdict.decisive_p)}"
    )


def csv_text(board: Leaderboard) -> str:
    """A row per model: its label, ``weights`` ("random" or "trained"), each column's
    figure and verdicts, then, where any row is a zoo model's, the paper's name of it and
    its published figures (percent), empty for the other rows."""
    header = ["model", "weights"]
    for column in board.columns:
        name = f"{column.probe} {column.bias} [{column.data}]"
        header += [f"{name} estimate", f"{name} ci_low", f"{name} ci_high", f"{name} verdicts"]
    if board.paper_columns:
        header += [PAPER_MODEL, *(column.name for column in board.paper_columns)]
    lines = []
    for model, cells in sorted(board.rows.items()):
        line = [model, board.weights.get(model)]
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
        if board.paper_columns:
            paper = board.paper.get(model)
            line.append("; ".join(paper.models) if paper else None)
            line += [paper.values.get(c) if paper else None for c in board.paper_columns]
        lines.append(line)
    return spreadsheet_safe_csv(header, lines)


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
        paper = board.paper.get(model)
        table.append(
            {
                "model": model,
                "random": board.weights.get(model) == "random",
                "cells": row,
                "paper_models": "; ".join(paper.models) if paper else None,
                "paper": [
                    {"value": value, "text": f"{value:.2f}"} if value is not None else None
                    for value in (
                        paper.values.get(c) if paper else None for c in board.paper_columns
                    )
                ],
            }
        )
    return (
        template_environment()
        .get_template("leaderboard.html.j2")
        .render(
            columns=board.columns,
            paper_columns=board.paper_columns,
            rows=table,
            folders=board.folders,
            unreadable=board.unreadable,
        )
    )


def write_leaderboard(
    folders: Sequence[str | Path], html: str | Path, csv_path: str | Path
) -> Leaderboard:
    board = build(folders)
    atomic_write_bytes(html, html_text(board).encode("utf-8"))
    atomic_write_bytes(csv_path, csv_text(board).encode("utf-8"))
    return board
