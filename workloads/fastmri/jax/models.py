"""The fastMRI U-Net in Flax (spec/variants.md §8), NHWC.

Down path: ConvBlocks of width c, 2c, ... with a 2x2 average pool after each (the skip is kept before the
pool); a bottleneck ConvBlock; up path: a 2x2 stride-2 transpose conv block, concatenation with the skip,
a ConvBlock; finally a 1x1 conv (with bias) to one channel. ConvBlock = [3x3 conv without bias -> norm ->
activation -> channel dropout] x 2. Norm is a parameter-free instance norm (eps 1e-5), or in the layernorm
variant a LayerNorm over (H, W, C) with per-channel scale and bias (eps 1e-6); transpose blocks always use
instance norm. Module names follow upstream: ConvBlock_0..2P, TransposeConvBlock_0..P-1, Conv_0.
"""
import functools
import operator
from typing import Any, Dict, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from workloads.common.untimed_jit import untimed_jit

# The std of a standard normal truncated to [-2, 2]: flax's lecun_normal divides by it.
_TRUNCATED_STD = 0.87962566103423978


# ConvBlock convolutions with at most this many (input, output) channel pairs run as unrolled multiply-adds
# (narrow_conv3x3): the lite model's 1 -> 4 and 4 -> 4 convolutions on 80 x 80 maps (~6 ms of a ~35 ms step
# for ~0.3 s more compile). Wider ones gain less than their compile costs (the rules time it); full scale
# has none.
NARROW_CHANNEL_PAIRS = 16


def _lax_conv3x3(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _unrolled_conv3x3(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """The 'same' 3x3 convolution of NHWC `x` with an HWIO kernel as a sum of 9 x C terms, each a shifted input
  channel times that tap's kernel row, which XLA fuses into one loop."""
  _, h, w, c = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  terms = [padded[:, i:i + h, j:j + w, ci:ci + 1] * kernel[i, j, ci] for i in range(3) for j in range(3)
           for ci in range(c)]
  return functools.reduce(operator.add, terms)


@jax.custom_vjp
def narrow_conv3x3(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """_lax_conv3x3 for few channels, the same sums in another order.

  XLA's CPU convolution runs at a few GFLOP/s on narrow maps (4 -> 4 channels of 8 x 80 x 80: ~2 ms forward
  and ~2 ms input gradient, against ~0.5 ms each unrolled). The gradient is written out, as autodiff of the
  unrolled sum would scatter every term back: the input gradient of a 'same' convolution is the same
  convolution of the output gradient with the kernel flipped and its channels swapped; the kernel gradient
  is XLA's own (fast: the batch is its contraction).
  """
  return _unrolled_conv3x3(x, kernel)


def _narrow_conv3x3_fwd(x, kernel):
  return _unrolled_conv3x3(x, kernel), (x, kernel)


def _narrow_conv3x3_bwd(residuals, grad):
  x, kernel = residuals
  grad_x = _unrolled_conv3x3(grad, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
  _, kernel_vjp = jax.vjp(lambda k: _lax_conv3x3(x, k), kernel)
  return grad_x, kernel_vjp(grad)[0]


narrow_conv3x3.defvjp(_narrow_conv3x3_fwd, _narrow_conv3x3_bwd)


def conv3x3(lhs, rhs, window_strides, padding, **kwargs):
  """The convolution of the ConvBlocks' nn.Conv (3x3, stride 1, padding 1, NHWC): narrow_conv3x3 where the
  channels are few, else lax's."""
  if rhs.shape[2] * rhs.shape[3] <= NARROW_CHANNEL_PAIRS:
    return narrow_conv3x3(lhs, rhs)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, **kwargs)


def instance_norm(x: jnp.ndarray, epsilon: float = 1e-5) -> jnp.ndarray:
  """Normalises each channel of each example over H and W (InstanceNorm2d without affine parameters)."""
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + epsilon)


def activation(x: jnp.ndarray, use_tanh: bool) -> jnp.ndarray:
  return jnp.tanh(x) if use_tanh else jax.nn.leaky_relu(x, negative_slope=0.2)


class ChannelDropout(nn.Module):
  """Dropout2d: one keep/drop draw per (example, channel), shared over H and W; the rate comes at call time."""

  @nn.compact
  def __call__(self, x: jnp.ndarray, rate: float, train: bool) -> jnp.ndarray:
    if not train or (isinstance(rate, (int, float)) and rate == 0.0):
      return x
    keep = jax.random.bernoulli(self.make_rng('dropout'), 1.0 - rate, (x.shape[0], 1, 1, x.shape[3]))
    return jnp.where(keep, x / (1.0 - rate), 0.0)


class ConvBlock(nn.Module):
  out_channels: int
  use_tanh: bool = False
  use_layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float) -> jnp.ndarray:
    for _ in range(2):
      x = nn.Conv(self.out_channels, kernel_size=(3, 3), padding=1, use_bias=False,
                  conv_general_dilated=conv3x3)(x)
      x = nn.LayerNorm(reduction_axes=(1, 2, 3), epsilon=1e-6)(x) if self.use_layer_norm else instance_norm(x)
      x = activation(x, self.use_tanh)
      x = ChannelDropout()(x, dropout_rate, train)
    return x


class TransposeConvBlock(nn.Module):
  out_channels: int
  use_tanh: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = nn.ConvTranspose(self.out_channels, kernel_size=(2, 2), strides=(2, 2), use_bias=False)(x)
    return activation(instance_norm(x), self.use_tanh)


class UNet(nn.Module):
  num_channels: int = 32
  num_pool_layers: int = 4
  use_tanh: bool = False
  use_layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: Optional[float] = None) -> jnp.ndarray:
    """(N, H, W) normalised images -> (N, H, W) reconstructions."""
    rate = 0.0 if dropout_rate is None else dropout_rate
    block = lambda ch: ConvBlock(ch, self.use_tanh, self.use_layer_norm)  # pylint: disable=unnecessary-lambda-assignment
    widths = [self.num_channels * 2**i for i in range(self.num_pool_layers)]
    down = [block(ch) for ch in widths]
    bottleneck = block(2 * widths[-1])
    ups = [(TransposeConvBlock(ch, self.use_tanh), block(ch)) for ch in reversed(widths)]

    out = x[..., None]
    skips = []
    for layer in down:
      out = layer(out, train, rate)
      skips.append(out)
      out = nn.avg_pool(out, window_shape=(2, 2), strides=(2, 2))
    out = bottleneck(out, train, rate)
    for (transpose, conv), skip in zip(ups, reversed(skips)):
      out = transpose(out)
      # Odd sizes: the upsampled map is one row/column short; reflect-pad it at the bottom/right.
      pad_h, pad_w = skip.shape[1] - out.shape[1], skip.shape[2] - out.shape[2]
      if pad_h or pad_w:
        out = jnp.pad(out, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode='reflect')
      out = conv(jnp.concatenate([out, skip], axis=-1), train, rate)
    return nn.Conv(1, kernel_size=(1, 1))(out)[..., 0]


def init_params(model: UNet, rng: jax.Array) -> Dict[str, Any]:
  """Flax's default initialisation of `model` (LeCun-normal kernels, zero biases, unit LayerNorm scales).

  Same distributions as `model.init`, but all kernels come from one truncated-normal draw, so the jitted
  init is a few ops: compiling `model.init` (one threefry and erf-inverse per kernel, plus a forward
  pass) takes XLA tens of seconds on a small CPU.
  """
  side = 2**model.num_pool_layers
  shapes = jax.eval_shape(lambda: model.init({'params': jax.random.PRNGKey(0)},
                                             jnp.zeros((1, side, side), jnp.float32), train=False))['params']
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)

  def init(key):
    sizes = [int(np.prod(leaf.shape)) for path, leaf in leaves if path[-1].key == 'kernel']
    draws = jax.random.truncated_normal(key, -2.0, 2.0, (sum(sizes),), jnp.float32) / _TRUNCATED_STD
    offsets = np.cumsum([0] + sizes)
    values, k = [], 0
    for path, leaf in leaves:
      name = path[-1].key
      if name == 'kernel':
        fan_in = int(np.prod(leaf.shape[:-1]))  # (kh, kw, in, out): kh * kw * in.
        values.append(draws[offsets[k]:offsets[k + 1]].reshape(leaf.shape) * np.float32(fan_in**-0.5))
        k += 1
      else:
        values.append(jnp.full(leaf.shape, 1.0 if name == 'scale' else 0.0, leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, values)

  return untimed_jit(init)(rng)
