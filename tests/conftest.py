from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The suite never needs the model hub: fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).parent))  # model_factories

from cliposcope.encoders.hf import save_tiny_clip
from model_factories import save_hf_siglip

# Captions of mixed length: tiny, typical, exactly at the 77-token context (75 words that
# are one BPE token each, plus start/end tokens), and far beyond it (truncated).
AT_LIMIT = " ".join(["dog"] * 75)
BEYOND_LIMIT = " ".join(["a red apple and a small blue teddy bear"] * 15)
MIXED_CAPTIONS = [
    "apple and pizza and desk",
    "a",
    BEYOND_LIMIT,
    "a photo of a cat sitting on a chair next to a dog",
    AT_LIMIT,
    "",
    "dog and cat",
    "an elephant and a toothbrush and a hair drier and a banana and a laptop and a kite",
    " ".join(["dog"] * 74),
    "teddy bear",
    " ".join(["dog"] * 76),
    "pizza",
]


@pytest.fixture(scope="session")
def tiny_openclip():
    from cliposcope.encoders import load_encoder

    return load_encoder("openclip:cliposcope-tiny?seed=0", text_batch_size=4)


@pytest.fixture(scope="session")
def hf_clip_dir(tmp_path_factory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("hf_clip"))


@pytest.fixture(scope="session")
def hf_siglip_dir(tmp_path_factory) -> Path:
    return save_hf_siglip(tmp_path_factory.mktemp("hf_siglip"))
