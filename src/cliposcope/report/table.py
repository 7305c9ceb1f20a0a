"""Terminal tables laid out like the paper's: rows = models and their controls, columns =
positions (First Obj, Second Obj, ...) with 95% intervals. Each probe declares its own
columns in its registry record; this module only groups and lays them out. (CSV comes
from report.export: one tidy table, numbers as numbers.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace

from cliposcope.errors import describe_exception
from cliposcope.probes.registry import find_probe
from cliposcope.results import RANDOM_INIT, ProbeResult
from cliposcope.terminal import shown, terminal_text

# What a probe's layout raises on a result that does not hold its usual figures.
LAYOUT_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError)

RANDOM_INIT_CONTROL = f"null:{RANDOM_INIT}"
RANDOM_WEIGHTS = "(random weights)"


def has_random_weights(result: ProbeResult) -> bool:
    """Whether the result's encoder recorded random weights as its weights source."""
    model = result.model if isinstance(result.model, dict) else {}
    source = model.get("weights_source")
    return isinstance(source, str) and source.startswith(RANDOM_INIT)


def weights_kind(result: ProbeResult) -> str | None:
    """The weights, as the recorded weights source says: "random" or "trained"; None
    where the result records no weights source (a corpus, say)."""
    model = result.model if isinstance(result.model, dict) else {}
    source = model.get("weights_source")
    if not isinstance(source, str) or not source:
        return None
    return "random" if has_random_weights(result) else "trained"


def shown_label(result: ProbeResult) -> str:
    """The label a table shows for a result: its label, followed by "(random weights)"
    where its recorded weights source is random, except for the random-init control,
    whose role already says so (``spec [null:random-init]``). Read from the weights
    source, never from the spec; the same however often it is asked for."""
    label = ProbeResult.label.fget(result)
    if has_random_weights(result) and result.role != RANDOM_INIT_CONTROL:
        return f"{label} {RANDOM_WEIGHTS}"
    return label


class ShownResult(ProbeResult):
    """A result whose ``label`` is the one tables show (shown_label); all else as it is.
    Given to a probe's table and chart, so every row of a random-weight model says so."""

    @property
    def label(self) -> str:
        return shown_label(self)


def shown_results(results: Sequence[ProbeResult]) -> list[ProbeResult]:
    return [
        result
        if isinstance(result, ShownResult)
        else ShownResult(**{f.name: getattr(result, f.name) for f in fields(result)})
        for result in results
    ]


def shown_models(results: Sequence[ProbeResult]) -> dict[tuple[str, str, str], str]:
    """(probe, label, data key) of each model result -> its shown label: how a verdict or
    a decomposition (which name the model by its label) finds the name to show."""
    from cliposcope.probes.verdicts import data_key

    return {
        (result.probe, ProbeResult.label.fget(result), data_key(result)): shown_label(result)
        for result in results
        if result.role == "model"
    }


def with_shown_model(found, names: dict[tuple[str, str, str], str]):
    """A verdict or decomposition naming its model by the label tables show."""
    return replace(found, model=names.get((found.probe, found.model, found.data), found.model))


def table_rows(results: Sequence[ProbeResult]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Headers and rows per registered probe, in the order the results were given (give
    the results ``screen`` keeps: a result of an unknown probe has no rows). Each row
    names its result by its shown label (a random-weight model says so)."""
    grouped: dict[str, list[ProbeResult]] = {}
    for result in shown_results(results):
        if find_probe(result.probe) is not None:
            grouped.setdefault(result.probe, []).append(result)
    return {name: find_probe(name).rows(items) for name, items in grouped.items()}


def result_name(result: ProbeResult) -> str:
    """A result as a line about it names it: its file, else its label and probe."""
    if result.source_path is not None:
        return str(result.source_path)
    return f"{result.label} ({result.probe})"


def not_installed(result: ProbeResult) -> bool:
    return find_probe(result.probe) is None


def left_out(result: ProbeResult) -> str | None:
    """Why a result cannot be shown, or None where it can: its probe is not installed, or
    it does not hold the settings and figures its probe lays out (a file that passed the
    result schema but was edited or damaged). The probe's table, chart and the paper's
    numbers are each tried on the result alone."""
    from cliposcope.report.beside_paper import beside_paper

    probe = find_probe(result.probe)
    if probe is None:
        return f"probe {shown(result.probe)} is not installed"
    try:
        probe.rows([result])
        if probe.report is not None and probe.report.chart is not None:
            probe.report.chart([result])
        beside_paper([result])
    except LAYOUT_ERRORS as error:
        return terminal_text(
            f"it does not hold what probe {probe.name} (version {probe.version}) lays out "
            f"({describe_exception(error, limit=120)})"
        )
    return None


def screen(
    results: Sequence[ProbeResult],
) -> tuple[list[ProbeResult], list[tuple[ProbeResult, str]]]:
    """The results that can be shown, and each result left out with one line on it and
    why (never dropped without a word), safe to print."""
    kept, left = [], []
    for result in results:
        reason = left_out(result)
        if reason is None:
            kept.append(result)
        else:
            left.append((result, f"{terminal_text(result_name(result))}: {reason}"))
    return kept, left


def describe_data(result: ProbeResult) -> str:
    """One line on what a result was measured on: object count, protocol, vocabulary, the
    data as its data kind describes it, legacy rules and the first digits of the probe's
    data fingerprints."""
    from cliposcope.data_kinds import describe_provenance

    settings, provenance = result.settings, result.provenance
    probe = find_probe(result.probe)
    parts = [f"n={settings.get('n', '?')}"]
    if "protocol" in settings:
        parts.append(f"{settings['protocol']} protocol")
    if settings.get("vocabulary"):
        parts.append(f"vocabulary {settings['vocabulary']}")
    try:
        described = describe_provenance(probe.data, provenance) if probe is not None else None
    except LAYOUT_ERRORS:  # a provenance record not in its usual shape: left out of the line
        described = None
    if described:
        parts.append(described)
    if settings.get("legacy_quirks"):
        parts.append("legacy quirks")
    for key in probe.data_fingerprints if probe is not None else ():
        if isinstance(provenance.get(key), str):
            parts.append(f"data {provenance[key][:8]}")
    return ", ".join(parts)


def render(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; every cell through the terminal neutraliser
    (a model spec with an escape sequence or a newline shows it, never runs or forges)."""
    headers = [terminal_text(cell) for cell in headers]
    rows = [[terminal_text(cell) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def definition_lines(name: str) -> list[str]:
    """The probe's figure definitions, one line each, as the table's footer shows them."""
    probe = find_probe(name)
    return [figure.line for figure in probe.figures.values()] if probe is not None else []


def printable_verdict(verdict):
    """A verdict whose text fields (the model's label, the control's name, ...) are safe
    to print, for a line of text."""
    return replace(
        verdict,
        model=terminal_text(verdict.model),
        probe=terminal_text(verdict.probe),
        control=terminal_text(verdict.control),
        bias=terminal_text(verdict.bias),
        method=terminal_text(verdict.method),
    )


def render_tables(results: Sequence[ProbeResult]) -> str:
    """The probes' tables, the paper's numbers beside ours where a result matches a row of
    its tables, then the verdicts against controls that the results allow; last, the
    results left out and why (``screen``). Every line is safe to print on a terminal."""
    from cliposcope.probes.decomposition import decomposition_rows, decompositions
    from cliposcope.probes.verdicts import render_verdicts, verdicts
    from cliposcope.report.beside_paper import beside_paper, comparison_rows

    results, skipped = screen(results)
    blocks = []
    for name, (headers, rows) in table_rows(results).items():
        footer = "".join(f"\n  {terminal_text(line)}" for line in definition_lines(name))
        title = terminal_text(find_probe(name).title)
        blocks.append(f"{title}\n{render(headers, rows)}{footer}")
    comparisons = beside_paper(results)
    if comparisons:
        title = "The paper's numbers beside ours (the spec of each paper row is a best guess)"
        blocks.append(f"{title}\n{render(*comparison_rows(comparisons))}")
    judged = verdicts(results)
    names = shown_models(results)
    verdict_block = render_verdicts([printable_verdict(with_shown_model(v, names)) for v in judged])
    if verdict_block:
        blocks.append(verdict_block)
    found = [with_shown_model(d, names) for d in decompositions(results, judged)]
    if found:
        title = (
            "Where the bias comes from, percentage points (95% CI): architecture = random-"
            "weight control - chance, learned = model - control (paired), total = model - chance"
        )
        blocks.append(f"{title}\n{render(*decomposition_rows(found))}")
    if skipped:
        blocks.append("\n".join(["Left out:", *(f"- {line}" for _, line in skipped)]))
    return "\n\n".join(blocks)
