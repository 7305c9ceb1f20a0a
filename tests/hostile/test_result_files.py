"""The permanent hostile suite, result folders: a result file is untrusted input. Every
tampered file (a field of the wrong type, a share of more than its total, a number that
is not finite, records outside its folder, nesting that would blow the parser's stack, a
huge file, bytes that are not UTF-8 JSON, a future format) is, for each command that
reads results, either one clear line and exit code 2 (a file named on the command line)
or skipped with one warning line naming it (a file found in a folder); never a
traceback, never a file left behind. A result of a probe that is not installed is listed
as left out, never dropped in silence, and copies of one result count once."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import cliposcope.results
from cliposcope.errors import CliposcopeError
from cliposcope.json_depth import json_depth
from cliposcope.results import MAX_NESTING, ProbeResult

from .conftest import copy_folder, run_cli, snapshot

TAMPERED = "tampered.json"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "results-format-1"

Maker = Callable[[Path, dict, bytes], None]


@dataclass(frozen=True)
class Case:
    """A tampered copy of the model's result. ``kind``: "refused" (not a result),
    "layout" (a result, but not in the shape its probe lays out) or "accepted";
    ``needle``: what the error line must say (e.g. the field's JSON path); ``limit``:
    the size limit for result files during the case."""

    name: str
    make: Maker
    kind: str = "refused"
    needle: str = ""
    limit: int | None = None


def put(path: str, value) -> Callable[[dict], None]:
    """Set a dotted path (``metrics.first_position_bias.count``; digits index lists)."""

    def change(record: dict) -> None:
        *parents, last = path.split(".")
        node = record
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def drop(path: str) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        *parents, last = path.split(".")
        node = record
        for part in parents:
            node = node[part]
        del node[last]

    return change


def edited(*changes: Callable[[dict], None]) -> Maker:
    def make(path: Path, record: dict, data: bytes) -> None:
        record = copy.deepcopy(record)
        for change in changes:
            change(record)
        path.write_text(json.dumps(record), encoding="utf-8")

    return make


def raw(build: Callable[[dict, bytes], bytes]) -> Maker:
    def make(path: Path, record: dict, data: bytes) -> None:
        path.write_bytes(build(record, data))

    return make


def replaced(old: str, new: str) -> Maker:
    """The model's JSON text with one figure's text replaced (for what json.dumps cannot
    write: NaN, 1e400, 5,000 digits, a lone surrogate)."""

    def build(record: dict, data: bytes) -> bytes:
        text = json.dumps(record)
        assert old in text, old
        return text.replace(old, new, 1).encode("utf-8", "surrogatepass")

    return raw(build)


def fifo(path: Path, record: dict, data: bytes) -> None:
    os.mkfifo(path)


def nested(depth: int) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        value: object = 0
        for _ in range(depth):
            value = [value]
        record["metrics"]["extra"] = value

    return change


FIRST = "metrics.first_position_bias"
POSITION = "metrics.per_position_unconditional.0"
OTHER_HEX = "0" * 64

CASES = [
    # --- top-level fields of the wrong type, or missing
    Case("model-text", edited(put("model", "toy:default")), needle="model is the text"),
    Case("model-list", edited(put("model", ["toy:default"])), needle="model is a list"),
    Case("model-without-spec", edited(drop("model.spec")), needle="model.spec is missing"),
    Case("spec-number", edited(put("model.spec", 3)), needle="model.spec is 3"),
    Case("spec-empty", edited(put("model.spec", "")), needle="model.spec is empty"),
    Case("family-list", edited(put("model.family", ["x"])), needle="model.family"),
    Case("weights-hash-number", edited(put("model.weights_hash", 7)), needle="weights_hash"),
    Case("library-versions-list", edited(put("model.library_versions", [])), needle="library"),
    Case("settings-list", edited(put("settings", [])), needle="settings is a list"),
    Case("settings-n-text", edited(put("settings.n", "3")), needle="settings.n is the text"),
    Case("settings-n-zero", edited(put("settings.n", 0)), needle="settings.n is 0"),
    Case("settings-seed-float", edited(put("settings.seed", 0.5)), needle="settings.seed"),
    Case("metrics-missing", edited(drop("metrics")), needle="metrics is missing"),
    Case("metrics-list", edited(put("metrics", [])), needle="metrics is a list"),
    Case("provenance-text", edited(put("provenance", "x")), needle="provenance is the text"),
    Case("probe-null", edited(put("probe", None)), needle="probe is null"),
    Case("probe-empty", edited(put("probe", "")), needle="probe is empty"),
    Case("role-number", edited(put("role", 1)), needle="role is 1"),
    Case("format-text", edited(put("format", "2")), needle="format is the text"),
    Case("format-zero", edited(put("format", 0)), needle="format is 0"),
    Case("format-future", edited(put("format", 99)), needle="newer than this cliposcope"),
    Case("identity-not-hex", edited(put("identity", "../../x")), needle="identity"),
    Case("run-list", edited(put("run", [])), needle="run is a list"),
    Case("wall-time-text", edited(put("wall_time_s", "1s")), needle="wall_time_s"),
    Case("unknown-field", edited(put("evil", 1)), needle="unknown field 'evil'"),
    Case("scene-origin-text", edited(put("provenance.scene_origin", "x")), needle="scene_origin"),
    Case("controls-list", edited(put("provenance.controls", [])), needle="controls"),
    Case("probe-version-text", edited(put("provenance.probe_version", "1")), needle="probe_v"),
    # --- per-query records
    Case("records-text", edited(put("records", "x")), needle="records is the text"),
    Case("records-climb", edited(put("records.file", "../x.parquet")), needle="records.file"),
    Case("records-absolute", edited(put("records.file", "/etc/passwd")), needle="records.file"),
    Case("records-dotdot", edited(put("records.file", "..")), needle="records.file"),
    Case("records-short-hash", edited(put("records.sha256", "abc")), needle="records.sha256"),
    Case("records-rows-negative", edited(put("records.rows", -1)), needle="records.rows"),
    Case("records-columns-text", edited(put("records.columns", "query")), needle="columns"),
    Case("records-no-hash", edited(drop("records.sha256")), needle="records.sha256 is missing"),
    # --- figures
    Case("count-above-total", edited(put(f"{FIRST}.count", 10**6)), needle="above its total"),
    Case("total-negative", edited(put(f"{FIRST}.total", -5)), needle="total is -5"),
    Case("count-negative", edited(put(f"{POSITION}.count", -1)), needle="count is -1"),
    Case("estimate-text", edited(put(f"{FIRST}.estimate", "50%")), needle="estimate is the"),
    Case("estimate-list", edited(put(f"{POSITION}.estimate", [0.5])), needle="[0].estimate"),
    Case("ci95-one-number", edited(put(f"{FIRST}.ci95", [0.1])), needle="ci95 is a list of 1"),
    Case("ci95-three", edited(put(f"{POSITION}.ci95", [0, 0.1, 1])), needle="ci95"),
    Case("ci95-text", edited(put(f"{FIRST}.ci95", "0.1-0.2")), needle="ci95 is the text"),
    Case("ci95-bound-text", edited(put(f"{FIRST}.ci95", ["a", 1])), needle="ci95[0]"),
    Case("count-text", edited(put(f"{FIRST}.count", "9")), needle="count is the text"),
    Case("p-value-text", edited(put(f"{FIRST}.p_value", "small")), needle="p_value"),
    Case("estimate-nan", replaced('"estimate": ', '"estimate": NaN, "x": '), needle="nan"),
    Case("estimate-infinity", replaced('"total": ', '"total": Infinity, "x": '), needle="inf"),
    Case("estimate-1e400", replaced('"estimate": ', '"estimate": 1e400, "x": '), needle="inf"),
    Case("minus-infinity", replaced('"count": ', '"count": -Infinity, "x": '), needle="-inf"),
    Case("digits-5000", replaced('"count": ', '"count": ' + "9" * 5000 + ', "x": '), needle="dig"),
    Case("digits-400", replaced('"count": ', '"count": ' + "9" * 400 + ', "x": '), needle="range"),
    # --- text, bytes, size and shape of the file
    Case("lone-surrogate", replaced('"spec": "', '"spec": "\\ud800'), needle="surrogate"),
    Case("not-utf8", raw(lambda r, d: d.replace(b'"model"', b'"mod\xffel"', 1)), needle="UTF-8"),
    Case("utf-16", raw(lambda r, d: json.dumps(r).encode("utf-16")), needle="not UTF-8"),
    Case("empty", raw(lambda r, d: b""), needle="is empty"),
    Case("blank", raw(lambda r, d: b" \n\t\n"), needle="is empty"),
    Case("bom-only", raw(lambda r, d: b"\xef\xbb\xbf"), needle="is empty"),
    Case("array", raw(lambda r, d: json.dumps([r]).encode()), needle="holds a list of 1"),
    Case("string", raw(lambda r, d: b'"result"'), needle="holds the text"),
    Case("number", raw(lambda r, d: b"3"), needle="holds 3"),
    Case("null", raw(lambda r, d: b"null"), needle="holds null"),
    Case("truncated", raw(lambda r, d: d[: len(d) // 2]), needle="is not JSON"),
    Case("not-json", raw(lambda r, d: b"{not json"), needle="is not JSON"),
    Case("deep-lists", raw(lambda r, d: b"[" * 100_000 + b"]" * 100_000), needle="nests deeper"),
    Case("deep-objects", raw(lambda r, d: b'{"a":' * 50_000 + b"1" + b"}" * 50_000), "refused"),
    Case("deep-in-metrics", edited(nested(MAX_NESTING + 5)), needle="nests deeper"),
    Case("huge", raw(lambda r, d: d + b" " * 200_000), needle="bytes", limit=100_000),
    Case("a-pipe", fifo, needle="not a regular file"),
    # --- a result, but not in the shape its probe lays out
    Case("without-bias-figure", edited(drop(FIRST)), kind="layout", needle="first_position"),
    Case("without-protocol", edited(drop("settings.protocol")), kind="layout", needle="protoc"),
    Case("positions-a-number", edited(put("metrics.per_position_unconditional", 3)), "layout"),
    # --- what a result may look like
    Case("byte-order-mark", raw(lambda r, d: b"\xef\xbb\xbf" + d), kind="accepted"),
    Case("nested-but-not-too-deep", edited(nested(MAX_NESTING - 10)), kind="accepted"),
    Case("brackets-in-text", edited(put("model.library", "[" * 5000)), kind="accepted"),
    Case("figure-with-notes", edited(put(f"{FIRST}.note", {"a": [1]})), kind="accepted"),
]

COMMANDS = ("table", "export", "report", "leaderboard", "export-folder")
FOLDER_COMMANDS = ("report", "leaderboard", "export-folder")


def test_there_are_enough_cases():
    assert len(CASES) * len(COMMANDS) >= 250
    assert len({case.name for case in CASES}) == len(CASES)


def tampered_folder(base_folder: Path, tmp_path: Path, case: Case) -> tuple[Path, Path, Path]:
    """A copy of the base folder with ``tampered.json`` (and its records beside it, so
    that an accepted copy pairs with its control); the folder, the control and the
    tampered file."""
    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    shutil.copy(
        model.with_name(model.name.removesuffix(".json") + ".records.parquet"),
        folder / "tampered.records.parquet",
    )
    record = json.loads(model.read_text(encoding="utf-8"))
    case.make(folder / TAMPERED, record, model.read_bytes())
    return folder, control, folder / TAMPERED


def command_line(command: str, folder: Path, control: Path, tampered: Path, out: Path):
    if command == "table":
        return ["table", tampered, control, "--csv", out / "table.csv"], ["table.csv"]
    if command == "export":
        return ["export", tampered, control, "--out", out / "all.csv"], ["all.csv"]
    if command == "export-folder":
        return ["export", folder, "--out", out / "all.csv"], ["all.csv"]
    if command == "report":
        return ["report", folder, "--out", out / "report.html"], ["report.html"]
    return ["leaderboard", folder, "--out", out / "board.html"], ["board.csv", "board.html"]


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_tampered_result(case, command, base_folder, tmp_path, capsys, monkeypatch):
    folder, control, tampered = tampered_folder(base_folder, tmp_path, case)
    if case.limit is not None:
        monkeypatch.setattr(cliposcope.results, "MAX_RESULT_BYTES", case.limit)
    out = tmp_path / "out"
    out.mkdir()
    argv, outputs = command_line(command, folder, control, tampered, out)
    before = snapshot(folder)
    code, stdout, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert "Traceback" not in stdout + err
    assert snapshot(folder) == before  # nothing written into (or removed from) the results
    named = command in ("table", "export")
    error_expected = case.kind == "refused" and named
    error_expected |= case.kind == "layout" and command == "table"
    if error_expected:
        assert code == 2, err
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert TAMPERED in lines[0], lines[0]
        assert case.needle in lines[0], (case.needle, lines[0])
        assert stdout == ""
        assert sorted(os.listdir(out)) == []
        return
    assert code == 0, err
    assert sorted(os.listdir(out)) == outputs  # the outputs, and no temporary file
    assert all(line.startswith(("warning: ", "wrote ")) for line in lines), err
    warned = case.kind == "refused" or (case.kind == "layout" and command != "export-folder")
    if warned and command in FOLDER_COMMANDS:
        assert len(warnings) == 1, err
        assert TAMPERED in warnings[0] and case.needle in warnings[0], (case.needle, err)
    else:
        assert warnings == [], err
    if command == "report" and warned:
        assert TAMPERED in (out / "report.html").read_text(encoding="utf-8")


# --- the schema and its messages --------------------------------------------------------


def test_every_result_cliposcope_writes_passes(base_folder):
    paths = [*base_folder.glob("*.json"), *FIXTURES.glob("*.json")]
    assert len(paths) == 4
    for path in paths:
        assert ProbeResult.load(path).source_path == path


def load_error(tmp_path: Path, base_folder: Path, case: Case) -> str:
    _, _, tampered = tampered_folder(base_folder, tmp_path, case)
    with pytest.raises(CliposcopeError) as caught:
        ProbeResult.load(tampered)
    return str(caught.value)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            Case("x", edited(put(f"{FIRST}.count", 99))),
            "metrics.first_position_bias has a count (99) above its total",
        ),
        (
            Case("x", edited(put(f"{POSITION}.ci95", [0.1]))),
            "metrics.per_position_unconditional[0].ci95 is a list of 1, expected [low, high]",
        ),
        (Case("x", edited(put("model", "s"))), "model is the text 's', expected an object"),
        (Case("x", edited(drop("metrics"))), "metrics is missing"),
        (
            Case("x", edited(put("records.file", "../../etc/passwd"))),
            "records.file is the text '../../etc/passwd', expected the name of a file beside",
        ),
        (Case("x", edited(put("format", 3))), "is a result of format 3, newer than"),
        (Case("x", edited(put("evil\x1b[2J", 1))), "unknown field 'evil\\x1b[2J'"),
    ],
    ids=["count", "ci95", "model", "metrics", "records", "future", "field-escape"],
)
def test_one_line_names_the_file_the_field_and_what_was_expected(
    case, message, tmp_path, base_folder
):
    text = load_error(tmp_path, base_folder, case)
    assert message in text and TAMPERED in text and "\n" not in text and "\x1b" not in text


def test_a_file_name_with_escapes_is_shown_escaped(base_folder, tmp_path, capsys):
    folder = tmp_path / "results"
    copy_folder(base_folder, folder)
    evil = folder / "evil\x1b]0;pwned\x07\nline.json"
    evil.write_text("{not json")
    code, _, err = run_cli(capsys, "table", evil)
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert "evil\\x1b]0;pwned\\x07\\nline.json" in err
    code, _, err = run_cli(capsys, "report", folder, "--out", tmp_path / "r.html")
    assert code == 0 and "\x1b" not in err and "evil\\x1b]0;pwned" in err
    assert len([line for line in err.splitlines() if line.startswith("warning:")]) == 1


def test_a_folder_named_as_a_result(base_folder, tmp_path, capsys):
    code, _, err = run_cli(capsys, "table", base_folder)
    assert code == 2 and "is a folder" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "limit", "too_deep"),
    [
        (b"[[1]]", 1, True),
        (b"[[1]]", 2, False),
        (b'{"a": [[1], {"b": [2]}]}', 4, False),
        (b'{"a": [[1], {"b": [2]}]}', 3, True),
        (b'["[[[[", "]]", "\\"[[[", {}]', 2, False),  # brackets in text, an escaped quote
        (b"[" * 200 + b"]" * 200, MAX_NESTING, True),
    ],
)
def test_nesting_is_measured_without_parsing(text, limit, too_deep):
    assert (json_depth(text) > limit) == too_deep


def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b'{"metrics": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}")
    with pytest.raises(CliposcopeError, match="nests deeper than 64 levels"):
        ProbeResult.load(path)


# --- records beside a result --------------------------------------------------------------


def records_of(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".json") + ".records.parquet")


def test_records_that_do_not_match_their_hash_are_compared_unpaired(base_folder, tmp_path, capsys):
    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    record = json.loads(model.read_text())
    record["records"]["sha256"] = hashlib.sha256(b"something else").hexdigest()
    model.write_text(json.dumps(record))
    code, out, err = run_cli(capsys, "table", model, control)
    assert code == 0 and "Traceback" not in err
    (warning,) = err.strip().splitlines()
    assert warning.startswith("warning: ") and "does not match the hash" in warning
    assert "compared unpaired" in warning and "unpaired" in out


def test_records_linked_from_outside_are_not_read(base_folder, tmp_path, capsys):
    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    outside = tmp_path / "elsewhere.parquet"
    shutil.move(records_of(model), outside)  # the same bytes: the hash would match
    os.symlink(outside, records_of(model))
    code, _, err = run_cli(capsys, "table", model, control)
    assert code == 0
    (warning,) = err.strip().splitlines()
    assert "leads outside its folder" in warning


def test_records_that_are_a_pipe_are_not_opened(base_folder, tmp_path, capsys):
    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    records_of(model).unlink()
    os.mkfifo(records_of(model))  # opening it would block forever
    code, _, err = run_cli(capsys, "table", model, control)
    assert code == 0
    (warning,) = err.strip().splitlines()
    assert "not a regular file" in warning


def test_records_that_are_not_parquet_are_one_line(base_folder, tmp_path, capsys):
    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    junk = b"PAR1 not really"
    records_of(model).write_bytes(junk)
    record = json.loads(model.read_text())
    record["records"]["sha256"] = hashlib.sha256(junk).hexdigest()
    model.write_text(json.dumps(record))
    code, _, err = run_cli(capsys, "table", model, control)
    assert code == 0
    (warning,) = err.strip().splitlines()
    assert "not readable as per-query records" in warning


# --- results that are not shown, and copies -------------------------------------------------


@pytest.fixture
def with_unknown_probe(base_folder, tmp_path) -> tuple[Path, Path, Path, Path]:
    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    record = json.loads(model.read_text())
    record["probe"] = "no-such-probe"
    unknown = folder / "plugin_result.json"
    unknown.write_text(json.dumps(record))
    return folder, model, control, unknown


def test_table_lists_a_result_of_a_probe_not_installed(with_unknown_probe, capsys):
    _, model, control, unknown = with_unknown_probe
    code, out, err = run_cli(capsys, "table", model, control, unknown)
    assert code == 0 and err == ""
    assert "Left out:" in out
    assert f"- {unknown}: probe 'no-such-probe' is not installed" in out.splitlines()


def test_table_of_nothing_it_can_show_is_one_line(with_unknown_probe, capsys):
    *_, unknown = with_unknown_probe
    code, out, err = run_cli(capsys, "table", unknown)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "nothing to show" in err and "not installed" in err


@pytest.mark.slow
def test_report_and_leaderboard_list_a_result_of_a_probe_not_installed(
    with_unknown_probe, tmp_path, capsys
):
    folder, *_ = with_unknown_probe
    code, _, err = run_cli(capsys, "report", folder, "--out", tmp_path / "r.html")
    assert code == 0 and "warning" not in err
    page = (tmp_path / "r.html").read_text()
    assert "plugin_result.json" in page and "probe &#39;no-such-probe&#39; is not installed" in page
    code, _, err = run_cli(capsys, "leaderboard", folder, "--out", tmp_path / "b.html")
    assert code == 0 and "warning" not in err
    assert "no-such-probe" in (tmp_path / "b.html").read_text()


def test_export_keeps_a_result_of_a_probe_not_installed(with_unknown_probe, tmp_path, capsys):
    import csv

    folder, *_ = with_unknown_probe
    code, _, err = run_cli(capsys, "export", folder, "--out", tmp_path / "all.csv")
    assert code == 0 and "warning" not in err
    with open(tmp_path / "all.csv", newline="") as handle:
        assert "no-such-probe" in {row["probe"] for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_copies_of_a_result_count_once(base_folder, tmp_path, capsys):
    from cliposcope.probes.verdicts import verdicts
    from cliposcope.report.export import read_results

    folder = tmp_path / "results"
    model, control = copy_folder(base_folder, folder)
    for path in (model, control):
        shutil.copy(path, folder / f"copy-of-{path.name}")
        shutil.copy(records_of(path), records_of(folder / f"copy-of-{path.name}"))
    results = read_results([folder])
    assert len(results) == 4
    assert len(verdicts(results)) == 1
    code, out, err = run_cli(capsys, "table", *sorted(folder.glob("*.json")))
    assert code == 0 and err == ""
    block = out.split("Verdicts:")[1]
    assert len([line for line in block.splitlines() if line.startswith("- ")]) == 1
    code, _, err = run_cli(capsys, "export", folder, "--out", tmp_path / "all.csv")
    assert code == 0
    import csv

    with open(tmp_path / "all.csv", newline="") as handle:
        assert len([row for row in csv.DictReader(handle) if row["role"] == "verdict"]) == 1
    code, _, err = run_cli(capsys, "leaderboard", folder, "--out", tmp_path / "b.html")
    assert code == 0 and "1 model(s)" in err
    board = (tmp_path / "b.csv").read_text().splitlines()
    assert len(board) == 2 and board[1].count("beyond") == 1
