"""The Hugging Face hub as a user's machine meets it.

Left alone, the hub libraries spend about a minute in retries on a machine that cannot
reach the hub (each warning printed twice) before a message that names no file. Here the
hub is probed once per process, in seconds; when it cannot be reached the process goes
offline and reads the Hugging Face cache only, and a file missing from the cache is named
(repo, file, cache folder) with the command that fetches it on a connected machine.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ProbeTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Literal
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
SMALL_TEXT_FILES = ("*.json", "*.model", "*.txt")  # configs, vocabularies, SentencePiece models
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
PICKLED_WEIGHTS = (".bin", ".pth", ".pt")  # skipped where a .safetensors twin sits beside them


@dataclass(frozen=True)
class HubFiles:
    """What one model needs from one hub repo: for each entry, one of its alternatives
    (e.g. the .safetensors or the .bin weights), looked for in ``cache_dir`` (default: the
    Hugging Face cache). ``download`` says what prefetching takes: ``"files"`` the first
    alternative of each entry that the repo has; ``"repo"`` the whole repo less other
    frameworks' weights and pickled weights beside .safetensors ones (transformers and
    sentence-transformers folders, which their libraries read file by file); ``"text"``
    its small text files (a tokenizer or a config, whose library asks for files beside)."""

    repo: str
    alternatives: tuple[tuple[str, ...], ...]
    download: Literal["files", "repo", "text"] = "files"
    cache_dir: str | None = None


def hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


@dataclass
class _ProbeOutcome:
    unreachable_endpoint: str | None = None  # set once, when this process found it so


_probe = _ProbeOutcome()


def go_offline() -> None:
    """From now on this process reads the cache only (the libraries read the flag at each
    request, and subprocesses inherit it)."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"


@contextmanager
def hub_switched_off() -> Iterator[None]:
    """Offline inside, as the process was after."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
    go_offline()
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before[0]
        if before[1] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before[1]


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _first_hop(endpoint: str) -> tuple[str, int]:
    """Where a request to ``endpoint`` connects first: its proxy when one is set for it
    (clusters often reach the internet only through one), else the endpoint itself."""
    parts = urlsplit(endpoint)
    proxies = getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not proxy_bypass(parts.hostname or ""):
        parts = urlsplit(proxy if "//" in proxy else f"http://{proxy}")
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _connects(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


@cache
def _reachable(endpoint: str) -> bool:
    """Whether a connection opens within PROBE_TIMEOUT_S, name lookup included (a lookup
    that hangs is given up on; its thread ends on its own)."""
    pool = ThreadPoolExecutor(max_workers=1)
    attempt = pool.submit(_connects, _first_hop(endpoint))
    pool.shutdown(wait=False)
    try:
        return attempt.result(timeout=PROBE_TIMEOUT_S + 0.5)
    except ProbeTimeout:
        return False


def hub_reachable() -> bool:
    """Whether the hub answers, asked once per process (and never when offline is set)."""
    return not offline() and _reachable(_endpoint())


def cached_file(repo: str, filename: str, cache_dir: str | None = None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        found = try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
    except HFValidationError:
        raise CliposcopeError(
            f"{repo!r} is not a model hub repo name", hint="hub names look like ORG/NAME"
        ) from None
    return Path(found) if isinstance(found, str) else None


def cached_json(repo: str, filename: str) -> dict | None:
    """A cached JSON file of a repo (a model config), or None when it is not cached."""
    path = cached_file(repo, filename)
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CliposcopeError(
            f"the cached {filename} of {repo} is unreadable ({type(error).__name__})",
            hint=f"delete {path.parent.parent.parent} and fetch it again",
        ) from None


def missing_files(needs: Sequence[HubFiles]) -> list[tuple[HubFiles, tuple[str, ...]]]:
    """(need, alternatives) for each entry of a need of which no alternative is cached."""
    return [
        (need, alternatives)
        for need in needs
        for alternatives in need.alternatives
        if not any(cached_file(need.repo, name, need.cache_dir) for name in alternatives)
    ]


def why_offline() -> str:
    if _probe.unreachable_endpoint:
        return f"not reachable ({_probe.unreachable_endpoint})"
    return "switched off (HF_HUB_OFFLINE=1)"


def not_cached_error(spec: str, need: HubFiles, alternatives: Sequence[str]) -> CliposcopeError:
    names = " or ".join(alternatives)
    cache_dir = need.cache_dir or hub_cache()
    return CliposcopeError(
        f"{spec}: {names} of {need.repo} is not in the cache {cache_dir}, "
        f"and the hub is {why_offline()}",
        hint=f"on a machine with the hub run `cliposcope prefetch {spec}` (or `hf download "
        f"{need.repo}`), then copy its cache here or point HF_HOME at the copy",
    )


def prepare_hub(spec: str, needs: Sequence[HubFiles]) -> None:
    """Before a load that reads ``needs`` from the hub: go offline when the hub cannot be
    reached, and offline, refuse at once when a needed file is not in the cache."""
    if not needs:
        return
    if not offline() and not hub_reachable():
        log.info("the model hub %s is not reachable: reading the cache only", _endpoint())
        _probe.unreachable_endpoint = _endpoint()
        go_offline()
    if offline():
        require_cached(spec, needs)


def require_cached(spec: str, needs: Sequence[HubFiles]) -> None:
    """Refuse, naming the first file of ``needs`` that is not in the cache."""
    for need, alternatives in missing_files(needs)[:1]:
        raise not_cached_error(spec, need, alternatives)


def wanted_repo_files(paths: Sequence[str]) -> list[str]:
    """A repo's files less other frameworks' weights and pickled weights that have a
    .safetensors file beside them (the libraries load the .safetensors ones)."""
    from huggingface_hub.utils import filter_repo_objects

    kept = list(filter_repo_objects(paths, ignore_patterns=list(OTHER_FRAMEWORKS)))
    safe_folders = {str(PurePosixPath(p).parent) for p in kept if p.endswith(".safetensors")}
    return [
        path
        for path in kept
        if not (path.endswith(PICKLED_WEIGHTS) and str(PurePosixPath(path).parent) in safe_folders)
    ]


def download(needs: Sequence[HubFiles]) -> list[Path]:
    """Download what ``needs`` names into the cache (a connected machine); the paths."""
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    fetched: list[Path] = []
    for need in needs:
        if need.download == "files":
            for alternatives in need.alternatives:
                for position, name in enumerate(alternatives):
                    try:
                        path = hf_hub_download(need.repo, name, cache_dir=need.cache_dir)
                    except RemoteEntryNotFoundError:
                        if position == len(alternatives) - 1:
                            raise
                        continue
                    fetched.append(Path(path))
                    break
            continue
        if need.download == "text":
            allow = list(SMALL_TEXT_FILES)
        else:
            allow = wanted_repo_files(HfApi().list_repo_files(need.repo))
        folder = snapshot_download(need.repo, allow_patterns=allow, cache_dir=need.cache_dir)
        fetched.append(Path(folder))
    return fetched
