"""`cliposcope lab theory`: a Monte-Carlo check of the paper's theorem.

Content z has d independent zero-mean, unit-variance elements. The image embedding is z;
an ideal text encoder returns z, an incomplete one keeps only the first d-k elements (the
rest zeroed). With cosine similarity and temperature tau, the InfoNCE loss of the
incomplete encoder approaches the ideal one's as d grows: keeping part of the content is
nearly optimal for contrastive training, so a biased text encoder costs little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cliposcope.errors import check_range


def info_nce(images: np.ndarray, texts: np.ndarray, temperature: float) -> float:
    """Symmetric InfoNCE (CLIP's loss) of a batch of matched pairs, cosine similarity."""
    images = images / np.linalg.norm(images, axis=1, keepdims=True)
    texts = texts / np.linalg.norm(texts, axis=1, keepdims=True)
    logits = images @ texts.T / temperature

    def cross_entropy(rows: np.ndarray) -> float:
        shifted = rows - rows.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.mean(np.diag(log_softmax)))

    return (cross_entropy(logits) + cross_entropy(logits.T)) / 2


@dataclass(frozen=True)
class TheoryPoint:
    dimension: int
    batch_size: int
    ideal: float
    incomplete: float

    @property
    def gap(self) -> float:
        return self.incomplete - self.ideal


def simulate(
    dimensions=(16, 32, 64, 128, 256, 512, 1024),
    batch_sizes=(32, 128, 512),
    dropped: int = 8,
    temperature: float = 0.07,
    trials: int = 20,
    seed: int = 0,
) -> list[TheoryPoint]:
    check_range("--trials", trials, 1, hint="at least one batch per point")
    smallest = min(dimensions)
    check_range("--dropped", dropped, 1, smallest - 1, hint=f"below the smallest d, {smallest}")
    check_range("--temperature", temperature, 1e-6, hint="a positive temperature, e.g. 0.07")
    check_range("--seed", seed, 0, hint="a non-negative integer")
    rng = np.random.default_rng(seed)
    points = []
    for batch_size in batch_sizes:
        for dimension in dimensions:
            ideal, incomplete = [], []
            for _ in range(trials):
                z = rng.standard_normal((batch_size, dimension))
                partial = z.copy()
                partial[:, dimension - dropped :] = 0.0
                ideal.append(info_nce(z, z, temperature))
                incomplete.append(info_nce(z, partial, temperature))
            points.append(
                TheoryPoint(
                    dimension, batch_size, float(np.mean(ideal)), float(np.mean(incomplete))
                )
            )
    return points


def render_table(points: list[TheoryPoint], dropped: int) -> str:
    lines = [
        f"InfoNCE of the full encoder vs one that drops the last {dropped} dimensions",
        f"{'batch':>6} {'d':>6} {'full':>10} {'incomplete':>11} {'gap':>10}",
    ]
    for p in points:
        losses = f"{p.ideal:>10.3e} {p.incomplete:>11.3e} {p.gap:>10.3e}"
        lines.append(f"{p.batch_size:>6} {p.dimension:>6} {losses}")
    return "\n".join(lines)


def plot(points: list[TheoryPoint], path: str) -> None:
    from cliposcope.atomic import atomic_write_bytes
    from cliposcope.plotting import figure_png, pyplot

    figure, axis = pyplot().subplots(figsize=(6, 4))
    for batch_size in sorted({p.batch_size for p in points}):
        rows = [p for p in points if p.batch_size == batch_size]
        axis.plot(
            [p.dimension for p in rows],
            [p.gap for p in rows],
            marker="o",
            label=f"batch {batch_size}",
        )
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("embedding dimension d")
    axis.set_ylabel("loss(incomplete) - loss(full)")
    axis.set_title("The cost of an incomplete text embedding shrinks with d")
    axis.legend()
    figure.tight_layout()
    atomic_write_bytes(path, figure_png(figure, dpi=120, tight=False))
