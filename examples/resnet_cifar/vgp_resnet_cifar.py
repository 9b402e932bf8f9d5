"""The CIFAR ResNets of He et al. 2016 (section 4.2), and their plain counterparts, as VGP Lab architectures.

  stem      conv 3x3 (3 -> 16) -> BN -> ReLU                                       32 x 32
  stage_1   n basic blocks, 16 channels                                            32 x 32
  stage_2   n basic blocks, 32 channels (the first with stride 2)                  16 x 16
  stage_3   n basic blocks, 64 channels (the first with stride 2)                   8 x  8
  head      global average pool -> fc (64 -> 100)
  block     conv_0 3x3 -> bn_0 -> ReLU -> conv_1 3x3 -> bn_1 (-> + shortcut) -> ReLU
Depth 6n + 2: n = 3 is ResNet-20 (0.27 M parameters), n = 9 ResNet-56 (0.86 M). Shortcuts are the paper's
option A, as in its CIFAR experiments: identity, and where a stage halves the map and doubles the channels,
a stride-2 subsample padded with zero channels, so that ResNet-n and plain-n have the same parameters.
A plain net is the same stack without shortcuts: the paper's Figure 6 shows plain-56 training worse than
plain-20, while ResNet-56 beats ResNet-20.

A builder takes VGP Lab's RunConfig (unused here: the paper's nets have fixed widths, BN and ReLU) and returns
the nn.Module; VGP Lab applies the run's `init` and trains it like its own nets.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 100  # CIFAR-100
WIDTHS = (16, 32, 64)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, shortcut: bool) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn_0 = nn.BatchNorm2d(cout)
        self.conv_1 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(cout)
        self.shortcut, self.stride, self.pad = shortcut, stride, cout - cin

    def forward(self, x):
        out = self.bn_1(self.conv_1(F.relu(self.bn_0(self.conv_0(x)))))
        if self.shortcut:  # option A: subsample, then zero channels for the new ones
            skip = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
            out = out + (F.pad(skip, (0, 0, 0, 0, 0, self.pad)) if self.pad else skip)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, n: int, shortcut: bool) -> None:
        super().__init__()
        self.stem_conv = nn.Conv2d(3, WIDTHS[0], 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(WIDTHS[0])
        cin, stages = WIDTHS[0], []
        for s, width in enumerate(WIDTHS):
            blocks = [BasicBlock(cin if b == 0 else width, width, 2 if s and b == 0 else 1, shortcut) for b in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.stage_1, self.stage_2, self.stage_3 = stages
        self.fc = nn.Linear(WIDTHS[-1], NUM_CLASSES)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def resnet20(config=None) -> CifarResNet:
    return CifarResNet(3, shortcut=True)


def resnet56(config=None) -> CifarResNet:
    return CifarResNet(9, shortcut=True)


def plain20(config=None) -> CifarResNet:
    return CifarResNet(3, shortcut=False)


def plain56(config=None) -> CifarResNet:
    return CifarResNet(9, shortcut=False)
