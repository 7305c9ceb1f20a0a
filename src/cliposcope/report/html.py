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
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import numpy as np

from cliposcope.atomic import atomic_write_bytes
from cliposcope.data.scenes import check_inside
from cliposcope.encoders.registry import find_family
from cliposcope.encoders.specs import canonical_spec
from cliposcope.errors import CliposcopeError
from cliposcope.plotting import HeatMap, bar_chart_png, figure_png, heat_maps_png, model_colours
from cliposcope.probes.decomposition import decomposition_rows, decompositions
from cliposcope.probes.presentation import ReportSection
from cliposcope.probes.registry import list_probes
from cliposcope.probes.verdicts import Verdict, verdicts
from cliposcope.report.table import (
    definition_lines,
    describe_data,
    not_installed,
    screen,
    shown_label,
    shown_models,
    shown_results,
    table_rows,
    with_shown_model,
)
from cliposcope.results import ProbeResult
from cliposcope.terminal import terminal_text

FIXED_SECTIONS = ("summary", "progression", "scenes", "provenance")
SCENE_EXAMPLES = 8
OVERLAY_EXAMPLES = 6


def section_ids(results: Sequence[ProbeResult], folder: str | Path | None = None) -> list[str]:
    """The page's section ids, in order, for these results: one per probe that has any.
    Given the results' ``folder``, the training progression and example scenes only where
    it holds them (an empty section is left out of the page)."""
    from cliposcope.report.beside_paper import beside_paper

    probes = [p.name for p in list_probes() if any(r.probe == p.name for r in results)]
    paper = ["paper"] if beside_paper(results) else []
    fixed = list(FIXED_SECTIONS[1:])
    if folder is not None:
        folder = Path(folder)
        if _progression_source(folder) is None:
            fixed.remove("progression")
        if not (folder / "scenes" / "manifest.jsonl").is_file():
            fixed.remove("scenes")
    return ["summary", *probes, *paper, *fixed]


def is_control(result: ProbeResult) -> bool:
    return result.role.startswith("null:")


def model_order(results: Sequence[ProbeResult], judged: Sequence[Verdict] = ()) -> list[str]:
    """Every label of the results, each model (sorted) followed by its controls: those its
    run recorded (provenance "controls": control name -> spec) or that a verdict judged it
    against; then the controls of no model here."""
    controls = {r.label: r for r in results if is_control(r)}
    owner: dict[str, str] = {}
    for verdict in judged:
        label = f"{verdict.control_spec} [null:{verdict.control}]"  # as ProbeResult.label
        owner.setdefault(label, verdict.model)
    for result in results:
        recorded = result.provenance.get("controls")
        if is_control(result) or not isinstance(recorded, dict):
            continue
        for label, control in controls.items():
            spec = recorded.get(control.role.removeprefix("null:"))
            if spec is not None and canonical_spec(spec) == canonical_spec(
                control.model.get("spec")
            ):
                owner.setdefault(label, result.label)
    order = []
    for model in sorted({r.label for r in results if not is_control(r)}):
        order += [model, *sorted(label for label in controls if owner.get(label) == model)]
    return order + sorted(label for label in controls if label not in order)


def in_model_order(results: Sequence[ProbeResult], order: Sequence[str]) -> list[ProbeResult]:
    rank = {label: index for index, label in enumerate(order)}
    return sorted(results, key=lambda r: rank.get(r.label, len(rank)))


def shown_order(results: Sequence[ProbeResult], order: Sequence[str]) -> list[str]:
    """The labels of ``order`` as tables show them (report.table.shown_label: a random-weight
    model says so), each once; a label that names both random and trained weights (a spec
    measured with and without --checkpoint) gives both."""
    shown: dict[str, set[str]] = {}
    for result in results:
        shown.setdefault(result.label, set()).add(shown_label(result))
    return list(dict.fromkeys(n for label in order for n in sorted(shown.get(label, {label}))))


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


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


def _probe_sections(
    folder: Path, results: list[ProbeResult], colours: Mapping[str, str]
) -> list[dict]:
    """A section per probe with results: its declared heading, chart and images, or, for a
    probe that declares no section, its table under its title. ``results`` come in the
    order tables and legends list them (in_model_order); ``colours`` is model_colours of
    their shown labels (shown_order): tables, charts and images name each result so."""
    sections = []
    results = shown_results(results)
    rows = table_rows(results)
    for probe in list_probes():
        chosen = [r for r in results if r.probe == probe.name]
        if not chosen:
            continue
        report = probe.report or ReportSection(probe.title)
        headers, body = rows[probe.name]
        images = _images(folder, probe.name, report.images, chosen, colours)
        chart = report.chart
        data_lines = sorted({describe_data(r) for r in chosen})
        sections.append(
            {
                "id": probe.name,
                "data": "; ".join(data_lines),
                "heading": report.heading,
                "title": probe.title,
                "chart": png_data_uri(bar_chart_png(chart(chosen), colours)) if chart else None,
                "headers": headers,
                "rows": body,
                "definitions": definition_lines(probe.name),
                "images": images["figures"] if images else None,
                "shared_scale": bool(images and images["shared_scale"]),
            }
        )
    return sections


def _role_folder_labels(results: Sequence[ProbeResult]) -> dict[str, str]:
    """Artifact folders are named by role (OUT/overlays/ROLE, "null:" written "null-"):
    the model label each stands for, where the results hold one label in that role."""
    labels: dict[str, set[str]] = {}
    for result in results:
        labels.setdefault(result.role.replace(":", "-"), set()).add(result.label)
    return {role: next(iter(found)) for role, found in labels.items() if len(found) == 1}


MAX_HEAT_MAP_BYTES = 4 * 1024 * 1024  # a grid of a few thousand patches is kilobytes


def _heat_map_values(path: Path) -> np.ndarray | None:
    """The attention grid saved beside an overlay (PATH.npy), or None where there is none
    or it is not a finite 2-d array of numbers."""
    if not path.is_file() or path.stat().st_size > MAX_HEAT_MAP_BYTES:
        return None
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if values.ndim != 2 or values.dtype.kind not in "biuf" or not np.isfinite(values).all():
        return None
    return values.astype(float)


def _images(
    folder: Path,
    probe: str,
    pattern: str | None,
    results: Sequence[ProbeResult],
    colours: Mapping[str, str],
) -> dict | None:
    """A probe's saved images, a few from each run's folder, the same picture of the model
    and its controls side by side. Where every one of them has its values saved beside it
    (NAME.npy), they are drawn again as one figure on a shared colour scale."""
    if not pattern:
        return None
    by_folder: dict[Path, list[Path]] = {}
    for path in sorted(folder.glob(pattern)):
        by_folder.setdefault(path.parent, []).append(path)
    paths = [p for group in by_folder.values() for p in group[:OVERLAY_EXAMPLES]]
    for path in paths:
        check_inside(folder, str(path.relative_to(folder)), f"{folder} ({probe})")
    role_labels = _role_folder_labels(results)
    order = {label: index for index, label in enumerate(r.label for r in results)}

    def label_of(path: Path) -> str:
        return role_labels.get(path.parent.name, path.parent.name)

    pictures: dict[str, list[Path]] = {}
    for path in paths:
        pictures.setdefault(path.stem, []).append(path)
    figures, shared = [], False
    for stem, group in pictures.items():
        group.sort(key=lambda p: (order.get(label_of(p), len(order)), p.parent.name))
        values = []
        for path in group:
            npy = path.with_suffix(".npy")
            if npy.is_file():
                check_inside(folder, str(npy.relative_to(folder)), f"{folder} ({probe})")
            values.append(_heat_map_values(npy))
        if len(group) > 1 and all(v is not None for v in values):
            maps = [HeatMap(label_of(p), v) for p, v in zip(group, values, strict=True)]
            figures.append(
                {"caption": stem, "uri": png_data_uri(heat_maps_png(maps, colours)), "wide": True}
            )
            shared = True
            continue
        figures += [
            {"caption": f"{label_of(p)}: {p.stem}", "uri": png_data_uri(p.read_bytes())}
            for p in group
        ]
    return {"figures": figures, "shared_scale": shared}


def _progression_source(folder: Path) -> Path | None:
    """The file the training progression is drawn from: an ablation's summary, else a
    `lab progression` record; None where the folder holds neither."""
    if (folder / "ablation.json").is_file():
        return folder / "ablation.json"
    candidates = [folder / "progression.json", *sorted(folder.glob("*/progression.json"))]
    return next((p for p in candidates if p.is_file()), None)


def _progression(folder: Path) -> str | None:
    """The training progression: of an ablation (`lab ablate`) whose results these are,
    else of `lab progression` runs."""
    path = _progression_source(folder)
    if path is None:
        return None
    if path.name == "ablation.json":
        from cliposcope.lab.ablate import progression_figure, read_summary

        check_inside(folder, "ablation.json", str(folder))
        figure = progression_figure(read_summary(folder / "ablation.json"))
        return png_data_uri(figure_png(figure, dpi=110))
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
                shown_label(r),
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
    order = model_order(results, judged)
    results = in_model_order(results, order)
    names, shown = shown_models(results), shown_order(results, order)
    found = decompositions(results, judged)
    page = (
        template_environment()
        .get_template("report.html.j2")
        .render(
            result_count=len(results),
            verdicts=[with_shown_model(v, names).to_dict() for v in judged],
            decomposition=decomposition_rows([with_shown_model(d, names) for d in found]),
            paper=_beside_paper(results),
            models=shown,
            probe_sections=_probe_sections(folder, results, model_colours(shown)),
            progression=_progression(folder),
            scenes=_scenes(folder),
            provenance=_provenance(results),
            unreadable=unreadable,
        )
    )
    atomic_write_bytes(out, page.encode("utf-8"))
    return out
