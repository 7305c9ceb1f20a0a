"""The report reads on any screen: at 800 and 1280 px nothing runs past the right edge
except inside a horizontally scrolling wrapper, and no text is smaller than 11 px."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from cliposcope.plotting import (
    MIN_FONT_PX,
    HeatMap,
    figure_png,
    heat_maps_png,
    model_colours,
    pyplot,
    shared_scale,
)
from cliposcope.report.html import build_report, in_model_order, load_results, model_order

from .conftest import CHROMIUM, CHROMIUM_FLAGS, needs_chromium

# The whole module opens a built report in headless chromium: the full suite, not the fast tier.
pytestmark = pytest.mark.slow

# Injected into a copy of the report (never shipped): once the page and its images have
# loaded, it writes what it measured into <pre id="measure">, which --dump-dom prints.
MEASURE = """<script>
window.addEventListener("load", function () {
  var root = document.documentElement, visible = root.clientWidth, clipped = [], small = [];
  function scrollsSideways(element) {
    var style = getComputedStyle(element).overflowX;
    return style === "auto" || style === "scroll";
  }
  document.querySelectorAll("table, img").forEach(function (element) {
    if (element.getBoundingClientRect().right <= visible + 0.5) { return; }
    for (var box = element.parentElement; box && box !== document.body; box = box.parentElement) {
      if (scrollsSideways(box) && box.getBoundingClientRect().right <= visible + 0.5) { return; }
    }
    clipped.push(element.tagName + " " + (element.alt || element.textContent.slice(0, 60)));
  });
  document.querySelectorAll("body *").forEach(function (element) {
    var text = Array.prototype.some.call(element.childNodes, function (node) {
      return node.nodeType === 3 && node.textContent.trim();
    });
    var size = parseFloat(getComputedStyle(element).fontSize);
    if (text && size < MIN_FONT_PX) { small.push(element.tagName + " " + size + "px"); }
  });
  var pre = document.createElement("pre");
  pre.id = "measure";
  pre.textContent = JSON.stringify({
    inner: window.innerWidth, visible: visible, scroll: root.scrollWidth,
    clipped: clipped, small: small
  });
  document.body.appendChild(pre);
});
</script>""".replace("MIN_FONT_PX", str(MIN_FONT_PX))


def measure(page, width: int, tmp_path) -> dict:
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / f'profile-{width}'}",
            "--hide-scrollbars",
            f"--window-size={width},1000",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom.stdout, re.S)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@needs_chromium
@pytest.mark.parametrize("width", [800, 1280])
@pytest.mark.parametrize("page_name", ["report.html", "leaderboard.html"])
def test_nothing_runs_past_the_right_edge(demo, tmp_path, width, page_name):
    if page_name == "leaderboard.html":
        from cliposcope.app.cli import main

        source = tmp_path / "board.html"
        assert main(["leaderboard", str(demo), "--out", str(source)]) == 0
    else:
        source = demo / "report.html"
    html = source.read_text(encoding="utf-8")
    page = tmp_path / f"measured-{page_name}"
    page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    found = measure(page, width, tmp_path)
    assert abs(found["inner"] - width) <= 20, found  # measured at the width asked for
    assert not found["clipped"], found["clipped"]
    assert found["scroll"] <= found["visible"], found
    assert not found["small"], found["small"]


def test_the_page_is_responsive(demo):
    page = (demo / "report.html").read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count("<table") == page.count('<div class="scroll"><table')
    assert "overflow-x:auto" in page and "overflow-wrap:anywhere" in page
    assert re.search(r"img\{max-width:100%;height:auto\}", page)
    for size in re.findall(r"font-size:([\d.]+)px", page):
        assert float(size) >= MIN_FONT_PX


def test_each_model_comes_before_its_controls_everywhere(demo):
    results = load_results(demo)
    order = model_order(results)
    control = "openclip:cliposcope-toy?seed=0 [null:random-init]"
    assert order.index("toy:default") + 1 == order.index(control)
    assert all(r.label in order for r in results)
    shown = [r.label for r in in_model_order(results, order) if r.probe == "tor"]
    assert shown.index("toy:default") < shown.index(control)
    page = (demo / "report.html").read_text(encoding="utf-8")
    for section in re.findall(r'<section id="(\w+)">(.*?)</section>', page, re.S):
        cells = re.findall(r"<tr><td>([^<]*)</td>", section[1])
        labels = [c.replace("&amp;", "&").replace("&#34;", '"') for c in cells]
        if "toy:default" in labels and control in labels:
            assert labels.index("toy:default") < labels.index(control), section[0]


def test_one_colour_per_model_across_the_report():
    colours = model_colours(["b", "a", "c [null:random-init]", "a"])
    assert list(colours) == ["a", "b", "c [null:random-init]"]
    assert len(set(colours.values())) == 3
    assert model_colours(["a", "b"])["a"] == colours["a"]


def test_maps_drawn_together_share_one_scale(tmp_path):
    model = np.linspace(0.05, 0.25, 49).reshape(7, 7)
    control = np.linspace(0.012, 0.022, 49).reshape(7, 7)
    assert shared_scale([model, control]) == pytest.approx((0.012, 0.25))
    picture = heat_maps_png(
        [HeatMap("toy", model), HeatMap("toy [null:random-init]", control)],
        model_colours(["toy", "toy [null:random-init]"]),
    )
    path = tmp_path / "maps.png"
    path.write_bytes(picture)
    assert Image.open(path).size[0] > 400


def test_overlays_with_their_values_are_redrawn_on_one_scale(demo, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for path in demo.glob("attention_*.json"):
        (folder / path.name).write_bytes(path.read_bytes())
    for role, values in (("model", 0.2), ("null-random-init", 0.02)):
        overlays = folder / "overlays" / role
        overlays.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(overlays / "attention_000000.png")
        np.save(overlays / "attention_000000.npy", np.full((7, 7), values))
    page = build_report(folder).read_text(encoding="utf-8")
    assert "on one colour scale" in page
    assert page.count('<figure class="overlay wide">') == 1


def test_figure_text_is_never_below_the_smallest_size():
    figure, axis = pyplot().subplots()
    axis.set_title("tiny", fontsize=5)
    axis.legend(handles=[pyplot().Line2D([], [], label="x")], fontsize=4)
    figure_png(figure, dpi=100)
    floor = MIN_FONT_PX * 72 / 100
    assert axis.title.get_fontsize() >= floor
    assert all(t.get_fontsize() >= floor for t in axis.get_legend().get_texts())
