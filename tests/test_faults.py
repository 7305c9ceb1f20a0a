"""Interruptions: kill -9 and SIGTERM of `generate` (with and without the official layout)
and of `run tor`, at several points. After each, no staging folder or temporary file is
left once a rerun has run, the rerun succeeds, and its output is byte-identical to an
uninterrupted run's (results apart from wall_time_s)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GENERATE = ["generate", "comco", "--objects", "3", "--count", "40", "--seed", "5", "--quiet"]
TOR = [
    "run",
    "tor",
    "--model",
    "openclip:cliposcope-tiny?seed=0",
    "--n",
    "3",
    "--sample",
    "6000",
    "--seed",
    "2",
    "--batch-size",
    "64",
    "--quiet",
]


def cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cliposcope", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# The official copy takes milliseconds; to kill inside it deterministically, the process
# copies, says so with a flag file, and waits there.
PAUSED_COPY = """
import sys, time
from pathlib import Path
import cliposcope.data.generate as generate
copy = generate.copy_official
def copy_then_wait(scenes, dest, **options):
    copy(scenes, dest, **options)
    Path(sys.argv[1]).touch()
    time.sleep(120)
generate.copy_official = copy_then_wait
from cliposcope.app.cli import main
sys.exit(main(sys.argv[2:]))
"""


def cli_paused_in_official_copy(flag: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PAUSED_COPY, str(flag), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_to_end(*args: str, env: dict | None = None) -> None:
    process = cli(*args, env=env)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"finished before the kill point: {process.stderr.read()}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*") if "staging" in p.name or p.suffix == ".tmp"]


def staging_images(parent: Path, name: str) -> int:
    return sum(len(list(s.glob("images/*.png"))) for s in parent.glob(f".{name}.staging-*"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Uninterrupted runs to compare against."""
    root = tmp_path_factory.mktemp("reference")
    run_to_end(
        *GENERATE, "--out", str(root / "scenes"), "--official-layout", str(root / "official")
    )
    env = {**os.environ, "CLIPOSCOPE_CACHE_DIR": str(root / "cache")}
    run_to_end(*TOR, "--out", str(root / "tor"), env=env)
    return root


KILL_POINTS = {
    "first images": lambda work: staging_images(work, "scenes") >= 1,
    "most images": lambda work: staging_images(work, "scenes") >= 30,
    "official copy": lambda work: (work / "copied").exists(),
}


GENERATE_CASES = [
    (official, point)
    for official in (False, True)
    for point in KILL_POINTS
    if official or point != "official copy"
]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
@pytest.mark.parametrize(("official", "point"), GENERATE_CASES)
def test_generate_interrupted_then_rerun(reference, tmp_path, sig, official, point):
    work = tmp_path
    args = [*GENERATE, "--out", str(work / "scenes")]
    if official:
        args += ["--official-layout", str(work / "official")]
    if point == "official copy":
        process = cli_paused_in_official_copy(tmp_path / "copied", *args)
    else:
        process = cli(*args)
    wait_for(lambda: KILL_POINTS[point](work), process)
    process.send_signal(sig)
    process.wait(timeout=60)
    assert not (work / "scenes").exists() and not (work / "official").exists()  # never half
    if sig == signal.SIGTERM:
        assert process.returncode == 143
        assert not leftovers(work), leftovers(work)  # cleaned up like Ctrl-C
    run_to_end(*args)
    assert not leftovers(work), leftovers(work)  # a dead run's staging is gone after a rerun
    assert files(work / "scenes") == files(reference / "scenes")
    if official:
        assert files(work / "official") == files(reference / "official")


def comparable(folder: Path) -> dict:
    results = {}
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        record.pop("wall_time_s")
        record.pop("run")  # when and by which command: differs between any two runs
        results[path.name] = record
    return results


def cache_rows(cache: Path) -> int:
    import sqlite3

    total = 0
    for store in cache.rglob("*.sqlite"):
        try:
            with sqlite3.connect(store, timeout=1) as connection:
                total += connection.execute("SELECT count(*) FROM emb").fetchone()[0]
        except sqlite3.Error:
            pass
    return total


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
@pytest.mark.parametrize("point", ["loading", "encoding"])
def test_tor_interrupted_then_rerun(reference, tmp_path, sig, point):
    env = {**os.environ, "CLIPOSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "tor"
    process = cli(*TOR, "--out", str(out), env=env)
    if point == "loading":
        time.sleep(1.0)
    else:
        wait_for(lambda: cache_rows(tmp_path / "cache") >= 2048, process)
    process.send_signal(sig)
    process.wait(timeout=60)
    assert not list(out.glob("*.json"))  # no result from a run that did not finish
    run_to_end(*TOR, "--out", str(out), env=env)
    assert comparable(out) == comparable(reference / "tor")
    assert not leftovers(tmp_path), leftovers(tmp_path)
