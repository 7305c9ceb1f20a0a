"""Every table row of a random-weight model says so (read from the weights source each result
records, never from its spec), and the leaderboard puts the paper's published figures
beside each model of the paper's zoo, on results planted from the format 1 fixtures."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from cliposcope.app.cli import main
from cliposcope.data.zoo import paper_zoo, zoo_figures
from cliposcope.report.export import markdown_text, tidy_rows
from cliposcope.report.html import build_report
from cliposcope.report.leaderboard import PAPER_MODEL, build, csv_text, html_text
from cliposcope.report.table import (
    RANDOM_WEIGHTS,
    render_tables,
    shown_label,
    shown_results,
    weights_kind,
)
from cliposcope.results import ProbeResult

FORMAT_1 = Path(__file__).parents[1] / "fixtures" / "results-format-1"
MODEL = FORMAT_1 / "tor_toy-default_model_4967e36a.json"
CONTROL = FORMAT_1 / "tor_openclip-cliposcope-toy-seed-0_null-random-init_2b5926c2.json"
DOUBLED = f"{RANDOM_WEIGHTS} {RANDOM_WEIGHTS}"
FIRST_OBJECT = "paper Table 1, ComCO: TOR retrieval accuracy, first object (%)"

# name: (figures from, spec, recorded weights source, first hex digit of its hash, role)
PLANTED = {
    "zoo": (MODEL, "openclip:ViT-B-32/openai", "pretrained:openai", "a", "model"),
    "random": (CONTROL, "openclip:cliposcope-toy?seed=0", "random-init:seed=0", "b", "model"),
    "control": (
        CONTROL,
        "openclip:cliposcope-toy?seed=1",
        "random-init:seed=1",
        "c",
        "null:random-init",
    ),
    "toy": (
        MODEL,
        "toy:default",
        "package:cliposcope/assets/toy/default.safetensors",
        "d",
        "model",
    ),
    # a zoo model's spec, measured with random weights: labelled, and not the paper's model
    "zoo_spec_random": (CONTROL, "openclip:ViT-B-32/openai", "random-init:seed=0", "e", "model"),
    # a spec that reads like random weights, with a trained checkpoint: not labelled
    "checkpoint": (MODEL, "openclip:cliposcope-toy?seed=5", "file:trained.pt", "f", "model"),
}


@pytest.fixture
def planted(tmp_path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    for name, (source, spec, weights, digit, role) in PLANTED.items():
        record = json.loads(source.read_text())
        record["role"] = role
        record["model"].update(
            spec=spec, weights_source=weights, weights_hash="sha256:" + digit * 64
        )
        record["provenance"].pop("controls", None)
        if name == "random":  # its own random-init control, as `run --null random-init` records
            record["provenance"]["controls"] = {"random-init": "openclip:cliposcope-toy?seed=1"}
        (folder / f"tor_{name}.json").write_text(json.dumps(record))
    return folder


def results_of(folder: Path) -> list[ProbeResult]:
    return [ProbeResult.load(path) for path in sorted(folder.glob("*.json"))]


def by_spec_and_role(results) -> dict[tuple[str, str, str], ProbeResult]:
    return {(r.model["spec"], r.role, r.model["weights_source"]): r for r in results}


# --- the label ---------------------------------------------------------------------------


def test_the_label_comes_from_the_recorded_weights_source(planted):
    results = by_spec_and_role(results_of(planted))
    labels = {key: shown_label(result) for key, result in results.items()}
    assert labels[("openclip:cliposcope-toy?seed=0", "model", "random-init:seed=0")] == (
        "openclip:cliposcope-toy?seed=0 (random weights)"
    )
    assert labels[("openclip:ViT-B-32/openai", "model", "random-init:seed=0")] == (
        "openclip:ViT-B-32/openai (random weights)"
    )
    # the control's role already says so: never "(random weights)" on top of it
    assert labels[("openclip:cliposcope-toy?seed=1", "null:random-init", "random-init:seed=1")] == (
        "openclip:cliposcope-toy?seed=1 [null:random-init]"
    )
    assert labels[("openclip:cliposcope-toy?seed=5", "model", "file:trained.pt")] == (
        "openclip:cliposcope-toy?seed=5"
    )
    assert labels[
        ("toy:default", "model", "package:cliposcope/assets/toy/default.safetensors")
    ] == ("toy:default")
    kinds = {key[2]: weights_kind(result) for key, result in results.items()}
    assert kinds["random-init:seed=0"] == "random" and kinds["file:trained.pt"] == "trained"
    twice = shown_results(shown_results(list(results.values())))
    assert [r.label for r in twice] == [shown_label(r) for r in results.values()]
    assert not any(DOUBLED in r.label for r in twice)


def test_a_result_without_a_weights_source_is_left_as_it_is():
    bare = ProbeResult("tor", "model", {"spec": "x:y"}, {}, {}, {})
    assert shown_label(bare) == "x:y" and weights_kind(bare) is None


def test_the_terminal_table_verdicts_and_origins_name_random_weights(planted, capsys):
    text = render_tables(results_of(planted))
    rows = [line.split("  ")[0] for line in text.splitlines()]
    assert "openclip:cliposcope-toy?seed=0 (random weights)" in rows
    assert "openclip:ViT-B-32/openai (random weights)" in rows
    assert "openclip:cliposcope-toy?seed=1 [null:random-init]" in rows
    assert "openclip:cliposcope-toy?seed=5" in rows and "toy:default" in rows
    assert "- openclip:cliposcope-toy?seed=0 (random weights) (tor): " in text  # its verdict
    assert DOUBLED not in text
    assert main(["table", *map(str, sorted(planted.glob("*.json")))]) == 0
    assert capsys.readouterr().out.strip() == text


def test_the_html_report_names_random_weights_once(planted):
    page = build_report(planted).read_text()
    assert "<td>openclip:cliposcope-toy?seed=0 (random weights)</td>" in page
    assert "<td>openclip:cliposcope-toy?seed=1 [null:random-init]</td>" in page
    assert "<code>openclip:cliposcope-toy?seed=0 (random weights)</code>" in page  # summary
    assert "<td>openclip:cliposcope-toy?seed=5</td>" in page
    assert DOUBLED not in page


def test_the_html_report_still_escapes_a_labelled_spec(planted):
    record = json.loads((planted / "tor_random.json").read_text())
    record["model"]["spec"] = "toy:<script>alert(1)</script>"
    (planted / "tor_random.json").write_text(json.dumps(record))
    page = build_report(planted).read_text()
    assert "<script>alert" not in page
    assert "toy:&lt;script&gt;alert(1)&lt;/script&gt; (random weights)" in page


def test_the_export_has_a_weights_column_and_labelled_paper_tables(planted):
    results = results_of(planted)
    rows = tidy_rows(results)
    kinds = {(row["model_spec"], row["role"], row["weights"]) for row in rows}
    assert ("openclip:cliposcope-toy?seed=0", "model", "random") in kinds
    assert ("openclip:cliposcope-toy?seed=0", "verdict", "random") in kinds
    assert ("openclip:cliposcope-toy?seed=1", "null:random-init", "random") in kinds
    assert ("openclip:cliposcope-toy?seed=5", "model", "trained") in kinds
    assert ("toy:default", "model", "trained") in kinds
    markdown = markdown_text(results)
    assert "| openclip:cliposcope-toy?seed=0 (random weights) |" in markdown
    assert "| openclip:cliposcope-toy?seed=1 [null:random-init] |" in markdown
    assert "| openclip:cliposcope-toy?seed=5 |" in markdown and DOUBLED not in markdown


# --- the leaderboard ---------------------------------------------------------------------


def leaderboard_rows(board) -> dict[str, dict[str, str]]:
    return {row["model"]: row for row in csv.DictReader(io.StringIO(csv_text(board)))}


def test_zoo_figures_are_the_published_ones_of_each_zoo_model():
    figures = zoo_figures()
    openai = figures["openclip:ViT-B-32/openai"]  # "CLIP openAI" and Table 5's "CLIP"
    assert {f.model_in_paper for f in openai} == {"CLIP openAI", "CLIP"}
    assert {f.table for f in openai} == {f"Table {k}" for k in range(1, 7)}
    assert set(figures) == {model.spec for model in paper_zoo() if model.spec is not None}


def test_the_leaderboard_joins_the_papers_figures_by_spec(planted):
    board = build([planted])
    rows = leaderboard_rows(board)
    names = {name.rsplit(" [", 1)[0]: name for name in rows}
    zoo = rows[names["openclip:ViT-B-32/openai"]]
    assert zoo["weights"] == "trained" and zoo[PAPER_MODEL] == "CLIP openAI; CLIP"
    # Table 1 prints 50.31 / 20.74 / 14.45 / 6.79 for CLIP openAI
    assert float(zoo[FIRST_OBJECT]) == 50.31
    assert float(zoo["paper Table 1, ComCO: TOR retrieval accuracy, fourth object (%)"]) == 6.79
    published = {c.name for c in board.paper_columns}
    assert FIRST_OBJECT in published
    assert "paper Table 5, ComCO: TOR retrieval accuracy, first object (%)" in published
    for other in ("toy:default", "openclip:cliposcope-toy?seed=0 (random weights)"):
        assert rows[names[other]][PAPER_MODEL] == ""
        assert all(rows[names[other]][name] == "" for name in published)
    # a random-weight model with the zoo model's spec is not the paper's model
    random_zoo = rows[names["openclip:ViT-B-32/openai (random weights)"]]
    assert random_zoo["weights"] == "random" and random_zoo[FIRST_OBJECT] == ""
    assert rows[names["openclip:cliposcope-toy?seed=5"]]["weights"] == "trained"
    assert not any(DOUBLED in name for name in rows)
    assert len(board.paper) == 1


def test_the_leaderboard_page_shows_the_papers_columns_and_labels(planted, tmp_path, capsys):
    html = tmp_path / "board.html"
    assert main(["leaderboard", str(planted), "--out", str(html)]) == 0
    assert "the paper's figures beside 1 of them" in capsys.readouterr().err
    page = html.read_text()
    assert page == html_text(build([planted]))
    assert "paper Table 1: TOR retrieval accuracy, first object (%)" in page
    assert '<td data-sort="50.31" class="paper">50.31</td>' in page
    assert "<code>openclip:cliposcope-toy?seed=0 (random weights) [bbbbbbbb]</code>" in page
    assert DOUBLED not in page
    # the sortable columns are numbered in order: the model, ours, the paper's model, its figures
    numbers = [int(n) for n in re.findall(r'data-column="(\d+)"', page)]
    assert numbers == list(range(len(numbers)))
    assert (tmp_path / "board.csv").read_bytes().decode() == csv_text(build([planted]))


def test_no_zoo_model_no_paper_columns(planted):
    (planted / "tor_zoo.json").unlink()
    board = build([planted])
    assert board.paper_columns == [] and board.paper == {}
    header = csv_text(board).splitlines()[0]
    assert header.startswith("model,weights,") and "paper" not in header
    assert "Paper model" not in html_text(board)
