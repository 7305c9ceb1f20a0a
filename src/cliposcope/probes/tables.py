"""Cell formatting shared by the probes' table rows (terminal, CSV and report alike)."""

from __future__ import annotations

from collections.abc import Iterable

ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth")


def percent(figure: dict | None) -> str:
    """'47.2 (45.8-48.6)': a proportion with its 95% interval, in percent."""
    if not figure or figure.get("estimate") is None:
        return "-"
    low, high = figure["ci95"]
    if low is None:
        return f"{100 * figure['estimate']:.1f}"
    return f"{100 * figure['estimate']:.1f} ({100 * low:.1f}-{100 * high:.1f})"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "<1e-300"  # below double precision
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def position_headers(n: int, suffix: str = "Obj %") -> list[str]:
    return [f"{ORDINALS[k]} {suffix}" for k in range(n)]


def padded(cells: list[str], n: int) -> list[str]:
    return cells + ["-"] * (n - len(cells))


def large_first(labels: Iterable[str]) -> list[str]:
    """Size-role labels with 'large' first, then the rest in order ('small 1', 'small 2')."""
    return sorted(set(labels), key=lambda label: (label != "large", label))
