"""ResNet-50 v1 in Flax (spec/variants.md §4), with the activation and last-BN init the variants change.

Bottleneck blocks carry the stride on the 3x3 conv. Every 3x3 conv pads one pixel on each side, as PyTorch
does: upstream's Flax model pads stride-2 3x3 convs 'SAME' (0 before, 1 after), which gives the same
shapes but different outputs from its PyTorch twin; we keep the twins equal.
"""
import functools
from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# He normal over fan-out for conv kernels (the PyTorch twin's kaiming_normal_(mode='fan_out')).
CONV_INIT = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')
ACTIVATIONS = {'relu': nn.relu, 'silu': nn.silu, 'gelu': functools.partial(nn.gelu, approximate=True)}


class BottleneckBlock(nn.Module):
  """1x1 -> 3x3 (stride) -> 1x1 (x4) with BN after each; a 1x1 projection where the shape changes."""
  filters: int
  strides: int
  act: Callable
  bn_init_scale: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    conv = functools.partial(nn.Conv, use_bias=False, kernel_init=CONV_INIT)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=BN_MOMENTUM,
                             epsilon=BN_EPSILON)
    y = self.act(norm()(conv(self.filters, (1, 1))(x)))
    y = conv(self.filters, (3, 3), strides=(self.strides, self.strides), padding=((1, 1), (1, 1)))(y)
    y = self.act(norm()(y))
    y = conv(4 * self.filters, (1, 1))(y)
    y = norm(scale_init=nn.initializers.constant(self.bn_init_scale))(y)
    residual = x
    if residual.shape != y.shape:
      residual = conv(4 * self.filters, (1, 1), strides=(self.strides, self.strides), name='conv_proj')(x)
      residual = norm(name='bn_proj')(residual)
    return self.act(residual + y)


class ResNet(nn.Module):
  """Stem (7x7/2 conv, BN, act, 3x3/2 max-pool), bottleneck stages, global average pool, Dense."""
  num_classes: int = 1000
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  num_filters: int = 64
  act: str = 'relu'
  bn_init_scale: float = 0.0

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    del dropout_rate  # ResNet-50 has no dropout.
    act = ACTIVATIONS[self.act]
    x = nn.Conv(self.num_filters, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), use_bias=False,
                kernel_init=CONV_INIT, name='conv_init')(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name='bn_init')(x)
    x = nn.max_pool(act(x), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        strides = 2 if i > 0 and j == 0 else 1
        x = BottleneckBlock(self.num_filters * 2**i, strides, act, self.bn_init_scale)(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, kernel_init=nn.initializers.normal(0.01))(x)
