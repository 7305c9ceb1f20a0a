"""Embedding and counting on Ray Data, for work larger than one machine.

* Embedding: inputs are cut into shards of ``shard_size`` (texts sorted first and cut
  where neighbours share the least, so a shard holds whole families of captions that
  start alike and each actor runs the exact shared-prefix path on them, as the local
  engine does on the whole set: ``prefix_family_shards``); each shard is one row of a Ray
  Dataset, and ``map_batches`` runs it through a pool of ``ShardEmbedder`` actors, each of
  which loads the model once from its spec string (and refuses to work if its model's
  fingerprint differs from the driver's: another library version or other weights on a
  worker). An actor returns its shard as Parquet bytes of (key, fingerprint, embedding);
  the driver writes each shard atomically, named by its content, into the shard folder on
  its own disk. A killed actor is restarted by Ray and its shard retried; a rerun after a
  driver crash skips every shard already written. ``CachedEncoder`` stores what the driver
  reads back, and ``import_shards`` loads a shard folder into the cache, so a Ray run and a
  local run share one cache.
* Counting: corpus statistics are tallied per block by ``BlockCounter`` actors and the
  tallies merged (they hold integers only, so any grouping gives the same figures); the
  corpus is read on the driver and shipped a window of blocks at a time, so memory stays
  bounded.

An actor runs its own thread count, so embeddings may differ from a local run in the last
float bits (about 1e-7); the tests check that every metric equals the local engine's.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cliposcope.atomic import atomic_write_bytes
from cliposcope.encoders.base import Encoder, ForwardingEncoder, ImageInput
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.hashing import image_key, text_key

ENGINES = ("local", "ray")
SHARD_SIZE = 4096
WINDOW_BLOCKS = 16  # corpus blocks shipped per pipeline: bounds the driver's memory
MAX_ACTORS = 10_000
CONNECT_TIMEOUT_S = 10.0  # a cluster address that does not answer within this is refused
# Connecting to an address that answers but is no Ray cluster: tries of about 36 s each
# (Ray's own default is 20 of them, 12 minutes); the user's RAY_ setting wins.
GCS_CONNECT_TRIES = 1
_ADDRESS_HINT = (
    "--ray-address HOST:PORT of a running cluster (`ray start --head`), or none for a local "
    "instance"
)


def need_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise CliposcopeError(
            "--engine ray needs Ray Data", hint="pip install 'cliposcope[ray]'"
        ) from None
    return ray


@dataclass(frozen=True)
class RaySettings:
    """``address``: an existing cluster (None starts a local instance); ``actors``: size of
    each actor pool; ``gpus_per_actor`` > 0 places actors on GPUs; ``shard_dir``: where the
    Parquet shards go (reruns resume from it); ``fault_file``: for tests, an actor exits as
    if killed on its first shard while this file exists."""

    address: str | None = None
    actors: int = 2
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    shard_size: int = SHARD_SIZE
    shard_dir: str | None = None
    fault_file: str | None = None
    quiet: bool = False  # --quiet: Ray's own log lines are silenced too

    def check(self) -> None:
        check_range("--ray-actors", self.actors, 1, MAX_ACTORS, hint="1 to 10,000 actors")
        check_range("shard size", self.shard_size, 1, hint="a positive number of inputs")
        if self.address is not None:
            bootstrap_address(self.address)

    def describe(self) -> dict[str, Any]:
        from cliposcope.provenance import distribution_version

        record = asdict(self)
        record.pop("fault_file")
        record.pop("quiet")
        return {"engine": "ray", "ray_version": distribution_version("ray"), **record}

    def count_corpus(self, corpus, counter, settings):
        """The engine a corpus-counting probe is given: tallies counted on actors."""
        return count_with_ray(corpus, counter, settings, self)


def bootstrap_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``--ray-address`` (HOST:PORT, or ray://HOST:PORT for Ray Client),
    None for "auto" (Ray finds the cluster itself) and "local" (a local instance);
    anything else is refused."""
    if address in ("auto", "local"):
        return None
    target = address.removeprefix("ray://")
    host, colon, port = target.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:6379
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise CliposcopeError(
            f"--ray-address {address!r} is not HOST:PORT", hint="e.g. --ray-address 10.0.0.5:6379"
        )
    return host, int(port)


def probe_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse, within ``timeout`` seconds, a cluster address nothing listens on: Ray itself
    would retry for many minutes. (An address that answers but is no Ray cluster is bounded
    by ``GCS_CONNECT_TRIES``.)"""
    import socket

    endpoint = bootstrap_address(address)
    if endpoint is None:
        return
    host, port = endpoint
    hosts = [host]
    with contextlib.suppress(Exception):  # where Ray itself connects (localhost: the node IP)
        from ray._private.services import canonicalize_bootstrap_address

        resolved = canonicalize_bootstrap_address(f"{host}:{port}")
        if resolved:
            hosts.append(resolved.rpartition(":")[0])
    problem = "no answer"
    for candidate in dict.fromkeys(hosts):
        try:
            with socket.create_connection((candidate, port), timeout=timeout):
                return
        except OSError as error:  # refused, unreachable, timed out, unknown host
            problem = (
                str(error.strerror or error)
                if not isinstance(error, TimeoutError)
                else (f"no answer within {timeout:g} s")
            )
    raise CliposcopeError(f"cannot reach Ray at {address}: {problem}", hint=_ADDRESS_HINT)


@contextlib.contextmanager
def _quiet_ray(quiet: bool) -> Iterator[None]:
    """Ray's log lines off for a quiet run: its Python loggers' console output, and its
    C++ core's lines on stderr (the level is read when Ray starts: the processes started
    from here inherit it, so their log files keep fatal lines only). The settings are
    restored on exit."""
    import logging

    if not quiet:
        yield
        return
    saved_env = os.environ.get("RAY_BACKEND_LOG_LEVEL")
    if saved_env is None:
        os.environ["RAY_BACKEND_LOG_LEVEL"] = "fatal"
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data", "ray.train", "ray.tune")]
    saved_levels = [logger.level for logger in loggers]
    consoles = [
        handler
        for handler in logging.getLogger("ray.data").handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and type(handler).__name__ != "SessionFileHandler"
    ]
    saved_handlers = [handler.level for handler in consoles]
    logging.getLogger("ray").setLevel(logging.CRITICAL)
    for handler in consoles:  # ray.data keeps its own level for its log file
        handler.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)
        for handler, level in zip(consoles, saved_handlers, strict=True):
            handler.setLevel(level)
        if saved_env is None:
            os.environ.pop("RAY_BACKEND_LOG_LEVEL", None)


@contextlib.contextmanager
def _silenced_stderr(quiet: bool) -> Iterator[None]:
    """For a quiet run, file descriptor 2 to /dev/null while Ray starts or connects: its
    C++ core logs there before any log level applies (e.g. each failed connection
    attempt). Nothing of cliposcope's own is said meanwhile; errors are said after."""
    import sys

    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _bounded_connect(address: str | None) -> Iterator[None]:
    """Ray's retries when connecting to an existing cluster, bounded (unless the user set
    them): about 40 s in all instead of 12 minutes."""
    variable = "RAY_gcs_server_port_wait_time_s"
    if address is None or variable in os.environ:
        yield
        return
    os.environ[variable] = str(GCS_CONNECT_TRIES)
    try:
        yield
    finally:
        os.environ.pop(variable, None)


@contextlib.contextmanager
def ray_session(settings: RaySettings) -> Iterator[Any]:
    """Ray, connected to ``settings.address`` or a local instance started here (and shut
    down on exit); a session already open is reused. An address nothing listens on is
    refused within ``CONNECT_TIMEOUT_S``; with ``settings.quiet`` Ray logs nothing to the
    terminal."""
    settings.check()
    ray = need_ray()
    started = False
    with _quiet_ray(settings.quiet):
        if not ray.is_initialized():
            arguments = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if settings.address is None:  # a fresh local instance, whatever RAY_ADDRESS says
                arguments |= {"address": "local", "num_cpus": max(1, int(os.cpu_count() or 1))}
            else:
                probe_address(settings.address)
                arguments["address"] = settings.address
            try:
                with _bounded_connect(settings.address), _silenced_stderr(settings.quiet):
                    ray.init(**arguments)
            except Exception as error:  # ConnectionError, RuntimeError, ValueError, ...
                ray.shutdown()
                raise CliposcopeError(
                    f"cannot start or reach Ray at {settings.address or 'local'}: "
                    f"{(str(error).strip().splitlines() or [type(error).__name__])[0]}",
                    hint=_ADDRESS_HINT,
                ) from None
            started = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        try:
            yield ray
        finally:
            if started:
                ray.shutdown()


def _shard_name(keys: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key)
    return f"{digest.hexdigest()[:32]}.parquet"


class ShardEmbedder:
    """A Ray actor: one model, loaded once; each call embeds one shard and writes it."""

    def __init__(
        self,
        spec: str,
        load_options: dict,
        kind: str,
        fingerprint: str,
        fault_file: str | None = None,
    ):
        from cliposcope.encoders import load_encoder

        self.encoder = load_encoder(spec, **load_options)
        if self.encoder.info.fingerprint != fingerprint:
            raise CliposcopeError(
                f"a Ray worker's {spec} is not the driver's (fingerprint "
                f"{self.encoder.info.fingerprint[:12]} there, {fingerprint[:12]} here)",
                hint="install the same library versions and weights on every node",
            )
        self.kind = kind
        self.fingerprint = fingerprint
        self.fault_file = fault_file

    def __call__(self, batch: dict) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.fault_file and os.path.exists(self.fault_file):
            os.remove(self.fault_file)
            os._exit(1)  # as if the worker were killed: Ray restarts the actor and retries
        items = [str(item) for item in batch["items"][0]]
        if self.kind == "text":
            vectors = self.encoder.encode_text(items)
            keys = [text_key(item) for item in items]
        else:
            vectors = self.encoder.encode_images(items)
            keys = [image_key(item) for item in items]
        embedding = pa.FixedSizeListArray.from_arrays(
            pa.array(vectors.astype(np.float32).ravel()), vectors.shape[1]
        )
        table = pa.table(
            {
                "key": pa.array(keys, pa.binary()),
                "fingerprint": pa.array([self.fingerprint] * len(keys)),
                "embedding": embedding,
            }
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return {
            "name": batch["name"],
            "shard": np.array([sink.getvalue().to_pybytes()], dtype=object),
        }


def _ray_failure(error: Exception) -> CliposcopeError:
    """A worker's error as one line: our own error as the worker raised it, else the
    innermost exception Ray wrapped."""
    inner, seen = error, set()
    while (cause := getattr(inner, "cause", None) or inner.__cause__) is not None:
        if isinstance(cause, CliposcopeError):
            return cause
        if id(cause) in seen:
            break
        seen.add(id(cause))
        inner = cause
    marker = "CliposcopeError: "
    for line in str(error).splitlines():  # an actor's constructor error arrives as text
        if marker in line:
            message, _, hint = line.split(marker, 1)[1].partition(" (hint: ")
            return CliposcopeError(message.strip(), hint=hint.rstrip(")") or None)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return CliposcopeError(
        f"the Ray run failed: {lines[-1] if lines else type(error).__name__}",
        hint="see the Ray logs for the worker's traceback",
    )


def _shared_start(first: str, second: str) -> int:
    """How many leading characters two texts share."""
    for position, (one, other) in enumerate(zip(first, second, strict=False)):
        if one != other:
            return position
    return min(len(first), len(second))


def prefix_family_shards(texts: Sequence[str], size: int) -> list[list[int]]:
    """Indices of ``texts`` in ceil(len / size) shards of at most about ``size``: in sorted
    order, so captions that start alike are neighbours, and each cut moved back from its
    target (a multiple of ``size``) by up to a quarter of ``size`` to where neighbours
    share the shortest start. A family that fits in a quarter shard is never split."""
    order = sorted(range(len(texts)), key=texts.__getitem__)
    count = -(-len(order) // size)
    slack = size // 4
    cuts = [0]
    for target in range(size, count * size, size):
        window = range(max(cuts[-1] + 1, target - slack), target + 1)
        cuts.append(
            min(
                window,
                key=lambda cut: (
                    _shared_start(texts[order[cut - 1]], texts[order[cut]]),
                    target - cut,
                ),
            )
        )
    cuts.append(len(order))
    return [order[start:stop] for start, stop in itertools.pairwise(cuts)]


def embed_with_ray(
    spec: str,
    load_options: dict,
    items: Sequence[str],
    kind: str,
    fingerprint: str,
    settings: RaySettings,
    shard_root: Path,
    *,
    dim: int | None = None,
) -> tuple[np.ndarray, dict]:
    """Embeddings of ``items`` (texts, or image paths) in order, and what was done. Every
    shard read back (written by this run or an earlier one) is checked as ``read_shard``
    checks it: this model's fingerprint, ``dim`` values a row, finite unit vectors."""
    ray = need_ray()
    if not items:
        raise ValueError("nothing to embed")
    shard_dir = shard_root / fingerprint[:32]
    shard_dir.mkdir(parents=True, exist_ok=True)
    keyed = [text_key(i) if kind == "text" else image_key(i) for i in items]
    if kind == "text":
        groups = prefix_family_shards(items, settings.shard_size)
    else:
        starts = range(0, len(items), settings.shard_size)
        groups = [
            list(range(start, min(start + settings.shard_size, len(items)))) for start in starts
        ]
    shards = [(_shard_name([keyed[i] for i in group]), group) for group in groups]
    pending = {
        name: [items[i] for i in group]
        for name, group in shards
        if not (shard_dir / name).is_file()
    }
    if pending:
        dataset = ray.data.from_items(
            [{"name": name, "items": chunk} for name, chunk in pending.items()],
            override_num_blocks=len(pending),
        )
        constructor = {
            "spec": spec,
            "load_options": load_options,
            "kind": kind,
            "fingerprint": fingerprint,
            "fault_file": settings.fault_file,
        }
        embedded = dataset.map_batches(
            ShardEmbedder,
            fn_constructor_kwargs=constructor,
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(settings.actors, len(pending))),
            num_cpus=settings.cpus_per_actor,
            num_gpus=settings.gpus_per_actor,
        )
        try:
            for row in embedded.iter_rows():  # each shard lands on the driver's disk
                atomic_write_bytes(shard_dir / row["name"], row["shard"])
        except Exception as error:  # Ray wraps a worker's error in its own types
            raise _ray_failure(error) from None
    vectors = None
    for name, group in shards:
        keys, shard_vectors = read_shard(shard_dir / name, fingerprint=fingerprint, dim=dim)
        if keys != [keyed[i] for i in group]:
            raise CliposcopeError(
                f"shard {shard_dir / name} does not hold its inputs",
                hint="remove the shard folder and run again",
            )
        if vectors is None:
            vectors = np.empty((len(items), shard_vectors.shape[1]), dtype=shard_vectors.dtype)
        vectors[group] = shard_vectors
    record = {"shards": len(shards), "computed": len(pending), "reused": len(shards) - len(pending)}
    return vectors, record


SHARD_HINT = "remove it and run again: it is recomputed"
_SHARD_NORM_TOLERANCE = 1e-3  # as the cache's for fp32: |squared norm - 1|


def read_shard(
    path: Path,
    *,
    fingerprint: str | None = None,
    dim: int | None = None,
    hint: str = SHARD_HINT,
) -> tuple[list[bytes], np.ndarray]:
    """The (keys, embeddings) of one Parquet shard, refused with one clear error unless
    it is what ``ShardEmbedder`` writes: a key (32 bytes) per row, the fingerprint of the
    model (``fingerprint``, when given) on every row, and an embedding of ``dim`` values
    (when given; the same for every row) that is finite and of unit length."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def refuse(problem: str) -> CliposcopeError:
        return CliposcopeError(f"shard {path} {problem}", hint=hint)

    if not Path(path).is_file():  # a folder would be read as a dataset, a pipe would block
        raise refuse("is not a file")
    try:
        table = pq.read_table(path)
        keys = table.column("key").to_pylist()
        prints = table.column("fingerprint").to_pylist()
        column = table.column("embedding").combine_chunks()
        if not (pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type)):
            raise refuse(f"holds embeddings of type {column.type}, not lists of numbers")
        if column.null_count:
            raise refuse(f"holds {column.null_count} rows without an embedding")
        if not pa.types.is_floating(column.type.value_type):
            raise refuse(f"holds embeddings of {column.type.value_type}, not of floats")
        lengths = set(column.value_lengths().to_pylist()) if len(column) else set()
        flat = column.flatten().to_numpy(zero_copy_only=False)
    except CliposcopeError:
        raise
    except (pa.ArrowException, KeyError, OSError, ValueError, TypeError) as error:
        from cliposcope.errors import describe_exception

        raise refuse(f"is not readable ({describe_exception(error, 200)})") from None
    if not keys:
        raise refuse("holds no rows")
    if not all(isinstance(key, bytes) and len(key) == 32 for key in keys):
        raise refuse("holds a key that is not a 32-byte input key")
    if fingerprint is not None and set(prints) != {fingerprint}:
        other = next((p for p in prints if p != fingerprint), None)
        raise CliposcopeError(
            f"shard {path} holds embeddings of another model (fingerprint "
            f"{str(other)[:12]}, this model's {fingerprint[:12]})",
            hint="import or use the shard folder named by this model's fingerprint",
        )
    if len(lengths) != 1:
        raise refuse(f"holds embeddings of several lengths ({sorted(lengths)[:4]})")
    (width,) = lengths
    if dim is not None and width != dim:
        raise refuse(f"holds {width}-dimensional embeddings; the model's have {dim}")
    vectors = np.asarray(flat, dtype=np.float32).reshape(len(keys), width)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise refuse(
            f"holds non-finite embeddings (NaN or inf) in {int(bad.sum())} of {len(keys)} rows"
        )
    norms = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)
    off = np.abs(norms - 1.0) > _SHARD_NORM_TOLERANCE
    if off.any():
        raise refuse(
            f"holds embeddings that are not unit vectors in {int(off.sum())} of {len(keys)} rows"
        )
    return keys, vectors


IMPORT_HINT = "remove it from the folder (a rerun of the Ray job recomputes it) and import again"


def check_shards(folder: Path, fingerprint: str, dim: int) -> int:
    """Read every Parquet shard of ``folder`` as ``read_shard`` checks it, keeping none in
    memory; the rows they hold. Run before a cache is opened, so a bad shard leaves no
    trace there."""
    return sum(
        len(read_shard(path, fingerprint=fingerprint, dim=dim, hint=IMPORT_HINT)[0])
        for path in sorted(Path(folder).glob("*.parquet"))
    )


def import_shards(folder: Path, store) -> int:
    """Load every Parquet shard of one encoder's folder into a cache ``EmbeddingStore``,
    one at a time (bounded memory); each is checked before any of its rows is stored
    (``read_shard``: the store's fingerprint and dimension, finite unit vectors), and the
    first that fails ends the import with one error naming it. Returns the rows imported."""
    rows = 0
    for path in sorted(Path(folder).glob("*.parquet")):
        keys, vectors = read_shard(
            path, fingerprint=store.fingerprint, dim=store.dim, hint=IMPORT_HINT
        )
        store.put_many(keys, store.as_stored(vectors))
        rows += len(keys)
    return rows


class RayEncoder(ForwardingEncoder):
    """The same model as ``local`` (whose info it carries, so the cache and the results
    are shared with local runs), embedding on a Ray actor pool."""

    def __init__(
        self, local: Encoder, spec: str, load_options: dict, settings: RaySettings, shard_root: Path
    ):
        self.local = self.wrapped = local
        self.info = local.info
        self.spec = spec
        self.load_options = load_options
        self.settings = settings
        self.shard_root = shard_root
        self.runs: list[dict] = []

    def _run(self, items: list[str], kind: str) -> np.ndarray:
        vectors, record = embed_with_ray(
            self.spec,
            self.load_options,
            items,
            kind,
            self.info.fingerprint,
            self.settings,
            self.shard_root,
            dim=self.info.embed_dim,
        )
        self.runs.append(record | {"kind": kind, "inputs": len(items)})
        return vectors

    def encode_text(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        from cliposcope.encoders.base import check_texts

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        return self._run(texts, "text")

    def encode_images(self, images: Sequence[ImageInput], *, progress: bool = False) -> np.ndarray:
        images = list(images)
        if (
            not self.info.has_image_tower
            or not images
            or not all(isinstance(image, str | Path) for image in images)
        ):  # in-memory pictures have no path a worker could read: embedded here
            return self.local.encode_images(images)
        return self._run([str(Path(image).resolve()) for image in images], "image")


class BlockCounter:
    """A Ray actor: corpus-statistics tallies of one block of caption records."""

    def __init__(self, settings: dict, vocabulary: list[str], sized: bool, clustered: bool):
        from cliposcope.probes.corpus_stats import CorpusCounter, CorpusStatsSettings

        self.counter = CorpusCounter(
            CorpusStatsSettings(**settings), vocabulary, sized, clustered=clustered
        )

    def __call__(self, batch: dict) -> dict:
        from cliposcope.data.corpus import CaptionRecord

        records = []
        rows = zip(batch["caption"], batch["objects"], batch["source"], strict=True)
        for caption, objects, source in rows:
            sizes = json.loads(objects) if objects else None  # "": no annotations
            records.append(CaptionRecord(caption, sizes, source))  # source: the image
        tallies = json.dumps(self.counter.count(records).to_record())
        return {"tallies": np.array([tallies], dtype=object)}


def count_with_ray(corpus, counter, settings, ray_settings: RaySettings, block_rows: int = 8192):
    """Corpus tallies counted on an actor pool, block by block, and merged. The corpus is
    read here (streamed) and shipped ``WINDOW_BLOCKS`` blocks of ``block_rows`` captions at
    a time, so the driver's memory stays bounded."""
    from cliposcope.probes.corpus_stats import CorpusTallies

    ray = need_ray()
    constructor = {
        "settings": asdict(settings),
        "vocabulary": list(counter.matcher.vocabulary),
        "sized": counter.sized,
        "clustered": counter.clustered,
    }
    tallies = counter.empty()

    def count(rows: list[dict]) -> None:
        blocks = -(-len(rows) // block_rows)
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        counted = dataset.map_batches(
            BlockCounter,
            fn_constructor_kwargs=constructor,
            batch_size=block_rows,
            compute=ray.data.ActorPoolStrategy(size=min(ray_settings.actors, blocks)),
            num_cpus=ray_settings.cpus_per_actor,
        )
        try:
            for row in counted.iter_rows():  # integer counts: any merge order gives the same
                tallies.merge(CorpusTallies.from_record(json.loads(row["tallies"])))
        except Exception as error:
            raise _ray_failure(error) from None

    window: list[dict] = []
    for batch in corpus.batches(counter.matcher.canonical):
        for record in batch:
            # a string either way: a column of only None would reach the actors as nulls
            objects = "" if record.objects is None else json.dumps(record.objects)
            window.append({"caption": record.caption, "objects": objects, "source": record.source})
            if len(window) == WINDOW_BLOCKS * block_rows:
                count(window)
                window = []
    if window:
        count(window)
    return tallies
