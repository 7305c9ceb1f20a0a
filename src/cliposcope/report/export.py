"""Results as one tidy table: a row per result, figure and position (or group), with
numbers as numbers, for pandas, R, spreadsheets and papers.

A figure is any mapping in a result's metrics with an ``estimate`` (and optionally
``ci95``, ``count``, ``total``), wherever the probe put it, so every probe exports without
declaring anything. Its ``figure`` name is the dotted path of keys that leads to it
(``per_position_unconditional``, ``large_first.first_object_accuracy``). Lists of figures
are positions (1-based). A mapping of figures under a name, and a mapping of alike records
(the same keys in each, e.g. matching's scenarios, or corpus stats' ``by_k``: groups
``k=2``, ``k=3``), name a ``group`` instead of extending the figure's name, as does a
record in a list by its text fields (e.g. an object's name). Numbers outside figures
(p-values, counts of captions) are left out: they stay in the JSON.

Formats: Parquet, CSV, JSON lines (one row a line), and Markdown or LaTeX tables laid out
like the paper's (one table per probe, figure and data; rows = models and their
controls, columns = positions or groups).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cliposcope.errors import CliposcopeError
from cliposcope.probes.presentation import ORDINALS
from cliposcope.probes.registry import find_probe, list_probes
from cliposcope.results import ProbeResult
from cliposcope.terminal import terminal_text

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from cliposcope.probes.verdicts import Verdict

# Column name -> its kind in the table: "text", "integer" or "number".
COLUMNS: dict[str, str] = {
    "probe": "text",
    "probe_version": "integer",
    "model_spec": "text",
    "model_family": "text",
    "model_fingerprint": "text",
    "weights": "text",
    "role": "text",
    "data_fingerprint": "text",
    "identity": "text",
    "figure": "text",
    "figure_label": "text",
    "figure_definition": "text",
    "position": "integer",
    "group": "text",
    "estimate": "number",
    "ci_low": "number",
    "ci_high": "number",
    "count": "integer",
    "n": "integer",
    "p_value": "number",
    "p_holm": "number",
    "method": "text",
    "seed": "integer",
    "started_utc": "text",
    "ended_utc": "text",
    "cliposcope_version": "text",
    "git_commit": "text",
    "host": "text",
    "device": "text",
    "source_file": "text",
}

# Format name -> the file suffix that selects it.
FORMATS = {
    "parquet": ".parquet",
    "csv": ".csv",
    "jsonl": ".jsonl",
    "markdown": ".md",
    "latex": ".tex",
}

GROUP_SEPARATOR = " / "
log = logging.getLogger(__name__)


# --- reading ---------------------------------------------------------------------------


def result_files(paths: Iterable[str | Path]) -> list[Path]:
    """The result files named: files as given, folders as their ``*.json`` (except the
    JSON a results folder may hold that is no result, e.g. progression.json); each file
    once."""
    return [file for file, _ in _named_files(paths)]


def _named_files(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Each result file once, and whether it was named itself (not found in a folder)."""
    from cliposcope.report.html import NOT_RESULTS

    files: list[tuple[Path, bool]] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = [p for p in sorted(path.glob("*.json")) if p.name not in NOT_RESULTS]
            if not found:
                raise CliposcopeError(
                    f"no result files in {terminal_text(path)}",
                    hint="give folders written by `cliposcope run`",
                )
            files += [(file, False) for file in found]
        elif path.exists():
            files.append((path, True))
        else:
            raise CliposcopeError(
                f"result file not found: {terminal_text(path)}", hint="check the path"
            )
    seen: set[Path] = set()
    unique = []
    for file, named in files:
        if file.resolve() not in seen:
            seen.add(file.resolve())
            unique.append((file, named))
    return unique


def read_results(paths: Iterable[str | Path]) -> list[ProbeResult]:
    """The results of the files and folders named. A file named that is not a result is
    an error; one found in a folder is skipped with a warning (a folder may hold a damaged
    or foreign file), but a folder must hold at least one result."""
    paths, results = list(paths), []
    for path, named in _named_files(paths):
        try:
            results.append(ProbeResult.load(path))
        except CliposcopeError as error:
            if named:
                raise
            log.warning("export: skipped %s", terminal_text(f"{path.name}: {error.message}"))
    if not results:
        raise CliposcopeError(
            "no readable result in " + ", ".join(terminal_text(path) for path in paths),
            hint="give result files or folders written by `cliposcope run`",
        )
    return results


# --- figures in a result's metrics -------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of a result, where it sits: its dotted name, its 1-based position and
    its group label (None where not applicable)."""

    name: str
    position: int | None
    group: str | None
    values: dict = field(repr=False)

    @property
    def estimate(self) -> float | None:
        return finite_number(self.values.get("estimate"))

    @property
    def interval(self) -> tuple[float | None, float | None]:
        bounds = self.values.get("ci95")
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            return None, None
        return finite_number(bounds[0]), finite_number(bounds[1])

    @property
    def count(self) -> int | None:
        return whole_number(self.values.get("count"))

    @property
    def n(self) -> int | None:
        return whole_number(self.values.get("total"))


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def whole_number(value: Any) -> int | None:
    number = finite_number(value)
    return int(number) if number is not None and number.is_integer() else None


def is_figure(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "estimate" in value
        and (value["estimate"] is None or finite_number(value["estimate"]) is not None)
    )


def is_record(value: Any) -> bool:
    return isinstance(value, dict) and not is_figure(value)


def keyed_records(name: tuple[str, ...], mapping: dict) -> bool:
    """Records with the same keys side by side, one per label (a scenario, a k, an
    object): two or more of them, or any number under a ``by_`` name (``by_k``)."""
    records = list(mapping.values())
    alike = bool(records) and all(is_record(r) and r.keys() == records[0].keys() for r in records)
    labelled = len(records) >= 2 or (bool(name) and name[-1].startswith("by_"))
    return alike and labelled


def record_label(record: dict, index: int) -> str:
    """A record in a list by its text fields (e.g. an object's name), else its place."""
    texts = [value for value in record.values() if isinstance(value, str)]
    return GROUP_SEPARATOR.join(texts) or str(index)


def group_label(name: tuple[str, ...], key: str) -> str:
    """A record's key as its group: 'k=2' under ``by_k``, the key itself elsewhere."""
    if name and name[-1].startswith("by_"):
        return f"{name[-1].removeprefix('by_')}={key}"
    return str(key)


def positional_keys(name: tuple[str, ...], mapping: dict) -> bool:
    """Figures keyed by 0-based positions written as text ({"0": ..., "1": ...}) under
    a name that says so (attention's ``mean_share_by_position``)."""
    return bool(name) and "position" in name[-1] and all(key.isdigit() for key in mapping)


def figures(metrics: dict) -> Iterator[Figure]:
    """Every figure of a result's metrics, in the order the metrics hold them."""
    yield from _walk(metrics, (), None, ())


def _walk(
    value: Any, name: tuple[str, ...], position: int | None, groups: tuple[str, ...]
) -> Iterator[Figure]:
    if is_figure(value):
        yield Figure(".".join(name), position, GROUP_SEPARATOR.join(groups) or None, value)
    elif isinstance(value, list):
        for index, item in enumerate(value, start=1):
            if is_record(item):
                yield from _fields(item, name, position, (*groups, record_label(item, index)))
            elif position is None:
                yield from _walk(item, name, index, groups)
            else:  # a list of lists: the outer index is the position
                yield from _walk(item, name, position, (*groups, str(index)))
    elif isinstance(value, dict):
        if keyed_records(name, value):
            for key, record in value.items():
                yield from _fields(record, name, position, (*groups, group_label(name, key)))
        elif name and value and all(is_figure(item) for item in value.values()):
            by_position = positional_keys(name, value)
            for key, item in value.items():
                if by_position:
                    yield from _walk(item, name, int(key) + 1, groups)
                else:
                    yield from _walk(item, name, position, (*groups, str(key)))
        else:
            yield from _fields(value, name, position, groups)


def _fields(
    record: dict, name: tuple[str, ...], position: int | None, groups: tuple[str, ...]
) -> Iterator[Figure]:
    """A record's fields name what they hold: a figure in a field is never a group."""
    for key, item in record.items():
        yield from _walk(item, (*name, str(key)), position, groups)


# --- the tidy table ----------------------------------------------------------------------


def data_fingerprint(result: ProbeResult) -> str:
    """The fingerprints of the data the result was measured on, as its probe declares them
    (joined with '+'; one that is not text, such as a list of input files, as the sha256
    of its JSON); for a probe that declares none (or an unknown one), the sha256 of the
    key that verdicts and the leaderboard compare results by."""
    from cliposcope.probes.verdicts import data_key

    probe = find_probe(result.probe)
    parts = []
    for key in probe.data_fingerprints if probe is not None else ():
        value = result.provenance.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif value is not None:
            parts.append(_sha256(json.dumps(value, sort_keys=True, default=str)))
    return "+".join(parts) or _sha256(data_key(result))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def result_columns(result: ProbeResult) -> dict[str, Any]:
    """The columns every row of a result shares (``weights``: "random" or "trained", from
    the recorded weights source, report.table.weights_kind)."""
    from cliposcope.report.table import weights_kind

    model, run = result.model, result.run if isinstance(result.run, dict) else {}
    return {
        "probe": result.probe,
        "probe_version": whole_number(result.provenance.get("probe_version")),
        "model_spec": _text(model.get("spec")),
        "model_family": _text(model.get("family")),
        "model_fingerprint": _text(model.get("fingerprint")) or _text(model.get("weights_hash")),
        "weights": weights_kind(result),
        "role": result.role,
        "data_fingerprint": data_fingerprint(result),
        "identity": _text(result.identity),
        "seed": whole_number(result.settings.get("seed")),
        "started_utc": _text(run.get("started_utc")),
        "ended_utc": _text(run.get("ended_utc")),
        "cliposcope_version": _text(run.get("cliposcope_version"))
        or _text(result.provenance.get("cliposcope_version")),
        "git_commit": _text(run.get("git_commit")),
        "host": _text(run.get("host")),
        "device": _text(run.get("device")),
        "source_file": str(result.source_path) if result.source_path is not None else None,
    }


def figure_definition(probe_name: str, figure: str, group: str | None):
    """The probe's definition of a figure (probes.presentation.FigureDefinition), for the
    figure in one group or for all its groups; None where it declares none."""
    probe = find_probe(probe_name)
    if probe is None:
        return None
    return probe.figures.get(f"{figure}/{group}") or probe.figures.get(figure)


def tidy_rows(results: Sequence[ProbeResult]) -> list[dict[str, Any]]:
    """One row (column name -> value, None where empty) per result, figure and position
    or group, in the columns' order; then a row per verdict (role ``verdict``)."""
    rows = []
    for result in results:
        shared = result_columns(result)
        for figure in figures(result.metrics):
            low, high = figure.interval
            defined = figure_definition(result.probe, figure.name, figure.group)
            row = shared | {
                "figure": figure.name,
                "figure_label": defined.label if defined else None,
                "figure_definition": defined.definition if defined else None,
                "position": figure.position,
                "group": figure.group,
                "estimate": figure.estimate,
                "ci_low": low,
                "ci_high": high,
                "count": figure.count,
                "n": figure.n,
                "p_value": finite_number(figure.values.get("p_value")),
                "p_holm": None,
                "method": _text(figure.values.get("method")),
            }
            rows.append({name: row[name] for name in COLUMNS})
    from cliposcope.probes.verdicts import verdicts

    judged = verdicts(results)
    return rows + verdict_rows(results, judged) + decomposition_export_rows(results, judged)


PARTS = {
    "architecture": "random-weight control minus chance",
    "learned": "model minus random-weight control, paired",
    "total": "model minus chance",
}


def decomposition_export_rows(
    results: Sequence[ProbeResult], judged: Sequence[Verdict]
) -> list[dict[str, Any]]:
    """Three rows (role ``decomposition``, figure architecture, learned or total) per
    model, random-weight control and protocol (probes.decomposition): the protocol as the
    group, the part in points as a fraction, its interval."""
    from cliposcope.probes.decomposition import decompositions
    from cliposcope.probes.verdicts import data_key

    by_place = {(r.probe, r.label, data_key(r)): r for r in results if r.role == "model"}
    rows = []
    for found in decompositions(results, judged):
        model = by_place[found.probe, found.model, found.data]
        for name, definition in PARTS.items():
            part = getattr(found, name)
            row = result_columns(model) | {
                "role": "decomposition",
                "figure": name,
                "figure_label": found.bias,
                "figure_definition": f"{definition}; chance {found.chance:.6g}",
                "position": None,
                "group": found.protocol,
                "estimate": finite_number(part.estimate),
                "ci_low": finite_number(part.ci95[0]),
                "ci_high": finite_number(part.ci95[1]),
                "count": None,
                "n": None,
                "p_value": None,
                "p_holm": None,
                "method": found.learned_method if name == "learned" else "Wilson, shifted",
            }
            rows.append({name: row[name] for name in COLUMNS})
    return rows


def verdict_rows(results: Sequence[ProbeResult], judged: Sequence[Verdict]) -> list[dict[str, Any]]:
    """A row per verdict (probes.verdicts): the model's columns with role ``verdict``,
    figure ``difference vs control``, the control's name as the group, the difference as
    the estimate, the units compared as ``n``, the raw and Holm-adjusted p-values and the
    method."""
    from cliposcope.probes.verdicts import data_key

    by_place = {(r.probe, r.label, data_key(r)): r for r in results if r.role == "model"}
    rows = []
    for verdict in judged:
        model = by_place[verdict.probe, verdict.model, verdict.data]
        low, high = verdict.ci95
        row = result_columns(model) | {
            "role": "verdict",
            "figure": "difference vs control",
            "figure_label": verdict.bias,
            "figure_definition": f"model minus control; {verdict.figure}",
            "position": None,
            "group": verdict.control,
            "estimate": finite_number(verdict.difference),
            "ci_low": finite_number(low),
            "ci_high": finite_number(high),
            "count": None,
            "n": whole_number(verdict.design.get("units")),
            "p_value": finite_number(verdict.p_value),
            "p_holm": finite_number(verdict.p_adjusted),
            "method": verdict.method,
        }
        rows.append({name: row[name] for name in COLUMNS})
    return rows


def arrow_table(rows: Sequence[dict[str, Any]]) -> pyarrow.Table:
    import pyarrow as pa

    kinds = {"text": pa.string(), "integer": pa.int64(), "number": pa.float64()}
    schema = pa.schema([(name, kinds[kind]) for name, kind in COLUMNS.items()])
    return pa.Table.from_pylist(list(rows), schema=schema)


def load_results(paths: str | Path | Iterable[str | Path]) -> pandas.DataFrame:
    """Result files and folders (their ``*.json``) as one tidy pandas DataFrame: the table
    ``cliposcope export --format parquet`` writes, read back as pandas reads it."""
    if importlib.util.find_spec("pandas") is None:
        raise CliposcopeError("load_results needs pandas", hint="pip install 'cliposcope[tables]'")
    if isinstance(paths, str | Path):
        paths = [paths]
    return arrow_table(tidy_rows(read_results(paths))).to_pandas()


# --- formats -----------------------------------------------------------------------------


def parquet_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(arrow_table(rows), buffer)
    return buffer.getvalue()


def tidy_csv_text(rows: Sequence[dict[str, Any]]) -> str:
    from cliposcope.report.csv_cells import csv_text

    return csv_text(list(COLUMNS), ([row[name] for name in COLUMNS] for row in rows))


def jsonl_text(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


@dataclass
class PaperTable:
    """One probe's figure on one data, laid out like the paper: a row per model (and per
    group, where the columns are positions), a column per position or group."""

    probe: str
    figure: str
    data: str  # a readable line on the data (report.table.describe_data)
    columns: dict[tuple[int | None, str | None], str] = field(default_factory=dict)
    rows: dict[str, dict[tuple[int | None, str | None], Figure]] = field(default_factory=dict)
    in_percent: bool = True  # shares (every estimate between 0 and 1), as the paper shows them

    @property
    def title(self) -> str:
        probe = find_probe(self.probe)
        return f"{probe.title if probe is not None else self.probe}: {self.figure}"

    @property
    def unit(self) -> str:
        return "% (95% CI)" if self.in_percent else "estimate (95% CI)"

    def cell(self, figure: Figure | None, dash: str) -> str:
        if figure is None or figure.estimate is None:
            return "-"
        scale = 100 if self.in_percent else 1
        digits = 1 if self.in_percent else 2
        text = f"{scale * figure.estimate:.{digits}f}"
        low, high = figure.interval
        if low is None or high is None:
            return text
        return f"{text} ({scale * low:.{digits}f}{dash}{scale * high:.{digits}f})"


def column_name(position: int | None, group: str | None) -> str:
    if position is None:
        return group or "Estimate"
    return f"{ORDINALS[position - 1]} Obj" if position <= len(ORDINALS) else f"Obj {position}"


def paper_tables(results: Sequence[ProbeResult]) -> list[PaperTable]:
    """A table per probe, figure and data: probes in the registry's order, figures in the
    order the results hold them; models before their controls."""
    from cliposcope.probes.verdicts import data_key
    from cliposcope.report.table import describe_data, shown_label

    ordered = sorted(results, key=lambda r: r.role.startswith("null:"))
    keys = [data_key(result) for result in ordered]
    labels = [shown_label(result) for result in ordered]  # a random-weight model says so
    repeated = Counter(zip(labels, keys, strict=True))
    tables: dict[tuple[str, str, str], PaperTable] = {}
    for result, key, label in zip(ordered, keys, labels, strict=True):
        if repeated[label, key] > 1:  # the same model measured again on the same data
            label += f" ({_made_when(result)})"
        data = describe_data(result)
        found = list(figures(result.metrics))
        positional = {f.name for f in found if f.position is not None}
        for figure in found:
            table = tables.setdefault(
                (result.probe, figure.name, key), PaperTable(result.probe, figure.name, data)
            )
            if figure.name in positional:
                row = label + (f", {figure.group}" if figure.group else "")
                column = (figure.position, None)
            else:
                row, column = label, (None, figure.group)
            table.columns.setdefault(column, column_name(*column))
            table.rows.setdefault(row, {})[column] = figure
    for table in tables.values():
        table.columns = dict(sorted(table.columns.items(), key=_column_order))
        estimates = [f.estimate for cells in table.rows.values() for f in cells.values()]
        table.in_percent = all(e is None or 0 <= e <= 1 for e in estimates)
    probe_order = {probe.name: place for place, probe in enumerate(list_probes())}
    return sorted(tables.values(), key=lambda t: probe_order.get(t.probe, len(probe_order)))


def _made_when(result: ProbeResult) -> str:
    run = result.run if isinstance(result.run, dict) else {}
    if _text(run.get("ended_utc")):
        return run["ended_utc"]
    return result.source_path.name if result.source_path is not None else "unsaved"


def _column_order(item: tuple[tuple[int | None, str | None], str]) -> int:
    (position, _), _ = item
    return position or 0  # groups keep the order the metrics hold them


def markdown_escape(text: str) -> str:
    """One line of table text: whitespace runs as one space, other control characters as
    visible escapes (report.terminal), ``|`` escaped."""
    return terminal_text(" ".join(text.split())).replace("|", "\\|")


def verdict_table(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    """The verdicts as a table of text: model, probe, control, figure, difference with its
    interval (points), p, Holm-adjusted p and method."""
    from cliposcope.probes.verdicts import verdicts
    from cliposcope.report.table import shown_models

    header = ["Model", "Probe", "Control", "Figure", "Difference (95% CI)", "p", "Holm p"]
    header.append("Method")
    names = shown_models(results)
    rows = []
    for verdict in verdicts(results):
        low, high = verdict.ci95
        rows.append(
            [
                names.get((verdict.probe, verdict.model, verdict.data), verdict.model),
                verdict.probe,
                verdict.control,
                verdict.bias,
                f"{100 * verdict.difference:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})",
                verdict.p_shown(verdict.p_value).removeprefix("= "),
                verdict.p_shown(verdict.p_adjusted).removeprefix("= "),
                verdict.method,
            ]
        )
    return header, rows


def markdown_text(results: Sequence[ProbeResult]) -> str:
    blocks = []
    for table in paper_tables(results):
        header = ["Model", *table.columns.values()]
        lines = [
            f"### {markdown_escape(table.title)}",
            "",
            f"Cells: {table.unit}. Data: {markdown_escape(table.data)}.",
            "",
            "| " + " | ".join(map(markdown_escape, header)) + " |",
            "|" + "---|" * len(header),
        ]
        for label, cells in table.rows.items():
            values = [table.cell(cells.get(column), "–") for column in table.columns]
            lines.append("| " + " | ".join([markdown_escape(label), *values]) + " |")
        blocks.append("\n".join(lines) + "\n")
    header, rows = verdict_table(results)
    if rows:
        lines = [
            "### Verdicts: model minus control on the same data (points)",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(map(markdown_escape, row)) + " |" for row in rows]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
LATEX_SPECIAL = re.compile("|".join(map(re.escape, LATEX_SPECIALS)))


def latex_escape(text: str) -> str:
    text = terminal_text(" ".join(text.split()))
    return LATEX_SPECIAL.sub(lambda match: LATEX_SPECIALS[match.group()], text)


def latex_text(results: Sequence[ProbeResult]) -> str:
    blocks = ["% cliposcope export: the tables use booktabs (\\usepackage{booktabs})\n"]
    for table in paper_tables(results):
        header = ["Model", *table.columns.values()]
        caption = f"{table.title}. Cells: {table.unit}. Data: {table.data}."
        lines = [
            "\\begin{table}[ht]",
            "\\centering",
            f"\\caption{{{latex_escape(caption)}}}",
            f"\\begin{{tabular}}{{l{'c' * len(table.columns)}}}",
            "\\toprule",
            " & ".join(map(latex_escape, header)) + " \\\\",
            "\\midrule",
        ]
        for label, cells in table.rows.items():
            values = [table.cell(cells.get(column), "--") for column in table.columns]
            lines.append(" & ".join([latex_escape(label), *values]) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        blocks.append("\n".join(lines) + "\n")
    header, rows = verdict_table(results)
    if rows:
        lines = [
            "\\begin{table}[ht]",
            "\\centering",
            "\\caption{Verdicts: model minus control on the same data (points)}",
            f"\\begin{{tabular}}{{{'l' * len(header)}}}",
            "\\toprule",
            " & ".join(map(latex_escape, header)) + " \\\\",
            "\\midrule",
            *(" & ".join(map(latex_escape, row)) + " \\\\" for row in rows),
            "\\bottomrule",
            "\\end{tabular}",
            "\\end{table}",
        ]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def export_bytes(results: Sequence[ProbeResult], file_format: str) -> bytes:
    """The results in one of FORMATS, as the bytes of its file."""
    if file_format == "parquet":
        return parquet_bytes(tidy_rows(results))
    writers = {
        "csv": lambda: tidy_csv_text(tidy_rows(results)),
        "jsonl": lambda: jsonl_text(tidy_rows(results)),
        "markdown": lambda: markdown_text(results),
        "latex": lambda: latex_text(results),
    }
    if file_format not in writers:
        raise CliposcopeError(f"unknown export format {file_format!r}", hint=", ".join(FORMATS))
    return writers[file_format]().encode("utf-8")


def format_for(path: str | Path) -> str:
    """The format a file name asks for by its suffix."""
    suffix = Path(path).suffix.lower()
    for name, known in FORMATS.items():
        if suffix == known:
            return name
    suffixes = ", ".join(f"{s} ({n})" for n, s in FORMATS.items())
    raise CliposcopeError(
        f"cannot tell the export format from {path}",
        hint=f"give --format, or end the file name in one of {suffixes}",
    )


def write_export(results: Sequence[ProbeResult], out: str | Path, file_format: str) -> None:
    from cliposcope.atomic import atomic_write_bytes

    atomic_write_bytes(out, export_bytes(results, file_format))
