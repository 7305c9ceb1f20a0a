"""matplotlib, set up once for drawing off-screen (files and in-memory PNGs alike)."""

from __future__ import annotations

import io
from functools import cache


@cache
def pyplot():
    """matplotlib.pyplot on the Agg backend, with text drawn literally: a label such as
    "$5 model" must not be parsed as mathtext."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def figure_png(figure, dpi: int = 100, *, tight: bool = True) -> bytes:
    """The figure as PNG bytes (closed afterwards): nothing touches the file system.
    ``tight`` crops to the drawn area (report plots); False keeps the figure's own size."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    pyplot().close(figure)
    return buffer.getvalue()
