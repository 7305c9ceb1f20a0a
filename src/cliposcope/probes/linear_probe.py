"""Linear heads on frozen embeddings, shared by TOC (text) and IOC (images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cliposcope.probes.stats import Proportion

if TYPE_CHECKING:
    import torch


def train_linear_probe(
    features: np.ndarray,
    labels: np.ndarray,
    classes: int,
    train: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> torch.nn.Linear:
    """A linear head trained with Adam on the ``train`` rows, seeded independently of the
    global torch RNG."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(features.shape[1], classes)
    with torch.no_grad():
        bound = 1 / np.sqrt(features.shape[1])
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.uniform_(-bound, bound, generator=generator)
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate)
    x = torch.from_numpy(features[train]).float()
    y = torch.from_numpy(labels[train]).long()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            loss = torch.nn.functional.cross_entropy(head(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return head


def predict(head: torch.nn.Linear, features: np.ndarray) -> np.ndarray:
    """The class the head scores highest, per row."""
    import torch

    with torch.no_grad():
        return head(torch.from_numpy(features).float()).argmax(dim=1).numpy()


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> Proportion:
    return Proportion(int((predicted == labels).sum()), len(labels))
