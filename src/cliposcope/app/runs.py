"""Running probes on models and their null controls, as `cliposcope run` does.

Controls: ``random-init`` (the same architecture with seeded random weights, from the
model's family record; models of one architecture share one control) and any control a
probe declares itself (e.g. TOR's ``sum``), run on the same encoder.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cliposcope.app.outputs import check_output_folder
from cliposcope.cache import CachedEncoder, default_cache_dir
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import Encoder, LoadOptions
from cliposcope.encoders.registry import get_family, spec_prefixes
from cliposcope.encoders.specs import canonical_spec
from cliposcope.errors import CliposcopeError
from cliposcope.progress import heartbeat, step
from cliposcope.results import RANDOM_INIT, ProbeResult, ResultFolder
from cliposcope.terminal import terminal_text

log = logging.getLogger(__name__)
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
    engine: str = "local"
    ray: Any = None  # scale.ray_engine.RaySettings with engine "ray"
    ray_shards: str | None = None  # shard folder (default: CACHE_DIR/ray-shards)

    def load_options(self) -> LoadOptions:
        """Checked (device resolved, batch size positive) before any work starts."""
        if self.batch_size is not None and self.batch_size < 1:
            raise CliposcopeError(f"--batch-size {self.batch_size} is not positive", hint="e.g. 64")
        if self.cache:
            cache = self.cache_dir or default_cache_dir()
            check_output_folder(cache, "--cache-dir" if self.cache_dir else "the cache folder")
        sizes = {}
        if self.batch_size is not None:
            sizes = {"text_batch_size": self.batch_size, "image_batch_size": self.batch_size}
        return LoadOptions(device=self.device, precision=self.precision, **sizes).resolved()

    def open(self, spec: str) -> Encoder:
        options = self.load_options()
        checkpoint = self.checkpoint
        if checkpoint and self.engine == "ray":  # workers run elsewhere: one absolute path
            checkpoint = str(Path(checkpoint).resolve())
        arguments = {
            "checkpoint": checkpoint,
            "device": options.device,
            "precision": options.precision,
            "text_batch_size": options.text_batch_size,
            "image_batch_size": options.image_batch_size,
        }
        encoder = load_encoder(spec, **arguments)
        chunk_size = 2048
        if self.engine == "ray":  # the same model, embedding on a Ray actor pool
            from cliposcope.scale.ray_engine import RayEncoder

            # workers resolve paths in their own folder, and see one GPU each as "cuda"
            actor = arguments | {
                "device": "cuda" if options.device.startswith("cuda") else options.device,
            }
            encoder = RayEncoder(encoder, spec, actor, self.ray, self.shard_root())
            chunk_size = 1 << 40  # every miss in one pipeline
        if not self.cache:
            return encoder
        return CachedEncoder(
            encoder, self.cache_dir, chunk_size=chunk_size, storage=self.cache_storage
        )

    def shard_root(self) -> Path:
        """--ray-shards, else beside the cache; with --no-cache a temporary folder removed
        at exit (nothing stored, nothing to resume from)."""
        if self.ray_shards:
            return Path(self.ray_shards)
        if self.cache:
            return Path(self.cache_dir or default_cache_dir()) / "ray-shards"
        return _temporary_shards()

    def engine_record(self) -> dict:
        """What results record about the engine (and what differs between engines)."""
        if self.engine == "ray":
            return self.ray.describe() | {"shards": str(self.shard_root())}
        return {"engine": "local"}


@functools.cache
def _temporary_shards() -> Path:
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cliposcope-ray-shards-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


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
    """The random-weight twin of the encoder's architecture, seeded with ``seed``; where
    that is the model itself (a random-weight model of the same seed), the next seed that
    differs, so a model is never compared with its own weights. The spec records the seed."""
    check_random_init(encoder.info.spec, encoder.info.family)
    twin = get_family(encoder.info.family).random_init
    own = canonical_spec(encoder.info.spec)
    for candidate in range(seed, seed + 100):
        spec = twin(encoder.info, candidate)
        if canonical_spec(spec) != own:
            return spec
    raise CliposcopeError(
        f"no random-init control of {encoder.info.spec} differs from it", hint="use --null sum"
    )


def check_control_differs(model: Encoder, control: Encoder) -> None:
    """Refuse to compare a model with a control of the same weights: every verdict would
    read +0.0 for no reason the user could see."""
    if model.info.weights_hash and model.info.weights_hash == control.info.weights_hash:
        raise CliposcopeError(
            f"the control {control.info.spec} has the same weights as {model.info.spec} "
            f"({model.info.weights_hash[:19]})",
            hint="give the model or the control another ?seed=, or use another control",
        )


def warn_if_random(encoder: Encoder) -> None:
    """A model measured with random weights describes its architecture, not training."""
    if encoder.info.weights_source.startswith(RANDOM_INIT):
        log.warning(
            "%s has random weights (%s): its figures describe the untrained architecture, "
            "not a trained model (hint: a pretrained spec such as openclip:ViT-B-32/openai, "
            "or --checkpoint FILE)",
            encoder.info.spec,
            encoder.info.weights_source,
        )


def with_controls(
    specs: Sequence[str],
    open_encoder: Callable[[str], Encoder],
    run: RoleRun,
    nulls: Sequence[str],
    seed: int,
    *,
    progress: bool = False,
    failed: list[tuple[str, str]] | None = None,
) -> Iterator[ProbeResult]:
    """Each model, then each requested control, as results come; with ``progress``, a line
    as each model is loaded (after it is: a load that fails ends in its one error line).
    With ``failed``, a sweep over several models goes on past a model that fails (its
    missing weights, say) and lists it there as (spec, reason); one model fails alone."""
    random_inits_done: set[str] = set()
    sweep = failed is not None and len(specs) > 1

    def announced(spec: str) -> Encoder:
        started = time.perf_counter()
        with heartbeat(f"loading {spec}", enabled=progress):
            encoder = open_encoder(spec)
        if progress:
            seconds = time.perf_counter() - started
            print(f"loaded {terminal_text(spec)} ({seconds:.1f}s)", file=sys.stderr, flush=True)
        return encoder

    for index, spec in enumerate(specs, start=1):
        if sweep:
            step(index, len(specs), f"model {spec}", enabled=progress)
        try:
            yield from _model_and_controls(spec, announced, run, nulls, seed, random_inits_done)
        except CliposcopeError as error:
            if not sweep:
                raise
            failed.append((spec, str(error)))
        release_accelerator_memory()


def release_accelerator_memory() -> None:
    """Between the models of a sweep, so the next one has the GPU to itself."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _model_and_controls(
    spec: str,
    announced: Callable[[str], Encoder],
    run: RoleRun,
    nulls: Sequence[str],
    seed: int,
    random_inits_done: set[str],
) -> Iterator[ProbeResult]:
    """One model's results, then its controls' (a random-init control once per spec)."""
    encoder = announced(spec)
    controls = {
        null: random_init_spec(encoder, seed) if null == RANDOM_INIT else encoder.info.spec
        for null in dict.fromkeys(nulls)
    }
    for result in run(encoder, "model", None):
        result.provenance["controls"] = controls  # what verdicts compare it with
        yield result
    for null, null_spec in controls.items():
        if null != RANDOM_INIT:
            yield from run(encoder, f"null:{null}", null)
            continue
        if null_spec not in random_inits_done:
            random_inits_done.add(null_spec)
            control = announced(null_spec)
            check_control_differs(encoder, control)
            yield from run(control, f"null:{RANDOM_INIT}", None)
    warn_if_random(encoder)  # once its figures exist: a run that fails says only why


def artifacts_for(settings, out: Path, role: str):
    """Settings that write files (attention overlays) write them to OUT/overlays/ROLE."""
    names = {f.name for f in dataclasses.fields(settings)}
    if "artifacts_dir" not in names:
        return settings
    return dataclasses.replace(settings, artifacts_dir=out / "overlays" / role.replace(":", "-"))


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One `cliposcope run`: a probe (None: the paper's battery) with its settings, on the
    data units its data kind loaded (``[None]`` for probes that build their own queries),
    for each model and requested control (or once, for probes that measure no model)."""

    probe: Any  # probes.registry.Probe, or None for the battery
    settings: Any
    units: Sequence[Any]
    out: Path
    progress: bool = True
    models: Sequence[str] = ()
    nulls: Sequence[str] = ()
    seed: int = 0
    overwrite: bool = False  # recompute experiments whose result is already in ``out``
    records: bool = True  # keep per-query records beside each result

    @property
    def reuse(self) -> ResultFolder | None:
        return None if self.overwrite else ResultFolder(self.out)

    def check_controls(self) -> None:
        offered = (RANDOM_INIT, *(self.probe.controls if self.probe is not None else ()))
        name = self.probe.name if self.probe is not None else "the battery"
        for null in self.nulls:
            if null not in offered:
                raise CliposcopeError(
                    f"--null {null} is not a control of {name}",
                    hint=f"{name} offers: {', '.join(offered)}",
                )

    def results(
        self,
        options: EncoderOptions | None,
        engine: Any = None,
        *,
        failed: list[tuple[str, str]] | None = None,
    ) -> Iterator[ProbeResult]:
        """Results as they come; ``options`` open the models (None for probes that need
        none), ``engine`` is handed to probes that count on one; ``failed`` collects the
        models of a sweep that failed while the others went on (see with_controls)."""
        from cliposcope.probes.registry import run_probe

        reuse = self.reuse
        if options is None:
            for unit in self.units:
                settings = self._with_artifacts(self.settings, "model", unit)
                yield run_probe(
                    self.probe.name,
                    None,
                    unit,
                    settings,
                    progress=self.progress,
                    engine=engine,
                    reuse=reuse,
                    records=self.records,
                )
            return
        prefetch = options.engine == "ray" and options.cache

        def run(encoder: Encoder, role: str, control: str | None) -> list[ProbeResult]:
            from cliposcope.probes.battery import run_battery

            found = []
            for unit in self.units:
                if self.probe is None:
                    settings = artifacts_for(self.settings, self.out, role)
                    found += run_battery(
                        encoder,
                        unit,
                        settings,
                        progress=self.progress,
                        role=role,
                        reuse=reuse,
                        records=self.records,
                    )
                    continue
                settings = self._with_artifacts(self.settings, role, unit)
                if control is not None:
                    settings = self.probe.controls[control](settings)
                if prefetch and self.probe.prefetch is not None:
                    self.probe.prefetch(settings, encoder, unit)
                found.append(
                    run_probe(
                        self.probe.name,
                        encoder,
                        unit,
                        settings,
                        role=role,
                        progress=self.progress,
                        reuse=reuse,
                        records=self.records,
                    )
                )
            return found

        yield from with_controls(
            self.models,
            options.open,
            run,
            self.nulls,
            self.seed,
            progress=self.progress,
            failed=failed,
        )

    def _with_artifacts(self, settings: Any, role: str, unit: Any) -> Any:
        if self.probe.artifacts is None:
            return settings
        return self.probe.artifacts(settings, self.out, role, unit)
