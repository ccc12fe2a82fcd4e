"""ViT-S/16 in Flax (spec/variants.md §5), with the GLU, post-LN and MAP-head options of the variants.

Patch conv (with bias) -> + fixed 2-D sin-cos embedding (no class token) -> pre-LN encoder blocks -> final
LayerNorm -> average over tokens (or the MAP head) -> Dense + tanh (pre_logits) -> zero-initialised head.
Upstream's Flax post-LN block crashes at init (a Dropout output called again, spec §5.3); this is the
intended block: dropout on each branch, the residual add, then the LayerNorm.
"""
import functools

import flax.linen as nn
import jax.numpy as jnp

from workloads.imagenet_vit import posemb

LN_EPSILON = 1e-6
XAVIER = nn.initializers.xavier_uniform()
MLP_BIAS_INIT = nn.initializers.normal(stddev=1e-6)
gelu = functools.partial(nn.gelu, approximate=True)


class MlpBlock(nn.Module):
  """Dense -> GELU [-> x * Dense(x) for GLU] -> dropout -> Dense."""
  mlp_dim: int
  use_glu: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    width = x.shape[-1]
    dense = functools.partial(nn.Dense, kernel_init=XAVIER, bias_init=MLP_BIAS_INIT)
    x = gelu(dense(self.mlp_dim)(x))
    if self.use_glu:
      x = x * dense(self.mlp_dim)(x)
    x = nn.Dropout(rate=dropout_rate)(x, deterministic=not train)
    return dense(width)(x)


def _attention(num_heads: int, name: str) -> nn.MultiHeadDotProductAttention:
  return nn.MultiHeadDotProductAttention(num_heads=num_heads, kernel_init=XAVIER, deterministic=True, name=name)


class EncoderBlock(nn.Module):
  mlp_dim: int
  num_heads: int
  use_glu: bool = False
  use_post_layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    norm0 = nn.LayerNorm(epsilon=LN_EPSILON, name='LayerNorm_0')
    attention = _attention(self.num_heads, 'MultiHeadDotProductAttention_1')
    norm2 = nn.LayerNorm(epsilon=LN_EPSILON, name='LayerNorm_2')
    mlp = MlpBlock(self.mlp_dim, self.use_glu, name='MlpBlock_3')
    dropout = lambda y: nn.Dropout(rate=dropout_rate)(y, deterministic=not train)
    if self.use_post_layer_norm:
      x = norm0(x + dropout(attention(x)))
      return norm2(x + dropout(mlp(x, train, dropout_rate)))
    x = x + dropout(attention(norm0(x)))
    return x + dropout(mlp(norm2(x), train, dropout_rate))


class Encoder(nn.Module):
  depth: int
  mlp_dim: int
  num_heads: int
  use_glu: bool = False
  use_post_layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    for i in range(self.depth):
      x = EncoderBlock(self.mlp_dim, self.num_heads, self.use_glu, self.use_post_layer_norm,
                       name=f'encoderblock_{i}')(x, train, dropout_rate)
    if not self.use_post_layer_norm:  # Post-LN blocks end normalised already: no final LayerNorm.
      x = nn.LayerNorm(epsilon=LN_EPSILON, name='encoder_layernorm')(x)
    return x


class MAPHead(nn.Module):
  """Multihead attention pooling: a learned probe attends to the tokens, then a residual MLP."""
  mlp_dim: int
  num_heads: int

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    probe = self.param('probe', XAVIER, (1, 1, x.shape[-1]), jnp.float32)
    probe = jnp.tile(probe, (x.shape[0], 1, 1))
    x = _attention(self.num_heads, 'MultiHeadDotProductAttention_0')(probe, x)
    y = nn.LayerNorm(epsilon=LN_EPSILON)(x)
    # Upstream's Flax head never applies dropout here while its PyTorch twin does; both apply the rate.
    x = x + MlpBlock(self.mlp_dim)(y, train, dropout_rate)
    return x[:, 0]


class ViT(nn.Module):
  num_classes: int = 1000
  patch_size: int = 16
  width: int = 384
  depth: int = 12
  mlp_dim: int = 1536
  num_heads: int = 6
  use_glu: bool = False
  use_post_layer_norm: bool = False
  use_map: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    patch = (self.patch_size, self.patch_size)
    x = nn.Conv(self.width, patch, strides=patch, padding='VALID', name='conv_patch_extract')(x)
    n, h, w, c = x.shape
    x = jnp.reshape(x, (n, h * w, c)) + jnp.asarray(posemb.sincos_2d(h, w, c))[None]
    x = nn.Dropout(rate=dropout_rate)(x, deterministic=not train)
    x = Encoder(self.depth, self.mlp_dim, self.num_heads, self.use_glu, self.use_post_layer_norm,
                name='Transformer')(x, train, dropout_rate)
    if self.use_map:
      x = MAPHead(self.mlp_dim, self.num_heads)(x, train, dropout_rate)
    else:
      x = jnp.mean(x, axis=1)
    x = jnp.tanh(nn.Dense(self.width, name='pre_logits')(x))
    return nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros, bias_init=nn.initializers.zeros,
                    name='head')(x)
