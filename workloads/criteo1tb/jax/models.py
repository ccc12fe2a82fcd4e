"""DLRM-small and DLRMResNet in Flax (spec/variants.md §7).

Parameter names: `Dense_0..7` (bottom MLP first, the logit layer last), `embedding_table`, and for the
layernorm variant `LayerNorm_0-2` (bottom), `_3` (embeddings), `_4-7` (top).
"""
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

_glorot_uniform = jax.nn.initializers.glorot_uniform()


def _normal(stddev: float):
  return jax.nn.initializers.normal(stddev=stddev)


def _bottom_dense(width: int) -> nn.Dense:
  return nn.Dense(width, kernel_init=_glorot_uniform, bias_init=_normal((1.0 / width)**0.5))


def _top_dense(fan_in: int, width: int) -> nn.Dense:
  return nn.Dense(width, kernel_init=_normal((2.0 / (fan_in + width))**0.5), bias_init=_normal((1.0 / width)**0.5))


def dropout(module: nn.Module, x: jnp.ndarray, rate: float, train: bool) -> jnp.ndarray:
  """Inverted dropout with a rate chosen at run time (submissions tune it without re-initialising)."""
  if not train or not rate:
    return x
  keep = jax.random.bernoulli(module.make_rng('dropout'), 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0)


def dot_interact(features: jnp.ndarray) -> jnp.ndarray:
  """(B, F, D) -> the upper triangle, diagonal included, of each F x F Gram matrix, row-major: (B, F(F+1)/2)."""
  gram = jnp.einsum('bfd,bgd->bfg', features, features)
  rows, cols = jnp.triu_indices(features.shape[1])
  return gram[:, rows, cols]


def embed(module: nn.Module, ids: jnp.ndarray, vocab_size: int, embed_dim: int,
          init_multiplier: Optional[float]) -> jnp.ndarray:
  """Looks ids up in `module`'s own `embedding_table` parameter: (B, 26) -> (B, 26, embed_dim)."""
  scale = (1.0 / vocab_size**0.5) if init_multiplier is None else init_multiplier
  table = module.param('embedding_table', lambda key, shape: jax.random.uniform(key, shape) * scale,
                       (vocab_size, embed_dim))
  return table[ids.astype(jnp.int32) % vocab_size]


class DlrmSmall(nn.Module):
  """Bottom MLP (ReLU after every layer) -> dot interaction with the 26 embeddings -> top MLP -> 1 logit."""
  vocab_size: int
  num_dense_features: int = 13
  mlp_bottom_dims: Sequence[int] = (512, 256, 128)
  mlp_top_dims: Sequence[int] = (1024, 1024, 512, 256, 1)
  embed_dim: int = 128
  use_layer_norm: bool = False
  embedding_init_multiplier: Optional[float] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    dense, ids = x[:, :self.num_dense_features], x[:, self.num_dense_features:]
    for width in self.mlp_bottom_dims:
      dense = nn.relu(_bottom_dense(width)(dense))
      if self.use_layer_norm:
        dense = nn.LayerNorm(epsilon=1e-6)(dense)
    embedded = embed(self, ids, self.vocab_size, self.embed_dim, self.embedding_init_multiplier)
    if self.use_layer_norm:
      embedded = nn.LayerNorm(epsilon=1e-6)(embedded)
    interactions = dot_interact(jnp.concatenate([dense[:, None, :], embedded], axis=1))
    h = jnp.concatenate([dense, interactions], axis=-1)
    num_layers = len(self.mlp_top_dims)
    for i, width in enumerate(self.mlp_top_dims):
      h = _top_dense(h.shape[-1], width)(h)
      if i < num_layers - 1:
        h = nn.relu(h)
        if self.use_layer_norm:
          h = nn.LayerNorm(epsilon=1e-6)(h)
      if i == num_layers - 2:
        h = dropout(self, h, dropout_rate, train)
    return h


class DLRMResNet(nn.Module):
  """Residual bottom and top MLPs on [dense; flattened embeddings]; no dot interaction.

  `use_layer_norm` is accepted and ignored, as upstream (the variant only changes the MLPs).
  """
  vocab_size: int
  num_dense_features: int = 13
  mlp_bottom_dims: Sequence[int] = (256, 256, 256)
  mlp_top_dims: Sequence[int] = (256, 256, 256, 256, 1)
  embed_dim: int = 128
  use_layer_norm: bool = False
  embedding_init_multiplier: Optional[float] = None

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, dropout_rate: float = 0.0) -> jnp.ndarray:
    dense, ids = x[:, :self.num_dense_features], x[:, self.num_dense_features:]
    h = nn.relu(_bottom_dense(self.mlp_bottom_dims[0])(dense))
    for width in self.mlp_bottom_dims[1:]:
      h = h + nn.relu(_bottom_dense(width)(h))
    embedded = embed(self, ids, self.vocab_size, self.embed_dim, self.embedding_init_multiplier)
    t = jnp.concatenate([h, embedded.reshape(embedded.shape[0], -1)], axis=-1)
    num_layers = len(self.mlp_top_dims)
    t = nn.relu(_top_dense(t.shape[-1], self.mlp_top_dims[0])(t))
    for i in range(1, num_layers - 1):
      branch = nn.relu(_top_dense(t.shape[-1], self.mlp_top_dims[i])(t))
      if i == num_layers - 2:
        branch = dropout(self, branch, dropout_rate, train)
      t = t + branch
    return _top_dense(t.shape[-1], self.mlp_top_dims[-1])(t)
