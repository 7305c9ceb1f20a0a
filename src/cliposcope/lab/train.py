"""`cliposcope lab train`: a small CLIP (the cliposcope-toy open_clip config) trained with the
standard contrastive loss on generated scenes, captions ordered by a policy.

Seeded and resumable: the run folder holds settings.json, log.jsonl, checkpoints at fixed
sample counts (training-style {"state_dict": ...} files that `openclip:cliposcope-toy/PATH`
loads) and latest.pt with the optimiser and random states to resume from.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from cliposcope.data.templates import Template
from cliposcope.encoders.base import load_torch_file
from cliposcope.encoders.text_variants import TextArchitecture
from cliposcope.errors import CliposcopeError, check_range, describe_exception, read_json
from cliposcope.lab.pool import Pool, PoolSpec, build_pool, check_policy
from cliposcope.lab.tensorboard_log import ScalarLog, wants_tensorboard
from cliposcope.progress import progress_bar

ARCH = "cliposcope-toy"
CAPTIONS = Template("and")


@dataclass(frozen=True)
class TrainSettings:
    policy: str = "largest-first"
    samples: int = 192_000
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    checkpoint_every: int = 24_000
    seed: int = 0
    pool: PoolSpec = field(default_factory=PoolSpec)
    heldout: PoolSpec = field(
        default_factory=lambda: PoolSpec(scenes_per_count=(0, 100, 100, 100), seed=99)
    )
    text: TextArchitecture = field(default_factory=TextArchitecture)
    checkpoint_at_start: bool = False  # also keep the untrained weights (samples 0)

    def __post_init__(self):
        check_policy(self.policy)
        check_range("--batch-size", self.batch_size, 2, hint="contrastive batches need 2+")
        check_range(
            "--samples",
            self.samples,
            self.batch_size,
            hint=f"at least one batch ({self.batch_size} samples)",
        )
        check_range("--checkpoint-every", self.checkpoint_every, 1, hint="e.g. 24000 samples")
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        check_range("learning_rate", self.learning_rate, 0.0)

    @property
    def steps(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def to_dict(self) -> dict:
        """As settings.json records it; a shipped tower and no start checkpoint leave their
        keys out, so runs made before those settings existed still resume."""
        record = asdict(self) | {"arch": ARCH}
        if self.text.as_shipped:
            del record["text"]
        if not self.checkpoint_at_start:
            del record["checkpoint_at_start"]
        return record

    @property
    def model_options(self) -> str:
        """The spec options that load this run's checkpoints as it trained them."""
        return self.text.options


def checkpoint_spec(run_dir: Path, checkpoint: Path) -> str:
    """The spec that loads a run's checkpoint with the text tower it was trained with."""
    recorded = read_json(run_dir / "settings.json", hint="give a folder made by lab train")
    text = recorded.get("text", {}) if isinstance(recorded, dict) else None
    if not isinstance(text, dict) or not set(text) <= set(asdict(TextArchitecture())):
        raise CliposcopeError(
            f"{run_dir / 'settings.json'} records no text tower as lab train writes it",
            hint="give a folder made by lab train",
        )
    options = TextArchitecture.from_options("&".join(f"{k}={v}" for k, v in text.items())).options
    return f"toy:{checkpoint}?{options}" if options else f"toy:{checkpoint}"


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> normalised float (B, 3, H, W), as open_clip's preprocess does."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(OPENAI_DATASET_MEAN)[:, None, None]
    std = torch.tensor(OPENAI_DATASET_STD)[:, None, None]
    return (x - mean) / std


def build_model(seed: int, text: TextArchitecture | None = None):
    import open_clip

    from cliposcope.encoders.openclip import quiet_random_init_notice, register_project_configs

    register_project_configs()
    with torch.random.fork_rng(), quiet_random_init_notice():
        torch.manual_seed(seed)
        model = open_clip.create_model(ARCH)
    (text or TextArchitecture()).apply(model, f"lab model {ARCH}")
    return model, open_clip.get_tokenizer(ARCH)


def retrieval_top1(model, tokenizer, pool: Pool, vocabulary: tuple[str, ...]) -> dict:
    """Held-out image -> name retrieval on single-object images, and multi-object image ->
    caption retrieval among the pool's captions (largest-first order)."""
    model.eval()
    with torch.inference_mode():
        names = torch.nn.functional.normalize(
            model.encode_text(tokenizer(list(vocabulary))), dim=-1
        )
        images = torch.nn.functional.normalize(model.encode_image(to_pixels(pool.images)), dim=-1)
        best = (images @ names.T).argmax(dim=1).numpy()
        rng = np.random.default_rng(0)
        captions = [
            CAPTIONS.render(pool.ordered(i, "largest-first", rng)) for i in range(len(pool.names))
        ]
        texts = torch.nn.functional.normalize(model.encode_text(tokenizer(captions)), dim=-1)
        caption_hit = float(
            ((images @ texts.T).argmax(dim=1) == torch.arange(len(captions))).float().mean()
        )
    largest = [max(zip(a, n, strict=True))[1] for a, n in zip(pool.areas, pool.names, strict=True)]
    hits = np.mean([vocabulary[b] == name for b, name in zip(best, largest, strict=True)])
    model.train()
    return {
        "largest_object_top1": float(hits),
        "caption_top1": caption_hit,
        "chance_object": 1 / len(vocabulary),
        "chance_caption": 1 / len(captions),
    }


def train(
    settings: TrainSettings,
    run_dir: str | Path,
    *,
    progress: bool = True,
    tensorboard: Path | None = None,
) -> Path:
    """Train (or resume) a run; returns the path of the final checkpoint.

    With a ``tensorboard`` folder, also writes TensorBoard scalars there: the loss and
    learning rate at every step and the held-out retrieval at every checkpoint."""
    check_policy(settings.policy)
    if tensorboard is not None:
        wants_tensorboard(True)  # a missing package is one clear error before any work
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings_file = run_dir / "settings.json"
    if settings_file.is_file():
        if json.loads(settings_file.read_text()) != json.loads(json.dumps(settings.to_dict())):
            raise CliposcopeError(
                f"{run_dir} holds a run with other settings",
                hint="resume with the same options, or use a new folder",
            )
    else:
        settings_file.write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n")
    cache = run_dir.parent / ".pools"
    pool = build_pool(settings.pool, cache, progress=progress)
    heldout = build_pool(settings.heldout, cache, progress=progress)
    vocabulary = settings.pool.vocabulary

    model, tokenizer = build_model(settings.seed, settings.text)
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(
        trained, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    import open_clip

    loss_fn = open_clip.ClipLoss()
    rng = np.random.default_rng(settings.seed)
    torch_generator = torch.Generator().manual_seed(settings.seed)
    step = 0
    latest = run_dir / "latest.pt"
    if latest.is_file():
        state = load_resume_state(latest)
        try:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            rng.bit_generator.state = state["numpy_rng"]
            torch_generator.set_state(state["torch_rng"])
            step = int(state["step"])
        except (RuntimeError, TypeError, ValueError, KeyError) as error:
            raise CliposcopeError(
                f"cannot resume from {latest}: {describe_exception(error)}",
                hint="it does not fit this run; remove it to start over",
            ) from None
    if settings.checkpoint_at_start and step == 0:
        checkpoints = run_dir / "checkpoints"
        checkpoints.mkdir(exist_ok=True)
        start = {"state_dict": model.state_dict(), "samples": 0, "step": 0}
        _atomic_save(start, checkpoints / f"samples_{0:09d}.pt")
    resumed_at = step
    log = (run_dir / "log.jsonl").open("a")
    model.train()
    started = time.perf_counter()
    bar = progress_bar(
        total=settings.steps,
        initial=step,
        enabled=progress,
        unit="step",
        desc=f"train {settings.policy}",
    )
    # A resumed run appends a new event file; the purge hides what an interrupted session
    # logged after the step this one resumes from, which this session logs again.
    scalars = ScalarLog(tensorboard, purge_step=resumed_at + 1)
    with bar, scalars:
        while step < settings.steps:
            lr = settings.learning_rate * min(1.0, (step + 1) / settings.warmup_steps)
            lr *= 0.5 * (1 + math.cos(math.pi * step / settings.steps))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = rng.choice(len(pool.names), settings.batch_size, replace=False)
            captions = [CAPTIONS.render(pool.ordered(int(i), settings.policy, rng)) for i in batch]
            image_features, text_features, scale = model(
                to_pixels(pool.images[batch]), tokenizer(captions)
            )[:3]
            loss = loss_fn(image_features, text_features, scale)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
            bar.update()
            samples = step * settings.batch_size
            loss_value = float(loss.detach())
            record = {"step": step, "samples": samples, "loss": round(loss_value, 5), "lr": lr}
            scalars.scalar("train/loss", loss_value, step)
            scalars.scalar("train/learning_rate", lr, step)
            at_checkpoint = (
                samples % settings.checkpoint_every < settings.batch_size or step == settings.steps
            )
            if at_checkpoint:
                record["heldout"] = retrieval_top1(model, tokenizer, heldout, vocabulary)
                scalars.scalars("heldout", record["heldout"], step)
                name = run_dir / "checkpoints" / f"samples_{samples:09d}.pt"
                name.parent.mkdir(exist_ok=True)
                _atomic_save(
                    {"state_dict": model.state_dict(), "samples": samples, "step": step}, name
                )
                resume = {
                    "state_dict": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "step": step,
                    "torch_rng": torch_generator.get_state(),
                }
                _atomic_save(resume, latest)
                bar.set_postfix(
                    loss=f"{loss_value:.3f}",
                    top1=f"{record['heldout']['largest_object_top1']:.2f}",
                )
            if step % 20 == 0 or at_checkpoint:
                log.write(json.dumps(record) + "\n")
                log.flush()
    log.close()
    if step > resumed_at or not (run_dir / "done.json").is_file():  # a finished run's record stays
        seconds = round(time.perf_counter() - started, 1)
        (run_dir / "done.json").write_text(json.dumps({"steps": step, "seconds": seconds}) + "\n")
    return sorted((run_dir / "checkpoints").glob("samples_*.pt"))[-1]


def load_resume_state(path: Path) -> dict:
    """The resume file, read weights-only: a file that is not one this run wrote (a crafted
    pickle, a truncated write) is refused, not half-used."""
    return load_torch_file(
        path,
        required={"state_dict", "optimizer", "numpy_rng", "torch_rng", "step"},
        what="resume file",
        hint="remove it to start over",
    )


def _atomic_save(payload: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
