"""``diffusers:REPO_OR_DIR``: any diffusers text-to-image pipeline.

The initial noise of every image is drawn on the CPU from its own ``torch.Generator``
seeded with the request's seed, so a (prompt, seed) pair starts from the same latents on
any device and in any batch.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence

from cliposcope.encoders.base import resolve_device
from cliposcope.encoders.specs import ModelSpec, require_folder_if_path
from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.generation.base import Drawn, GenerationOptions, Generator, Request
from cliposcope.generation.registry import Kind, need_library, register_generator
from cliposcope.hashing import state_dict_hash

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def check_pipeline_spec(spec: ModelSpec) -> None:
    require_folder_if_path(spec.target)


def pipeline_configuration_hash(pipeline) -> str:
    """sha256 over what shapes the images besides the weights: the pipeline's and each
    component's configuration (scheduler settings included) and the tokenizers' vocabularies."""
    import hashlib
    import json

    def dumped(config) -> str:  # diffusers' FrozenDict, transformers' PretrainedConfig, a dict
        mapping = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        return json.dumps(mapping, sort_keys=True, default=str)

    digest = hashlib.sha256(dumped(pipeline.config).encode())
    for name, component in sorted(pipeline.components.items()):
        config = getattr(component, "config", None)
        if config is not None and not callable(config):
            digest.update(f"{name}:{dumped(config)}".encode())
        if hasattr(component, "get_vocab"):  # a tokenizer
            digest.update(f"{name}:{dumped(component.get_vocab())}".encode())
            digest.update(f"{component.model_max_length}".encode())
    return "sha256:" + digest.hexdigest()


def pipeline_weights_hash(pipeline) -> str:
    """state_dict_hash of every torch component (unet, vae, text encoders), by name."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, component in sorted(pipeline.components.items()):
        if isinstance(component, torch.nn.Module):
            digest.update(f"{name}={state_dict_hash(component)};".encode())
    return "sha256:" + digest.hexdigest()


class DiffusersGenerator(Generator):
    def __init__(self, spec: ModelSpec, options: GenerationOptions):
        need_library("diffusers", "t2i", "a diffusers: generator")
        import diffusers
        import torch

        self.device = resolve_device(options.device)
        if self.device == "cpu" and options.precision != "fp32":
            raise CliposcopeError(
                f"--precision {options.precision} on the CPU is not supported "
                "by diffusion pipelines",
                hint="use fp32 on the CPU",
            )
        check_pipeline_spec(spec)
        dtype = getattr(torch, DTYPES[options.precision])
        try:
            with warnings.catch_warnings():  # newer diffusers call it dtype; older need this
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipeline = diffusers.DiffusionPipeline.from_pretrained(
                    spec.target, torch_dtype=dtype
                )
        except Exception as error:  # a bad folder or name, the hub unreachable, ...
            raise CliposcopeError(
                f"cannot load the diffusers pipeline {spec.target!r}: {describe_exception(error)}",
                hint="a folder with model_index.json, or a hub name such as "
                "stabilityai/stable-diffusion-2-1-base (the hub must be reachable)",
            ) from None
        parameters = inspect.signature(pipeline.__call__).parameters
        needs_image = "image" in parameters and (
            parameters["image"].default is inspect.Parameter.empty
        )
        if "prompt" not in parameters or needs_image:
            raise CliposcopeError(
                f"{type(pipeline).__name__} is not a text-to-image pipeline",
                hint="use a pipeline that draws from a prompt alone",
            )
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline.to(self.device)
        self.options = options
        self.batch_size = options.batch_size
        weights = pipeline_weights_hash(pipeline)
        settings = {
            "steps": options.steps,
            "guidance": options.guidance,
            "resolution": options.resolution,
            "precision": options.precision,
            "scheduler": type(pipeline.scheduler).__name__,
            "noise": "cpu torch.Generator per image, seeded with the request seed",
        }
        self.identity = {
            "kind": "diffusers",
            "spec": spec.canonical,
            "weights_hash": weights,
            "pipeline": type(pipeline).__name__,
            "settings": settings,
            "configuration_hash": pipeline_configuration_hash(pipeline),
            "device": self.device.partition(":")[0],
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
        }
        self.info = {
            "family": "diffusers",
            "spec": spec.canonical,
            "name": spec.target,
            "weights_hash": weights,
            "pipeline": type(pipeline).__name__,
            "safety_checker": getattr(pipeline, "safety_checker", None) is not None,
            "settings": settings | {"device": self.device, "batch_size": options.batch_size},
        }

    def generate(self, requests: Sequence[Request]) -> list[Drawn]:
        import torch

        size = self.options.resolution
        noise = [torch.Generator("cpu").manual_seed(r.seed) for r in requests]
        with torch.inference_mode():
            output = self.pipeline(
                prompt=[r.prompt for r in requests],
                generator=noise,
                num_inference_steps=self.options.steps,
                guidance_scale=self.options.guidance,
                height=size,
                width=size,
                output_type="pil",
            )
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(requests)
        return [
            Drawn(image, flagged=bool(flag))
            for image, flag in zip(output.images, flags, strict=True)
        ]


register_generator(
    Kind(
        name="diffusers",
        order=10,
        description="a diffusers text-to-image pipeline (hub name or local folder)",
        load=DiffusersGenerator,
        examples=("diffusers:stabilityai/stable-diffusion-2-1-base", "diffusers:./my-pipeline"),
        libraries=("diffusers", "transformers"),
        check=check_pipeline_spec,
    )
)
