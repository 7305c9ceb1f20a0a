"""TOR, text-based object retrieval: which object of a multi-object caption does its
embedding retrieve from a gallery of the bare object names?

Protocols (see PROTOCOLS.md):
* ``paper``: every combination in list order, the published figures; ``legacy_quirks``
  reproduces the published scripts bug for bug, for audits.
* ``balanced``: each combination in a seeded random order (or all n! orders), so that
  position is not confounded with identity; CIs, a first-position test, per-object rates.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from cliposcope.data.templates import Template
from cliposcope.data.vocab import Vocabulary
from cliposcope.encoders.base import Encoder, l2_normalise
from cliposcope.errors import CliposcopeError
from cliposcope.probes.queries import check_arity, query_chunks, query_count
from cliposcope.probes.tor_metrics import MatchedGalleryTally, RetrievalTally
from cliposcope.provenance import result_provenance
from cliposcope.results import ProbeResult

PROTOCOLS = ("paper", "balanced")
GALLERIES = ("plain", "position-matched")


@dataclass(frozen=True)
class TorSettings:
    vocab: Vocabulary
    n: int = 3
    protocol: str = "balanced"
    template: Template = field(default_factory=lambda: Template("and"))
    sample: int | None = None
    seed: int = 0
    all_orders: bool = False
    legacy_quirks: bool = False
    gallery: str = "plain"
    filler: str = "something"

    def check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise CliposcopeError(
                f"unknown protocol {self.protocol!r}", hint=f"one of {', '.join(PROTOCOLS)}"
            )
        if self.legacy_quirks and self.protocol != "paper":
            raise CliposcopeError(
                "--legacy-quirks reproduces the published scripts",
                hint="use it with --protocol paper",
            )
        if self.all_orders and self.protocol != "balanced":
            raise CliposcopeError(
                "--all-orders applies to the balanced protocol", hint="use --protocol balanced"
            )
        if self.gallery not in GALLERIES:
            raise CliposcopeError(f"unknown gallery {self.gallery!r}", hint=" or ".join(GALLERIES))
        self.template.check_arity(self.n)
        check_arity(len(self.vocab), self.n)

    @property
    def order(self) -> str:
        if self.protocol == "paper":
            return "list"
        return "all" if self.all_orders else "random"

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol,
            "n": self.n,
            "template": self.template.name,
            "vocabulary": self.vocab.name,
            "vocabulary_size": len(self.vocab),
            "vocabulary_fingerprint": self.vocab.fingerprint,
            "sample": self.sample,
            "seed": self.seed,
            "order": self.order,
            "legacy_quirks": self.legacy_quirks,
            "gallery": self.gallery,
            "filler": self.filler if self.gallery == "position-matched" else None,
        }


def matched_galleries(encoder: Encoder, settings: TorSettings) -> list[np.ndarray]:
    """Gallery k: each name at slot k of the template, the other slots the filler word."""
    galleries = []
    for slot in range(settings.n):
        texts = []
        for word in settings.vocab.words:
            objects = [settings.filler] * settings.n
            objects[slot] = word
            texts.append(settings.template.render(objects))
        galleries.append(encoder.encode_text(texts))
    return galleries


def run_tor(
    encoder: Encoder,
    settings: TorSettings,
    *,
    role: str = "model",
    sum_control: bool = False,
    progress: bool = False,
) -> ProbeResult:
    """Score every query of the settings' query set, chunk by chunk.

    ``sum_control``: a caption's embedding is the normalised sum of its objects' gallery
    embeddings, an encoder with no notion of order at all.
    """
    settings.check()
    started = time.perf_counter()
    words = settings.vocab.words
    gallery = encoder.encode_text(list(words))
    matched = (
        matched_galleries(encoder, settings) if settings.gallery == "position-matched" else None
    )
    tally = RetrievalTally(settings.n, len(words), legacy=settings.legacy_quirks)
    matched_tally = MatchedGalleryTally(settings.n)
    data_digest = hashlib.sha256()
    total = query_count(len(words), settings.n, settings.sample, settings.order)
    chunks = query_chunks(len(words), settings.n, sample=settings.sample, seed=settings.seed,
                          order=settings.order)  # fmt: skip
    with tqdm(total=total, disable=not progress, unit="query", desc=f"TOR {role}") as bar:
        for rows in chunks:
            data_digest.update(rows.tobytes())
            captions = [settings.template.render([words[i] for i in row]) for row in rows]
            if sum_control:
                embeddings = l2_normalise(gallery[rows].sum(axis=1))
            else:
                embeddings = encoder.encode_text(captions)
            tally.update(embeddings @ gallery.T, rows, captions, words)
            if matched is not None:
                matched_tally.update([embeddings @ g.T for g in matched], rows)
            bar.update(len(rows))
    metrics = tally.summary(words, order_randomised=settings.order != "list")
    if matched is not None:
        metrics["position_matched_gallery"] = matched_tally.summary()
    run_settings = settings.to_dict() | {"caption_embedding": "sum" if sum_control else "encoder"}
    return ProbeResult(
        probe="tor",
        role=role,
        model=encoder.info.to_dict(),
        settings=run_settings,
        metrics=metrics,
        provenance=result_provenance(
            query_count=tally.queries,
            query_fingerprint=data_digest.hexdigest(),
            example_caption=settings.template.render(list(words[: settings.n])),
        ),
        wall_time_s=round(time.perf_counter() - started, 3),
    )
