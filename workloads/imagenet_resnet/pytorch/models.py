"""ResNet-50 v1 in PyTorch (spec/variants.md §4): the Flax twin's layers, in torchvision's naming."""
import collections
from typing import Sequence

import torch
from torch import nn

BN_MOMENTUM = 0.1  # PyTorch's convention: 1 - Flax's 0.9.
BN_EPSILON = 1e-5
ACTIVATIONS = {'relu': nn.ReLU, 'silu': nn.SiLU, 'gelu': lambda: nn.GELU(approximate='tanh')}


def _bn(channels: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class Bottleneck(nn.Module):
  """1x1 -> 3x3 (stride) -> 1x1 (x4) with BN after each; a 1x1 projection where the shape changes."""

  def __init__(self, in_channels: int, width: int, stride: int, act: str, bn_init_scale: float):
    super().__init__()
    out_channels = 4 * width
    self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
    self.bn1 = _bn(width)
    self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
    self.bn2 = _bn(width)
    self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
    self.bn3 = _bn(out_channels)
    nn.init.constant_(self.bn3.weight, bn_init_scale)
    self.act = ACTIVATIONS[act]()
    self.downsample = None
    if stride != 1 or in_channels != out_channels:
      self.downsample = nn.Sequential(collections.OrderedDict([
          ('conv', nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)),
          ('bn', _bn(out_channels)),
      ]))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    y = self.act(self.bn1(self.conv1(x)))
    y = self.act(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    residual = x if self.downsample is None else self.downsample(x)
    return self.act(residual + y)


class ResNet(nn.Module):
  """Stem (7x7/2 conv, BN, act, 3x3/2 max-pool), bottleneck stages, global average pool, Linear."""

  def __init__(self, num_classes: int = 1000, stage_sizes: Sequence[int] = (3, 4, 6, 3), num_filters: int = 64,
               act: str = 'relu', bn_init_scale: float = 0.0):
    super().__init__()
    self.conv1 = nn.Conv2d(3, num_filters, 7, stride=2, padding=3, bias=False)
    self.bn1 = _bn(num_filters)
    self.act = ACTIVATIONS[act]()
    self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
    in_channels = num_filters
    for i, num_blocks in enumerate(stage_sizes):
      blocks = []
      for j in range(num_blocks):
        stride = 2 if i > 0 and j == 0 else 1
        blocks.append(Bottleneck(in_channels, num_filters * 2**i, stride, act, bn_init_scale))
        in_channels = 4 * num_filters * 2**i
      setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
    self.num_stages = len(stage_sizes)
    self.fc = nn.Linear(in_channels, num_classes)
    for module in self.modules():
      if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
    nn.init.normal_(self.fc.weight, std=0.01)
    nn.init.zeros_(self.fc.bias)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    del dropout_rate  # ResNet-50 has no dropout.
    x = self.maxpool(self.act(self.bn1(self.conv1(x))))
    for i in range(self.num_stages):
      x = getattr(self, f'layer{i + 1}')(x)
    return self.fc(torch.mean(x, dim=(2, 3)))
