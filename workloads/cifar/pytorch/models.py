"""ResNet-18 for CIFAR-10 in PyTorch (spec/variants.md §3), the twin of jax/models.py.

Initialised like the Flax twin so both start from the same distribution: LeCun-normal conv kernels (Flax's
default; upstream's PyTorch model used Kaiming-normal), N(0, 0.01) classifier weights, zero biases, BN gamma 1
and beta 0 except the last BN of each residual branch (gamma = `bn_init_scale`, 0). BN momentum 0.1 (0.9 in
Flax terms), eps 1e-5. Inputs are NCHW.
"""
import collections
from typing import Callable, Sequence

import torch
from torch import nn

from workloads.common import pytorch_losses


def _bn(channels: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class BasicBlock(nn.Module):
  """conv3x3(stride) - BN - act - conv3x3 - BN(gamma0) (+ 1x1 projection + BN) - add - act."""

  def __init__(self, in_channels: int, channels: int, stride: int, act: Callable[[], nn.Module],
               bn_init_scale: float = 0.0):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
    self.bn1 = _bn(channels)
    self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
    self.bn2 = _bn(channels)
    nn.init.constant_(self.bn2.weight, bn_init_scale)
    self.act = act()
    self.shortcut = None
    if stride != 1 or in_channels != channels:
      self.shortcut = nn.Sequential(collections.OrderedDict([
          ('conv', nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False)),
          ('bn', _bn(channels)),
      ]))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    y = self.act(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    residual = x if self.shortcut is None else self.shortcut(x)
    return self.act(residual + y)


class ResNet(nn.Module):

  def __init__(self, num_classes: int = 10, num_filters: int = 64, stage_sizes: Sequence[int] = (2, 2, 2, 2),
               act: Callable[[], nn.Module] = nn.ReLU, bn_init_scale: float = 0.0):
    super().__init__()
    self.conv1 = nn.Conv2d(3, num_filters, 3, padding=1, bias=False)
    self.bn1 = _bn(num_filters)
    self.act = act()
    in_channels = num_filters
    for i, num_blocks in enumerate(stage_sizes):
      blocks = []
      for j in range(num_blocks):
        channels = num_filters * 2**i
        blocks.append(BasicBlock(in_channels, channels, 2 if i > 0 and j == 0 else 1, act, bn_init_scale))
        in_channels = channels
      self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
    self.num_stages = len(stage_sizes)
    self.fc = nn.Linear(in_channels, num_classes)
    for module in self.modules():
      if isinstance(module, nn.Conv2d):
        pytorch_losses.lecun_normal_(module.weight)
    nn.init.normal_(self.fc.weight, std=0.01)
    nn.init.zeros_(self.fc.bias)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = self.act(self.bn1(self.conv1(x)))
    for i in range(self.num_stages):
      x = getattr(self, f'layer{i + 1}')(x)
    return self.fc(torch.flatten(x.mean(dim=(2, 3)), 1))
