"""Long steps say what they do: labelled bars, numbered step lines, plain lines (no
carriage returns) when stderr is no terminal, and silence with --quiet."""

from __future__ import annotations

import re

from cliposcope.app.cli import main
from cliposcope.progress import progress_bar, step

# A tqdm line with no label before its percentage or count ("  0%|", "0input [00:00").
UNLABELLED_BAR = re.compile(r"^\s*(\d+%\||\d+[a-z]+ \[)")
LABELLED_BAR = re.compile(r"^[A-Za-z][\w ()-]*: +\d+%\|")


def test_a_bar_off_a_terminal_writes_plain_labelled_lines(capsys):
    with progress_bar(total=3, desc="encode text", unit="text", enabled=True) as bar:
        for _ in range(3):
            bar.update()
    written = capsys.readouterr().err
    assert "\r" not in written
    lines = written.splitlines()
    assert lines and all(LABELLED_BAR.match(line) for line in lines)
    assert lines[-1].startswith("encode text: 100%|") and "3/3" in lines[-1]
    assert len(lines) == len(set(lines))  # the close does not repeat the last line


def test_a_bar_over_nothing_or_disabled_writes_nothing(capsys):
    with progress_bar(total=0, desc="encode", unit="input", enabled=True):
        pass
    with progress_bar(total=5, desc="encode", unit="input", enabled=False) as bar:
        bar.update(5)
    step(1, 2, "nothing", enabled=False)
    assert capsys.readouterr().err == ""


def test_step_lines_are_numbered_and_inert(capsys):
    step(2, 5, "ior on toy:\x1b[31mdefault", enabled=True)
    assert capsys.readouterr().err == "[2/5] ior on toy:\\x1b[31mdefault\n"


def test_run_paper_shows_its_steps_and_only_labelled_bars(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CLIPOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    arguments = ["run", "paper", "--model", "toy:default", "--null", "random-init"]
    arguments += ["--count", "6", "--tor-sample", "400"]
    code = main([*arguments, "--out", str(tmp_path / "loud")])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = err.splitlines()
    assert "loading toy:default" in lines
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
    assert captured.err == ""
