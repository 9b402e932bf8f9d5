"""A tiny architecture registered by VGP_ARCHITECTURES in the tests (test_architectures.py): no install needed.
`tests.arch_support:tiny_net` builds it; `not_a_builder` is not callable, `returns_text` returns no module."""

from __future__ import annotations

from torch import nn

not_a_builder = 42


def tiny_net(config) -> nn.Module:
    """conv 3->4, ReLU, global average pool, linear 4->100: CIFAR-100 logits from a 3x32x32 image."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 100)
    )


def returns_text(config) -> str:
    return "not a network"
