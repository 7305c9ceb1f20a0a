"""Exact fast path for causal CLIP text towers (open_clip).

A causal text tower computes the state at position p from tokens 0..p only, and the
embedding is read at one position (the end-of-text token). So every column after the
latest pooled position in a batch is dead weight: dropping those columns (and slicing the
positional embedding and the causal mask to match) gives the same numbers as the full
77-token forward pass, up to float rounding. Inputs are sorted by that length so each
batch carries little padding.

The trimmed pass is used only when the structure guarantees it is exact: a causal mask,
pooling at argmax/eos, no appended CLS token, no padding mask. Anything else (SigLIP's
last-token pooling, bidirectional towers such as XLM-RoBERTa) takes the reference path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

EXACT_POOLING = ("argmax", "eos")


@dataclass
class CausalTextTower:
    token_embedding: nn.Module
    positional_embedding: torch.Tensor
    transformer: nn.Module
    ln_final: nn.Module
    text_projection: nn.Module | torch.Tensor | None
    attn_mask: torch.Tensor
    pool_type: str
    eos_id: int | None


def find_causal_text_tower(model: nn.Module) -> tuple[CausalTextTower | None, str]:
    """The tower's parts if the trimmed forward is provably exact, else (None, why not)."""
    from open_clip.transformer import TextTransformer

    if hasattr(model, "token_embedding") and hasattr(model, "transformer"):
        holder, cls_emb, pad_mask = model, None, False  # open_clip.CLIP keeps the tower inline
        pool_type = model.text_pool_type
        eos_id = getattr(model, "text_eos_id", None)
    elif isinstance(getattr(model, "text", None), TextTransformer):
        holder = model.text
        cls_emb, pad_mask = holder.cls_emb, holder.use_pad_mask
        pool_type, eos_id = holder.pool_type, holder.eos_id
    else:
        tower = type(getattr(model, "text", model)).__name__
        return None, f"text tower {tower} is not a causal TextTransformer"

    if holder.attn_mask is None:
        return None, "text tower is bidirectional (no causal mask)"
    if cls_emb is not None:
        return None, "text tower appends a CLS token and pools it"
    if pad_mask:
        return None, "text tower masks padding tokens"
    if pool_type not in EXACT_POOLING:
        return None, f"text tower pools with {pool_type!r}, which reads padded positions"
    tower = CausalTextTower(
        token_embedding=holder.token_embedding,
        positional_embedding=holder.positional_embedding,
        transformer=holder.transformer,
        ln_final=holder.ln_final,
        text_projection=holder.text_projection,
        attn_mask=holder.attn_mask,
        pool_type=pool_type,
        eos_id=eos_id,
    )
    return tower, f"causal mask + {pool_type} pooling: trailing padding cannot change the output"


def pooled_positions(tower: CausalTextTower, tokens: torch.Tensor) -> torch.Tensor:
    """The position each sequence's embedding is read from, as the library computes it."""
    if tower.pool_type == "argmax":
        return tokens.argmax(dim=-1)
    return (tokens == tower.eos_id).int().argmax(dim=-1)


@torch.inference_mode()
def encode_trimmed(tower: CausalTextTower, tokens: torch.Tensor) -> torch.Tensor:
    """Raw text features for a batch, computed on the columns up to the last pooled one."""
    positions = pooled_positions(tower, tokens)
    length = int(positions.max()) + 1
    tokens = tokens[:, :length]
    cast_dtype = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens).to(cast_dtype)
    x = x + tower.positional_embedding[:length].to(cast_dtype)
    x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
    x = tower.ln_final(x)
    pooled = x[torch.arange(x.shape[0], device=x.device), positions]
    projection = tower.text_projection
    if projection is None:
        return pooled
    if isinstance(projection, nn.Linear):
        return projection(pooled)
    return pooled @ projection


def max_abs_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest gap between two sets of L2-normalised embeddings."""
    return float((F.normalize(a, dim=-1) - F.normalize(b, dim=-1)).abs().max())
