"""Ray shards are untrusted input: every shard read back (by a rerun that reuses the shard
folder, or by `cliposcope cache import`) is checked as a local run checks embeddings:
readable Parquet, this model's fingerprint on every row, the model's dimension, finite
unit vectors, 32-byte keys. A bad shard is one clear line and exit code 2, never a
traceback and never figures computed from it (NaN embeddings once gave 0.0% at every
position and exit code 0).

No Ray instance is started here: ``FakeRay`` runs the shard embedder in this process, the
way a Ray actor pool runs it (tests/scale/test_ray.py runs the real one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import cliposcope.scale.ray_engine as engine  # noqa: E402
from cliposcope.encoders import load_encoder  # noqa: E402
from cliposcope.errors import CliposcopeError  # noqa: E402
from cliposcope.hashing import text_key  # noqa: E402

from .conftest import run_cli, snapshot  # noqa: E402

MODEL = "toy:default"
TEXTS = [f"a dog and a cat number {i}" for i in range(6)]


class FakeDataset:
    def __init__(self, rows):
        self.rows, self.done = rows, []

    def map_batches(self, actor_class, *, fn_constructor_kwargs, batch_size, compute, **_):
        actor = actor_class(**fn_constructor_kwargs)
        for row in self.rows:
            out = actor({"name": np.array([row["name"]]), "items": [row["items"]]})
            self.done.append({"name": out["name"][0], "shard": out["shard"][0]})
        return self

    def iter_rows(self):
        yield from self.done


class FakeRay:
    """What the engine asks of Ray, run here: a session that is open, and pipelines."""

    def __init__(self):
        self.pipelines = 0
        context = SimpleNamespace(enable_progress_bars=True)
        self.data = SimpleNamespace(
            from_items=self._from_items,
            ActorPoolStrategy=lambda size: size,
            DataContext=SimpleNamespace(get_current=lambda: context),
        )

    def _from_items(self, rows, override_num_blocks=None):
        self.pipelines += 1
        return FakeDataset(rows)

    def is_initialized(self):
        return True

    def shutdown(self):
        pass


@pytest.fixture
def fake_ray(monkeypatch) -> FakeRay:
    fake = FakeRay()
    monkeypatch.setattr(engine, "need_ray", lambda: fake)
    return fake


@pytest.fixture(scope="module")
def model():
    encoder = load_encoder(MODEL)
    return encoder.info.fingerprint, encoder.info.embed_dim, encoder.encode_text(TEXTS)


@pytest.fixture(autouse=True)
def loaded_once(encoders_loaded_once):
    """The toy model is loaded once, not once per command (tests/hostile/conftest.py)."""


# --- what a shard holds, and the ways it can be wrong ----------------------------------


def columns(model) -> dict:
    fingerprint, _, vectors = model
    return {
        "key": [text_key(t) for t in TEXTS],
        "fingerprint": [fingerprint] * len(TEXTS),
        "embedding": vectors.astype(np.float32),
    }


def fixed(vectors: np.ndarray, value_type=None):
    values = pa.array(np.asarray(vectors).ravel(), value_type)
    return pa.FixedSizeListArray.from_arrays(values, np.asarray(vectors).shape[1])


def table_of(data: dict):
    built = {}
    for name, value in data.items():
        if isinstance(value, pa.Array):
            built[name] = value
        elif name == "embedding":
            built[name] = fixed(value)
        else:
            built[name] = pa.array(value, pa.binary() if name == "key" else None)
    return pa.table(built)


def parquet(data: dict) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table_of(data), sink)
    return sink.getvalue().to_pybytes()


def changed(**changes):
    """A shard with some columns replaced (None: the column left out)."""

    def make(path: Path, model) -> None:
        data = columns(model)
        for name, change in changes.items():
            if change is None:
                del data[name]
            else:
                data[name] = change(data[name]) if callable(change) else change
        path.write_bytes(parquet(data))

    return make


def with_vectors(edit):
    def change(vectors):
        vectors = vectors.copy()
        edit(vectors)
        return vectors

    return change


def raw(build):
    def make(path: Path, model) -> None:
        path.write_bytes(build(parquet(columns(model))))

    return make


def directory(path: Path, model) -> None:
    path.mkdir()


def fifo(path: Path, model) -> None:
    os.mkfifo(path)


def ragged(_):
    return pa.array([[1.0, 0.0]] + [[1.0]] * (len(TEXTS) - 1), pa.list_(pa.float32()))


def null_row(vectors):
    rows = [list(map(float, row)) for row in vectors]
    rows[2] = None
    return pa.array(rows, pa.list_(pa.float32(), vectors.shape[1]))


def null_value(vectors):
    rows = [list(map(float, row)) for row in vectors]
    rows[1][0] = None
    return pa.array(rows, pa.list_(pa.float32(), vectors.shape[1]))


def nan_at(row, column):
    return with_vectors(lambda v: v.__setitem__((row, column), np.nan))


CASES = {
    # values that are not embeddings of this model
    "nan": (changed(embedding=nan_at(1, 3)), "non-finite"),
    "nan-everywhere": (changed(embedding=with_vectors(lambda v: v.fill(np.nan))), "non-finite"),
    "inf": (changed(embedding=with_vectors(lambda v: v.__setitem__((0, 0), np.inf))), "non-fin"),
    "null-value": (changed(embedding=null_value), "non-finite"),
    "not-unit": (changed(embedding=lambda v: v * 2), "not unit vectors"),
    "zeros": (changed(embedding=lambda v: np.zeros_like(v)), "not unit vectors"),
    "short-dim": (changed(embedding=lambda v: v[:, :-1]), "dimensional"),
    "long-dim": (changed(embedding=lambda v: np.hstack([v, v[:, :1]])), "dimensional"),
    "other-model": (changed(fingerprint=["0" * 64] * len(TEXTS)), "another model"),
    "one-row-other-model": (
        changed(fingerprint=lambda f: [*f[:-1], "f" * 64]),
        "another model",
    ),
    # shapes and types that are not a shard
    "ragged": (changed(embedding=ragged), "several lengths"),
    "null-row": (changed(embedding=null_row), "without an embedding"),
    "strings": (changed(embedding=pa.array(["x"] * len(TEXTS))), "not lists of numbers"),
    "integers": (
        changed(embedding=lambda v: fixed(np.ones_like(v, dtype=np.int32))),
        "not of floats",
    ),
    "short-keys": (changed(key=[b"k" * 8] * len(TEXTS)), "32-byte"),
    "text-keys": (changed(key=pa.array(["k" * 32] * len(TEXTS))), "32-byte"),
    "no-rows": (
        changed(
            key=pa.array([], pa.binary()),
            fingerprint=pa.array([], pa.string()),
            embedding=lambda v: fixed(v[:0]),
        ),
        "no rows",
    ),
    "no-key-column": (changed(key=None), "not readable"),
    "no-embedding-column": (changed(embedding=None), "not readable"),
    "no-fingerprint-column": (changed(fingerprint=None), "not readable"),
    # bytes that are not Parquet
    "garbage": (raw(lambda data: os.urandom(2000)), "not readable"),
    "empty-file": (raw(lambda data: b""), "not readable"),
    "truncated": (raw(lambda data: data[: len(data) // 2]), "not readable"),
    "json": (raw(lambda data: json.dumps({"key": 1}).encode()), "not readable"),
    # not a file at all
    "directory": (directory, "not a file"),
    "fifo": (fifo, "not a file"),
}
NOT_ON_RERUN = {"directory", "fifo"}  # not a file: a rerun computes the shard again


def shard_folder(root: Path, model) -> Path:
    folder = root / model[0][:32]
    folder.mkdir(parents=True)
    return folder


def assert_one_line(code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_cache_import_refuses_a_bad_shard_and_leaves_the_cache_alone(case, model, tmp_path, capsys):
    make, needle = CASES[case]
    folder = shard_folder(tmp_path / "shards", model)
    (folder / "a-good-one.parquet").write_bytes(parquet(columns(model)))
    make(folder / "b-bad.parquet", model)
    cache = tmp_path / "cache"
    before = snapshot(tmp_path)
    code, _, err = run_cli(
        capsys, "cache", "import", folder, "--model", MODEL, "--cache-dir", cache
    )
    assert_one_line(code, err, needle)
    assert "b-bad.parquet" in err
    assert snapshot(tmp_path) == before and not cache.exists()  # not even the good one


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(set(CASES) - NOT_ON_RERUN))
def test_a_rerun_refuses_a_bad_shard_in_its_folder(case, model, fake_ray, tmp_path, capsys):
    """`encode --engine ray` over a shard folder where the shard of its inputs is bad: the
    rerun reuses it (as after a crash), and must refuse it."""
    make, needle = CASES[case]
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    folder = shard_folder(tmp_path / "shards", model)
    make(folder / engine._shard_name([text_key(t) for t in TEXTS]), model)
    out = tmp_path / "out" / "emb.npy"
    argv = ["encode", "--model", MODEL, "--texts", texts, "--out", out, "--quiet"]
    argv += ["--engine", "ray", "--ray-shards", tmp_path / "shards", "--no-cache"]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line(code, err, needle)
    assert fake_ray.pipelines == 0  # read back, not recomputed
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_nan_in_a_shard_fails_the_rerun_of_a_probe(fake_ray, tmp_path, capsys):
    """The reported case end to end: TOR on Ray, NaN written into a shard, the rerun. It
    once exited 0 with 0.0% at every position."""
    argv = ["run", "tor", "--model", MODEL, "--vocab", "coco", "--n", "2", "--sample", "40"]
    argv += ["--engine", "ray", "--ray-shards", tmp_path / "shards", "--no-cache", "--quiet"]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "first")
    assert code == 0, err
    shards = sorted((tmp_path / "shards").rglob("*.parquet"))
    assert len(shards) == 2  # the names, then the captions
    for shard in shards:
        table = pq.read_table(shard)
        vectors = np.asarray(
            table.column("embedding").combine_chunks().flatten().to_numpy(), np.float32
        )
        data = {
            "key": table.column("key").to_pylist(),
            "fingerprint": table.column("fingerprint").to_pylist(),
            "embedding": np.full((len(table), vectors.size // len(table)), np.nan, np.float32),
        }
        shard.write_bytes(parquet(data))
    pipelines = fake_ray.pipelines
    code, out, err = run_cli(capsys, *argv, "--out", tmp_path / "second")
    assert_one_line(code, err, "non-finite")
    assert fake_ray.pipelines == pipelines  # the shards were reused, not recomputed
    assert not (tmp_path / "second").exists()
    assert "0.0" not in out


@pytest.mark.slow
def test_good_shards_are_reused_and_import_into_the_cache(model, fake_ray, tmp_path, capsys):
    """The control: shards the engine wrote are read back, reused and imported."""
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    argv = ["encode", "--model", MODEL, "--texts", texts, "--quiet", "--engine", "ray"]
    argv += ["--ray-shards", tmp_path / "shards", "--no-cache"]
    assert run_cli(capsys, *argv, "--out", tmp_path / "a.npy")[0] == 0
    assert run_cli(capsys, *argv, "--out", tmp_path / "b.npy")[0] == 0
    assert fake_ray.pipelines == 1
    first, second = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert np.array_equal(first, second) and np.allclose(first, model[2], atol=1e-6)
    folder = tmp_path / "shards" / model[0][:32]
    code, _, err = run_cli(
        capsys, "cache", "import", folder, "--model", MODEL, "--cache-dir", tmp_path / "c"
    )
    assert code == 0 and "imported 6 embeddings" in err


def test_read_shard_checks_the_dimension_it_is_given(model, tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(parquet(columns(model)))
    keys, vectors = engine.read_shard(path, fingerprint=model[0], dim=model[1])
    assert len(keys) == len(TEXTS) and vectors.shape == (len(TEXTS), model[1])
    with pytest.raises(CliposcopeError, match="dimensional"):
        engine.read_shard(path, fingerprint=model[0], dim=model[1] + 1)
    with pytest.raises(CliposcopeError, match="another model"):
        engine.read_shard(path, fingerprint="1" * 64)
