"""`cliposcope cache`: the embedding cache: its stores, pruning, importing Ray shards."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cliposcope.app.outputs import check_output_folder
from cliposcope.errors import CliposcopeError, check_range

NAME = "cache"
HELP = "the embedding cache: size per encoder, pruning"
ORDER = 80


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    info = commands.add_parser("info", help="stores, rows and size per encoder")
    prune = commands.add_parser("prune", help="remove stores (all of them with --all)")
    for sub in (info, prune):
        sub.add_argument(
            "--cache-dir",
            metavar="DIR",
            help="default: $CLIPOSCOPE_CACHE_DIR or the user cache dir",
        )
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="unused for DAYS")
    prune.add_argument("--spec", metavar="TEXT", help="whose model spec contains TEXT")
    prune.add_argument("--all", action="store_true", help="every store")
    prune.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    imported = commands.add_parser("import", help="load Ray Parquet shards into the cache")
    imported.add_argument(
        "shards", metavar="SHARD_DIR", help="a shard folder of one model (named by its fingerprint)"
    )
    imported.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="the model the shards embed (checked by fingerprint)",
    )
    imported.add_argument(
        "--cache-dir", metavar="DIR", help="default: $CLIPOSCOPE_CACHE_DIR or the user cache dir"
    )
    imported.add_argument(
        "--cache-storage",
        default="fp32",
        choices=("fp32", "fp16"),
        help="fp16 halves the store on disk (about 1e-3 off per element)",
    )
    imported.set_defaults(handler=cmd_cache_import)
    info.set_defaults(handler=cmd_cache_info)
    prune.set_defaults(handler=cmd_cache_prune)


def _store_rows(stores) -> str:
    from cliposcope.report.table import render

    rows = [
        [
            s.spec,
            s.storage,
            f"{s.rows:,}",
            f"{s.size_bytes / 2**20:.1f}",
            time.strftime("%Y-%m-%d", time.localtime(s.last_used)),
            s.path.name[:16],
        ]
        for s in stores
    ]
    return render(["Model", "Storage", "Rows", "MiB", "Last used", "File"], rows)


def cmd_cache_info(args: argparse.Namespace) -> int:
    from cliposcope.cache import default_cache_dir, list_stores

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    stores = list_stores(root)
    print(f"{root}: {len(stores)} store(s), {sum(s.size_bytes for s in stores) / 2**20:.1f} MiB")
    if stores:
        print(_store_rows(stores))
    return 0


def cmd_cache_import(args: argparse.Namespace) -> int:
    """Every shard is read and checked (the model's fingerprint and dimension, finite unit
    vectors, readable Parquet) before the cache is opened: a bad shard is one error line,
    and the cache is left as it was."""
    from cliposcope.cache import CachedEncoder
    from cliposcope.encoders import load_encoder
    from cliposcope.scale.ray_engine import check_shards, import_shards

    folder = Path(args.shards)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise CliposcopeError(
            f"no Parquet shards in {folder}",
            hint="a folder under --ray-shards, named by a fingerprint",
        )
    if args.cache_dir:
        check_output_folder(args.cache_dir, "--cache-dir")
    encoder = load_encoder(args.model)
    check_shards(folder, encoder.info.fingerprint, encoder.info.embed_dim)
    cached = CachedEncoder(encoder, args.cache_dir, storage=args.cache_storage)
    try:
        rows = import_shards(folder, cached.store)
    finally:
        cached.store.close()
    print(f"imported {rows:,} embeddings into {cached.store.path}", file=sys.stderr)
    return 0


def cmd_cache_prune(args: argparse.Namespace) -> int:
    from cliposcope.cache import default_cache_dir, list_stores, prune_stores

    if not (args.all or args.spec or args.older_than is not None):
        raise CliposcopeError(
            "prune needs --older-than DAYS, --spec TEXT or --all",
            hint="see `cliposcope cache info` first",
        )
    if args.older_than is not None:
        check_range("--older-than", args.older_than, 0, hint="a number of days")
    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    cutoff = time.time() - 86400 * (args.older_than or 0)
    chosen = [
        s
        for s in list_stores(root)
        if (args.spec is None or args.spec in s.spec)
        and (args.older_than is None or s.last_used < cutoff)
    ]
    if chosen:
        print(_store_rows(chosen))
    freed = sum(s.size_bytes for s in chosen) if args.dry_run else prune_stores(chosen)
    verb = "would free" if args.dry_run else "freed"
    print(f"{len(chosen)} store(s), {verb} {freed / 2**20:.1f} MiB", file=sys.stderr)
    return 0
