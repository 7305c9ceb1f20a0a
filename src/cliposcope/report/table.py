"""Terminal tables laid out like the paper's: rows = models and their controls, columns =
positions (First Obj, Second Obj, ...) with 95% intervals. Each probe declares its own
columns in its registry record; this module only groups and lays them out. (CSV comes
from report.export: one tidy table, numbers as numbers.)"""

from __future__ import annotations

from collections.abc import Sequence

from cliposcope.probes.registry import find_probe
from cliposcope.results import ProbeResult


def table_rows(results: Sequence[ProbeResult]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Headers and rows per registered probe, in the order the results were given."""
    grouped: dict[str, list[ProbeResult]] = {}
    for result in results:
        if find_probe(result.probe) is not None:
            grouped.setdefault(result.probe, []).append(result)
    return {name: find_probe(name).rows(items) for name, items in grouped.items()}


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
    described = describe_provenance(probe.data, provenance) if probe is not None else None
    if described:
        parts.append(described)
    if settings.get("legacy_quirks"):
        parts.append("legacy quirks")
    for key in probe.data_fingerprints if probe is not None else ():
        if isinstance(provenance.get(key), str):
            parts.append(f"data {provenance[key][:8]}")
    return ", ".join(parts)


def render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def definition_lines(name: str) -> list[str]:
    """The probe's figure definitions, one line each, as the table's footer shows them."""
    probe = find_probe(name)
    return [figure.line for figure in probe.figures.values()] if probe is not None else []


def render_tables(results: Sequence[ProbeResult]) -> str:
    """The probes' tables, the paper's numbers beside ours where a result matches a row of
    its tables, then the verdicts against controls that the results allow."""
    from cliposcope.probes.verdicts import render_verdicts, verdicts
    from cliposcope.report.beside_paper import beside_paper, comparison_rows

    blocks = []
    for name, (headers, rows) in table_rows(results).items():
        footer = "".join(f"\n  {line}" for line in definition_lines(name))
        blocks.append(f"{find_probe(name).title}\n{render(headers, rows)}{footer}")
    comparisons = beside_paper(results)
    if comparisons:
        title = "The paper's numbers beside ours (the spec of each paper row is a best guess)"
        blocks.append(f"{title}\n{render(*comparison_rows(comparisons))}")
    verdict_block = render_verdicts(verdicts(results))
    return "\n\n".join(blocks + ([verdict_block] if verdict_block else []))
