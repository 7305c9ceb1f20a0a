"""Exact shared-prefix encoding for causal text towers (open_clip and transformers CLIP).

In a causal tower the hidden states of a token prefix do not depend on what follows, so
captions that start alike ("person and bicycle and ...") share every state of their common
prefix. Here each distinct prefix is computed once: its keys and values are kept per layer,
and every continuation is run over its own tokens only, attending to the cached prefix.
The embedding is read at each caption's pooled position, exactly where the library reads
it; the result equals the library's forward pass up to float rounding (the tests hold it
to 1e-5 in fp32).

Grouping: token rows (cut at their pooled position, duplicates encoded once) are sorted;
a run of neighbours that share at least ``MIN_PREFIX`` leading tokens forms a group whose
prefix is the run's common prefix (never reaching a pooled position). Rows in no group go
through the ordinary trimmed path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MIN_PREFIX = 2  # a start token and one more: shorter shared prefixes are not worth a group
PREFIXES_PER_BATCH = 128


def chunks_by_start(texts: Sequence[str], size: int) -> Iterator[np.ndarray]:
    """Indices of ``texts`` in chunks of ``size``, in sorted order: captions that start
    alike land in one chunk, where the shared-prefix path computes their common prefix
    once (on shuffled ComCO captions, chunks in input order split every family)."""
    order = np.array(sorted(range(len(texts)), key=texts.__getitem__), dtype=np.int64)
    for start in range(0, len(order), size):
        yield order[start : start + size]


@dataclass
class Layer:
    """One pre-norm transformer layer as three calls: norm + q/k/v, the attention output
    projection (with any layer scale), and the residual feed-forward half."""

    qkv: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    attention_out: Callable[[torch.Tensor], torch.Tensor]
    feed_forward: Callable[[torch.Tensor], torch.Tensor]
    heads: int


@dataclass
class TextStack:
    """A causal text tower taken apart: embed(tokens, first_position) -> states; layers;
    final(states) -> normed states; project(pooled) -> features."""

    embed: Callable[[torch.Tensor, int], torch.Tensor]
    layers: list[Layer]
    final: Callable[[torch.Tensor], torch.Tensor]
    project: Callable[[torch.Tensor], torch.Tensor]


def openclip_stack(tower) -> TextStack | None:
    """The stack of an open_clip causal tower, or None when its blocks are of a kind this
    module does not take apart (it then keeps the trimmed path)."""
    from open_clip.transformer import ResidualAttentionBlock

    transformer = tower.transformer
    blocks = list(getattr(transformer, "resblocks", []))
    if not blocks or not getattr(transformer, "batch_first", True):
        return None
    for block in blocks:
        attention = getattr(block, "attn", None)
        if type(block) is not ResidualAttentionBlock or not isinstance(
            attention, nn.MultiheadAttention
        ):
            return None
        if not attention._qkv_same_embed_dim or attention.in_proj_bias is None:
            return None
        if hasattr(block, "ln_1_kv"):
            return None
    cast_dtype = transformer.get_cast_dtype()

    def layer(block) -> Layer:
        attention = block.attn

        def qkv(x):
            return F.linear(block.ln_1(x), attention.in_proj_weight, attention.in_proj_bias).chunk(
                3, dim=-1
            )

        return Layer(
            qkv=qkv,
            attention_out=lambda o: block.ls_1(attention.out_proj(o)),
            feed_forward=lambda x: x + block.ls_2(block.mlp(block.ln_2(x))),
            heads=attention.num_heads,
        )

    def embed(tokens, first):
        x = tower.token_embedding(tokens).to(cast_dtype)
        return x + tower.positional_embedding[first : first + tokens.shape[1]].to(cast_dtype)

    def project(pooled):
        projection = tower.text_projection
        if projection is None:
            return pooled
        return projection(pooled) if isinstance(projection, nn.Linear) else pooled @ projection

    return TextStack(embed, [layer(b) for b in blocks], tower.ln_final, project)


def hf_clip_stack(model) -> TextStack | None:
    """The stack of a transformers CLIPModel's text tower."""
    text = getattr(model, "text_model", None)
    layers = getattr(getattr(text, "encoder", None), "layers", None)
    if text is None or layers is None:
        return None

    def layer(encoder_layer) -> Layer:
        attention = encoder_layer.self_attn

        def qkv(x):
            h = encoder_layer.layer_norm1(x)
            return attention.q_proj(h), attention.k_proj(h), attention.v_proj(h)

        return Layer(
            qkv=qkv,
            attention_out=attention.out_proj,
            feed_forward=lambda x: x + encoder_layer.mlp(encoder_layer.layer_norm2(x)),
            heads=attention.num_heads,
        )

    def embed(tokens, first):
        positions = torch.arange(first, first + tokens.shape[1], device=tokens.device)
        embeddings = text.embeddings
        return embeddings.token_embedding(tokens) + embeddings.position_embedding(positions)

    return TextStack(
        embed, [layer(x) for x in layers], text.final_layer_norm, model.text_projection
    )


def _attend(layer: Layer, q, k, v, prefix_length: int) -> torch.Tensor:
    """Causal attention of ``q`` over [cached prefix keys; own keys]."""
    batch, length, width = q.shape
    heads = layer.heads

    def split(t):
        return t.reshape(batch, t.shape[1], heads, width // heads).transpose(1, 2)

    own = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    mask = torch.cat(
        [torch.ones(length, prefix_length, dtype=torch.bool, device=q.device), own], dim=1
    )
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
    return out.transpose(1, 2).reshape(batch, length, width)


def run_layers(stack: TextStack, x: torch.Tensor, prefix=None, owner=None):
    """States after every layer; ``prefix`` holds cached (keys, values) per layer, one row
    per prefix, and ``owner[i]`` is the prefix of row i (gathered one layer at a time, so
    only one layer's copy is ever held). Returns the states and this call's own (keys,
    values) per layer."""
    cached = []
    for index, layer in enumerate(stack.layers):
        q, k, v = layer.qkv(x)
        cached.append((k, v))
        prefix_length = 0
        if prefix is not None:
            prefix_k, prefix_v = prefix[index]
            prefix_length = prefix_k.shape[1]
            k = torch.cat([prefix_k[owner], k], dim=1)
            v = torch.cat([prefix_v[owner], v], dim=1)
        x = x + layer.attention_out(_attend(layer, q, k, v, prefix_length))
        x = layer.feed_forward(x)
    return x, cached


@dataclass
class Plan:
    """Which rows share which prefix: ``groups`` = [(prefix length, row indices)];
    ``alone`` = rows computed on their own."""

    groups: list[tuple[int, list[int]]]
    alone: list[int]


def plan_groups(rows: Sequence[tuple[int, ...]]) -> Plan:
    """Group rows (token tuples cut after their pooled token) by shared leading tokens."""
    order = sorted(range(len(rows)), key=lambda i: rows[i])

    def common(a: tuple[int, ...], b: tuple[int, ...]) -> int:
        limit = min(len(a), len(b)) - 1  # the pooled (last) token is never shared
        n = 0
        while n < limit and a[n] == b[n]:
            n += 1
        return n

    groups, alone, start = [], [], 0
    while start < len(order):
        if start + 1 == len(order):
            alone.append(order[start])
            break
        length = common(rows[order[start]], rows[order[start + 1]])
        if length < MIN_PREFIX:
            alone.append(order[start])
            start += 1
            continue
        end = start + 1
        while end + 1 < len(order) and common(rows[order[end]], rows[order[end + 1]]) >= length:
            end += 1
        groups.append((length, order[start : end + 1]))
        start = end + 1
    return Plan(groups, alone)


@torch.inference_mode()
def encode_shared(
    stack: TextStack,
    rows: Sequence[tuple[int, ...]],
    *,
    device: str,
    batch_size: int,
    alone: Callable[[list[tuple[int, ...]]], torch.Tensor],
) -> torch.Tensor:
    """Features for every row (input order). ``rows[i]`` ends with its pooled token;
    ``alone(rows)`` computes rows that share no prefix (the trimmed path)."""
    unique = list(dict.fromkeys(rows))
    where = {row: i for i, row in enumerate(unique)}
    plan = plan_groups(unique)
    features: list[torch.Tensor | None] = [None] * len(unique)
    lonely = sorted(plan.alone, key=lambda i: len(unique[i]))  # little padding per batch
    for first in range(0, len(lonely), batch_size):
        indices = lonely[first : first + batch_size]
        for index, vector in zip(indices, alone([unique[i] for i in indices]), strict=True):
            features[index] = vector.to(device)
    by_length: dict[int, list[list[int]]] = {}
    for length, members in plan.groups:
        by_length.setdefault(length, []).append(members)
    for length, groups in sorted(by_length.items()):
        for start in range(0, len(groups), PREFIXES_PER_BATCH):
            chunk = groups[start : start + PREFIXES_PER_BATCH]
            prefix_tokens = torch.tensor([unique[g[0]][:length] for g in chunk], device=device)
            _, prefix = run_layers(stack, stack.embed(prefix_tokens, 0))
            members = [(g_index, row) for g_index, g in enumerate(chunk) for row in g]
            members.sort(key=lambda item: len(unique[item[1]]))
            for first in range(0, len(members), batch_size):
                batch = members[first : first + batch_size]
                suffixes = [unique[row][length:] for _, row in batch]
                width = max(map(len, suffixes))
                tokens = torch.zeros(len(batch), width, dtype=torch.long, device=device)
                for i, suffix in enumerate(suffixes):
                    tokens[i, : len(suffix)] = torch.tensor(suffix)
                owner = torch.tensor([g for g, _ in batch], device=device)
                states, _ = run_layers(stack, stack.embed(tokens, length), prefix, owner)
                last = torch.tensor([len(s) - 1 for s in suffixes], device=device)
                pooled = stack.final(states)[torch.arange(len(batch), device=device), last]
                for (_, row), vector in zip(batch, stack.project(pooled), strict=True):
                    features[row] = vector
    table = torch.stack(features)  # type: ignore[arg-type]
    return table[torch.tensor([where[row] for row in rows], device=table.device)]


def padded(rows: Sequence[tuple[int, ...]], width: int | None = None) -> torch.Tensor:
    """Rows as one (N, width) tensor, zero after each row's end (unseen by a causal tower)."""
    tokens = torch.zeros(len(rows), width or max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
    return tokens


def probe_rows(vocabulary: int, end: int) -> list[tuple[int, ...]]:
    """Rows for the load-time self-check: four that share five leading tokens, a
    duplicate, and one that shares nothing; each ends with the pooled token ``end``."""
    generator = torch.Generator().manual_seed(1)
    shared = torch.randint(1, vocabulary - 1, (5,), generator=generator).tolist()
    tails = [
        torch.randint(1, vocabulary - 1, (k,), generator=generator).tolist() for k in (1, 2, 4, 3)
    ]
    rows = [(*(t for t in [*shared, *tail] if t != end), end) for tail in tails]
    return [*rows, rows[0], (shared[0], end)]


def self_check_gap(
    stack: TextStack, reference, alone, *, vocabulary: int, end: int, device: str
) -> float:
    """Largest difference between ``reference(rows)`` (the library's forward) and this
    path on the probe rows, after normalisation."""
    rows = probe_rows(vocabulary, end)
    with torch.inference_mode():
        shared = encode_shared(stack, rows, device=device, batch_size=3, alone=alone)
        expected = reference(rows)
    gap = F.normalize(shared.float().cpu(), dim=-1) - F.normalize(expected.float().cpu(), dim=-1)
    return float(gap.abs().max())


def rows_until_pooled(tokens: torch.Tensor, positions: torch.Tensor) -> list[tuple[int, ...]]:
    """Token rows cut after each row's pooled position, as tuples (hashable, sortable)."""
    ids = tokens.tolist()
    return [tuple(row[: int(p) + 1]) for row, p in zip(ids, positions.tolist(), strict=True)]
