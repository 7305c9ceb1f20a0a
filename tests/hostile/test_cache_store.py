"""The embedding cache on a hostile machine or with a hostile file.

* A disk that is full or refuses writes (no space, read-only, I/O error, locked) ends the
  run with one line naming the cache folder and exit code 2, and leaves the store as it
  was: it once raised sqlite3.OperationalError, after moving a healthy store aside as if
  it were corrupt.
* A store that says it holds another model's embeddings (fingerprint, dimension or
  storage) under this model's name is refused, never read.
* Rows that are not this model's embeddings (NaN, inf, another length, not unit length,
  a checksum that does not match) are recomputed, never used.
"""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import cliposcope.cache
from cliposcope.encoders import load_encoder

from .conftest import run_cli

MODEL = "toy:default"
TEXTS = [f"a photo of a dog and a cat, number {i}" for i in range(6)]


@pytest.fixture(autouse=True)
def loaded_once(encoders_loaded_once):
    """The toy model is loaded once, not once per command (tests/hostile/conftest.py)."""


@pytest.fixture(scope="module")
def model():
    encoder = load_encoder(MODEL)
    return encoder.info.fingerprint, encoder.info.embed_dim, encoder.encode_text(TEXTS)


def encode(capsys, tmp_path: Path, texts: list[str], out: str = "out/emb.npy"):
    file = tmp_path / f"texts-{len(texts)}.txt"
    file.write_text("\n".join(texts) + "\n")
    argv = ["encode", "--model", MODEL, "--texts", file, "--out", tmp_path / out]
    return run_cli(capsys, *argv, "--cache-dir", tmp_path / "cache", "--quiet")


def store_path(tmp_path: Path, fingerprint: str) -> Path:
    return tmp_path / "cache" / fingerprint[:2] / f"{fingerprint}.sqlite"


def store_files(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((tmp_path / "cache").rglob("*")) if p.is_file()}


def assert_one_line(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err


# --- the machine refuses ---------------------------------------------------------------


def sqlite_error(kind: str) -> sqlite3.Error:
    """The error SQLite raises for each way a machine refuses (with its result code, as
    Python 3.11 sets it; "uncoded": an OperationalError without one)."""
    cls, message, name = {
        "full": (sqlite3.OperationalError, "database or disk is full", "SQLITE_FULL"),
        "ioerr": (sqlite3.OperationalError, "disk I/O error", "SQLITE_IOERR_WRITE"),
        "readonly": (
            sqlite3.OperationalError,
            "attempt to write a readonly database",
            "SQLITE_READONLY",
        ),
        "cantopen": (sqlite3.OperationalError, "unable to open database file", "SQLITE_CANTOPEN"),
        "locked": (sqlite3.OperationalError, "database is locked", "SQLITE_BUSY"),
        "uncoded": (sqlite3.OperationalError, "database or disk is full", None),
    }[kind]
    error = cls(message)
    if name is not None:
        error.sqlite_errorname = name
    return error


class Refusing:
    """A connection that raises ``error`` at ``phase``: "read" (looking rows up) or
    "write" (storing them); everything else is the real connection's."""

    def __init__(self, real: sqlite3.Connection, phase: str, error: sqlite3.Error):
        self.real, self.phase, self.error = real, phase, error

    def execute(self, sql, *args):
        if self.phase == "read" and sql.lstrip().startswith("SELECT key"):
            raise self.error
        return self.real.execute(sql, *args)

    def executemany(self, sql, *args):
        if self.phase == "write":
            raise self.error
        return self.real.executemany(sql, *args)

    def __enter__(self):
        self.real.__enter__()
        return self

    def __exit__(self, *exc):
        return self.real.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["connect", "read", "write"])
@pytest.mark.parametrize("kind", ["full", "ioerr", "readonly", "cantopen", "locked", "uncoded"])
def test_a_refusing_disk_is_one_line_and_the_store_is_left_alone(
    kind, phase, model, tmp_path, capsys, monkeypatch
):
    assert encode(capsys, tmp_path, TEXTS[:3], "first.npy")[0] == 0  # a healthy store
    before = store_files(tmp_path)
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        if phase == "connect":
            raise sqlite_error(kind)
        return Refusing(real_connect(*args, **kwargs), phase, sqlite_error(kind))

    monkeypatch.setattr(cliposcope.cache.sqlite3, "connect", connect)
    code, _, err = encode(capsys, tmp_path, TEXTS)
    assert_one_line(code, err, str(tmp_path / "cache"), "--cache-dir")
    assert not (tmp_path / "out").exists()
    assert store_files(tmp_path) == before  # not moved aside, not changed
    monkeypatch.setattr(cliposcope.cache.sqlite3, "connect", real_connect)
    assert encode(capsys, tmp_path, TEXTS)[0] == 0  # the store still serves


def run_with_file_size_limit(argv: list[str], limit: int) -> subprocess.CompletedProcess:
    """The command in a process that may write no file beyond ``limit`` bytes: writes past
    it fail as on a full disk (EFBIG; SIGXFSZ ignored)."""

    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "cliposcope", *argv],
        preexec_fn=cap,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("populated", [False, True], ids=["new-store", "existing-store"])
def test_a_full_disk_for_real_is_one_line(populated, model, tmp_path, capsys):
    """No monkeypatching: the operating system refuses the cache's writes."""
    texts = tmp_path / "many.txt"
    texts.write_text("".join(f"a dog and a cat number {i}\n" for i in range(800)))
    cache = tmp_path / "cache"
    if populated:
        assert encode(capsys, tmp_path, TEXTS, "first.npy")[0] == 0
    before = store_files(tmp_path) if populated else {}
    argv = ["encode", "--model", MODEL, "--texts", str(texts), "--out", str(tmp_path / "o.npy")]
    done = run_with_file_size_limit([*argv, "--cache-dir", str(cache), "--quiet"], 100_000)
    assert_one_line(done.returncode, done.stderr, str(cache))
    assert not (tmp_path / "o.npy").exists()
    assert not list(cache.rglob("*.corrupt-*"))  # a full disk is not a damaged store
    if populated:  # the rows stored before are still there
        fingerprint = model[0]
        with sqlite3.connect(store_path(tmp_path, fingerprint)) as db:
            assert db.execute("SELECT count(*) FROM emb").fetchone()[0] >= len(TEXTS)
        assert set(before) <= set(store_files(tmp_path))


# --- a store of another model ----------------------------------------------------------


def retag(**changes):
    def change(record):
        return json.dumps({**record, **changes})

    return change


META = {
    "fingerprint": (retag(fingerprint="0" * 64), "another model"),
    "dim": (lambda record: json.dumps({**record, "dim": record["dim"] * 2}), "another model"),
    "storage": (retag(storage="fp16"), "another model"),
    "not-json": (lambda record: "{not json", "does not say which model"),
    "a-list": (lambda record: json.dumps([record]), "does not say which model"),
    "no-fingerprint": (
        lambda record: json.dumps({k: v for k, v in record.items() if k != "fingerprint"}),
        "another model",
    ),
}


@pytest.mark.parametrize("case", sorted(META))
def test_a_store_of_another_model_is_refused(case, model, tmp_path, capsys):
    assert encode(capsys, tmp_path, TEXTS, "first.npy")[0] == 0
    change, needle = META[case]
    path = store_path(tmp_path, model[0])
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE name = 'encoder'").fetchone()
        db.execute("UPDATE meta SET value = ? WHERE name = 'encoder'", (change(json.loads(value)),))
    before = store_files(tmp_path)
    code, _, err = encode(capsys, tmp_path, TEXTS)
    assert_one_line(code, err, "embedding cache", needle, path.name)
    assert not (tmp_path / "out").exists() and store_files(tmp_path) == before


# --- rows that are not this model's embeddings -----------------------------------------


def rewrite(make_blob):
    def change(vector: np.ndarray) -> tuple[bytes, int]:
        blob = make_blob(vector.copy())
        return blob, zlib.crc32(blob)

    return change


def bad_crc(vector: np.ndarray) -> tuple[bytes, int]:
    blob = vector.astype(np.float32).tobytes()
    return blob, zlib.crc32(blob) ^ 1


def with_value(index, value):
    def make(vector):
        vector[index] = value
        return vector.astype(np.float32).tobytes()

    return make


ROWS = {
    "nan": rewrite(with_value(0, np.nan)),
    "inf": rewrite(with_value(3, np.inf)),
    "short": rewrite(lambda v: v[:-1].astype(np.float32).tobytes()),
    "long": rewrite(lambda v: np.append(v, 0.0).astype(np.float32).tobytes()),
    "zeros": rewrite(lambda v: np.zeros_like(v, dtype=np.float32).tobytes()),
    "doubled": rewrite(lambda v: (2 * v).astype(np.float32).tobytes()),
    "float64": rewrite(lambda v: v.astype(np.float64)[: len(v) // 2].tobytes()),
    "bad-crc": bad_crc,
}


@pytest.mark.parametrize("case", sorted(ROWS))
def test_a_bad_row_is_recomputed_never_used(case, model, tmp_path, capsys):
    _, _, expected = model
    assert encode(capsys, tmp_path, TEXTS, "first.npy")[0] == 0
    from cliposcope.hashing import text_key

    key = text_key(TEXTS[2])
    with sqlite3.connect(store_path(tmp_path, model[0])) as db:
        (blob,) = db.execute("SELECT vec FROM emb WHERE key = ?", (key,)).fetchone()
        vector = np.frombuffer(blob, np.float32).astype(np.float64)
        db.execute("UPDATE emb SET vec = ?, crc = ? WHERE key = ?", (*ROWS[case](vector), key))
    code, _, err = encode(capsys, tmp_path, TEXTS)
    assert code == 0, err
    embeddings = np.load(tmp_path / "out" / "emb.npy")
    assert np.isfinite(embeddings).all()
    assert np.allclose(embeddings, expected, atol=1e-6)
