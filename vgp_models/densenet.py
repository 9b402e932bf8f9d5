"""A DenseNet with VGG's stem, head, depth rule and labels: the report's future work on dense connectivity.

  input_conv       conv(3->F) -> BN -> act                              (VGG's stem, F = config.width)
  dense_block_{s}  L layers; layer_{i}: concat(all earlier maps) -> conv_0 3x3 (-> k) -> [bn_0] -> act_0
  transition_{s}   conv_0 1x1 (C -> floor(COMPRESSION x C)) -> [bn_0] -> act_0 -> avgpool 2x2
  head             global average pool -> logit_linear_layer (C->100)      (VGG's head)
Three stages, each ending in a halving transition (32 -> 16 -> 8 -> 4, as VGG's reduction blocks). With
L = 2N + 1 dense layers a stage, a DenseNet of depth 8 + 6N has as many weight layers as the VGG of that
depth (DenseNet38: 37 convs and the linear layer), the same number of gradient-flow labels, and at depth 38,
width 32, GROWTH_RATE 9 and COMPRESSION 0.5, 328,055 parameters (329,123 with BN) against VGG38's 336,196.

Unlike Huang et al.'s BN-ReLU-conv, each layer is conv -> [BN] -> act as in VGG, and BN follows
`config.batch_norm`: "DenseNet38" beside "VGG38" changes the connectivity alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vgp_models.config import RunConfig
from vgp_models.memory import COMPRESSION, GROWTH_RATE  # k, and the share of its input's maps a transition keeps
from vgp_models.vgg import NUM_CLASSES, EntryBlock, activation, blocks_per_stage, head


class ConvBnAct(nn.Module):
    """conv_0 -> [bn_0] -> act_0, with the parameter names VGG's labels use."""

    def __init__(self, c_in: int, c_out: int, kernel: int, batch_norm: bool, act: str) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn_0 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.act_0 = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act_0(self.bn_0(self.conv_0(x)))


class DenseBlock(nn.Module):
    def __init__(self, c_in: int, layers: int, batch_norm: bool, act: str) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"layer_{i}", ConvBnAct(c_in + i * GROWTH_RATE, GROWTH_RATE, 3, batch_norm, act))
        self.c_out = c_in + layers * GROWTH_RATE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(ConvBnAct):
    def __init__(self, c_in: int, batch_norm: bool, act: str) -> None:
        super().__init__(c_in, int(COMPRESSION * c_in), 1, batch_norm, act)
        self.c_out = self.conv_0.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), 2)


class DenseNet(nn.Module):
    """Input (B, 3, 32, 32) normalised images -> logits (B, 100)."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        bn, act = config.batch_norm, config.activation
        self.input_conv = EntryBlock(config.width, act)
        channels = config.width
        for stage in range(3):
            block = DenseBlock(channels, 2 * blocks_per_stage(config.depth) + 1, bn, act)
            transition = Transition(block.c_out, bn, act)
            self.add_module(f"dense_block_{stage}", block)
            self.add_module(f"transition_{stage}", transition)
            channels = transition.c_out
        self.logit_linear_layer = nn.Linear(channels, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return head(self, x)
