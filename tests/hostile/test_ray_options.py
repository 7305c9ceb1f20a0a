"""Engine options through the real command line: an option of an engine that was not
chosen is refused (`--ray-actors 0` with the local engine was silently ignored), and a
`--ray-address` that is malformed or that nothing answers at is one clear line within
seconds (Ray itself retried for many minutes). No Ray instance is started here."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

import cliposcope.scale.ray_engine as engine
from cliposcope.errors import CliposcopeError

from .conftest import run_cli, snapshot

TOR = ["run", "tor", "--model", "toy:default", "--no-cache", "--quiet"]
ENCODE = ["encode", "--model", "toy:default", "--texts", "{w}/texts.txt", "--quiet"]
CORPUS = ["corpus", "stats", "--input", "{w}/captions.jsonl", "--quiet"]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLOSED = closed_port()

LOCAL_ENGINE = [
    (TOR, ["--ray-actors", "0"], "--ray-actors applies to --engine ray"),
    (TOR, ["--ray-actors", "4"], "--ray-actors applies to --engine ray"),
    (TOR, ["--engine", "local", "--ray-actors", "2"], "--ray-actors applies"),
    (TOR, ["--ray-shards", "{w}/shards"], "--ray-shards applies to --engine ray"),
    (TOR, ["--ray-address", "127.0.0.1:6379"], "--ray-address applies to --engine ray"),
    (ENCODE, ["--ray-actors", "0"], "--ray-actors applies to --engine ray"),
    (ENCODE, ["--ray-address", "auto"], "--ray-address applies"),
    (CORPUS, ["--ray-actors", "8"], "--ray-actors applies to --engine ray"),
    (CORPUS, ["--ray-shards", "{w}/shards"], "--ray-shards applies"),
]
RAY_ENGINE = [
    (TOR, ["--ray-actors", "0"], "--ray-actors 0 is out of range"),
    (TOR, ["--ray-actors", "-3"], "--ray-actors -3 is out of range"),
    (TOR, ["--ray-actors", "1000000"], "--ray-actors 1000000 is out of range"),
    (TOR, ["--ray-address", f"127.0.0.1:{CLOSED}"], "cannot reach Ray at 127.0.0.1"),
    (TOR, ["--ray-address", f"localhost:{CLOSED}"], "cannot reach Ray at localhost"),
    (TOR, ["--ray-address", f"ray://127.0.0.1:{CLOSED}"], "cannot reach Ray at ray://"),
    (TOR, ["--ray-address", "cliposcope-no-such-host.invalid:6379"], "cannot reach Ray"),
    (TOR, ["--ray-address", "127.0.0.1"], "is not HOST:PORT"),
    (TOR, ["--ray-address", "127.0.0.1:0"], "is not HOST:PORT"),
    (TOR, ["--ray-address", "127.0.0.1:70000"], "is not HOST:PORT"),
    (TOR, ["--ray-address", "127.0.0.1:port"], "is not HOST:PORT"),
    (TOR, ["--ray-address", ":6379"], "is not HOST:PORT"),
    (ENCODE, ["--ray-address", f"127.0.0.1:{CLOSED}"], "cannot reach Ray"),
    (CORPUS, ["--ray-address", f"127.0.0.1:{CLOSED}"], "cannot reach Ray"),
    (CORPUS, ["--ray-actors", "0"], "--ray-actors 0 is out of range"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("ray-world")
    (w / "texts.txt").write_text("a dog\na cat\n")
    (w / "captions.jsonl").write_text('{"caption": "an elephant next to an apple"}\n')
    return w


@pytest.fixture
def no_ray_needed(monkeypatch):
    """Ray Data counts as installed without importing it: nothing here reaches Ray."""
    monkeypatch.setattr(engine, "need_ray", lambda: None)


def run_case(command, extra, needle, world, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.replace("{w}", str(world)) for a in [*command, *extra]]
    argv += ["--out", str(out / "emb.npy") if command is ENCODE else str(out)]
    before = snapshot(world)
    started = time.monotonic()
    code, _, err = run_cli(capsys, *argv)
    seconds = time.monotonic() - started
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err
    assert not out.exists() and snapshot(world) == before
    return seconds


@pytest.mark.parametrize(
    ("command", "extra", "needle"),
    LOCAL_ENGINE,
    ids=[f"{c[0]}-{' '.join(e)}" for c, e, _ in LOCAL_ENGINE],
)
def test_options_of_an_engine_not_chosen_are_refused(
    command, extra, needle, world, tmp_path, capsys
):
    run_case(command, extra, needle, world, tmp_path, capsys)


@pytest.mark.parametrize(
    ("command", "extra", "needle"),
    RAY_ENGINE,
    ids=[f"{c[0]}-{' '.join(e)}" for c, e, _ in RAY_ENGINE],
)
def test_bad_ray_options_are_one_line_before_any_work(
    command, extra, needle, world, tmp_path, capsys, no_ray_needed
):
    seconds = run_case(command, [*extra, "--engine", "ray"], needle, world, tmp_path, capsys)
    assert seconds < 60  # a bound, not a timing: Ray's own retries take 12 minutes


def test_the_probe_gives_up_on_an_address_that_does_not_answer(monkeypatch):
    """An address that never answers (a dropped SYN): refused, saying how long it waited,
    with the timeout passed to the connection attempt."""
    asked = []

    def silent(address, timeout=None):
        asked.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(CliposcopeError, match=r"no answer within 0\.5 s"):
        engine.probe_address("10.255.255.1:6379", timeout=0.5)
    assert asked and set(asked) == {0.5}
    assert engine.CONNECT_TIMEOUT_S <= 30


def test_the_probe_accepts_an_address_that_answers():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        engine.probe_address(f"127.0.0.1:{server.getsockname()[1]}", timeout=5)
        engine.probe_address("auto")  # Ray finds the cluster itself
        engine.probe_address("local")
