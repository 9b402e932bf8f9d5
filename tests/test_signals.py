"""vgp_models.signals against hand computations on tiny nets, and in the training loop: the forward signal and the
weight updates are recorded every epoch and change nothing else, bit for bit."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from vgp_models.config import RunConfig
from vgp_models.metrics import EpochMetrics
from vgp_models.signals import ForwardSignal, WeightUpdates, signal_of
from vgp_models.train import build_model, train


class Scaler(nn.Module):
    """A 1x1 conv that multiplies by 2 (no bias) -> leaky ReLU -> BN; `late` is registered first, runs last."""

    def __init__(self) -> None:
        super().__init__()
        self.late = nn.Tanh()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        self.act = nn.LeakyReLU(0.01)
        self.bn = nn.BatchNorm2d(1)
        with torch.no_grad():
            self.conv.weight.fill_(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.late(self.bn(self.act(self.conv(x))))


def by_hand(x: torch.Tensor) -> tuple[float, float]:
    """(mean over every element, across-batch std): each element's population variance over the batch's images,
    averaged over the elements, square-rooted; in float64 loops, not torch's reductions."""
    values = x.double().reshape(x.shape[0], -1).tolist()
    n, m = len(values), len(values[0])
    mean = sum(map(sum, values)) / (n * m)
    variances = []
    for j in range(m):
        column = [row[j] for row in values]
        mu = sum(column) / n
        variances.append(sum((v - mu) ** 2 for v in column) / n)
    return mean, math.sqrt(sum(variances) / m)


def test_forward_signal_is_the_hand_computed_mean_std_and_negative_share() -> None:
    x = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(0)) + 0.3
    net = Scaler().train()
    probe = ForwardSignal(net)
    with probe.recording():
        net(x)
    rows = probe.read()
    assert [r.layer for r in rows] == ["conv", "act", "bn", "late"]  # the order they ran, not registration's
    assert [r.layer_index for r in rows] == [0, 1, 2, 3]
    assert probe.kinds == {"conv": "conv", "act": "act", "bn": "bn", "late": "act"}
    conv, act, bn, _ = rows
    x_mean, x_std = by_hand(x)
    negative = (x < 0).double().mean().item()
    assert (conv.mean, conv.std) == pytest.approx((2 * x_mean, 2 * x_std), rel=1e-5)
    assert conv.negative_share == pytest.approx(negative)
    leaky = torch.where(x < 0, 0.02 * x, 2 * x)
    assert (act.mean, act.std) == pytest.approx(by_hand(leaky), rel=1e-5)
    assert act.negative_share == pytest.approx(negative)  # of its input: the pre-activations on the leaky side
    normalised = (leaky - leaky.mean()) / torch.sqrt(leaky.var(correction=0) + net.bn.eps)  # train-mode BN
    assert (bn.mean, bn.std) == pytest.approx(by_hand(normalised), rel=1e-4, abs=1e-6)
    assert 0 < negative < 1


def test_a_scaled_input_scales_the_std_and_a_constant_has_none() -> None:
    net = Scaler().train()
    probe = ForwardSignal(net)
    x = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    stds = []
    for scale in (1.0, 3.0):
        with probe.recording():
            net(scale * x)
        stds.append(probe.read()[0].std)
    assert stds[1] == pytest.approx(3 * stds[0], rel=1e-6)
    with torch.no_grad():  # the output no longer depends on the input: a bias alone passes
        net.conv.weight.zero_()
        net.conv.bias = nn.Parameter(torch.ones(1))
    with probe.recording():
        net(x)
    conv = probe.read()[0]
    assert (conv.mean, conv.std, conv.negative_share) == (1.0, 0.0, 0.0)


def test_a_tiny_spread_over_a_constant_is_measured_not_lost_to_rounding() -> None:
    """VGG38's last convs: a 0.04 constant (the biases) plus an input-dependent part 1e-9 small, in float32."""
    g = torch.Generator().manual_seed(0)
    x = torch.full((100, 32, 4, 4), 0.04) + 1e-9 * torch.randn(100, 32, 4, 4, generator=g)
    mean, std, negative = signal_of(x, x).tolist()
    assert std == pytest.approx(by_hand(x)[1], rel=1e-3) and 5e-10 < std < 2e-9
    assert (mean, negative) == (pytest.approx(0.04), 0.0)


def test_hooks_exist_only_while_recording() -> None:
    net = Scaler().train()
    probe = ForwardSignal(net)
    x = torch.randn(2, 1, 3, 3)
    with probe.recording():
        assert all(m._forward_hooks for m in (net.conv, net.act, net.bn, net.late))
        net(x)
        net(2 * x)  # a second forward in the block: the first call of each module counts
    assert probe.read()[0].std == pytest.approx(2 * by_hand(x)[1], rel=1e-5)
    assert all(not m._forward_hooks for m in net.modules())
    net(x)
    with probe.recording():
        pass
    assert probe.read() == []


def test_weight_updates_give_the_known_ratio() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(4, 3))
    with torch.no_grad():
        net[0].weight.fill_(1.0)  # 18 ones: ||w|| = sqrt(18)
        net[1].weight.zero_()  # starts at zero: no ratio
    updates = WeightUpdates(net)
    assert updates.labels == ["0", "1"]
    with pytest.raises(RuntimeError):
        updates.read()
    updates.start()
    with torch.no_grad():
        net[0].weight.add_(0.5)  # ||w_end - w_start|| / ||w_start|| = 0.5 sqrt(18) / sqrt(18)
        net[1].weight.fill_(2.0)
    norms, ratios = updates.read()
    assert norms == pytest.approx([1.5 * math.sqrt(18), 2.0 * math.sqrt(12)])
    assert ratios[0] == pytest.approx(0.5) and math.isnan(ratios[1])


def test_vgg38_forward_signal_collapses_at_init_and_bn_keeps_it() -> None:
    """The report's network at init: without BN the std shrinks layer after layer; with BN it stays about 1."""
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    last_conv_std = {}
    for preset in ("vgg38", "vgg38-bn"):
        model = build_model(RunConfig.from_preset(preset, device="cpu", channels_last=False)).train()
        probe = ForwardSignal(model)
        with probe.recording(), torch.no_grad():
            model(x)
        rows = probe.read()
        assert len(rows) == sum(1 for m in model.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d | nn.LeakyReLU))
        last_conv_std[preset] = [r.std for r in rows if probe.kinds[r.layer] == "conv"][-1]
    assert last_conv_std["vgg38"] < 1e-6 * last_conv_std["vgg38-bn"]


def without_new_statistics(metrics: list[EpochMetrics]) -> list[EpochMetrics]:
    """Every existing metric but wall-clock times (the epoch's, each step point's): no signals, no weight norms
    or update ratios."""
    return [
        dataclasses.replace(m, seconds=0.0, signals=[],
                            grads=[dataclasses.replace(g, weight_norm=None, update_ratio=None) for g in m.grads],
                            steps=[dataclasses.replace(p, seconds=0.0) for p in m.steps])
        for m in metrics
    ]  # fmt: skip


@pytest.mark.parametrize("preset", ["vgg08", "vgg38-bn-rc"])
def test_training_records_them_and_changes_nothing_else(cifar_dir: Path, preset: str) -> None:
    config = RunConfig.from_preset(preset, width=8, epochs=2, batch_size=64, subset=128, device="cpu")
    runs = []
    for signals in (True, False):
        metrics: list[EpochMetrics] = []
        result = train(config, data_dir=cifar_dir, on_epoch=metrics.append, signals=signals)
        runs.append((metrics, result))
    (on, on_result), (off, off_result) = runs
    assert without_new_statistics(on) == without_new_statistics(off)  # bit for bit
    assert dataclasses.replace(on_result, message="") == dataclasses.replace(off_result, message="")
    assert all(not m.signals and all(g.update_ratio is None for g in m.grads) for m in off)
    model = build_model(config)
    recorded = sum(1 for m in model.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d | nn.LeakyReLU))
    for m in on:
        assert len(m.signals) == recorded and [s.layer_index for s in m.signals] == list(range(recorded))
        assert m.signals[0].layer == "input_conv_conv_0" and m.signals[-1].layer.endswith("act_1")
        assert {s.layer for s in m.signals} >= {g.layer for g in m.grads[:-1]}  # every conv and BN weight's label
        assert all(s.std > 0 and 0 <= s.negative_share <= 1 for s in m.signals)
        assert all(g.weight_norm > 0 and g.update_ratio > 0 for g in m.grads)
    assert on[0].signals != on[1].signals  # measured each epoch, on that epoch's last batch
