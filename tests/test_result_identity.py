"""Results a lab can keep: identity includes the data, reruns are skipped, verdicts are
never hidden by recency, run metadata is recorded, and older result files still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cliposcope.app.cli import main
from cliposcope.report.leaderboard import build
from cliposcope.results import ProbeResult

FORMAT_1 = Path(__file__).parent / "fixtures" / "results-format-1"
TOY_WORDS = ("dog", "cat", "car", "bus", "apple", "cake")


def result_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def write_corpus(path: Path, captions: list[str]) -> Path:
    path.write_text("".join(json.dumps({"caption": c}) + "\n" for c in captions))
    return path


@pytest.fixture
def two_corpora(tmp_path):
    first = write_corpus(tmp_path / "first.jsonl", ["a dog and a cat", "a car near a bus"] * 3)
    second = write_corpus(tmp_path / "second.jsonl", ["a cake and an apple", "a cat"] * 4)
    return first, second


def test_corpus_stats_on_different_inputs_keep_both_results(two_corpora, tmp_path, capsys):
    out = tmp_path / "out"
    for corpus in two_corpora:
        assert main(["corpus", "stats", "--input", str(corpus), "--out", str(out)]) == 0
    files = result_files(out)
    assert len(files) == 2
    names = {ProbeResult.load(f).settings["source"]["name"] for f in files}
    assert names == {"first.jsonl", "second.jsonl"}


def test_the_same_run_twice_is_skipped_with_a_notice_and_overwrite_recomputes(
    two_corpora, tmp_path, capsys
):
    out = tmp_path / "out"
    command = ["corpus", "stats", "--input", str(two_corpora[0]), "--out", str(out)]
    assert main(command) == 0
    written = result_files(out)
    before = written[0].read_bytes()
    capsys.readouterr()
    assert main(command) == 0
    notice = capsys.readouterr().err
    assert f"skipped: {written[0]}" in notice and "--overwrite" in notice
    assert result_files(out) == written and written[0].read_bytes() == before
    assert main([*command, "--overwrite"]) == 0
    assert "skipped" not in capsys.readouterr().err
    assert result_files(out) == written
    assert ProbeResult.load(written[0]).run != json.loads(before)["run"]


def test_tor_captions_on_different_inputs_keep_both_results(two_corpora, tmp_path, capsys):
    out = tmp_path / "out"
    for corpus in two_corpora:
        command = ["run", "tor-captions", "--model", "toy:default", "--input", str(corpus)]
        assert main([*command, "--n", "2", "--out", str(out), "--no-cache", "--quiet"]) == 0
    files = result_files(out)
    assert len(files) == 2
    assert len({ProbeResult.load(f).identity for f in files}) == 2
    capsys.readouterr()
    assert main([*command, "--n", "2", "--out", str(out), "--no-cache", "--quiet"]) == 0
    assert "skipped" in capsys.readouterr().err and len(result_files(out)) == 2


def tor_run(vocabulary: Path, out: Path, control: str) -> list[str]:
    return [
        "run",
        "tor",
        "--model",
        "toy:default",
        "--vocab",
        str(vocabulary),
        "--sample",
        "60",
        "--null",
        control,
        "--out",
        str(out),
        "--no-cache",
        "--quiet",
    ]


@pytest.mark.slow
def test_a_later_run_against_another_control_does_not_hide_the_first_verdict(tmp_path, capsys):
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("\n".join(TOY_WORDS) + "\n")
    demo, later = tmp_path / "demo", tmp_path / "later"
    assert main(tor_run(vocabulary, demo, "random-init")) == 0
    assert main(tor_run(vocabulary, later, "sum")) == 0
    board = build([demo, later])
    (cells,) = board.rows.values()
    (cell,) = cells.values()
    assert {verdict.control for verdict in cell.verdicts} == {"random-init", "sum"}
    assert cell.replaces == 1
    # a copy of a result counts once
    for path in result_files(demo):
        shutil.copy(path, later / f"copy-{path.name}")
    (cell,) = next(iter(build([demo, later]).rows.values())).values()
    assert cell.replaces == 1 and len(cell.verdicts) == 2


def test_every_result_records_its_run_and_its_identity(tmp_path, capsys):
    vocabulary = tmp_path / "words.txt"
    vocabulary.write_text("\n".join(TOY_WORDS) + "\n")
    assert main(tor_run(vocabulary, tmp_path / "out", "random-init")) == 0
    for path in result_files(tmp_path / "out"):
        result = ProbeResult.load(path)
        assert len(result.identity) == 64 and result.identity[:12] in path.name
        run = result.run
        assert run["command"][:3] == ["cliposcope", "run", "tor"]
        assert run["entry"] == "cli" and run["started_utc"] <= run["ended_utc"]
        for key in ("cliposcope_version", "python", "torch", "platform", "host", "device"):
            assert run[key], key
        assert result.provenance["probe_version"] >= 1


def test_results_of_format_1_still_load_render_and_give_verdicts(tmp_path, capsys):
    from cliposcope.probes.verdicts import verdicts
    from cliposcope.report.table import render_tables

    results = [ProbeResult.load(path) for path in sorted(FORMAT_1.glob("*.json"))]
    assert [r.format for r in results] == [1, 1] and all(not r.identity for r in results)
    assert "TOR" in render_tables(results)
    (verdict,) = verdicts(results)
    assert verdict.control == "random-init"
    assert main(["table", *map(str, sorted(FORMAT_1.glob("*.json")))]) == 0
    assert main(["leaderboard", str(FORMAT_1), "--out", str(tmp_path / "board.html")]) == 0


def test_a_result_of_a_newer_format_is_refused(tmp_path, capsys):
    source = next(FORMAT_1.glob("tor_toy*.json"))
    record = json.loads(source.read_text())
    record["format"] = 99
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(record))
    assert main(["table", str(newer)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "format 99" in error and "upgrade" in error
