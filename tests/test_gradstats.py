"""Gradient statistics: on a tiny hand-made net against plain autograd, and the vanishing gradient itself.

The second half is the report's finding at initialisation, on the real width-32 networks: VGG38's entry
conv gets a gradient many orders of magnitude below VGG08's; BN, RC or both bring it back.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vgp_models.config import RunConfig
from vgp_models.gradstats import GradientStats, grad_abs_mean, grad_l2, weight_labels
from vgp_models.train import build_model, model_input


class TinyNet(nn.Module):
    """conv (bias) -> BN -> linear (bias): one of each kind of weight and of each kind of excluded bias."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential()
        self.head.add_module("fc", nn.Linear(4, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.leaky_relu(self.bn(self.conv(x)), 0.01).mean(dim=(2, 3)))


def backward_on(net: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, 8, 8, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()


def test_labels_are_weights_only_in_forward_order() -> None:
    net = TinyNet()
    assert weight_labels(net) == ["conv", "bn", "head_fc"]  # conv bias, BN beta and linear bias excluded
    assert GradientStats(net).labels == ["conv", "bn", "head_fc"]


def test_statistics_match_autograd() -> None:
    torch.manual_seed(0)
    net = TinyNet()
    weights = [net.conv.weight, net.bn.weight, net.head.fc.weight]
    stats = GradientStats(net)
    per_batch = []
    for seed in range(3):
        backward_on(net, seed)
        stats.update()
        per_batch.append([w.grad.clone() for w in weights])
    got = stats.read()
    last = per_batch[-1]
    expected_last = [g.abs().mean().item() for g in last]
    expected_epoch = [sum(b[i].abs().mean().item() for b in per_batch) / len(per_batch) for i in range(3)]
    expected_l2 = [g.norm().item() for g in last]
    assert got["abs_mean_last"] == pytest.approx(expected_last, rel=1e-6)
    assert got["abs_mean_epoch"] == pytest.approx(expected_epoch, rel=1e-6)
    assert got["l2"] == pytest.approx(expected_l2, rel=1e-6)
    assert got["abs_mean_last"] != pytest.approx(got["abs_mean_epoch"], rel=1e-3)  # the batches differ
    # the pure helpers agree with the accumulator
    assert grad_abs_mean(weights).tolist() == pytest.approx(expected_last, rel=1e-6)
    assert grad_l2(weights).tolist() == pytest.approx(expected_l2, rel=1e-6)


def test_reset_starts_a_new_epoch() -> None:
    torch.manual_seed(0)
    net = TinyNet()
    stats = GradientStats(net)
    backward_on(net, 0)
    stats.update()
    stats.reset()
    with pytest.raises(RuntimeError):
        stats.read()
    backward_on(net, 1)
    stats.update()
    got = stats.read()
    assert got["abs_mean_epoch"] == got["abs_mean_last"]
    assert got["abs_mean_last"][0] == pytest.approx(net.conv.weight.grad.abs().mean().item(), rel=1e-6)


# ---- the vanishing gradient at initialisation -----------------------------------------------------


@pytest.fixture(scope="module")
def entry_grads() -> dict[str, float]:
    """Mean |grad| of input_conv_conv_0 after one CE backward on a fixed batch, per Table 1 architecture."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 100, (64,), generator=g)
    out = {}
    for preset in ("vgg08", "vgg38", "vgg38-rc", "vgg38-bn", "vgg38-bn-rc"):
        config = RunConfig.from_preset(preset)  # width 32 and seed 0, as the reference runs
        model = build_model(config)
        model.train()
        stats = GradientStats(model)
        F.cross_entropy(model(model_input(images, config)), labels).backward()
        stats.update()
        assert stats.labels[0] == "input_conv_conv_0"
        out[preset] = stats.read()["abs_mean_last"][0]
    return out


def test_vgg38_entry_gradient_vanishes(entry_grads: dict[str, float]) -> None:
    assert entry_grads["vgg08"] > 0
    assert entry_grads["vgg38"] * 1e6 <= entry_grads["vgg08"], entry_grads


@pytest.mark.parametrize("preset", ["vgg38-rc", "vgg38-bn", "vgg38-bn-rc"])
def test_bn_and_rc_restore_the_entry_gradient(entry_grads: dict[str, float], preset: str) -> None:
    assert entry_grads[preset] * 100 >= entry_grads["vgg08"], entry_grads
