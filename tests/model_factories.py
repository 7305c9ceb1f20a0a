"""Random-weight models saved to local folders, so adapters are tested with no model hub."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path


@lru_cache(maxsize=1)
def clip_bpe_vocab() -> tuple[dict[str, int], list[str]]:
    """The OpenAI CLIP BPE vocabulary, rebuilt from the file open_clip ships."""
    from open_clip.tokenizer import bytes_to_unicode

    bpe_file = resources.files("open_clip") / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(bpe_file.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    tokens = list(bytes_to_unicode().values())
    tokens = tokens + [token + "</w>" for token in tokens]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def save_hf_clip(folder: Path, *, seed: int = 0, layers: int = 2, width: int = 64) -> Path:
    """A small random CLIPModel with the real CLIP tokenizer and image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_bpe_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    tokenizer.model_max_length = 77
    tokenizer.save_pretrained(folder)
    config = CLIPConfig(
        text_config={
            "hidden_size": width,
            "intermediate_size": 4 * width,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "vocab_size": len(vocab),
            "eos_token_id": vocab["<|endoftext|>"],
            "bos_token_id": vocab["<|startoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": width,
            "intermediate_size": 4 * width,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
        },
        projection_dim=32,
    )
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}
    ).save_pretrained(folder)
    return folder


def save_hf_siglip(folder: Path, *, seed: int = 0) -> Path:
    """A small random SiglipModel with a word-level tokenizer (SigLIP's own needs the hub)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
    )

    folder.mkdir(parents=True, exist_ok=True)
    words = ["<pad>", "<unk>", "</s>", "a", "and", "photo", "of", "dog", "cat", "apple", "pizza"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="</s>"
    )
    tokenizer.model_max_length = 16
    tokenizer.save_pretrained(folder)
    config = SiglipConfig(
        text_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "vocab_size": len(words),
        },
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
        },
    )
    torch.manual_seed(seed)
    SiglipModel(config).eval().save_pretrained(folder)
    SiglipImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder
