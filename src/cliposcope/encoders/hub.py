"""The Hugging Face hub as a user's machine meets it.

Left alone, the hub libraries spend about a minute in retries on a machine that cannot
reach the hub (each warning printed twice) before a message that names no file. Here the
hub is probed once per process, in seconds; when it cannot be reached the process goes
offline and reads the Hugging Face cache only, and a file missing from the cache is named
(repo, file, cache folder) with the command that fetches it on a connected machine.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from cliposcope.errors import CliposcopeError

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
TRANSFORMERS_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "spiece.model", "tokenizer.model", "vocab.txt")
OTHER_FRAMEWORKS = (  # never needed by a PyTorch load: not fetched
    "*.msgpack",
    "*.h5",
    "*.ot",
    "*.onnx",
    "*.tflite",
    "*.mlmodel",
    "onnx/*",
    "openvino/*",
    "coreml/*",
    "flax_model*",
    "tf_model*",
)


SMALL_TEXT_FILES = ("*.json", "*.model", "*.txt")  # configs, vocabularies, SentencePiece models


@dataclass(frozen=True)
class HubFiles:
    """What one model needs from one hub repo: for each entry, one of its alternatives
    (e.g. the .safetensors or the .bin weights). ``fetch`` says what prefetching takes:
    ``"files"`` the first alternative of each entry that the repo has; ``"repo"`` the
    whole repo less other frameworks' weights (transformers and sentence-transformers
    folders, which their libraries read file by file); ``"text"`` its small text files
    (a tokenizer, whose library asks for configs beside it)."""

    repo: str
    alternatives: tuple[tuple[str, ...], ...]
    fetch: str = "files"


def hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


_unreachable: list[str] = []  # the endpoint this process found unreachable, once


def go_offline() -> None:
    """From now on this process reads the cache only (the libraries read the flag at each
    request, and subprocesses inherit it)."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _first_hop(endpoint: str) -> tuple[str, int]:
    """Where a request to ``endpoint`` connects first: its proxy when one is set for it
    (clusters often reach the internet only through one), else the endpoint itself."""
    parts = urlsplit(endpoint)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(parts.hostname or ""):
        parts = urlsplit(proxy if "//" in proxy else f"http://{proxy}")
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@cache
def _reachable(endpoint: str) -> bool:
    try:
        with socket.create_connection(_first_hop(endpoint), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def hub_reachable() -> bool:
    """Whether the hub answers, asked once per process (and never when offline is set)."""
    return not offline() and _reachable(_endpoint())


def cached_file(repo: str, filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return Path(found) if isinstance(found, str) else None


def missing_files(needs: Sequence[HubFiles]) -> list[tuple[str, tuple[str, ...]]]:
    """(repo, alternatives) for each need of which no alternative is in the cache."""
    return [
        (need.repo, alternatives)
        for need in needs
        for alternatives in need.alternatives
        if not any(cached_file(need.repo, name) for name in alternatives)
    ]


def why_offline() -> str:
    if _unreachable:
        return f"not reachable ({_unreachable[0]})"
    return "switched off (HF_HUB_OFFLINE=1)"


def not_cached_error(spec: str, repo: str, alternatives: Sequence[str]) -> CliposcopeError:
    names = " or ".join(alternatives)
    return CliposcopeError(
        f"{spec}: {names} of {repo} is not in the Hugging Face cache {hub_cache()}, "
        f"and the hub is {why_offline()}",
        hint=f"on a machine with the hub run `cliposcope prefetch {spec}` (or `hf download "
        f"{repo}`), then copy its cache here or point HF_HOME at the copy",
    )


def prepare_hub(spec: str, needs: Sequence[HubFiles]) -> None:
    """Before a load that reads ``needs`` from the hub: go offline when the hub cannot be
    reached, and offline, refuse at once when a needed file is not in the cache."""
    if not needs:
        return
    if not offline() and not hub_reachable():
        log.info("the model hub %s is not reachable: reading the cache only", _endpoint())
        _unreachable.append(_endpoint())
        go_offline()
    if offline():
        for repo, alternatives in missing_files(needs)[:1]:
            raise not_cached_error(spec, repo, alternatives)


def fetch(needs: Sequence[HubFiles]) -> list[Path]:
    """Download what ``needs`` names into the cache (a connected machine); the paths."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    fetched: list[Path] = []
    for need in needs:
        if need.fetch in ("repo", "text"):
            patterns = {"allow_patterns": list(SMALL_TEXT_FILES)} if need.fetch == "text" else {}
            folder = snapshot_download(
                need.repo, ignore_patterns=list(OTHER_FRAMEWORKS), **patterns
            )
            fetched.append(Path(folder))
            continue
        for alternatives in need.alternatives:
            for position, name in enumerate(alternatives):
                try:
                    fetched.append(Path(hf_hub_download(need.repo, name)))
                    break
                except RemoteEntryNotFoundError:
                    if position == len(alternatives) - 1:
                        raise
    return fetched
