"""Running probes on models and their null controls, as `cliposcope run` does.

Controls: ``random-init`` (the same architecture with seeded random weights, from the
model's family record; models of one architecture share one control) and any control a
probe declares itself (e.g. TOR's ``sum``), run on the same encoder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from cliposcope.app.outputs import check_output_folder
from cliposcope.cache import CachedEncoder, default_cache_dir
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import Encoder, LoadOptions
from cliposcope.encoders.registry import get_family, spec_prefixes
from cliposcope.errors import CliposcopeError
from cliposcope.results import ProbeResult

RANDOM_INIT = "random-init"
# Runs one encoder in one role; the control is None for the model itself.
RoleRun = Callable[[Encoder, str, str | None], list[ProbeResult]]


@dataclasses.dataclass(frozen=True)
class EncoderOptions:
    """How the command line opens every encoder of a run."""

    checkpoint: str | None = None
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int | None = None
    cache: bool = True
    cache_dir: str | None = None
    cache_storage: str = "fp32"

    def load_options(self) -> LoadOptions:
        """Checked (device resolved, batch size positive) before any work starts."""
        if self.batch_size is not None and self.batch_size < 1:
            raise CliposcopeError(f"--batch-size {self.batch_size} is not positive",
                                  hint="e.g. 64")  # fmt: skip
        if self.cache:
            cache = self.cache_dir or default_cache_dir()
            check_output_folder(cache, "--cache-dir" if self.cache_dir else "the cache folder")
        sizes = {}
        if self.batch_size is not None:
            sizes = {"text_batch_size": self.batch_size, "image_batch_size": self.batch_size}
        return LoadOptions(device=self.device, precision=self.precision, **sizes).resolved()

    def open(self, spec: str) -> Encoder:
        options = self.load_options()
        encoder = load_encoder(spec, checkpoint=self.checkpoint, device=options.device,
                               precision=options.precision,
                               text_batch_size=options.text_batch_size,
                               image_batch_size=options.image_batch_size)  # fmt: skip
        if not self.cache:
            return encoder
        return CachedEncoder(encoder, self.cache_dir, storage=self.cache_storage)


def check_random_init(spec: str, family_name: str) -> None:
    """Refuse, before any work, a model whose family has no random-weight twin."""
    family = get_family(family_name)
    if family.random_init is None:
        offering = spec_prefixes(lambda f: f.random_init is not None)
        raise CliposcopeError(
            f"--null random-init needs an open_clip architecture, and {spec} "
            f"({family.name}) has no random-weight twin",
            hint=f"use it with {offering} specs, or a control the probe offers (--null sum)",
        )


def random_init_spec(encoder: Encoder, seed: int) -> str:
    check_random_init(encoder.info.spec, encoder.info.family)
    return get_family(encoder.info.family).random_init(encoder.info, seed)


def with_controls(
    specs: Sequence[str],
    open_encoder: Callable[[str], Encoder],
    run: RoleRun,
    nulls: Sequence[str],
    seed: int,
) -> Iterator[ProbeResult]:
    """Each model, then each requested control, as results come."""
    random_inits_done: set[str] = set()
    for spec in specs:
        encoder = open_encoder(spec)
        yield from run(encoder, "model", None)
        for null in dict.fromkeys(nulls):
            if null != RANDOM_INIT:
                yield from run(encoder, f"null:{null}", null)
                continue
            null_spec = random_init_spec(encoder, seed)
            if null_spec not in random_inits_done:
                random_inits_done.add(null_spec)
                yield from run(open_encoder(null_spec), f"null:{RANDOM_INIT}", None)


def artifacts_for(settings, out: Path, role: str):
    """Settings that write files (attention overlays) write them to OUT/overlays/ROLE."""
    names = {f.name for f in dataclasses.fields(settings)}
    if "artifacts_dir" not in names:
        return settings
    return dataclasses.replace(settings, artifacts_dir=out / "overlays" / role.replace(":", "-"))
