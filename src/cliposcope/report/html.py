"""`cliposcope report`: one self-contained HTML page built only from saved results.

Plots are drawn with matplotlib into inline PNGs, images are embedded as data URIs, and
every string that comes from data is escaped, so the page opens offline anywhere and a name
like "<script>" is shown, never run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes
from cliposcope.errors import CliposcopeError
from cliposcope.report.table import TITLES, table_rows
from cliposcope.results import ProbeResult

SECTIONS = ("summary", "tor", "ior", "matching", "attention", "progression", "scenes", "provenance")
CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.8em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left}th{background:#f4f4f4}
img.plot{max-width:100%}figure{display:inline-block;margin:.4em;text-align:center}
figure img{width:160px;image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:.75em;max-width:160px}.note{color:#555;font-size:.9em}
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return png_data_uri(buffer.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_plot(groups: dict[str, list[tuple[str, dict]]], title: str, chance: float | None) -> str:
    """Grouped bars with 95% intervals: groups = {model label: [(bar label, figure), ...]}."""
    plt = _pyplot()
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
    if chance is not None:
        axis.axhline(chance, color="gray", linestyle="--", linewidth=1, label="chance / no bias")
    axis.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))], labels)
    axis.set_ylim(0, 1)
    axis.set_title(title, fontsize=10)
    if groups or chance is not None:
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _figure_uri(figure)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def load_results(folder: Path) -> list[ProbeResult]:
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            results.append(ProbeResult.load(path))
        except CliposcopeError:
            continue  # other JSON files (progression, settings) are read by their sections
    return results


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{esc(title)}</h2>{body}</section>'


def _probe_section(results: list[ProbeResult], probe: str, plot: str) -> str:
    chosen = [r for r in results if r.probe == probe]
    if not chosen:
        return "<p class='note'>No results for this probe in the folder.</p>"
    headers, rows = table_rows(chosen)[probe]
    return (
        f"<p>{esc(TITLES[probe])}</p><img class='plot' alt='{esc(probe)} plot' src='{plot}'>"
        + html_table(headers, rows)
    )


def _tor_plot(results: list[ProbeResult]) -> str:
    groups = {}
    for r in (r for r in results if r.probe == "tor"):
        key = (
            "per_position_conditional"
            if r.settings["protocol"] == "paper"
            else "per_position_unconditional"
        )
        groups[r.label] = [(f"pos {k + 1}", f) for k, f in enumerate(r.metrics[key])]
    n = max((r.settings["n"] for r in results if r.probe == "tor"), default=3)
    return bar_plot(
        groups, "TOR: share of captions whose nearest name is the object at each position", 1 / n
    )


def _large_first(figures: dict) -> list[tuple[str, dict]]:
    return sorted(figures.items(), key=lambda item: (item[0] != "large", item[0]))


def _ior_plot(results: list[ProbeResult]) -> str:
    groups = {
        r.label: _large_first(r.metrics["per_role_among_truth"])
        for r in results
        if r.probe == "ior"
    }
    n = max((r.settings["n"] for r in results if r.probe == "ior"), default=3)
    return bar_plot(
        groups, "IOR: share of images whose top ground-truth object has each size role", 1 / n
    )


def _matching_plot(results: list[ProbeResult]) -> str:
    groups = {}
    for r in (r for r in results if r.probe == "matching"):
        groups[r.label] = [
            (f"S{k} {short}", r.metrics[f"scenario_{k}"][method])
            for short, method in (("plain", "plain"), ("split", "split_mean"))
            for k in (1, 2)
        ]
    return bar_plot(
        groups, "Image-text matching accuracy (scenario 1: bias helps; 2: bias hurts)", 0.5
    )


def _attention_plot(results: list[ProbeResult]) -> str:
    groups = {
        r.label: _large_first(r.metrics["mean_share_by_role"])
        for r in results
        if r.probe == "attention"
    }
    return bar_plot(groups, "Mean share of CLS attention on each object, by size role", None)


def _images(folder: Path, pattern: str, limit: int) -> list[Path]:
    return sorted(folder.glob(pattern))[:limit] if folder.is_dir() else []


def _attention_overlays(folder: Path) -> str:
    figures = []
    for path in _images(folder / "overlays", "*/*.png", 6):
        caption = f"{path.parent.name}: {path.stem}"
        figures.append(
            f"<figure><img alt='{esc(caption)}' src='{png_data_uri(path.read_bytes())}'>"
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    return "".join(figures) or "<p class='note'>No attention overlays saved.</p>"


def _progression(folder: Path) -> str:
    candidates = [folder / "progression.json", *sorted(folder.glob("*/progression.json"))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return (
            "<p class='note'>No training progression in this folder "
            "(see `cliposcope lab progression`).</p>"
        )
    from cliposcope.lab.progression import plot_curves

    curves = json.loads(path.read_text())
    buffer = folder / ".progression-plot.png"
    plot_curves(curves, buffer)
    data = buffer.read_bytes()
    buffer.unlink()
    return f"<img class='plot' alt='training progression' src='{png_data_uri(data)}'>"


def _scenes(folder: Path) -> str:
    from cliposcope.data.scenes import read_manifest

    manifest = folder / "scenes" / "manifest.jsonl"
    if not manifest.is_file():
        return "<p class='note'>No scene set in this folder.</p>"
    scenes = [s for s in read_manifest(manifest) if s.condition != "single"][:8]
    figures = []
    for scene in scenes:
        roles = ", ".join(
            f"{o.name} ({o.role}, {100 * (o.area_fraction or 0):.0f}%)" for o in scene.objects
        )
        image = png_data_uri(scene.image_path.read_bytes())
        figures.append(
            f"<figure><img alt='{esc(scene.caption)}' src='{image}'>"
            f"<figcaption>{esc(scene.caption)}<br>{esc(roles)}</figcaption></figure>"
        )
    return "".join(figures)


def _provenance(results: list[ProbeResult]) -> str:
    rows, seen = [], set()
    for r in results:
        key = (r.model.get("spec"), r.role)
        if key in seen:
            continue
        seen.add(key)
        versions = r.model.get("library_versions", {})
        weights_hash = (r.model.get("weights_hash") or "-")[:23]
        rows.append(
            [
                r.label,
                r.model.get("weights_source", "-"),
                weights_hash,
                r.model.get("activation", "-"),
                versions.get("torch", "-"),
                versions.get("open_clip_torch", "-"),
                str(r.settings.get("seed", "-")),
            ]
        )
    headers = ["Model", "Weights", "Weights sha256", "Activation", "torch", "open_clip", "Seed"]
    return html_table(headers, rows)


def build_report(folder: str | Path, out: str | Path | None = None) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise CliposcopeError(
            f"results folder not found: {folder}", hint="run `cliposcope run` or `demo`"
        )
    results = load_results(folder)
    if not results:
        raise CliposcopeError(f"no result JSON in {folder}", hint="give the --out folder of a run")
    out = Path(out) if out else folder / "report.html"
    models = sorted({r.label for r in results})
    summary = (
        f"<p>{len(results)} results for {len(models)} model(s) and controls: "
        + ", ".join(f"<code>{esc(m)}</code>" for m in models)
        + ".</p>"
        "<p class='note'>Bars show estimates with 95% intervals; dashed lines mark what a model "
        "without the bias would give. Built from saved results only.</p>"
    )
    body = [
        _section("summary", "Summary", summary),
        _section(
            "tor",
            "Text side: which named object survives (TOR)",
            _probe_section(results, "tor", _tor_plot(results)),
        ),
        _section(
            "ior",
            "Image side: which object survives, by size (IOR)",
            _probe_section(results, "ior", _ior_plot(results)),
        ),
        _section(
            "matching",
            "Image-text matching and the split-caption mitigation",
            _probe_section(results, "matching", _matching_plot(results)),
        ),
        _section(
            "attention",
            "CLS attention by object size",
            _probe_section(results, "attention", _attention_plot(results))
            + _attention_overlays(folder),
        ),
        _section("progression", "Training progression", _progression(folder)),
        _section("scenes", "Example scenes", _scenes(folder)),
        _section("provenance", "Provenance", _provenance(results)),
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>cliposcope report</title><style>" + CSS + "</style></head><body>"
        "<h1>cliposcope report</h1>" + "".join(body) + "</body></html>"
    )
    atomic_write_bytes(out, page.encode("utf-8"))
    return out
