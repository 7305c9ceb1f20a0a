"""Long steps say what they do: labelled bars, numbered step lines, plain lines (no
carriage returns) when stderr is no terminal, and silence with --quiet."""

from __future__ import annotations

import re

import pytest

from cliposcope.app.cli import main
from cliposcope.progress import progress_bar, step

# A tqdm line with no label before its percentage or count ("  0%|", "0input [00:00").
UNLABELLED_BAR = re.compile(r"^\s*(\d+%\||\d+[a-z]+ \[)")
LABELLED_BAR = re.compile(r"^[A-Za-z][\w ()-]*: +\d+%\|")


@pytest.fixture
def bars_at_once(monkeypatch):
    """Off a terminal, bars show at once and at every update (not after 2 s, every 5 s)."""
    monkeypatch.setattr("cliposcope.progress.LOG_DELAY_S", 0)
    monkeypatch.setattr("cliposcope.progress.LOG_INTERVAL_S", 0)


def test_a_bar_off_a_terminal_writes_plain_labelled_lines(capsys, bars_at_once):
    with progress_bar(total=3, desc="encode text", unit="text", enabled=True) as bar:
        for _ in range(3):
            bar.update()
    written = capsys.readouterr().err
    assert "\r" not in written
    lines = written.splitlines()
    assert lines and all(LABELLED_BAR.match(line) for line in lines)
    assert lines[-1].startswith("encode text: 100%|") and "3/3" in lines[-1]
    assert len(lines) == len(set(lines))  # the close does not repeat the last line


def test_a_quick_bar_off_a_terminal_leaves_no_line(capsys):
    with progress_bar(total=3, desc="encode text", unit="text", enabled=True) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_nested_bars_off_a_terminal_move_no_cursor(capsys, bars_at_once):
    with progress_bar(total=2, desc="TOR", unit="query", enabled=True) as outer:
        with progress_bar(total=2, desc="encode text", unit="text", enabled=True) as inner:
            inner.update(2)
        outer.update(2)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "encode text: 100%|" in err and "TOR: 100%|" in err


def test_a_bar_over_nothing_or_disabled_writes_nothing(capsys, bars_at_once):
    with progress_bar(total=0, desc="encode", unit="input", enabled=True):
        pass
    with progress_bar(total=5, desc="encode", unit="input", enabled=False) as bar:
        bar.update(5)
    step(1, 2, "nothing", enabled=False)
    assert capsys.readouterr().err == ""


def test_step_lines_are_numbered_and_inert(capsys):
    step(2, 5, "ior on toy:\x1b[31mdefault", enabled=True)
    assert capsys.readouterr().err == "[2/5] ior on toy:\\x1b[31mdefault\n"


@pytest.mark.slow
def test_run_paper_shows_its_steps_and_only_labelled_bars(
    tmp_path, capsys, monkeypatch, bars_at_once
):
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    arguments = ["run", "paper", "--model", "toy:default", "--null", "random-init"]
    arguments += ["--count", "6", "--tor-sample", "400"]
    code = main([*arguments, "--out", str(tmp_path / "loud")])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = err.splitlines()
    assert any(re.fullmatch(r"loaded toy:default \(\d+\.\ds\)", line) for line in lines)
    steps = [line for line in lines if re.match(r"^\[\d/\d\] ", line)]
    assert [line[:6] for line in steps] == [f"[{k}/5] " for k in range(1, 6)] * 2
    assert steps[0] == "[1/5] tor on toy:default (model), its own captions"
    assert steps[1] == "[2/5] ior on toy:default (model), 6 scenes"
    assert any(line.startswith("[2/5] ior on openclip:cliposcope-toy") for line in steps)
    assert not [line for line in lines if UNLABELLED_BAR.match(line)]
    assert any(LABELLED_BAR.match(line) for line in lines)
    assert "\r" not in err

    code = main([*arguments, "--out", str(tmp_path / "quiet"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    # warnings stay (the toy does not know every scene object), progress goes
    assert all(line.startswith("warning: ") for line in captured.err.splitlines())


def test_a_heartbeat_speaks_while_a_step_without_a_bar_runs(capsys):
    import time

    from cliposcope.progress import heartbeat

    with heartbeat("loading toy:default", enabled=True, every=0.05):
        time.sleep(0.32)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3
    assert all(re.fullmatch(r"loading toy:default \(\d+s\)", line) for line in lines)
    with heartbeat("quiet", enabled=False, every=0.01):
        time.sleep(0.05)
    assert capsys.readouterr().err == ""


def test_a_warning_is_said_once_per_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    arguments = ["run", "tor", "--model", "toy:default", "--null", "sum", "--vocab", "toy"]
    arguments += ["--n", "2", "--sample", "400", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(arguments) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 2  # sample beyond the combinations; too few for +-5 points
    assert len(set(warnings)) == 2
