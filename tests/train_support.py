"""Data for training tests that must learn in a few dozen steps: ten flat-colour classes with noise (test_train.py,
test_cures.py)."""

from __future__ import annotations

import torch

from vgp_models.data import Split


def colour_classes(n: int, seed: int) -> Split:
    """Ten classes, each a flat colour plus noise: learnable in a few dozen steps."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    colours = torch.tensor([[(c * 73 + k * 101) % 256 for k in range(3)] for c in range(10)])
    images = colours[labels][:, :, None, None] + torch.randint(-30, 31, (n, 3, 32, 32), generator=g)
    return Split(images.clamp(0, 255).to(torch.uint8), labels)
