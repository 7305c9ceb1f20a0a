"""A model hub on loopback: the few endpoints huggingface_hub calls to download a file
(``HEAD``/``GET /ORG/NAME/resolve/REV/PATH``) and a repo (``/api/models/ORG/NAME/revision/REV``
and ``/tree/REV``), serving repos held in memory. It records each path asked for."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hub_cache import commit_of

RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<kind>revision|tree)/(?P<rev>[^/?]+)")


class FakeHub:
    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos = repos
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                hub.answer(self, body=False)

            def do_GET(self):
                hub.answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = handler.path.split("?")[0]
        self.requests.append((handler.command, path))
        if match := RESOLVE.match(path):
            repo, name = match["repo"], match["path"]
            if repo not in self.repos:
                return self.send(handler, 404, b"", {"X-Error-Code": "RepoNotFound"}, body)
            if name not in self.repos[repo]:
                return self.send(handler, 404, b"", {"X-Error-Code": "EntryNotFound"}, body)
            data = self.repos[repo][name]
            headers = {
                "X-Repo-Commit": commit_of(repo),
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            }
            return self.send(handler, 200, data, headers, body)
        if match := API.match(path):
            repo = match["repo"]
            if repo not in self.repos:
                return self.send(handler, 404, b"", {"X-Error-Code": "RepoNotFound"}, body)
            files = self.repos[repo]
            if match["kind"] == "revision":
                info = {
                    "id": repo,
                    "sha": commit_of(repo),
                    "siblings": [{"rfilename": name} for name in files],
                }
            else:
                info = [
                    {
                        "type": "file",
                        "oid": hashlib.sha1(data).hexdigest(),
                        "size": len(data),
                        "path": name,
                    }
                    for name, data in files.items()
                ]
            payload = json.dumps(info).encode()
            return self.send(handler, 200, payload, {"Content-Type": "application/json"}, body)
        return self.send(handler, 404, b"", {}, body)

    @staticmethod
    def send(handler, status: int, data: bytes, headers: dict, body: bool) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)


def folder_files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
