"""Embedding and counting on Ray Data, for work larger than one machine.

* Embedding: inputs are cut into shards of ``shard_size``; each shard is one row of a Ray
  Dataset, and ``map_batches`` runs it through a pool of ``ShardEmbedder`` actors, each of
  which loads the model once from its spec string. An actor writes its shard as a Parquet
  file of (key, fingerprint, embedding) named by the shard's content, atomically, so a
  killed actor's shard is simply retried (Ray restarts the actor) and a rerun after a
  driver crash skips every shard already written. The driver reads the shards back in
  input order; ``CachedEncoder`` then stores them, so a Ray run and a local run share one
  cache.
* Counting: corpus statistics are tallied per block by ``BlockCounter`` actors and the
  tallies merged (they hold integers only, so any grouping gives the same figures).

Shards are cut at the local engine's chunk boundaries, so every model batch holds the same
inputs; an actor runs on its own CPU thread(s), so embeddings may differ from a local run in
the last float bits (about 1e-7), and the tests check every metric equals the local
engine's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cliposcope.atomic import atomic_write_bytes
from cliposcope.encoders.base import Encoder, ImageInput
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.hashing import image_key, text_key

ENGINES = ("local", "ray")
SHARD_SIZE = 4096  # the local TOR chunk: the same inputs in every model batch


def need_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise CliposcopeError("--engine ray needs Ray Data",
                              hint="pip install 'cliposcope[ray]'") from None  # fmt: skip
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

    def check(self) -> None:
        check_range("--ray-actors", self.actors, 1, hint="a positive number of actors")
        check_range("shard size", self.shard_size, 1, hint="a positive number of inputs")

    def describe(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("fault_file")
        return {"engine": "ray", **record}


@contextlib.contextmanager
def ray_session(settings: RaySettings) -> Iterator[Any]:
    """Ray, connected to ``settings.address`` or a local instance started here (and shut
    down on exit); a session already open is reused."""
    ray = need_ray()
    started = False
    if not ray.is_initialized():
        arguments = {"include_dashboard": False, "log_to_driver": False,
                     "configure_logging": False}  # fmt: skip
        if settings.address is None:
            arguments["num_cpus"] = max(1, int(os.cpu_count() or 1))
        try:
            ray.init(address=settings.address, **arguments)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise CliposcopeError(f"cannot start or reach Ray at {settings.address or 'local'}: "
                                  f"{str(error).splitlines()[0]}",
                                  hint="--ray-address HOST:PORT of a running cluster, or "
                                  "none for a local instance") from None  # fmt: skip
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

    def __init__(self, spec: str, load_options: dict, kind: str, shard_dir: str,
                 fingerprint: str, fault_file: str | None = None):  # fmt: skip
        from cliposcope.encoders import load_encoder

        self.encoder = load_encoder(spec, **load_options)
        self.kind = kind
        self.shard_dir = Path(shard_dir)
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
        table = pa.table({"key": pa.array(keys, pa.binary()),
                          "fingerprint": pa.array([self.fingerprint] * len(keys)),
                          "embedding": embedding})  # fmt: skip
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(self.shard_dir / str(batch["name"][0]), sink.getvalue().to_pybytes())
        return {"name": batch["name"], "rows": np.array([len(items)])}


def embed_with_ray(
    spec: str,
    load_options: dict,
    items: Sequence[str],
    kind: str,
    fingerprint: str,
    settings: RaySettings,
    shard_root: Path,
) -> tuple[np.ndarray, dict]:
    """Embeddings of ``items`` (texts, or image paths) in order, and what was done."""
    ray = need_ray()
    import pyarrow.parquet as pq

    shard_dir = shard_root / fingerprint[:32]
    shard_dir.mkdir(parents=True, exist_ok=True)
    keyed = [text_key(i) if kind == "text" else image_key(i) for i in items]
    shards = []
    for start in range(0, len(items), settings.shard_size):
        stop = start + settings.shard_size
        shards.append((_shard_name(keyed[start:stop]), list(items[start:stop])))
    pending = [(name, chunk) for name, chunk in shards if not (shard_dir / name).is_file()]
    if pending:
        dataset = ray.data.from_items([{"name": name, "items": chunk} for name, chunk in pending],
                                      override_num_blocks=len(pending))  # fmt: skip
        constructor = {"spec": spec, "load_options": load_options, "kind": kind,
                       "shard_dir": str(shard_dir), "fingerprint": fingerprint,
                       "fault_file": settings.fault_file}  # fmt: skip
        dataset.map_batches(
            ShardEmbedder, fn_constructor_kwargs=constructor, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(settings.actors, len(pending))),
            num_cpus=settings.cpus_per_actor, num_gpus=settings.gpus_per_actor,
        ).materialize()  # fmt: skip
    parts = []
    for (name, chunk), start in zip(shards, range(0, len(items), settings.shard_size),
                                    strict=True):  # fmt: skip
        table = pq.read_table(shard_dir / name)
        keys = table.column("key").to_pylist()
        if keys != keyed[start : start + len(chunk)]:
            raise CliposcopeError(f"shard {shard_dir / name} does not hold its inputs",
                                  hint="remove the shard folder and run again")  # fmt: skip
        flat = table.column("embedding").combine_chunks().flatten().to_numpy()
        parts.append(flat.reshape(len(keys), -1).astype(np.float32))
    record = {"shards": len(shards), "computed": len(pending), "reused": len(shards) - len(pending)}
    return np.concatenate(parts), record


class RayEncoder(Encoder):
    """The same model as ``local`` (whose info it carries, so the cache and the results
    are shared with local runs), embedding on a Ray actor pool."""

    def __init__(self, local: Encoder, spec: str, load_options: dict, settings: RaySettings,
                 shard_root: Path):  # fmt: skip
        self.local = local
        self.info = local.info
        self.spec = spec
        self.load_options = load_options
        self.settings = settings
        self.shard_root = shard_root
        self.runs: list[dict] = []

    def _run(self, items: list[str], kind: str) -> np.ndarray:
        vectors, record = embed_with_ray(self.spec, self.load_options, items, kind,
                                         self.info.fingerprint, self.settings,
                                         self.shard_root)  # fmt: skip
        self.runs.append(record | {"kind": kind, "inputs": len(items)})
        return vectors

    def encode_text(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        from cliposcope.encoders.base import check_texts

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        return self._run(texts, "text")

    def encode_images(self, images: Sequence[ImageInput], *, progress: bool = False) -> np.ndarray:
        images = [str(image) for image in images]
        if not self.info.has_image_tower or not images:
            return self.local.encode_images(images)
        return self._run(images, "image")

    def _encode_texts(self, texts, *, progress):
        raise NotImplementedError  # encode_text is overridden

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        return self.local.capabilities

    @property
    def device(self) -> str:  # type: ignore[override]
        return self.local.device

    @property
    def precision(self) -> str:  # type: ignore[override]
        return self.local.precision

    def cls_attention(self, images, layer: int = -1):
        """Attention maps are not embeddings: computed by the local model."""
        return self.local.cls_attention(images, layer)


class BlockCounter:
    """A Ray actor: corpus-statistics tallies of one block of caption records."""

    def __init__(self, settings: dict, vocabulary: list[str], sized: bool):
        from cliposcope.probes.corpus_stats import CorpusCounter, CorpusStatsSettings

        self.counter = CorpusCounter(CorpusStatsSettings(**settings), vocabulary, sized)

    def __call__(self, batch: dict) -> dict:
        from cliposcope.data.corpus import CaptionRecord

        records = []
        for caption, objects in zip(batch["caption"], batch["objects"], strict=True):
            sizes = None if objects is None else json.loads(objects)
            records.append(CaptionRecord(caption, sizes, ""))
        tallies = pickle.dumps(self.counter.count(records))
        return {"tallies": np.array([tallies], dtype=object)}


def count_with_ray(corpus, counter, settings, ray_settings: RaySettings, block_rows: int = 8192):
    """Corpus tallies counted on an actor pool, block by block, merged in block order. The
    corpus is read here (streamed) and shipped in blocks of ``block_rows`` captions."""
    ray = need_ray()
    rows = []
    for batch in corpus.batches(counter.matcher.canonical):
        for record in batch:
            objects = None if record.objects is None else json.dumps(record.objects)
            rows.append({"caption": record.caption, "objects": objects})
    tallies = counter.empty()
    if not rows:
        return tallies
    blocks = -(-len(rows) // block_rows)
    dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    constructor = {"settings": asdict(settings), "vocabulary": list(counter.matcher.vocabulary),
                   "sized": counter.sized}  # fmt: skip
    counted = dataset.map_batches(
        BlockCounter, fn_constructor_kwargs=constructor, batch_size=block_rows,
        compute=ray.data.ActorPoolStrategy(size=min(ray_settings.actors, blocks)),
        num_cpus=ray_settings.cpus_per_actor,
    ).take_all()  # fmt: skip
    for row in counted:  # integer counts: the merge order does not change a figure
        tallies.merge(pickle.loads(row["tallies"]))
    return tallies
