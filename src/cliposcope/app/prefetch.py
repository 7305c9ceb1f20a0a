"""Filling the Hugging Face cache with what models read from the hub, then proving that
the cache suffices by loading each model with the hub switched off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cliposcope.encoders.hub import (
    HubFiles,
    download,
    hub_reachable,
    hub_switched_off,
    require_cached,
)
from cliposcope.errors import CliposcopeError, describe_exception

CHECK_TEXT = ["a photo of a dog and a cat"]
MAX_ROUNDS = 3  # an hf-hub: config names its tokenizer repo, known once the config is here


@dataclass
class PrefetchReport:
    lines: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def hub_needs(spec: str) -> list[HubFiles]:
    from cliposcope.encoders.registry import get_family
    from cliposcope.encoders.specs import parse_spec

    parsed = parse_spec(spec)
    family = get_family(parsed.family)
    return family.hub_files(parsed) if family.hub_files else []


def fetch_everything(spec: str) -> list[HubFiles]:
    """Download what ``spec`` needs, again while fetched files name more (at most a few
    rounds); what was fetched."""
    done: list[HubFiles] = []
    for _ in range(MAX_ROUNDS):
        new = [need for need in hub_needs(spec) if need not in done]
        if not new:
            break
        download(new)
        done += new
    return done


def cached_needs(spec: str) -> list[HubFiles]:
    """What ``spec`` reads from the hub, all of it already in the cache."""
    needs = hub_needs(spec)
    require_cached(spec, needs)
    return needs


def _repos(needs: Sequence[HubFiles]) -> str:
    return ", ".join(dict.fromkeys(need.repo for need in needs))


def prefetch_models(specs: Sequence[str], *, check: bool = True) -> PrefetchReport:
    """Each spec's hub files into the cache (where the hub answers; else each must be
    there already), then, with ``check``, each model loaded and run offline."""
    report = PrefetchReport()
    online = hub_reachable()
    ready: list[str] = []
    for spec in specs:
        try:
            needs = fetch_everything(spec) if online else cached_needs(spec)
        except CliposcopeError as error:
            report.failed.append((spec, str(error)))
            continue
        except Exception as error:  # the hub refused: unknown repo, gated, no such file
            report.failed.append((spec, describe_exception(error)))
            continue
        if not needs:
            report.lines.append(f"{spec}: nothing to fetch (it reads nothing from the hub)")
        elif online:
            report.lines.append(f"{spec}: fetched {_repos(needs)}")
        else:
            report.lines.append(f"{spec}: already in the cache ({_repos(needs)})")
        ready.append(spec)
    if check:
        with hub_switched_off():
            for spec in ready:
                try:
                    check_offline(spec)
                except CliposcopeError as error:
                    report.failed.append((spec, str(error)))
                    continue
                report.lines.append(f"{spec}: loads and embeds with the hub switched off")
    return report


def check_offline(spec: str) -> None:
    from cliposcope.encoders import load_encoder

    encoder = load_encoder(spec, device="cpu")
    if "text" in encoder.info.towers:
        encoder.encode_text(CHECK_TEXT)
