"""A Hugging Face cache laid out exactly as huggingface_hub writes one, filled offline.

``hub/models--ORG--NAME/blobs/<sha256>`` holds each file once; ``snapshots/<commit>/<path>``
links to it; ``refs/main`` names the commit; ``.no_exist/<commit>/<path>`` records a file a
library asked for and the hub said the repo does not have. The loaders read such a cache with
``HF_HUB_OFFLINE=1`` as they would after a download on a connected machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

NETWORK_SETTINGS = ("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_")
PROXY_SETTINGS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def hub_environment(hf_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with no hub, cache or proxy settings of the machine's
    (a proxy would take loopback requests elsewhere), HF_HOME at ``hf_home``, and ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(NETWORK_SETTINGS) and key.lower() not in PROXY_SETTINGS
    }
    return {**env, "HF_HOME": str(hf_home), **extra}


def cliposcope_with(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command line run in a fresh process with ``env``, as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cliposcope", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def closed_port_endpoint() -> str:
    """An endpoint nothing listens on: the hub as an offline machine sees it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def commit_of(repo: str) -> str:
    """The commit a repo's snapshot is filed under here (any 40 hex digits would do)."""
    return hashlib.sha1(repo.encode()).hexdigest()


def repo_folder(cache: Path, repo: str) -> Path:
    return cache / ("models--" + repo.replace("/", "--"))


def put_in_hub_cache(
    cache: Path, repo: str, files: dict[str, Path | bytes | str], absent: tuple[str, ...] = ()
) -> Path:
    """``files`` (path in the repo -> a file to copy, or its content) as one snapshot of
    ``repo`` on its main branch, and ``absent`` as files the hub said it lacks; returns the
    snapshot folder."""
    folder = repo_folder(cache, repo)
    commit = commit_of(repo)
    snapshot = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, Path):
            with content.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            blob = folder / "blobs" / digest
            shutil.copyfile(content, blob)
        else:
            data = content.encode() if isinstance(content, str) else content
            blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for name in absent:
        marker = folder / ".no_exist" / commit / name
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return snapshot


def put_folder_in_hub_cache(
    cache: Path, repo: str, source: Path, absent: tuple[str, ...] = ()
) -> Path:
    """Every file under ``source`` (a save_pretrained folder, say) as a snapshot of ``repo``."""
    files = {
        str(path.relative_to(source)): path for path in sorted(source.rglob("*")) if path.is_file()
    }
    return put_in_hub_cache(cache, repo, files, absent)
