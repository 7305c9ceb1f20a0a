"""`cliposcope report`: one self-contained HTML page built only from saved results.

The page is rendered from a jinja2 template with autoescaping, so a name like "<script>"
is shown, never run. Plots are drawn with matplotlib into in-memory PNGs and images are
embedded as data URIs, so the page opens offline anywhere and nothing is written into the
results folder but the report itself. Each probe's section comes from its registry record.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import jinja2

from cliposcope.atomic import atomic_write_bytes
from cliposcope.data.scenes import check_inside
from cliposcope.encoders.registry import find_family
from cliposcope.errors import CliposcopeError
from cliposcope.plotting import figure_png, pyplot
from cliposcope.probes.decomposition import decomposition_rows, decompositions
from cliposcope.probes.presentation import BarChart, ReportSection
from cliposcope.probes.registry import list_probes
from cliposcope.probes.verdicts import verdicts
from cliposcope.report.table import (
    definition_lines,
    describe_data,
    not_installed,
    screen,
    table_rows,
)
from cliposcope.results import ProbeResult
from cliposcope.terminal import terminal_text

FIXED_SECTIONS = ("summary", "progression", "scenes", "provenance")
SCENE_EXAMPLES = 8
OVERLAY_EXAMPLES = 6


def section_ids(results: Sequence[ProbeResult]) -> list[str]:
    """The page's section ids, in order, for these results: one per probe that has any."""
    from cliposcope.report.beside_paper import beside_paper

    probes = [p.name for p in list_probes() if any(r.probe == p.name for r in results)]
    paper = ["paper"] if beside_paper(results) else []
    return ["summary", *probes, *paper, *FIXED_SECTIONS[1:]]


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def draw_bar_chart(chart: BarChart) -> bytes:
    """Grouped bars with 95% intervals, one colour per model."""
    plt = pyplot()
    # Labels come from result files: shown with their control characters as escapes (a
    # font has no glyph for them, and matplotlib's warning would print them raw).
    groups = {
        terminal_text(model): [(terminal_text(bar), value) for bar, value in bars]
        for model, bars in chart.groups.items()
    }
    labels = list(dict.fromkeys(bar for bars in groups.values() for bar, _ in bars))
    figure, axis = plt.subplots(figsize=(max(5, 1.4 * len(labels) * max(1, len(groups)) / 2), 3.2))
    width = 0.8 / max(1, len(groups))
    for offset, (model, bars) in enumerate(groups.items()):
        values = dict(bars)
        xs, ys, lows, highs = [], [], [], []
        for index, label in enumerate(labels):
            figure_value = values.get(label)
            if not figure_value or figure_value.get("estimate") is None:
                continue
            estimate = figure_value["estimate"]
            low, high = figure_value.get("ci95") or [estimate, estimate]
            xs.append(index + offset * width)
            ys.append(estimate)
            lows.append(max(0.0, estimate - (low if low is not None else estimate)))
            highs.append(max(0.0, (high if high is not None else estimate) - estimate))
        axis.bar(xs, ys, width, yerr=[lows, highs], capsize=3, label=model[:60])
    if chart.reference is not None:
        axis.axhline(
            chart.reference, color="gray", linestyle="--", linewidth=1, label="chance / no bias"
        )
    axis.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))], labels)
    axis.set_ylim(0, 1)
    axis.set_title(terminal_text(chart.title), fontsize=10)
    if groups or chart.reference is not None:
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure_png(figure)


NOT_RESULTS = ("progression.json", "ablation.json")  # JSON a results folder may hold
log = logging.getLogger(__name__)


def load_results(folder: Path) -> list[ProbeResult]:
    return read_results(folder)[0]


def read_results(folder: Path) -> tuple[list[ProbeResult], list[str]]:
    """The results in a folder, and one line per JSON file that should be one but is not."""
    files, unreadable = read_result_files(folder)
    return [result for _, result in files], unreadable


def read_result_files(folder: Path) -> tuple[list[tuple[Path, ProbeResult]], list[str]]:
    """Each result of a folder with its file, and the JSON files that are not results."""
    files, unreadable = [], []
    for path in sorted(folder.glob("*.json")):
        if path.name in NOT_RESULTS:
            continue
        check_inside(folder, path.name, str(folder))
        try:
            files.append((path, ProbeResult.load(path)))
        except CliposcopeError as error:
            unreadable.append(terminal_text(f"{path.name}: {error.message}"))
    return files, unreadable


def screen_folder(results: Sequence[ProbeResult], what: str) -> tuple[list[ProbeResult], list[str]]:
    """The results of a folder that can be shown, and a line per result left out
    (report.table.screen): a warning for a result not in its probe's shape; a result of a
    probe that is not installed is only listed."""
    kept, left = screen(results)
    for result, line in left:
        if not not_installed(result):
            log.warning("%s: skipped %s", what, line)
    return kept, [line for _, line in left]


def _probe_sections(folder: Path, results: list[ProbeResult]) -> list[dict]:
    """A section per probe with results: its declared heading, chart and images, or, for a
    probe that declares no section, its table under its title."""
    sections = []
    rows = table_rows(results)
    for probe in list_probes():
        chosen = [r for r in results if r.probe == probe.name]
        if not chosen:
            continue
        report = probe.report or ReportSection(probe.title)
        headers, body = rows[probe.name]
        images = None
        if report.images:
            by_folder: dict[Path, list[Path]] = {}
            for path in sorted(folder.glob(report.images)):  # a few from each run's folder
                by_folder.setdefault(path.parent, []).append(path)
            paths = [p for group in by_folder.values() for p in group[:OVERLAY_EXAMPLES]]
            for path in paths:
                check_inside(folder, str(path.relative_to(folder)), f"{folder} ({probe.name})")
            images = [
                {"caption": f"{p.parent.name}: {p.stem}", "uri": png_data_uri(p.read_bytes())}
                for p in paths
            ]
        chart = report.chart
        data_lines = sorted({describe_data(r) for r in chosen})
        sections.append(
            {
                "id": probe.name,
                "data": "; ".join(data_lines),
                "heading": report.heading,
                "title": probe.title,
                "chart": png_data_uri(draw_bar_chart(chart(chosen))) if chart else None,
                "headers": headers,
                "rows": body,
                "definitions": definition_lines(probe.name),
                "images": images,
            }
        )
    return sections


def _progression(folder: Path) -> str | None:
    """The training progression: of an ablation (`lab ablate`) whose results these are,
    else of `lab progression` runs."""
    if (folder / "ablation.json").is_file():
        from cliposcope.lab.ablate import progression_figure, read_summary

        check_inside(folder, "ablation.json", str(folder))
        figure = progression_figure(read_summary(folder / "ablation.json"))
        return png_data_uri(figure_png(figure, dpi=110))
    candidates = [folder / "progression.json", *sorted(folder.glob("*/progression.json"))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return None
    from cliposcope.lab.progression import curves_figure

    check_inside(folder, str(path.relative_to(folder)), str(folder))
    try:
        figure = curves_figure(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CliposcopeError(
            f"{path} is not a progression file ({type(error).__name__}: {error})",
            hint="it is written by `cliposcope lab progression`; re-run it or remove the file",
        ) from None
    return png_data_uri(figure_png(figure, dpi=110))


def _scenes(folder: Path) -> list[dict]:
    from cliposcope.data.scenes import read_manifest

    manifest = folder / "scenes" / "manifest.jsonl"
    if not manifest.is_file():
        return []
    scenes = [s for s in read_manifest(manifest) if s.condition != "single"][:SCENE_EXAMPLES]
    figures = []
    for scene in scenes:
        roles = ", ".join(
            f"{o.name} ({o.role}, {100 * (o.area_fraction or 0):.0f}%)" for o in scene.objects
        )
        figures.append(
            {
                "caption": scene.caption,
                "detail": roles,
                "uri": png_data_uri(scene.image_path.read_bytes()),
            }
        )
    return figures


def _provenance(results: list[ProbeResult]) -> dict:
    rows, seen = [], set()
    for r in results:
        key = (r.model.get("spec"), r.role)
        if key in seen:
            continue
        seen.add(key)
        versions = r.model.get("library_versions", {})
        family = find_family(r.model.get("family", ""))
        libraries = family.libraries if family else ()
        settings = r.model.get("settings", {})
        # Results written before encoder details had their own mapping keep them flat.
        details = r.model.get("details", r.model)
        rows.append(
            [
                r.label,
                r.model.get("weights_source", "-"),
                (r.model.get("weights_hash") or "-")[:23],
                details.get("activation", "-"),
                r.model.get("device", settings.get("device", "-")),
                r.model.get("precision", settings.get("precision", "-")),
                versions.get("torch", "-"),
                ", ".join(f"{lib} {versions.get(lib, '-')}" for lib in libraries) or "-",
                str(r.settings.get("seed", "-")),
            ]
        )
    headers = [
        "Model",
        "Weights",
        "Weights sha256",
        "Activation",
        "Device",
        "Precision",
        "torch",
        "Model library",
        "Seed",
    ]
    return {"headers": headers, "rows": rows}


def _beside_paper(results: list[ProbeResult]) -> dict | None:
    from cliposcope.report.beside_paper import beside_paper, comparison_rows

    found = beside_paper(results)
    if not found:
        return None
    headers, rows = comparison_rows(found)
    return {"headers": headers, "rows": rows}


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cliposcope.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def build_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Render ``folder``'s results into one HTML page (default ``folder/report.html``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CliposcopeError(
            f"results folder not found: {folder}", hint="run `cliposcope run` or `demo`"
        )
    results, unreadable = read_results(folder)
    for line in unreadable:
        log.warning("report: skipped %s", line)
    if not results:
        raise CliposcopeError(
            f"no result JSON in {terminal_text(folder)}", hint="give the --out folder of a run"
        )
    results, left_out = screen_folder(results, "report")
    unreadable += left_out
    out = Path(out) if out else folder / "report.html"
    judged = verdicts(results)
    page = (
        template_environment()
        .get_template("report.html.j2")
        .render(
            result_count=len(results),
            verdicts=[v.to_dict() for v in judged],
            decomposition=decomposition_rows(decompositions(results, judged)),
            paper=_beside_paper(results),
            models=sorted({r.label for r in results}),
            probe_sections=_probe_sections(folder, results),
            progression=_progression(folder),
            scenes=_scenes(folder),
            provenance=_provenance(results),
            unreadable=unreadable,
        )
    )
    atomic_write_bytes(out, page.encode("utf-8"))
    return out
