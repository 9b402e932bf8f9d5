"""The report's VGG family for CIFAR-100: VGG08, VGG38 and deeper, with batch norm and residual connections.

Architecture as in ../shared/reference/experiment.md (the course framework's actual behaviour):
  input_conv           conv(3->F) -> BN -> act                    (BN in every variant, conv without bias)
  block_{s}_{b}        conv_0 -> [bn_0] -> act -> conv_1 -> [bn_1] -> (+x if residual) -> act
  reduction_block_{s}  conv_0 -> [bn_0] -> act -> avgpool 2x2 -> conv_1 -> [bn_1] -> (+shortcut) -> act
  head                 global average pool -> logit_linear_layer (F->100)
Three stages of N processing blocks and one reduction block each (32 -> 16 -> 8 -> 4): depth = 8 + 6N.
Module names give the reference's gradient-flow labels (see gradstats.weight_labels). `act` is leaky ReLU
0.01 in the reference, or `config.activation`; each is its own parameter-free module (act_0, act_1), so that
gradient amplification can hook its output (amplify.py) and the labels stay the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vgp_models.config import NUM_CLASSES, RunConfig
from vgp_models.memory import blocks_per_stage

LEAKY_SLOPE = 0.01
ACTIVATIONS = {
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "selu": nn.SELU,
}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


class ConvUnit(nn.Module):
    """Holds conv_0/bn_0/conv_1/bn_1 so that parameter names read `<block>.conv_0.weight` as in the reference."""

    def __init__(self, width: int, batch_norm: bool, bias: bool, act: str) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(width, width, 3, padding=1, bias=bias)
        self.bn_0 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.act_0 = activation(act)
        self.conv_1 = nn.Conv2d(width, width, 3, padding=1, bias=bias)
        self.bn_1 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.act_1 = activation(act)


class EntryBlock(nn.Module):
    """The stem of every net here, VGG and DenseNet alike."""

    def __init__(self, width: int, act: str) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn_0 = nn.BatchNorm2d(width)
        self.act_0 = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act_0(self.bn_0(self.conv_0(x)))


class ProcessingBlock(ConvUnit):
    def __init__(self, width: int, batch_norm: bool, residual: bool, act: str) -> None:
        super().__init__(width, batch_norm, bias=False, act=act)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act_0(self.bn_0(self.conv_0(x)))
        out = self.bn_1(self.conv_1(out))
        if self.residual:
            out = out + x  # the skip joins before the block's last activation
        return self.act_1(out)


class ReductionBlock(ConvUnit):
    """Halves the map. The reference has no skip here; `shortcut` adds the report's future-work options."""

    def __init__(self, width: int, batch_norm: bool, shortcut: str, act: str) -> None:
        super().__init__(width, batch_norm, bias=True, act=act)
        self.shortcut = shortcut
        if shortcut == "conv1x1":  # ResNet's projection shortcut: a strided 1x1 conv, with BN when BN is on
            self.shortcut_conv = nn.Conv2d(width, width, 1, stride=2, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(width) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act_0(self.bn_0(self.conv_0(x)))
        out = F.avg_pool2d(out, 2)
        out = self.bn_1(self.conv_1(out))
        if self.shortcut == "avgpool":  # parameter-free: the identity, downsampled
            out = out + F.avg_pool2d(x, 2)
        elif self.shortcut == "conv1x1":
            out = out + self.shortcut_bn(self.shortcut_conv(x))
        return self.act_1(out)


class VGG(nn.Module):
    """Input (B, 3, 32, 32) normalised images -> logits (B, 100)."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        width, bn, act = config.width, config.batch_norm, config.activation
        self.input_conv = EntryBlock(width, act)
        for stage in range(3):
            for block in range(blocks_per_stage(config.depth)):
                self.add_module(f"block_{stage}_{block}", ProcessingBlock(width, bn, config.residual, act))
            self.add_module(f"reduction_block_{stage}", ReductionBlock(width, bn, config.shortcut, act))
        self.logit_linear_layer = nn.Linear(width, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return head(self, x)


def head(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Every child but the last in order, then the head: global average pool -> logit_linear_layer."""
    for name, module in model.named_children():
        if name == "logit_linear_layer":
            break
        x = module(x)
    x = x.mean(dim=(2, 3))  # global average pool over the 4x4 map: (B, C, 4, 4) -> (B, C)
    return model.logit_linear_layer(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
