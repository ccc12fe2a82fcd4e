"""ResNet-18 for CIFAR-10 in Flax (spec/variants.md §3).

Stem 3x3/1 conv (no bias) + BN + ReLU, no max-pool; BasicBlocks (2, 2, 2, 2) with widths 64-128-256-512,
stride 2 on the first 3x3 conv of stages 2-4, a 1x1 conv + BN projection only where the shape changes, the
last BN of each residual branch starting at gamma = 0; average pooling of the 4x4 map and Dense(10) with
N(0, 0.01) kernels. BN momentum 0.9, epsilon 1e-5. Convs use Flax's default (LeCun-normal) init.

Padding: every 3x3 conv pads one pixel on each side, as PyTorch does. Upstream's Flax model uses 'SAME',
which for stride 2 on an even map pads (0, 1) and so differs from its PyTorch twin; symmetric padding makes
the twins compute the same function (spec/variants.md §4, "output gotcha").
"""
import functools
from typing import Any, Callable, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

PAD_1 = ((1, 1), (1, 1))


def relu(x: jnp.ndarray) -> jnp.ndarray:
  """max(x, 0) written as a select: the same values and gradient as nn.relu (0 at x = 0), cheaper on CPU.

  Each conv's kernel gradient needs its input transposed batch-minor. XLA copies an op that reads one
  array, like nn.relu's max(x, 0) and the BN before it, into every consumer fusion, so each of those
  transposes re-ran BN + ReLU in transposed order: ~5x slower than transposing the stored activation,
  about a third of the lite train step's op time. XLA does not copy an op that reads two arrays (here
  the mask and x) when one consumer (the next conv) needs it stored anyway, so the transposes read the
  stored activation: the lite step takes ~14 % less CPU time.
  """
  return jnp.where(x > 0, x, 0)


class ResNetBlock(nn.Module):
  """conv3x3(stride) - BN - act - conv3x3 - BN(gamma0) (+ projection) - add - act."""
  filters: int
  conv: Any
  norm: Any
  act: Callable
  strides: Tuple[int, int] = (1, 1)
  bn_init_scale: float = 0.0

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    residual = x
    y = self.conv(self.filters, (3, 3), self.strides, padding=PAD_1)(x)
    y = self.act(self.norm()(y))
    y = self.conv(self.filters, (3, 3), padding=PAD_1)(y)
    y = self.norm(scale_init=nn.initializers.constant(self.bn_init_scale))(y)
    if residual.shape != y.shape:
      residual = self.conv(self.filters, (1, 1), self.strides, name='conv_proj')(residual)
      residual = self.norm(name='BatchNorm_proj')(residual)
    return self.act(residual + y)


class ResNet(nn.Module):
  num_classes: int = 10
  num_filters: int = 64
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  act: Callable = relu
  bn_init_scale: float = 0.0

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    conv = functools.partial(nn.Conv, use_bias=False)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5)
    x = conv(self.num_filters, (3, 3), padding=PAD_1, name='Conv_init')(x)
    x = self.act(norm(name='BatchNorm_init')(x))
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        strides = (2, 2) if i > 0 and j == 0 else (1, 1)
        x = ResNetBlock(self.num_filters * 2**i, conv, norm, self.act, strides, self.bn_init_scale)(x)
    x = jnp.mean(x, axis=(1, 2))  # The 4x4 average pool of the final 4x4 map.
    return nn.Dense(self.num_classes, kernel_init=nn.initializers.normal(0.01))(x)
