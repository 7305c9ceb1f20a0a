"""Architecture switches for open_clip text towers, to ask which part of the architecture
makes an untrained tower prefer the first-named object (docs/origins.md).

Spec options (openclip: and toy: models): ``attn`` causal (as shipped) or bidirectional
(the causal mask removed), ``pool`` eot (the end-of-text token, as shipped) or mean (the
mean over the tokens from start-of-text to end-of-text), ``pos`` learned (as shipped) or
none (the positional embedding zeroed and frozen: an order-blind tower when attention is
bidirectional too). They are part of the spec, and so of the embedding fingerprint; the
exact trimmed text paths take only the shipped causal, end-of-text-pooled tower and are
off for any other (causal_text.find_causal_text_tower says why).
"""

from __future__ import annotations

import types
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from cliposcope.encoders.specs import ModelSpec
from cliposcope.errors import CliposcopeError

CHOICES = {
    "attn": ("causal", "bidirectional"),
    "pool": ("eot", "mean"),
    "pos": ("learned", "none"),
}
OPTIONS = {
    "attn": "causal or bidirectional text attention, default causal",
    "pool": "eot or mean text pooling, default eot",
    "pos": "learned or none text positional embedding, default learned",
}


VARIANTS = {  # named text towers: their spec options
    "causal": "",
    "bidirectional": "attn=bidirectional",
    "mean-pool": "pool=mean",
    "no-position": "pos=none",
    "order-blind": "attn=bidirectional&pos=none",
}


def text_variant(name: str) -> TextArchitecture:
    """A named variant (VARIANTS) or spec options such as "attn=bidirectional&pool=mean"."""
    return TextArchitecture.from_options(VARIANTS.get(name, name))


@dataclass(frozen=True)
class TextArchitecture:
    attn: str = "causal"
    pool: str = "eot"
    pos: str = "learned"

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> TextArchitecture:
        return cls._chosen(spec.options, repr(spec.canonical))

    @classmethod
    def from_options(cls, text: str) -> TextArchitecture:
        """From spec options as text, e.g. "attn=bidirectional&pos=none" ("" as shipped)."""
        pairs = [item.partition("=") for item in text.split("&")] if text else []
        unknown = [key for key, _, _ in pairs if key not in CHOICES]
        if unknown or any(not value for _, _, value in pairs):
            raise CliposcopeError(
                f"text tower {text!r} is not a variant name or attn=, pool=, pos= options",
                hint="e.g. bidirectional, or attn=bidirectional&pool=mean",
            )
        return cls._chosen({key: value for key, _, value in pairs}, repr(text))

    @classmethod
    def _chosen(cls, options, where: str) -> TextArchitecture:
        chosen = {}
        for key, allowed in CHOICES.items():
            value = options.get(key, allowed[0])
            if value not in allowed:
                raise CliposcopeError(
                    f"{key}={value!r} in {where} is not a text architecture choice",
                    hint=f"{key}= one of {', '.join(allowed)}",
                )
            chosen[key] = value
        return cls(**chosen)

    @property
    def as_shipped(self) -> bool:
        return self == TextArchitecture()

    @property
    def options(self) -> str:
        """The switches that differ from the shipped tower, as spec options (sorted)."""
        shipped = asdict(TextArchitecture())
        return "&".join(f"{k}={v}" for k, v in sorted(asdict(self).items()) if v != shipped[k])

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def apply(self, model: torch.nn.Module, name: str) -> None:
        """Change ``model``'s text tower in place (after its weights are loaded); ``name``
        (the model's spec) is what an error names."""
        if self.as_shipped:
            return
        if not (hasattr(model, "token_embedding") and hasattr(model, "transformer")):
            raise CliposcopeError(
                f"{name}: text architecture switches apply to open_clip CLIP "
                f"text towers, not {type(getattr(model, 'text', model)).__name__}",
                hint="drop attn=, pool= and pos= from the spec",
            )
        if self.attn == "bidirectional":
            model.attn_mask = None
        if self.pos == "none":
            with torch.no_grad():
                model.positional_embedding.zero_()
            model.positional_embedding.requires_grad_(False)
        if self.pool == "mean":
            model.encode_text = types.MethodType(mean_pooled_encode_text, model)


def token_span(model: torch.nn.Module, text: torch.Tensor) -> torch.Tensor:
    """(B, L) 1.0 on each sequence's tokens from start-of-text to end-of-text, else 0.0."""
    if model.text_pool_type == "eos":
        end = (text == model.text_eos_id).int().argmax(dim=-1)
    else:  # the end-of-text token has the highest id (open_clip's argmax pooling)
        end = text.argmax(dim=-1)
    positions = torch.arange(text.shape[1], device=text.device)
    return (positions[None, :] <= end[:, None]).float()


def mean_pooled_encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """open_clip's CLIP.encode_text with the pooled token replaced by the mean over the
    sequence's own tokens (padding left out)."""
    cast_dtype = self.transformer.get_cast_dtype()
    x = self.token_embedding(text).to(cast_dtype)
    x = x + self.positional_embedding.to(cast_dtype)
    x = self.transformer(x, attn_mask=self.attn_mask)
    x = self.ln_final(x)
    span = token_span(self, text).to(x.dtype)
    x = (x * span[..., None]).sum(dim=1) / span.sum(dim=1, keepdim=True)
    if self.text_projection is not None:
        if isinstance(self.text_projection, torch.nn.Linear):
            x = self.text_projection(x)
        else:
            x = x @ self.text_projection
    return F.normalize(x, dim=-1) if normalize else x
