"""Hugging Face transformers adapter: ``hf:NAME_OR_FOLDER`` for CLIP and SigLIP models.

CLIP text models are causal and pool at the end-of-text token, so the exact fast path
(sort by length, pad each batch only to its longest caption) applies. SigLIP pools the
last position and was trained on max-length padding, so it always gets the reference
path: padding to the full context, as its model card prescribes.

Options: ``fast`` (true/false, default true).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
from functools import cache, cached_property
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
    autocast,
    batched,
    image_batches,
    length_sorted_batches,
    quiet_weight_loading,
    refuse_non_finite,
)
from cliposcope.encoders.hub import TOKENIZER_FILES, TRANSFORMERS_WEIGHTS, HubFiles, prepare_hub
from cliposcope.encoders.prefix_sharing import (
    chunks_by_start,
    encode_shared,
    hf_clip_stack,
    padded,
    self_check_gap,
)
from cliposcope.encoders.registry import Family, library_versions, register_family
from cliposcope.encoders.specs import require_folder_if_path
from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.hashing import state_dict_hash
from cliposcope.progress import progress_bar

LIBRARIES = ("transformers",)
OPTIONS = {
    "fast": "true/false, exact length-bucketed text path for CLIP, default true",
    "prefix": "true/false, exact shared-prefix text path for CLIP (needs fast), default true",
}
SUPPORTED_MODEL_TYPES = ("clip", "siglip", "siglip2")
TOKENIZE_CHUNK = 4096


def _features(output) -> torch.Tensor:
    """get_*_features returns a tensor (transformers 4) or an output object (5)."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


class ImagePreprocess:
    """One image to pixel values, as the model's image processor does it; a class, not a
    closure, so DataLoader workers can receive it under any start method."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, image):
        return self.processor(images=[image], return_tensors="pt")["pixel_values"][0]


def hub_files(spec: ModelSpec) -> list[HubFiles]:
    """A hub name's repo (config, weights and tokenizer, fetched whole); nothing for a
    local folder."""
    if Path(spec.target).expanduser().is_dir():
        return []
    wanted = (("config.json",), TRANSFORMERS_WEIGHTS, TOKENIZER_FILES)
    return [HubFiles(spec.target, wanted, download="repo")]


def fast_text_support(config) -> tuple[bool, str]:
    """Whether the length-bucketed path is exact for this model's text tower."""
    if config.model_type == "clip":
        return True, "causal mask + end-of-text pooling: padding after it cannot change the output"
    return False, f"{config.model_type} text tower pools the last position (padding-dependent)"


class HFEncoder(Encoder):
    def __init__(self, spec: ModelSpec, options: LoadOptions | None = None):
        try:
            import transformers
        except ImportError:
            raise CliposcopeError(
                "hf: models need the transformers library",
                hint="pip install 'cliposcope[hf]'",
            ) from None
        spec.check_options(OPTIONS)
        self.spec = spec
        self._take_options(options)
        require_folder_if_path(spec.target)
        folder = Path(spec.target).expanduser()
        self.location = str(folder.resolve()) if folder.is_dir() else spec.target
        prepare_hub(spec.canonical, hub_files(spec))
        try:
            config = transformers.AutoConfig.from_pretrained(self.location)
        except Exception as error:
            raise CliposcopeError(
                f"cannot load the config of {spec.canonical}: {describe_exception(error)}",
                hint="give a local folder saved with save_pretrained, or a hub name where the hub "
                "is reachable",
            ) from None
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise CliposcopeError(
                f"{spec.canonical} is a {config.model_type!r} model",
                hint=f"hf: supports {', '.join(SUPPORTED_MODEL_TYPES)}; "
                "for text-only models use st:",
            )
        self.config = config
        try:
            with quiet_weight_loading():
                self.model = (
                    transformers.AutoModel.from_pretrained(self.location, dtype=torch.float32)
                    .eval()
                    .to(self.device)
                )
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.location)
        except Exception as error:
            raise CliposcopeError(
                f"cannot load {spec.canonical}: {describe_exception(error)}",
                hint="the folder needs the model weights and tokenizer files",
            ) from None
        refuse_non_finite(self.model, spec.canonical)
        text_config = config.text_config
        self.context_length = int(text_config.max_position_embeddings)
        supported, reason = fast_text_support(config)
        if supported and not spec.bool_option("fast", True):
            supported, reason = False, "disabled by fast=false"
        self.fast_text = supported
        self._prefix_stack, prefix_reason = self._prefix_sharing(spec)
        clip = config.model_type == "clip"
        self.info = EncoderInfo(
            spec=spec.canonical,
            family="hf",
            name=spec.target if folder.is_dir() else config._name_or_path or spec.target,
            weights_source=("folder:" if folder.is_dir() else "hub:") + spec.target,
            weights_hash=state_dict_hash(self.model),
            embed_dim=int(getattr(config, "projection_dim", 0) or text_config.hidden_size),
            device=self.device,
            precision=self.precision,
            towers=("text", "image"),
            library=LIBRARIES[0],
            library_versions=library_versions(),
            settings={
                "model_type": config.model_type,
                "padding": "longest-in-bucket" if supported else "max_length",
            },
            details={
                "activation": str(getattr(text_config, "hidden_act", "unknown")),
                "context_length": self.context_length,
                "text_causal": clip,
                "text_pooling": "eos" if clip else "last",
                "fast_text_path": supported,
                "fast_text_reason": reason,
                "prefix_sharing": self._prefix_stack is not None,
                "prefix_sharing_reason": prefix_reason,
                "batch_sizes": self._batch_sizes(),
            },
        )
        if clip:
            self.capabilities = frozenset({"cls_attention"})

    @cached_property
    def image_processor(self):
        import transformers

        try:
            return transformers.AutoImageProcessor.from_pretrained(self.location)
        except Exception as error:
            raise CliposcopeError(
                f"cannot load the image processor of {self.spec.canonical}: "
                f"{describe_exception(error)}",
                hint="the folder needs preprocessor_config.json",
            ) from None

    def _text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        with torch.inference_mode(), autocast(self.device, self.precision):
            kwargs = {"input_ids": input_ids.to(self.device)}
            if attention_mask is not None and self.config.model_type == "clip":
                kwargs["attention_mask"] = attention_mask.to(self.device)
            return _features(self.model.get_text_features(**kwargs)).float().cpu().numpy()

    def _pixel_batches(self, images: list[ImageInput]):
        preprocess = ImagePreprocess(self.image_processor)
        return image_batches(
            images,
            preprocess,
            batch_size=self.image_batch_size,
            device=self.device,
            workers=self.image_workers,
        )

    def encode_text_reference(self, texts: list[str]) -> np.ndarray:
        """The model's forward pass on full-context padding, in input order."""
        out = []
        for batch in batched(texts, self.text_batch_size):
            encoded = self.tokenizer(
                list(batch),
                padding="max_length",
                truncation=True,
                max_length=self.context_length,
                return_tensors="pt",
            )
            out.append(self._text_features(encoded["input_ids"], encoded.get("attention_mask")))
        return np.concatenate(out)

    def _prefix_sharing(self, spec: ModelSpec):
        """The taken-apart CLIP text tower when shared-prefix encoding is exact, and why."""
        if not self.fast_text:
            return None, "needs the exact length-bucketed path, which is off"
        if not spec.bool_option("prefix", True):
            return None, "disabled by prefix=false"
        stack = hf_clip_stack(self.model)
        if stack is None:
            return None, "text tower of a kind this path does not take apart"
        vocabulary = int(self.config.text_config.vocab_size)
        end = self._pooled_token(vocabulary)

        def reference(rows):
            tokens = padded(rows, self.context_length)
            return torch.from_numpy(self._text_features(tokens, None))

        with autocast(self.device, self.precision):
            gap = self_check_gap(
                stack,
                reference,
                self._padded_features,
                vocabulary=vocabulary,
                end=end,
                device=self.device,
            )
        if gap > EXACT_PATH_TOLERANCE[self.precision]:
            logging.getLogger(__name__).warning(
                "shared-prefix text path off for %s: differs by %.2e", spec.canonical, gap
            )
            return None, f"self-check failed: max abs diff {gap:.2e}"
        return stack, f"exact: causal tower, prefix states computed once (self-check {gap:.1e})"

    def _pooled_token(self, vocabulary: int) -> int:
        """The token the tower pools at: the end-of-text id (the highest id, for configs
        that still pool at argmax)."""
        eos = self.model.text_model.eos_token_id
        return vocabulary - 1 if eos == 2 else int(eos)

    def _padded_features(self, rows: list[tuple[int, ...]]) -> torch.Tensor:
        tokens = padded(rows)
        mask = torch.arange(tokens.shape[1]) < torch.tensor([len(r) for r in rows])[:, None]
        return torch.from_numpy(self._text_features(tokens, mask.long()))

    def _pooled_rows(self, ids: list[list[int]]) -> list[tuple[int, ...]]:
        """Each row cut after the position the tower reads, by its own rule."""
        eos = self.model.text_model.eos_token_id
        rows = []
        for row in ids:
            # legacy configs pool at argmax; others at the first end token (0 if none)
            first_end = row.index(eos) if eos in row else 0
            position = int(np.argmax(row)) if eos == 2 else first_end
            rows.append(tuple(row[: position + 1]))
        return rows

    def _encode_texts(self, texts: list[str], *, progress: bool) -> np.ndarray:
        if not self.fast_text:
            return self.encode_text_reference(texts)
        features = np.empty((len(texts), self.info.embed_dim), dtype=np.float32)
        with progress_bar(
            total=len(texts), enabled=progress, leave=False, unit="text", desc="encode text"
        ) as bar:
            for chunk in chunks_by_start(texts, TOKENIZE_CHUNK):
                encoded = self.tokenizer(
                    [texts[i] for i in chunk],
                    truncation=True,
                    max_length=self.context_length,
                )
                ids = encoded["input_ids"]
                if self._prefix_stack is not None:
                    with autocast(self.device, self.precision):
                        shared = encode_shared(
                            self._prefix_stack,
                            self._pooled_rows(ids),
                            device=self.device,
                            batch_size=self.text_batch_size,
                            alone=self._padded_features,
                        )
                    features[chunk] = shared.float().cpu().numpy()
                    bar.update(len(ids))
                    continue
                lengths = np.array([len(row) for row in ids])
                for index in length_sorted_batches(lengths, self.text_batch_size):
                    batch = self.tokenizer.pad(
                        {"input_ids": [ids[i] for i in index]},
                        padding="longest",
                        return_tensors="pt",
                    )
                    features[chunk[index]] = self._text_features(
                        batch["input_ids"], batch["attention_mask"]
                    )
                    bar.update(len(index))
        return features

    def _encode_images(self, images: list[ImageInput], *, progress: bool) -> np.ndarray:
        out = []
        with (
            progress_bar(
                total=len(images), enabled=progress, leave=False, unit="img", desc="encode images"
            ) as bar,
            contextlib.closing(self._pixel_batches(images)) as batches,
        ):
            for pixels in batches:
                with torch.inference_mode(), autocast(self.device, self.precision):
                    features = _features(self.model.get_image_features(pixel_values=pixels))
                out.append(features.float().cpu().numpy())
                bar.update(len(pixels))
        return np.concatenate(out)

    def cls_attention(self, images: list[ImageInput], layer: int = -1) -> np.ndarray:
        """(N, grid_h, grid_w): CLS-to-patch attention of one vision layer, heads averaged."""
        if not self.supports("cls_attention"):
            return super().cls_attention(images, layer)
        vision = self.config.vision_config
        grid = vision.image_size // vision.patch_size
        previous = self.model.config._attn_implementation
        self.model.set_attn_implementation("eager")  # sdpa does not return attention weights
        out = []
        try:
            with contextlib.closing(self._pixel_batches(list(images))) as batches:
                for pixels in batches:
                    with torch.inference_mode(), autocast(self.device, self.precision):
                        result = self.model.vision_model(
                            pixel_values=pixels, output_attentions=True
                        )
                    try:
                        weights = result.attentions[layer]
                    except IndexError:
                        raise CliposcopeError(
                            f"layer {layer} is outside the {len(result.attentions)} layers",
                            hint="e.g. -1 for the last",
                        ) from None
                    out.append(weights[:, :, 0, 1:].mean(dim=1).float().cpu().numpy())
        finally:
            self.model.set_attn_implementation(previous)
        return np.concatenate(out).reshape(-1, grid, grid)


@cache
def clip_bpe_vocab() -> tuple[dict[str, int], list[str]]:
    """The OpenAI CLIP BPE vocabulary and merges, rebuilt from the file open_clip ships."""
    from open_clip.tokenizer import bytes_to_unicode

    bpe_file = resources.files("open_clip") / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(bpe_file.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    tokens = list(bytes_to_unicode().values())
    tokens = tokens + [token + "</w>" for token in tokens]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def clip_tokenizer(folder: Path, max_length: int):
    """The real CLIP tokenizer with no model hub: its vocabulary files written to ``folder``."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_bpe_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        model_max_length=max_length,
        pad_token="<|endoftext|>",
    )


def save_tiny_clip(folder: Path, *, seed: int = 0) -> Path:
    """A small CLIPModel with weights drawn from ``seed``, the real CLIP tokenizer and an
    image processor, saved with save_pretrained."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    clip_tokenizer(folder, 77).save_pretrained(folder)
    vocab, _ = clip_bpe_vocab()
    tower_size = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2}
    config = CLIPConfig(
        text_config={
            **tower_size,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "vocab_size": len(vocab),
            "eos_token_id": vocab["<|endoftext|>"],
            "bos_token_id": vocab["<|startoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={**tower_size, "num_attention_heads": 2, "image_size": 64, "patch_size": 16},
        projection_dim=32,
    )
    with torch.random.fork_rng(), quiet_weight_loading():
        torch.manual_seed(seed)
        CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}
    ).save_pretrained(folder)
    return folder


def write_tiny(folder: Path, seed: int) -> str:
    return f"hf:{save_tiny_clip(folder, seed=seed).resolve()}"


register_family(
    Family(
        name="hf",
        order=20,
        description="Hugging Face transformers CLIP / SigLIP: a hub name or a local folder",
        load=HFEncoder,
        embeds_images=True,
        examples=(
            "hf:openai/clip-vit-base-patch32     hub name",
            "hf:/path/to/saved/model             folder written by save_pretrained",
        ),
        options=OPTIONS,
        libraries=LIBRARIES,
        tiny=write_tiny,
        hub_files=hub_files,
    )
)
