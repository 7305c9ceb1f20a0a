"""The demo and its report: runs offline, opens cleanly in headless Chromium, escapes data."""

from __future__ import annotations

import datetime
import json
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from cliposcope.app.cli import main
from cliposcope.report.html import build_report, load_results, section_ids
from cliposcope.results import ProbeResult

from .conftest import CHROMIUM, CHROMIUM_FLAGS, needs_chromium


@pytest.mark.slow
def test_demo_writes_results_and_report(demo):
    results = [ProbeResult.load(p) for p in demo.glob("*.json")]
    probes = {(r.probe, r.role) for r in results}
    for probe in ("tor", "ior", "matching", "attention"):
        assert (probe, "model") in probes and (probe, "null:random-init") in probes
    assert all(
        r.model["spec"] in ("toy:default", "openclip:cliposcope-toy?seed=0", "st:all-MiniLM-L6-v2")
        for r in results
    )
    page = (demo / "report.html").read_text()
    sections = section_ids(load_results(demo), demo)
    assert sections == ["summary", "tor", "ior", "matching", "attention", "scenes", "provenance"]
    for section in sections:
        assert f'id="{section}"' in page
    # an empty section is left out, heading and all: the demo has no training progression
    assert 'id="progression"' not in page and "Training progression" not in page
    assert "http://" not in page and "https://" not in page  # self-contained


@pytest.mark.slow
@needs_chromium
def test_report_opens_in_headless_chromium(demo, tmp_path):
    url = (demo / "report.html").resolve().as_uri()
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in section_ids(load_results(demo), demo):
        assert f'id="{section}"' in dom.stdout
    console_errors = [
        line
        for line in dom.stderr.splitlines()
        if re.search(r"CONSOLE|Uncaught|Failed to load resource", line)
    ]
    assert not console_errors, console_errors
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1200,2000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01  # text and plots, not blank


def test_data_values_are_escaped(tmp_path):
    nasty = "<script>alert('x')</script>"
    result = ProbeResult(
        probe="matching",
        role="model",
        model={
            "spec": f"toy:{nasty}",
            "weights_source": nasty,
            "weights_hash": "sha256:0",
            "library_versions": {},
        },
        settings={"n": 2, "biased_position": nasty},
        metrics={
            f"scenario_{k}": {
                "plain": {"estimate": 0.5, "ci95": [0.4, 0.6]},
                "split_mean": {"estimate": 0.6, "ci95": [0.5, 0.7]},
            }
            for k in (1, 2)
        },
        provenance={},
    )
    result.save(tmp_path / "r.json")
    (tmp_path / "scenes").mkdir()
    record = {
        "id": "0",
        "image": "x.png",
        "objects": [{"name": nasty, "role": "large"}],
        "caption": nasty,
        "condition": "c",
    }
    Image.new("RGB", (8, 8)).save(tmp_path / "scenes" / "x.png")
    (tmp_path / "scenes" / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    page = build_report(tmp_path).read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_report_errors_are_clear(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    assert "no result JSON" in capsys.readouterr().err


@pytest.fixture(scope="module")
def second_run(tmp_path_factory, demo):
    """Another day's folder: TOR on other data, plus a later rerun of a demo result (the
    same experiment, run again an hour later without its control)."""

    out = tmp_path_factory.mktemp("second") / "out"
    words = out.parent / "words.txt"
    words.write_text("\n".join(["dog", "cat", "car", "apple", "pizza", "chair", "bus"]) + "\n")
    assert (
        main(
            [
                "run",
                "tor",
                "--model",
                "toy:default",
                "--null",
                "random-init",
                "--vocab",
                str(words),
                "--n",
                "2",
                "--out",
                str(out),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    (ior,) = [p for p in demo.glob("ior_*.json") if "_model_" in p.name]
    rerun = json.loads(ior.read_text())
    ended = datetime.datetime.fromisoformat(rerun["run"]["ended_utc"])
    rerun["run"]["ended_utc"] = (ended + datetime.timedelta(hours=1)).isoformat()
    rerun["records"] = None
    (out / ior.name).write_text(json.dumps(rerun))
    return out


@pytest.mark.slow
def test_the_leaderboard_keeps_data_apart_and_counts_reruns(demo, second_run, tmp_path, capsys):
    from cliposcope.report.leaderboard import build

    board = build([demo, second_run])
    tor_columns = [c for c in board.columns if c.probe == "tor"]
    assert len(tor_columns) == 2  # the demo's vocabulary and the 7 words: never one column
    assert len({c.data for c in tor_columns}) == 2
    (toy_name,) = [name for name in board.rows if name.startswith("toy:default [")]
    toy = board.rows[toy_name]  # the label and the first digits of the weights hash
    assert all(toy.get(c.key) for c in tor_columns)
    (ior,) = [c for c in board.columns if c.probe == "ior"]
    newest = toy[ior.key]
    assert newest.replaces == 1 and str(second_run) in newest.source
    # the copy ran without its control: the verdict of the older run on the same data stays
    assert [v.control for v in newest.verdicts] == ["random-init"]
    assert str(demo) in newest.verdicts_from
    assert any(name.startswith("st:all-MiniLM-L6-v2") for name in board.rows)
    html, table = tmp_path / "board.html", tmp_path / "board.csv"
    assert main(["leaderboard", str(demo), str(second_run), "--out", str(html)]) == 0
    text = table.read_text()
    assert text.splitlines()[0].startswith("model,") and "random-init" in text
    assert len(text.splitlines()) == 1 + len(board.rows)
    page = html.read_text()
    assert "http://" not in page and "https://" not in page and "<script>" in page


@pytest.mark.slow
@needs_chromium
def test_the_leaderboard_sorts_in_headless_chromium(demo, second_run, tmp_path):
    from cliposcope.report.leaderboard import build

    html = tmp_path / "board.html"
    assert main(["leaderboard", str(demo), str(second_run), "--out", str(html)]) == 0
    board = build([demo, second_run])
    column = 1 + next(i for i, c in enumerate(board.columns) if c.probe == "tor")
    key = board.columns[column - 1].key
    expected = sorted(
        (cells[key].figure["estimate"], model)
        for model, cells in board.rows.items()
        if key in cells
    )[::-1]
    url = html.resolve().as_uri() + f"#sort={column}-desc"
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'data-sorted="{column}-desc"' in dom.stdout
    order = re.findall(r'<tr><td data-sort="([^"]+)"', dom.stdout)
    assert order[: len(expected)] == [model for _, model in expected]
    errors = [
        line
        for line in dom.stderr.splitlines()
        if re.search(r"CONSOLE|Uncaught|Failed to load resource", line)
    ]
    assert not errors, errors


def test_the_manual_says_what_the_demo_shows(demo):
    """The reading guide quotes the demo's figures: they must be the demo's."""
    from pathlib import Path

    from cliposcope.probes.verdicts import verdicts

    manual = (Path(__file__).parents[2] / "docs" / "guide.md").read_text(encoding="utf-8")
    guide = manual[manual.index("**What the demo shows**") : manual.index("**Real models**")]
    guide = guide.replace("\u2212", "-")
    found = {v.probe: v for v in verdicts(load_results(demo)) if v.model == "toy:default"}
    for probe, beyond in (("tor", False), ("ior", False), ("matching", True), ("attention", True)):
        v = found[probe]
        low, high = v.ci95
        assert f"{100 * v.difference:+.1f} points" in guide, v.sentence
        assert f"({100 * low:+.1f} to {100 * high:+.1f}" in guide, v.sentence
        assert v.beyond_control == beyond
        if probe in ("tor", "ior"):
            for figure in (v.model_figure, v.control_figure):
                assert f"{100 * figure['estimate']:.1f}%" in guide
    matching = {r.role: r.metrics for r in load_results(demo) if r.probe == "matching"}
    for role in ("model", "null:random-init"):
        for scenario in ("scenario_1", "scenario_2"):
            assert f"{100 * matching[role][scenario]['plain']['estimate']:.1f}%" in guide
    attention = {r.role: r.metrics for r in load_results(demo) if r.probe == "attention"}
    for role in ("model", "null:random-init"):
        assert f"{100 * attention[role]['mean_share_by_role']['large']['estimate']:.1f}%" in guide


def test_the_statistics_page_works_its_example_on_the_demos_verdicts(demo):
    """docs/statistics.md quotes the demo's paired tables, intervals and Holm values."""
    from pathlib import Path

    from cliposcope.probes.verdicts import verdicts

    page = (Path(__file__).parents[2] / "docs" / "statistics.md").read_text(encoding="utf-8")
    example = page[page.index("## Worked example") : page.index("## References")]
    example = " ".join(example.replace("\u2212", "-").split())
    found = {v.probe: v for v in verdicts(load_results(demo)) if v.model == "toy:default"}
    ior, tor = found["ior"], found["tor"]
    both, model_only, control_only, neither = ior.design["table"]
    for label, count in (
        ("both", both),
        ("model only", model_only),
        ("control only", control_only),
        ("neither", neither),
    ):
        assert f"- {label}: {count};" in example or f"- {label}: {count}." in example
    for verdict in (ior, tor):
        low, high = verdict.ci95
        assert f"{100 * low:+.1f} to {100 * high:+.1f}".lstrip("+") in example, verdict.sentence
        unpaired_low, unpaired_high = verdict.unpaired["ci95"]
        assert f"{100 * unpaired_low:+.1f} to {100 * unpaired_high:+.1f}".lstrip("+") in example
        assert f"p = {verdict.p_value:.3f}" in example
    assert f"{tor.model_figure['count']} of the {tor.model_figure['total']}" in example
    assert f"{tor.control_figure['count']} of {tor.control_figure['total']}" in example
    adjusted = [
        f"{found[probe].p_adjusted:.3f}" for probe in ("tor", "ior", "matching", "attention")
    ]
    assert f"{adjusted[0]}, {adjusted[1]}, {adjusted[2]} and {adjusted[3]}" in example
