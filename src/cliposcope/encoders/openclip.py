"""open_clip adapter: ``openclip:ARCH``, ``openclip:ARCH/TAG``, ``openclip:ARCH/PATH``,
``openclip:local-dir:FOLDER`` (and ``openclip:hf-hub:ORG/REPO`` for users with the hub).

Options: ``quickgelu`` (true/false; default: what the pretrained tag was trained with,
else the architecture's own setting), ``seed`` (random-init weights only, default 0),
``fast`` (true/false, default true: use the exact trimmed text path where it applies).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from cliposcope.encoders.base import (
    EXACT_PATH_TOLERANCE,
    Encoder,
    EncoderInfo,
    ImageInput,
    LoadOptions,
    ModelSpec,
    activation_name,
    autocast,
    batched,
    image_batches,
    length_sorted_batches,
    refuse_non_finite,
)
from cliposcope.encoders.causal_text import (
    encode_trimmed,
    find_causal_text_tower,
    max_abs_difference,
    pooled_positions,
)
from cliposcope.encoders.hub import TOKENIZER_FILES, HubFiles, cached_json, prepare_hub
from cliposcope.encoders.prefix_sharing import (
    chunks_by_start,
    encode_shared,
    openclip_stack,
    padded,
    rows_until_pooled,
    self_check_gap,
)
from cliposcope.encoders.registry import Family, library_versions, register_family
from cliposcope.encoders.text_variants import OPTIONS as TEXT_VARIANT_OPTIONS
from cliposcope.encoders.text_variants import TextArchitecture
from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.hashing import state_dict_hash
from cliposcope.progress import progress_bar

LIBRARIES = ("open_clip_torch",)
TINY_ARCH = "cliposcope-tiny"  # shipped in cliposcope/model_configs
OPTIONS = {
    "quickgelu": "true/false, default: as the weights were trained",
    "seed": "integer seed for random-init weights, default 0",
    "fast": "true/false, exact trimmed text path, default true",
    "prefix": "true/false, exact shared-prefix text path (needs fast), default true",
    **TEXT_VARIANT_OPTIONS,
}
TOKENIZE_CHUNK = 4096
_PROBE_LENGTHS = (2, 9, None)  # tokens up to the pooled one; None: the whole context
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
LOCAL_DIR_WEIGHTS = (".safetensors", ".bin", ".pth")  # what open_clip looks for in a local-dir
HUB_WEIGHTS = "open_clip_pytorch_model.bin"  # open_clip's default name in a hub repo


def register_project_configs() -> None:
    """Make the architectures shipped in cliposcope/model_configs known to open_clip."""
    import open_clip

    folder = resources.files("cliposcope") / "model_configs"
    with resources.as_file(folder) as path:
        if any(Path(path).glob("*.json")):
            open_clip.add_model_config(path)


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextmanager
def quiet_random_init_notice():
    """open_clip logs a warning for random weights; here they are asked for on purpose."""
    notice_filter = _DropRandomInitNotice()
    root = logging.getLogger()
    root.addFilter(notice_filter)
    try:
        yield
    finally:
        root.removeFilter(notice_filter)


@contextmanager
def seeded_random_init(seed: int):
    """Random weights built inside are drawn from ``seed``, without open_clip's notice; the
    global random state is left as it was."""
    with torch.random.fork_rng(), quiet_random_init_notice():
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class WeightsSource:
    kind: str  # "random-init", "pretrained", "file", "local-dir", "hf-hub"
    arch: str
    value: str | None = None  # tag, path or folder

    def describe(self, seed: int) -> str:
        if self.kind == "random-init":
            return f"random-init:seed={seed}"
        return f"{self.kind}:{self.value}"


def resolve_source(target: str) -> WeightsSource:
    """Split an openclip target into architecture and weights, checking both exist."""
    import open_clip

    if target.startswith("local-dir:"):
        folder = Path(target[len("local-dir:") :]).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise CliposcopeError(
                f"local-dir folder {folder} has no open_clip_config.json",
                hint="a local-dir: folder holds open_clip_config.json and a weights file",
            )
        folder = folder.resolve()
        weights = [p for p in folder.iterdir() if p.suffix in LOCAL_DIR_WEIGHTS and p.is_file()]
        if not weights:
            raise CliposcopeError(
                f"local-dir folder {folder} has open_clip_config.json but no weights file",
                hint=f"put the weights beside it ({', '.join(LOCAL_DIR_WEIGHTS)}); without "
                "them open_clip would build random weights",
            )
        return WeightsSource("local-dir", f"local-dir:{folder}", str(folder))
    if target.startswith("hf-hub:"):
        return WeightsSource("hf-hub", target, target)

    arch, _, rest = target.partition("/")
    register_project_configs()
    known_archs = open_clip.list_models()
    if arch not in known_archs:
        close = difflib.get_close_matches(arch, known_archs, n=3)
        raise CliposcopeError(
            f"unknown open_clip architecture {arch!r}",
            hint=(f"did you mean {', '.join(close)}? " if close else "")
            + "`cliposcope models` lists the architectures",
        )
    if not rest:
        return WeightsSource("random-init", arch)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if rest in tags:
        return WeightsSource("pretrained", arch, rest)
    path = Path(rest).expanduser()
    if not path.is_file() and Path("/" + rest).is_file():
        path = Path("/" + rest)  # ARCH/abs/path: the slash after the architecture was the root's
    if path.is_file():
        return WeightsSource("file", arch, str(path))  # as given: recorded in results
    looks_like_path = "/" in rest or path.suffix in CHECKPOINT_SUFFIXES
    if looks_like_path:
        raise CliposcopeError(f"checkpoint file not found: {path}", hint="check the path")
    raise CliposcopeError(
        f"{rest!r} is neither a pretrained tag of {arch} nor an existing file",
        hint=f"known tags for {arch}: {', '.join(tags) or 'none'}; for a local file give its path",
    )


def _hub_weight_names(filename: str) -> tuple[str, ...]:
    """The names open_clip tries for a hub weights file, in its order: the .safetensors
    twin first."""
    if filename == HUB_WEIGHTS:
        return ("open_clip_model.safetensors", filename)
    if filename.endswith((".bin", ".pth")):
        return (filename[:-4] + ".safetensors", filename)
    return (filename,)


def _text_cfg(model_config: dict | None) -> dict:
    return (model_config or {}).get("text_cfg") or {}


def _tokenizer_files(model_config: dict | None) -> list[HubFiles]:
    """The hub tokenizer an architecture reads (SigLIP's, say); none for CLIP's own BPE."""
    name = _text_cfg(model_config).get("hf_tokenizer_name")
    return [HubFiles(name, (TOKENIZER_FILES,), download="text")] if name else []


def _text_model_files(model_config: dict | None) -> list[HubFiles]:
    """An architecture whose text tower is a transformers model (RoBERTa, mT5) reads that
    model's config from the hub whenever it is built."""
    name = _text_cfg(model_config).get("hf_model_name")
    return [HubFiles(name, (("config.json",),), download="text")] if name else []


def _model_config(spec: ModelSpec) -> dict | None:
    """The open_clip model config ``spec`` builds: an hf-hub repo's (once cached), a
    local-dir folder's, else the architecture's."""
    import open_clip

    target = spec.target
    if target.startswith("hf-hub:"):
        return (cached_json(target[len("hf-hub:") :], "open_clip_config.json") or {}).get(
            "model_cfg"
        )
    if target.startswith("local-dir:"):
        path = Path(target[len("local-dir:") :]).expanduser() / "open_clip_config.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("model_cfg")
        except (OSError, ValueError, AttributeError):
            return None  # the load itself says what is wrong with the folder
    register_project_configs()
    return open_clip.get_model_config(target.partition("/")[0])


def weights_hub_files(spec: ModelSpec) -> list[HubFiles]:
    """What building ``spec`` reads from the model hub: a pretrained tag's weights
    (open_clip maps each tag to a hub repo), an ``hf-hub:`` repo's config and weights, and
    a transformers text tower's config."""
    import open_clip

    needs = []
    arch, _, rest = spec.target.partition("/")
    if spec.target.startswith("hf-hub:"):
        repo = spec.target[len("hf-hub:") :]
        needs.append(HubFiles(repo, (("open_clip_config.json",), _hub_weight_names(HUB_WEIGHTS))))
    elif not spec.target.startswith("local-dir:") and rest:
        register_project_configs()
        if rest in open_clip.list_pretrained_tags_by_model(arch):
            location = open_clip.get_pretrained_cfg(arch, rest).get("hf_hub")
            if location:
                repo, filename = location.rsplit("/", 1)  # as open_clip splits "ORG/NAME/FILE"
                needs.append(HubFiles(repo, (_hub_weight_names(filename or HUB_WEIGHTS),)))
    return needs + _text_model_files(_model_config(spec))


def tokenizer_hub_files(spec: ModelSpec) -> list[HubFiles]:
    """The hub tokenizer ``spec`` reads; none for a local-dir folder, which open_clip
    expects to hold its tokenizer files."""
    if spec.target.startswith("local-dir:"):
        return []
    return _tokenizer_files(_model_config(spec))


def hub_files(spec: ModelSpec) -> list[HubFiles]:
    """Everything ``spec`` reads from the hub, once the spec is known to name weights."""
    spec.check_options(OPTIONS)
    require_named_weights(spec, resolve_source(spec.target))
    return weights_hub_files(spec) + tokenizer_hub_files(spec)


def require_named_weights(spec: ModelSpec, source: WeightsSource) -> None:
    """Random weights must be asked for (``?seed=``), and ``seed`` applies to them only."""
    if source.kind == "random-init" and "seed" not in spec.options:
        raise CliposcopeError(
            f"{spec.canonical} names no weights, and random weights must be asked for",
            hint=f"a pretrained tag ({spec.canonical}/openai; `cliposcope models` lists "
            f"them), a checkpoint ({spec.canonical}/PATH or --checkpoint PATH), or random "
            f"weights on purpose: {spec.canonical}?seed=0",
        )
    if "seed" in spec.options and source.kind != "random-init":
        seed = spec.int_option("seed", 0)
        raise CliposcopeError(
            f"option seed only applies to random-init weights, not {source.describe(seed)}",
            hint=f"drop ?seed= from {spec.canonical}",
        )


def _tag_quick_gelu(arch: str, tag: str) -> bool:
    import open_clip

    return bool(open_clip.get_pretrained_cfg(arch, tag).get("quick_gelu", False))


def _arch_quick_gelu(arch: str) -> bool:
    import open_clip

    config = open_clip.get_model_config(arch) or {}
    return bool(config.get("quick_gelu", False))


def _load_checkpoint(model: torch.nn.Module, path: str, spec: ModelSpec) -> None:
    import open_clip

    try:
        incompatible = open_clip.load_checkpoint(model, path, strict=False)
    except RuntimeError as error:
        lines = [ln.strip() for ln in str(error).splitlines() if "size mismatch" in ln]
        if not lines:  # not a shape problem: a truncated or foreign file
            raise CliposcopeError(
                f"cannot read checkpoint {path}: {describe_exception(error)}",
                hint="the file is truncated or not a weights file; re-download or re-export it",
            ) from None
        detail = "; ".join(lines[:3])
        raise CliposcopeError(
            f"checkpoint {path} does not fit {spec.target.partition('/')[0]}: {detail}",
            hint="check that the architecture name matches the one the checkpoint was trained with",
        ) from None
    except Exception as error:  # unreadable file
        raise CliposcopeError(
            f"cannot read checkpoint {path}: {describe_exception(error)}",
            hint="expected a state dict, {'state_dict': ...} or .safetensors file",
        ) from None
    missing = list(getattr(incompatible, "missing_keys", []))
    unexpected = list(getattr(incompatible, "unexpected_keys", []))
    if missing or unexpected:

        def show(keys: list[str]) -> str:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            return ", ".join(keys[:5]) + more

        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        raise CliposcopeError(
            f"checkpoint {path} does not fit {spec.target.partition('/')[0]}: " + "; ".join(parts),
            hint="check that the architecture name matches the one the checkpoint was trained with",
        )


class OpenClipEncoder(Encoder):
    def __init__(self, spec: ModelSpec, options: LoadOptions | None = None):
        import open_clip

        spec.check_options(OPTIONS)
        self.spec = spec
        self._take_options(options)
        source = resolve_source(spec.target)
        self.source = source
        seed = spec.int_option("seed", 0)
        require_named_weights(spec, source)
        quick_gelu = self._quick_gelu_setting(source, spec)
        text_architecture = TextArchitecture.from_spec(spec)

        model_name = source.arch
        pretrained = source.value if source.kind == "pretrained" else None
        prepare_hub(spec.canonical, weights_hub_files(spec))
        try:
            with seeded_random_init(seed), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # we check QuickGELU ourselves
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name,
                    pretrained=pretrained,
                    force_quick_gelu=quick_gelu,
                    # a transformers text tower (RoBERTa) starts random too, not pretrained:
                    # random weights are random throughout, and a checkpoint sets them all
                    pretrained_text=False,
                )
        except CliposcopeError:
            raise
        except Exception as error:
            hint = (
                "the folder's config and weights must match an open_clip architecture"
                if source.kind == "local-dir"
                else "pretrained tags need the model hub (or a filled HF cache); offline, give "
                "a local checkpoint path"
            )
            raise CliposcopeError(
                f"cannot build {spec.canonical}: {describe_exception(error)}", hint=hint
            ) from None
        if source.kind == "file":
            _load_checkpoint(model, source.value, spec)
        text_architecture.apply(model, spec.canonical)
        refuse_non_finite(model, spec.canonical)
        self.model = model.eval().to(self.device)
        self.preprocess = preprocess
        self._tokenizer_name = model_name

        tower, reason = find_causal_text_tower(self.model)
        if tower is not None and text_architecture.pool != "eot":
            tower, reason = None, "pool=mean: the trimmed path reads one pooled token"
        self._tower = tower
        wants_fast = spec.bool_option("fast", True)
        if tower is not None and not wants_fast:
            tower, reason = None, "disabled by fast=false"
        if tower is not None:
            gap = self._fast_path_gap(tower)
            if gap > EXACT_PATH_TOLERANCE[self.precision]:
                logging.getLogger(__name__).warning(
                    "fast text path off for %s: differs by %.2e", spec.canonical, gap
                )
                tower, reason = None, f"self-check failed: max abs diff {gap:.2e}"
        self._fast_tower = tower
        self._prefix_stack, prefix_reason = self._prefix_sharing(tower, spec)

        activation = activation_name(self.model)
        trained_quick = source.kind == "pretrained" and _tag_quick_gelu(source.arch, source.value)
        if trained_quick and "quick_gelu" not in activation:
            logging.getLogger(__name__).warning(
                "%s: weights were trained with QuickGELU but the model uses %s",
                spec.canonical,
                activation,
            )
        self.info = EncoderInfo(
            spec=spec.canonical,
            family="openclip",
            name=source.arch,
            weights_source=source.describe(seed),
            weights_hash=state_dict_hash(self.model),
            embed_dim=self._embed_dim(),
            device=self.device,
            precision=self.precision,
            towers=("text", "image"),
            library=LIBRARIES[0],
            library_versions=library_versions(),
            settings={"quick_gelu": quick_gelu},
            details={
                "activation": activation,
                "context_length": int(getattr(self.model, "context_length", 0) or 0) or None,
                "text_causal": self._text_is_causal(),
                "text_pooling": "mean"
                if text_architecture.pool == "mean"
                else self._text_pooling(),
                "text_architecture": text_architecture.to_dict(),
                "fast_text_path": self._fast_tower is not None,
                "fast_text_reason": reason,
                "prefix_sharing": self._prefix_stack is not None,
                "prefix_sharing_reason": prefix_reason,
                "batch_sizes": self._batch_sizes(),
            },
        )
        if self._vit_attention_blocks() is not None:
            self.capabilities = frozenset({"cls_attention"})

    @staticmethod
    def _quick_gelu_setting(source: WeightsSource, spec: ModelSpec) -> bool:
        requested = spec.bool_option("quickgelu")
        built_in = source.kind in ("random-init", "pretrained", "file")
        arch_default = _arch_quick_gelu(source.arch) if built_in else False
        if requested is False and arch_default:
            raise CliposcopeError(
                f"{source.arch} is a QuickGELU architecture; quickgelu=false cannot apply",
                hint=f"use {source.arch.removesuffix('-quickgelu')} for GELU",
            )
        if requested is not None:
            return requested or arch_default
        if source.kind == "pretrained":
            return _tag_quick_gelu(source.arch, source.value) or arch_default
        return arch_default

    @cached_property
    def tokenizer(self):
        import open_clip

        prepare_hub(self.spec.canonical, tokenizer_hub_files(self.spec))
        try:
            return open_clip.get_tokenizer(self._tokenizer_name)
        except Exception as error:
            raise CliposcopeError(
                f"cannot load the tokenizer of {self.spec.canonical}: {describe_exception(error)}",
                hint="this tokenizer comes from the model hub; "
                "fill the HF cache where the hub is reachable",
            ) from None

    def _text_is_causal(self) -> bool:
        holder = getattr(self.model, "text", self.model)
        return getattr(holder, "attn_mask", None) is not None

    def _text_pooling(self) -> str:
        if hasattr(self.model, "text_pool_type"):
            return self.model.text_pool_type
        return str(getattr(self.model.text, "pool_type", type(self.model.text).__name__))

    def _embed_dim(self) -> int:
        output_dim = getattr(self.model.visual, "output_dim", None)
        if output_dim:
            return int(output_dim)
        size = self.preprocess.transforms[0].size
        side = size if isinstance(size, int) else size[0]
        with torch.inference_mode():
            pixels = torch.zeros(1, 3, side, side, device=self.device)
            return int(self.model.encode_image(pixels).shape[-1])

    def _fast_path_gap(self, tower) -> float:
        """Reference vs trimmed forward on probe token rows of short, medium and full length.

        Rows are built directly (random ids, the pooled token last, padding after it), so
        the check needs no tokenizer: building open_clip's costs a third of a second.
        """
        context = self.model.context_length
        vocabulary = self.model.vocab_size
        end = tower.eos_id if tower.pool_type == "eos" else vocabulary - 1
        generator = torch.Generator().manual_seed(0)
        tokens = torch.zeros(len(_PROBE_LENGTHS), context, dtype=torch.long)
        for row, length in enumerate(_PROBE_LENGTHS):
            length = length or context
            tokens[row, : length - 1] = torch.randint(
                1, vocabulary - 1, (length - 1,), generator=generator
            )
            tokens[row, : length - 1][tokens[row, : length - 1] == end] = 1
            tokens[row, length - 1] = end
        tokens = tokens.to(self.device)
        with torch.inference_mode(), autocast(self.device, self.precision):
            reference = self.model.encode_text(tokens)
            trimmed = encode_trimmed(tower, tokens)
        return max_abs_difference(reference, trimmed)

    def _prefix_sharing(self, tower, spec: ModelSpec):
        """The taken-apart tower when shared-prefix encoding is exact here, and why (not)."""
        if tower is None:
            return None, "needs the exact trimmed path, which is off"
        if not spec.bool_option("prefix", True):
            return None, "disabled by prefix=false"
        stack = openclip_stack(tower)
        if stack is None:
            return None, "text blocks of a kind this path does not take apart"
        gap = self._prefix_gap(stack, tower)
        if gap > EXACT_PATH_TOLERANCE[self.precision]:
            logging.getLogger(__name__).warning(
                "shared-prefix text path off for %s: differs by %.2e", spec.canonical, gap
            )
            return None, f"self-check failed: max abs diff {gap:.2e}"
        return stack, f"exact: causal tower, prefix states computed once (self-check {gap:.1e})"

    def _prefix_gap(self, stack, tower) -> float:
        """Reference vs shared-prefix forward on probe rows that share leading tokens."""
        vocabulary = self.model.vocab_size
        end = tower.eos_id if tower.pool_type == "eos" else vocabulary - 1

        def reference(rows):
            tokens = padded(rows, self.model.context_length).to(self.device)
            return self.model.encode_text(tokens)

        with autocast(self.device, self.precision):
            return self_check_gap(
                stack,
                reference,
                lambda rows: self._trimmed(tower, rows),
                vocabulary=vocabulary,
                end=end,
                device=self.device,
            )

    def _trimmed(self, tower, rows: list[tuple[int, ...]]) -> torch.Tensor:
        return encode_trimmed(tower, padded(rows).to(self.device))

    def _numpy(self, features: torch.Tensor) -> np.ndarray:
        return features.float().cpu().numpy()

    def encode_text_reference(self, texts: list[str]) -> np.ndarray:
        """The library's own forward pass (full context, input order), for checks."""
        out = []
        with torch.inference_mode(), autocast(self.device, self.precision):
            for batch in batched(texts, self.text_batch_size):
                tokens = self.tokenizer(list(batch)).to(self.device)
                out.append(self._numpy(self.model.encode_text(tokens)))
        return np.concatenate(out)

    def _encode_texts(self, texts: list[str], *, progress: bool) -> np.ndarray:
        if self._fast_tower is None:
            return self.encode_text_reference(texts)
        features = np.empty((len(texts), self.info.embed_dim), dtype=np.float32)
        with (
            progress_bar(
                total=len(texts), enabled=progress, leave=False, unit="text", desc="encode text"
            ) as bar,
            torch.inference_mode(),
            autocast(self.device, self.precision),
        ):
            for chunk in chunks_by_start(texts, TOKENIZE_CHUNK):
                tokens = self.tokenizer([texts[i] for i in chunk])
                positions = pooled_positions(self._fast_tower, tokens)
                if self._prefix_stack is not None:
                    shared = encode_shared(
                        self._prefix_stack,
                        rows_until_pooled(tokens, positions),
                        device=self.device,
                        batch_size=self.text_batch_size,
                        alone=lambda rows: self._trimmed(self._fast_tower, rows),
                    )
                    features[chunk] = self._numpy(shared)
                    bar.update(len(tokens))
                    continue
                lengths = positions.numpy()
                for index in length_sorted_batches(lengths, self.text_batch_size):
                    rows = tokens[torch.from_numpy(index)].to(self.device)
                    features[chunk[index]] = self._numpy(encode_trimmed(self._fast_tower, rows))
                    bar.update(len(index))
        return features

    def _pixel_batches(self, images: list[ImageInput]):
        return image_batches(
            images,
            self.preprocess,
            batch_size=self.image_batch_size,
            device=self.device,
            workers=self.image_workers,
        )

    def _encode_images(self, images: list[ImageInput], *, progress: bool) -> np.ndarray:
        out = []
        with (
            progress_bar(
                total=len(images), enabled=progress, leave=False, unit="img", desc="encode images"
            ) as bar,
            torch.inference_mode(),
            autocast(self.device, self.precision),
            contextlib.closing(self._pixel_batches(images)) as batches,
        ):
            for pixels in batches:
                out.append(self._numpy(self.model.encode_image(pixels)))
                bar.update(len(pixels))
        return np.concatenate(out)

    def _vit_attention_blocks(self):
        """The ViT blocks whose CLS attention can be read, or None for other towers."""
        visual = self.model.visual
        blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        if blocks is None or getattr(visual, "class_embedding", None) is None:
            return None
        if not all(isinstance(block.attn, torch.nn.MultiheadAttention) for block in blocks):
            return None
        return blocks

    def cls_attention(self, images: list[ImageInput], layer: int = -1) -> np.ndarray:
        """(N, grid_h, grid_w): attention from the CLS token to each patch in one block of
        the ViT image tower, heads averaged, as nn.MultiheadAttention itself computes it."""
        blocks = self._vit_attention_blocks()
        if blocks is None:
            return super().cls_attention(images, layer)
        try:
            block = blocks[layer]
        except IndexError:
            raise CliposcopeError(
                f"layer {layer} is outside the {len(blocks)} blocks", hint="e.g. -1 for the last"
            ) from None
        visual = self.model.visual
        captured: dict[str, torch.Tensor] = {}
        handle = block.register_forward_pre_hook(lambda _m, args: captured.update(x=args[0]))
        out = []
        try:
            with (
                torch.inference_mode(),
                autocast(self.device, self.precision),
                contextlib.closing(self._pixel_batches(list(images))) as batches,
            ):
                for pixels in batches:
                    self.model.encode_image(pixels)
                    x = block.ln_1(captured["x"])
                    _, weights = block.attn(x, x, x, need_weights=True, average_attn_weights=False)
                    out.append(self._numpy(weights[:, :, 0, 1:].mean(dim=1)))
        finally:
            handle.remove()
        attention = np.concatenate(out)
        grid_h, grid_w = visual.grid_size
        if attention.shape[1] != grid_h * grid_w:
            raise CliposcopeError(
                f"{attention.shape[1]} tokens after CLS, expected a {grid_h}x{grid_w} patch grid",
                hint="towers with extra tokens are not supported",
            )
        return attention.reshape(-1, grid_h, grid_w)


def random_init_spec(info: EncoderInfo, seed: int) -> str:
    """The model's own architecture (activation and text tower switches) with seeded
    random weights."""
    if info.name.startswith(("local-dir:", "hf-hub:")):
        raise CliposcopeError(
            f"--null random-init needs an open_clip architecture name, not {info.spec}",
            hint="use it with openclip:ARCH... specs, or --null sum for any model",
        )
    quick = "&quickgelu=true" if info.settings.get("quick_gelu") else ""
    switches = TextArchitecture(**(info.details.get("text_architecture") or {})).options
    return f"openclip:{info.name}?seed={seed}{quick}{'&' + switches if switches else ''}"


def spec_with_checkpoint(spec: ModelSpec, path: Path) -> ModelSpec:
    """``openclip:ARCH`` + ``--checkpoint PATH`` -> ``openclip:ARCH/PATH``."""
    arch, _, rest = spec.target.partition("/")
    if rest or arch.startswith(("local-dir:", "hf-hub:")):
        raise CliposcopeError(
            f"--checkpoint applies to a bare openclip:ARCH spec, not {spec.canonical!r}",
            hint="write openclip:ARCH with --checkpoint, or put the path in the spec",
        )
    return ModelSpec(spec.family, f"{arch}/{path}", spec.options)


def pretrained_catalogue(pattern: str | None) -> list[str]:
    """open_clip's architectures with their pretrained tags, for `cliposcope models`."""
    import open_clip

    register_project_configs()
    tags: dict[str, list[str]] = {}
    for arch, tag in open_clip.list_pretrained():
        tags.setdefault(arch, []).append(tag)
    lines = [
        f"  {arch}: {', '.join(tags.get(arch, [])) or '(random weights only)'}"
        for arch in open_clip.list_models()
        if not pattern or pattern.lower() in arch.lower()
    ]
    title = "open_clip architectures and pretrained tags" + (
        f" matching {pattern!r}:" if pattern else ":"
    )
    return [title, *(lines or [f"  none match {pattern!r}"])]


def random_model(arch: str, seed: int) -> torch.nn.Module:
    """An open_clip model of ``arch`` with weights drawn from ``seed``."""
    import open_clip

    register_project_configs()
    with seeded_random_init(seed):
        return open_clip.create_model(arch)


def save_weights(model: torch.nn.Module, path: Path) -> Path:
    """A model's state dict as a .safetensors file, which any open_clip path can load."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, path)
    return path


def save_local_dir(model: torch.nn.Module, arch: str, folder: Path) -> Path:
    """A model of architecture ``arch`` as a ``local-dir:`` folder: config and weights."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": open_clip.get_model_config(arch), "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_weights(model, folder / "open_clip_model.safetensors")
    return folder


def write_tiny(folder: Path, seed: int) -> str:
    """The tiny architecture with weights drawn from ``seed``, as a local-dir folder."""
    save_local_dir(random_model(TINY_ARCH, seed), TINY_ARCH, folder)
    return f"openclip:local-dir:{folder.resolve()}"


register_family(
    Family(
        name="openclip",
        order=10,
        description="open_clip models: ARCH/TAG (pretrained), ARCH/PATH (local checkpoint), "
        "local-dir:FOLDER, or ARCH?seed=N (random weights, asked for)",
        load=OpenClipEncoder,
        embeds_images=True,
        examples=(
            "openclip:ViT-B-32/openai            pretrained tag (needs the model hub once)",
            "openclip:ViT-B-32/ckpt/epoch_10.pt  local checkpoint (state dict or "
            "{'state_dict': ...})",
            "openclip:ViT-B-32 --checkpoint PATH the same, path given separately",
            "openclip:local-dir:/path/to/folder  folder with open_clip_config.json + weights",
            "openclip:ViT-B-32?seed=0            random weights (null baselines, tests)",
        ),
        options=OPTIONS,
        libraries=LIBRARIES,
        random_init=random_init_spec,
        with_checkpoint=spec_with_checkpoint,
        catalogue=pretrained_catalogue,
        tiny=write_tiny,
        hub_files=hub_files,
    )
)
