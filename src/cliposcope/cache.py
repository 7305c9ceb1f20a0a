"""On-disk embedding cache: one SQLite file per encoder fingerprint.

Each row is (input key, float32 vector, crc32 of the vector bytes). A row whose size,
checksum or values do not check out is treated as missing and recomputed; a file SQLite
cannot read is moved aside (never deleted) and a fresh one started. A store records the
model it holds (fingerprint, dimension, storage): a store of another model under this
one's name is refused, never read. A disk that is full or cannot be written ends the run
with one error naming the store (it is a property of the machine, not of the file, so the
store is left as it is). Misses are encoded and committed chunk by chunk, so an
interrupted run keeps what it finished and the next run resumes from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cliposcope.encoders.base import (
    Encoder,
    EncoderInfo,
    ForwardingEncoder,
    ImageInput,
    check_texts,
    l2_normalise,
)
from cliposcope.errors import CliposcopeError
from cliposcope.hashing import image_key, text_key
from cliposcope.progress import progress_bar

CACHE_ENV_VAR = "CLIPOSCOPE_CACHE_DIR"
_LOOKUP_GROUP = 500
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$CLIPOSCOPE_CACHE_DIR, else the user cache dir (e.g. ~/.cache/cliposcope/embeddings)."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cliposcope")) / "embeddings"


@dataclass
class CacheStats:
    """hits: inputs served from disk; misses: distinct inputs sent to the encoder."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0


# SQLite's result codes that say the machine refused (no space, no permission, an I/O
# error, another writer), not that the file is damaged: such a store is left alone.
_MACHINE_ERRORS = (
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_PERM",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_NOLFS",
    "SQLITE_AUTH",
)


def _machine_refused(error: sqlite3.Error) -> bool:
    name = getattr(error, "sqlite_errorname", None)
    if name:
        return name.startswith(_MACHINE_ERRORS)
    return isinstance(error, sqlite3.OperationalError)  # no code: not a damaged file


STORAGE = {"fp32": np.float32, "fp16": np.float16}
# How far a stored vector's squared norm may stray from 1 before it counts as corrupt:
# fp16 rounds each element to about 5e-4 of its value.
_NORM_TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2}


class EmbeddingStore:
    """The vectors of one encoder fingerprint, in one SQLite file (fp32, or fp16 when asked
    for: half the disk, about 1e-3 off per element)."""

    def __init__(self, path: Path, info: EncoderInfo, storage: str = "fp32"):
        if storage not in STORAGE:
            raise CliposcopeError(
                f"cache storage {storage!r} is not one I know", hint=f"one of {', '.join(STORAGE)}"
            )
        self.path = path
        self.fingerprint = info.fingerprint
        self.dim = info.embed_dim
        self.storage = storage
        self.dtype = np.dtype(STORAGE[storage])
        self._meta = json.dumps(
            {
                "fingerprint": info.fingerprint,
                "spec": info.spec,
                "dim": self.dim,
                "storage": storage,
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            connection = self._connect()
            connection.execute("SELECT count(*) FROM emb WHERE rowid < 0").fetchall()
            recorded = connection.execute(
                "SELECT value FROM meta WHERE name = 'encoder'"
            ).fetchone()
        except sqlite3.DatabaseError as error:
            if _machine_refused(error):
                raise self._refused(error) from None
            return self._start_over(error)
        try:
            self._check_model(recorded[0] if recorded else None)
        except BaseException:
            connection.close()
            raise
        return connection

    def _check_model(self, recorded) -> None:
        """Refuse a store that says it holds another model's embeddings (or another
        dimension or storage) than the name it was found under."""
        try:
            record = json.loads(recorded) if isinstance(recorded, str) else None
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise CliposcopeError(
                f"embedding cache {self.path} does not say which model it holds",
                hint="remove that file (it is rebuilt), or give another --cache-dir",
            )
        expected = {"fingerprint": self.fingerprint, "dim": self.dim, "storage": self.storage}
        found = {name: record.get(name) for name in expected}
        if found["storage"] is None:  # stores before storage was recorded: fp32
            found["storage"] = "fp32"
        if found != expected:
            changed = ", ".join(
                f"{name} {str(found[name])[:16]} there, {str(value)[:16]} here"
                for name, value in expected.items()
                if found[name] != value
            )
            raise CliposcopeError(
                f"embedding cache {self.path} holds another model's embeddings ({changed})",
                hint="remove that file (it is rebuilt), or give another --cache-dir",
            )

    def _refused(self, error: sqlite3.Error) -> CliposcopeError:
        return CliposcopeError(
            f"cannot write the embedding cache in {self.path.parent.parent}: {error} "
            f"({self.path.name})",
            hint="free disk space or fix the folder's permissions, give another --cache-dir, "
            "or run with --no-cache",
        )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=60)
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS emb (key BLOB PRIMARY KEY, vec BLOB NOT NULL, "
                "crc INTEGER NOT NULL)"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)"
            )
            connection.execute("INSERT OR IGNORE INTO meta VALUES ('encoder', ?)", (self._meta,))
            connection.commit()
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def _start_over(self, error: Exception) -> sqlite3.Connection:
        with_suffix = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        log.warning(
            "embedding cache %s is unreadable (%s); moved to %s", self.path, error, with_suffix
        )
        if hasattr(self, "_connection"):
            self._connection.close()
        for suffix in ("-journal", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        os.replace(self.path, with_suffix)
        try:
            return self._connect()
        except sqlite3.Error as again:  # a fresh file fails too: the machine refuses
            raise self._refused(again) from None

    def _valid(self, blob: bytes, crc: int) -> np.ndarray | None:
        if len(blob) != self.dtype.itemsize * self.dim or zlib.crc32(blob) != crc:
            return None
        vector = np.frombuffer(blob, dtype=self.dtype).astype(np.float32)
        if not np.all(np.isfinite(vector)):
            return None
        squared = float(vector.astype(np.float64) @ vector.astype(np.float64))  # no overflow
        if abs(squared - 1.0) > _NORM_TOLERANCE[self.storage]:
            return None
        return vector if self.storage == "fp32" else l2_normalise(vector[None])[0]

    def as_stored(self, vectors: np.ndarray) -> np.ndarray:
        """What a later lookup returns for these vectors (fp16: rounded, renormalised), so
        a first run and a cached rerun give the same numbers."""
        if self.storage == "fp32":
            return vectors
        return l2_normalise(vectors.astype(self.dtype).astype(np.float32))

    def get_many(self, keys: Sequence[bytes], stats: CacheStats) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        try:
            for start in range(0, len(keys), _LOOKUP_GROUP):
                group = list(keys[start : start + _LOOKUP_GROUP])
                marks = ",".join("?" * len(group))
                rows = self._connection.execute(
                    f"SELECT key, vec, crc FROM emb WHERE key IN ({marks})", group
                ).fetchall()
                for key, blob, crc in rows:
                    vector = self._valid(blob, crc)
                    if vector is None:
                        stats.corrupt += 1
                    else:
                        found[bytes(key)] = vector
        except sqlite3.DatabaseError as error:
            if _machine_refused(error):
                raise self._refused(error) from None
            self._connection = self._start_over(error)
            return {}
        return found

    def put_many(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=self.dtype)
        rows = []
        for key, vector in zip(keys, vectors, strict=True):
            blob = vector.tobytes()
            rows.append((key, blob, zlib.crc32(blob)))
        try:
            with self._connection:
                self._connection.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?, ?)", rows)
        except sqlite3.DatabaseError as error:
            if _machine_refused(error):
                raise self._refused(error) from None
            self._connection = self._start_over(error)
            try:
                with self._connection:
                    self._connection.executemany(
                        "INSERT OR REPLACE INTO emb VALUES (?, ?, ?)", rows
                    )
            except sqlite3.Error as again:
                raise self._refused(again) from None

    def close(self) -> None:
        self._connection.close()


class CachedEncoder(ForwardingEncoder):
    """Wraps an encoder: looks inputs up by content, encodes only the misses, stores them."""

    def __init__(
        self,
        encoder: Encoder,
        cache_dir: str | Path | None = None,
        chunk_size: int = 2048,
        storage: str = "fp32",
    ):
        self.encoder = self.wrapped = encoder
        self.info = encoder.info
        if storage != "fp32":  # results say their embeddings were rounded in storage
            settings = {**encoder.info.settings, "cache_storage": storage}
            self.info = dataclasses.replace(encoder.info, settings=settings)
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        fingerprint = encoder.info.fingerprint
        name = fingerprint if storage == "fp32" else f"{fingerprint}-{storage}"
        self.store = EmbeddingStore(
            root / fingerprint[:2] / f"{name}.sqlite", encoder.info, storage
        )
        self.chunk_size = chunk_size
        self.stats = CacheStats()

    def encode_text(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        texts = check_texts(texts)
        keys = [text_key(text) for text in texts]
        return self._lookup_or_encode(keys, texts, self.encoder.encode_text, progress)

    def encode_images(self, images: Sequence[ImageInput], *, progress: bool = False) -> np.ndarray:
        images = list(images)
        if not self.info.has_image_tower:
            return self.encoder.encode_images(images)  # raises the adapter's clear error
        keys = [image_key(item) for item in images]
        return self._lookup_or_encode(keys, images, self.encoder.encode_images, progress)

    def _lookup_or_encode(self, keys, items, encode, progress: bool) -> np.ndarray:
        out = np.empty((len(keys), self.info.embed_dim), dtype=np.float32)
        found = self.store.get_many(list(dict.fromkeys(keys)), self.stats)
        first_index: dict[bytes, int] = {}
        for index, key in enumerate(keys):
            if key in found:
                out[index] = found[key]
                self.stats.hits += 1
            elif key not in first_index:
                first_index[key] = index
        missing = list(first_index.items())
        self.stats.misses += len(missing)
        with progress_bar(
            total=len(missing),
            enabled=progress,
            leave=False,
            unit="input",
            desc="encode (cache misses)",
        ) as bar:
            for start in range(0, len(missing), self.chunk_size):
                chunk = missing[start : start + self.chunk_size]
                vectors = self.store.as_stored(encode([items[index] for _, index in chunk]))
                self.store.put_many([key for key, _ in chunk], vectors)
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    found[key] = vector
                bar.update(len(chunk))
        if missing:  # fill every position, duplicates of a freshly encoded input included
            for index, key in enumerate(keys):
                if key in first_index:
                    out[index] = found[key]
        return out


@dataclass(frozen=True)
class StoreInfo:
    """One encoder's store, as `cliposcope cache info` lists it."""

    path: Path
    spec: str
    storage: str
    rows: int
    size_bytes: int
    last_used: float  # seconds since the epoch (file modification time)


def list_stores(root: str | Path | None = None) -> list[StoreInfo]:
    """Every embedding store under the cache folder, largest first."""
    root = Path(root) if root is not None else default_cache_dir()
    stores = []
    for path in sorted(root.glob("*/*.sqlite")) if root.is_dir() else []:
        spec, storage, rows = "(unreadable)", "?", 0
        try:
            uri = path.absolute().as_uri() + "?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                meta = db.execute("SELECT value FROM meta WHERE name = 'encoder'").fetchone()
                record = json.loads(meta[0]) if meta else {}
                record = record if isinstance(record, dict) else {}
                spec, storage = record.get("spec", "?"), record.get("storage", "fp32")
                rows = db.execute("SELECT count(*) FROM emb").fetchone()[0]
        except (sqlite3.Error, ValueError):
            pass
        size = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
        stores.append(StoreInfo(path, spec, storage, rows, size, path.stat().st_mtime))
    return sorted(stores, key=lambda store: -store.size_bytes)


def prune_stores(stores: Sequence[StoreInfo]) -> int:
    """Remove these stores (with their journal files); returns the bytes freed."""
    freed = 0
    for store in stores:
        for path in store.path.parent.glob(f"{store.path.name}*"):
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    return freed
