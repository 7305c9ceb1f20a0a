"""What a text-to-image run costs per 1,000 images, from figures measured in this run:
seconds per image for the generator at the run's steps and resolution (a fixed part plus
a part per denoising step, from two timed runs) and for the detector, times a price per
hour; and how much faster a second detector gets its images from the store than a
generator draws them.

    python benchmarks/t2i_cost.py [--pipeline sd21-base-architecture | DIR] [--device cpu]
        [--precision fp32] [--steps 30] [--resolution 512] [--batch 1]
        [--detector torchvision:fasterrcnn_resnet50_fpn_v2?weights=none] [--price-per-hour 0]

The default pipeline is Stable Diffusion 2.1-base's architecture (UNet, VAE and the
OpenCLIP ViT-H text encoder at their published sizes) with random weights, built here with
no model hub: the arithmetic of a denoising step is that of the real model, so is its time.
Give --pipeline DIR to time a saved pipeline instead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from cliposcope.generation.base import DetectorOptions, Drawn, GenerationOptions, Request
from cliposcope.generation.registry import load_detector, load_generator
from cliposcope.generation.store import ImageStore


def save_sd21_base_architecture(folder: Path) -> Path:
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in letters:  # the vocabulary's size changes a lookup, not the arithmetic
        vocab[letter], vocab[letter + "</w>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        model_max_length=77,
        pad_token="<|endoftext|>",
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=2,
        block_out_channels=(128, 256, 512, 512),
        sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            max_position_embeddings=77,
            hidden_act="gelu",
            projection_dim=512,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        scheduler=PNDMScheduler(skip_prk_steps=True),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def seconds(function) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="sd21-base-architecture")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--detector", default="torchvision:fasterrcnn_resnet50_fpn_v2?weights=none")
    parser.add_argument(
        "--price-per-hour",
        type=float,
        default=0.0,
        help="what an hour of this machine costs, to print a price",
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="t2i-cost-"))
    folder = args.pipeline
    if folder == "sd21-base-architecture":
        built = time.perf_counter()
        folder = save_sd21_base_architecture(scratch)
        print(
            f"built SD 2.1-base's architecture, random weights: {time.perf_counter() - built:.0f} s"
        )

    def generator(steps: int):
        options = GenerationOptions(
            device=args.device,
            precision=args.precision,
            steps=steps,
            resolution=args.resolution,
            batch_size=args.batch,
        )
        return load_generator(f"diffusers:{folder}", options)

    requests = [
        Request(f"a photo of a dog and a bus {k}", ("dog", "bus"), k) for k in range(args.batch)
    ]
    one, three = generator(1), generator(3)
    one.generate(requests)  # warm-up
    short = seconds(lambda: one.generate(requests))
    long = seconds(lambda: three.generate(requests))
    per_step = (long - short) / 2 / args.batch
    fixed = short / args.batch - per_step
    per_image = fixed + args.steps * per_step
    device = one.device
    print(
        f"generator on {device} ({args.precision}, {args.resolution} px, batch {args.batch}): "
        f"{per_step:.2f} s per step and image + {fixed:.2f} s fixed (text encoder, VAE)"
    )
    (drawn,) = one.generate(requests[:1])
    store = ImageStore(scratch / "store")
    stored = store.save_image("0" * 64, requests[0], Drawn(drawn.image), one.info)
    detector = load_detector(args.detector, DetectorOptions(device=args.device))
    detector.detect([stored], ["dog", "bus"])  # warm-up
    detect = seconds(lambda: detector.detect([stored] * 4, ["dog", "bus"])) / 4
    reread = seconds(lambda: [store.image("0" * 64).load() for _ in range(20)]) / 20
    total = per_image + detect
    print(f"detector {args.detector}: {detect:.2f} s per image")
    print(f"per image at {args.steps} steps: {per_image:.1f} s generate + {detect:.2f} s detect")
    print(
        f"per 1,000 images: {1000 * total / 3600:.2f} h of this {device}"
        + (
            f" = {1000 * total / 3600 * args.price_per_hour:.2f} at {args.price_per_hour}/h"
            if args.price_per_hour
            else ""
        )
    )
    print(
        f"a second detector on stored images: {reread * 1000:.1f} ms to read an image vs "
        f"{per_image:.1f} s to draw it ({per_image / reread:,.0f}x), plus its own detection"
    )


if __name__ == "__main__":
    main()
