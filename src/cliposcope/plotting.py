"""matplotlib, set up once for drawing off-screen (files and in-memory PNGs alike), and the
report's plots: bar charts in one colour per model, attention maps on one colour scale."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

MIN_FONT_PX = 11  # no figure text smaller than this, in pixels of the saved PNG
# matplotlib's "tab10", spelled out so a model's colour never depends on rcParams.
MODEL_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
LEGEND_PT = 9
TITLE_PT = 11


@cache
def pyplot():
    """matplotlib.pyplot on the Agg backend, with text drawn literally: a label such as
    "$5 model" must not be parsed as mathtext."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def smallest_font_points(dpi: float) -> float:
    """The font size, in points, that is MIN_FONT_PX pixels tall at ``dpi``."""
    return MIN_FONT_PX * 72 / dpi


def enlarge_small_text(figure, dpi: float) -> None:
    """Raise every text of the figure (titles, ticks, legends, colour bars) to at least
    MIN_FONT_PX at ``dpi``: figures drawn anywhere stay legible in the report."""
    from matplotlib.text import Text

    floor = smallest_font_points(dpi)
    for text in figure.findobj(Text):
        if text.get_fontsize() < floor:
            text.set_fontsize(floor)


def figure_png(figure, dpi: int = 100, *, tight: bool = True) -> bytes:
    """The figure as PNG bytes (closed afterwards): nothing touches the file system.
    ``tight`` crops to the drawn area (report plots); False keeps the figure's own size.
    Text smaller than MIN_FONT_PX at ``dpi`` is enlarged to it."""
    enlarge_small_text(figure, dpi)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    pyplot().close(figure)
    return buffer.getvalue()


def model_colours(labels: Iterable[str]) -> dict[str, str]:
    """One colour per model label (controls are labels of their own), assigned over the
    sorted labels of a whole report so that every plot of it agrees."""
    return {
        label: MODEL_PALETTE[index % len(MODEL_PALETTE)]
        for index, label in enumerate(sorted(set(labels)))
    }


def bar_chart_png(chart, colours: Mapping[str, str]) -> bytes:
    """A probes.presentation.BarChart as PNG: grouped bars with 95% intervals, each model
    in its colour from ``colours`` (model_colours), groups in the chart's order."""
    from cliposcope.terminal import terminal_text

    plt = pyplot()
    # Labels come from result files: shown with their control characters as escapes (a
    # font has no glyph for them, and matplotlib's warning would print them raw).
    groups = {
        model: [(terminal_text(bar), value) for bar, value in bars]
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
        axis.bar(
            xs,
            ys,
            width,
            yerr=[lows, highs],
            capsize=3,
            label=terminal_text(model)[:60],
            color=colours.get(model, "#444444"),
        )
    if chart.reference is not None:
        axis.axhline(
            chart.reference, color="gray", linestyle="--", linewidth=1, label="chance / no bias"
        )
    axis.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))], labels)
    axis.set_ylim(0, 1)
    axis.set_title(terminal_text(chart.title), fontsize=TITLE_PT, wrap=True)
    if groups or chart.reference is not None:
        # Below the axes rather than beside them: a long spec must not widen the figure.
        axis.legend(
            fontsize=LEGEND_PT, loc="upper left", bbox_to_anchor=(0.0, -0.12), frameon=False
        )
    return figure_png(figure)


@dataclass(frozen=True)
class HeatMap:
    """One attention map to draw: ``label`` (whose map), ``values`` (a 2-d grid), and
    optionally the ``image`` it lies over (PIL image or array)."""

    label: str
    values: np.ndarray
    image: Any = None


def shared_scale(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """One vmin/vmax over all the maps drawn together, so that equal colours mean equal
    values across a model and its controls."""
    finite = [m[np.isfinite(m)] for m in maps]
    finite = [m for m in finite if m.size]
    if not finite:
        return 0.0, 1.0
    low = min(float(m.min()) for m in finite)
    high = max(float(m.max()) for m in finite)
    return (low, high) if high > low else (low, low + 1e-12)


def heat_maps_png(maps: Sequence[HeatMap], colours: Mapping[str, str], title: str = "") -> bytes:
    """The maps side by side on one colour scale (shared_scale) with a single colour bar;
    each panel's title in its model's colour."""
    from cliposcope.terminal import terminal_text

    plt = pyplot()
    vmin, vmax = shared_scale([m.values for m in maps])
    figure, axes = plt.subplots(
        1, len(maps), figsize=(3.2 * len(maps) + 0.8, 3.4), squeeze=False, layout="constrained"
    )
    heat = None
    for axis, heat_map in zip(axes[0], maps, strict=True):
        extent = None
        if heat_map.image is not None:
            picture = np.asarray(heat_map.image)
            height, width = picture.shape[:2]
            extent = (0, width, height, 0)
            axis.imshow(picture)
        heat = axis.imshow(
            heat_map.values,
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            alpha=0.55 if heat_map.image is not None else 1.0,
            extent=extent,
            interpolation="bilinear" if heat_map.image is not None else "nearest",
        )
        axis.set_title(
            terminal_text(heat_map.label)[:40],
            fontsize=LEGEND_PT,
            color=colours.get(heat_map.label, "#222222"),
        )
        axis.set_axis_off()
    if heat is not None:
        colour_bar = figure.colorbar(heat, ax=list(axes[0]), fraction=0.046, pad=0.03)
        colour_bar.set_label("share of CLS attention per patch", fontsize=LEGEND_PT)
    if title:
        figure.suptitle(title, fontsize=TITLE_PT)
    return figure_png(figure)
