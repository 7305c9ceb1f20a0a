"""Random-weight models saved to local folders, so adapters are tested with no model hub.

Each encoder family writes its own small model (``Family.tiny``; the hf family's CLIP is
``cliposcope.encoders.hf.save_tiny_clip``); here are the other models tests need.
"""

from __future__ import annotations

from pathlib import Path

from cliposcope.encoders.hf import clip_bpe_vocab, clip_tokenizer

WORDS = ("<pad>", "<unk>", "</s>", "a", "and", "photo", "of", "dog", "cat", "apple", "pizza")


def save_word_tokenizer(folder: Path, max_length: int = 16) -> Path:
    """A word-level fast tokenizer over WORDS, as save_pretrained writes one (tokenizer.json
    and its config): a stand-in for SigLIP's SentencePiece one, which needs the hub."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="</s>"
    )
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(folder)
    return folder


def save_hf_siglip(folder: Path, *, seed: int = 0) -> Path:
    """A small random SiglipModel with a word-level tokenizer (SigLIP's own needs the hub)."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    save_word_tokenizer(folder)
    config = SiglipConfig(
        text_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "vocab_size": len(WORDS),
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


def save_tiny_stable_diffusion(folder: Path, *, seed: int = 0) -> Path:
    """A random StableDiffusionPipeline a few hundred kB large (UNet, VAE, CLIP text model,
    the CLIP tokenizer), drawing 32-64 px images on the CPU in a fraction of a second."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = clip_tokenizer(folder / "tokenizer-files", 77)
    vocab, _ = clip_bpe_vocab()
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            max_position_embeddings=77,
            projection_dim=16,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(clip_sample=False),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def save_tiny_owlvit(folder: Path, *, seed: int = 0) -> Path:
    """A random OWL-ViT detector with its processor; every box scores high, so detections
    reach the store and the thresholds (the logit shift is raised)."""
    import torch
    from transformers import (
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
    )

    torch.manual_seed(seed)
    tokenizer = clip_tokenizer(folder / "tokenizer-files", 16)
    vocab, _ = clip_bpe_vocab()
    text = {
        "vocab_size": len(vocab),
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "max_position_embeddings": 16,
        "bos_token_id": vocab["<|startoftext|>"],
        "eos_token_id": vocab["<|endoftext|>"],
        "pad_token_id": vocab["<|endoftext|>"],
    }
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "image_size": 32,
        "patch_size": 8,
    }
    model = OwlViTForObjectDetection(
        OwlViTConfig(text_config=text, vision_config=vision, projection_dim=16)
    )
    with torch.no_grad():
        model.class_head.logit_shift.bias.fill_(6.0)
    size = {"height": 32, "width": 32}
    processor = OwlViTProcessor(
        image_processor=OwlViTImageProcessor(size=size, crop_size=size), tokenizer=tokenizer
    )
    model.save_pretrained(folder / "detector")
    processor.save_pretrained(folder / "detector")
    return folder / "detector"
