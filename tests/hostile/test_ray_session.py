"""The Ray session as a user meets it, with a real Ray (slow: each test pays for Ray's
start or its connection attempts): `--quiet` means no line from Ray on the terminal, and
an address that answers but is no Ray cluster ends in one line within about a minute
(Ray's own retries take 12 minutes)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("ray")

pytestmark = pytest.mark.slow


def cliposcope(*argv: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cliposcope", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - started


@pytest.mark.slow
def test_a_quiet_ray_run_says_nothing_on_stderr(tmp_path):
    """A local instance started by the command, a pipeline run on it: Ray's log lines
    (token notice, Ray Data's execution lines, the core's warnings) once showed despite
    --quiet."""
    # the toy's own vocabulary and enough queries: no warning of cliposcope's either
    argv = ["run", "tor", "--model", "toy:default", "--vocab", "toy", "--n", "3"]
    argv += ["--sample", "400", "--engine", "ray", "--ray-actors", "1", "--no-cache"]
    done, _ = cliposcope(*argv, "--quiet", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert len(list((tmp_path / "out").glob("tor_*.json"))) == 1


@pytest.mark.slow
def test_an_address_that_is_no_ray_cluster_fails_within_a_minute(tmp_path):
    """A port that accepts connections and says nothing (not a Ray GCS)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))  # Ray connects to the node's address, not to 127.0.0.1
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        argv = ["run", "tor", "--model", "toy:default", "--engine", "ray", "--no-cache"]
        address = f"127.0.0.1:{server.getsockname()[1]}"
        done, seconds = cliposcope(
            *argv, "--ray-address", address, "--quiet", "--out", str(tmp_path / "out")
        )
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: cannot start or reach Ray"), lines
    assert "Traceback" not in done.stderr
    assert seconds < 90, seconds  # measured about 45 s on a busy 2-core machine
    assert not (tmp_path / "out").exists()
