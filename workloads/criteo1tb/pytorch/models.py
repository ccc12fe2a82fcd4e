"""DLRM-small and DLRMResNet in PyTorch, the twins of jax/models.py (spec/variants.md §7).

As upstream, the table is stored as 4 row chunks (`embedding_chunk_0..3`, 3 more tensors than JAX) and
concatenated on each forward. Layers are registered in the order of the Flax names (bottom Linears, then
top; LayerNorms bottom, embeddings, top), so weights map one to one (see workloads/criteo1tb/mapping.py).
"""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

NUM_CHUNKS = 4


class RateDropout(nn.Module):
  """Dropout whose rate is passed at run time (submissions tune it without re-initialising)."""

  def forward(self, x: torch.Tensor, rate: float) -> torch.Tensor:
    return F.dropout(x, p=rate, training=self.training) if rate else x


def run_layers(layers: nn.Sequential, x: torch.Tensor, dropout_rate: float) -> torch.Tensor:
  for layer in layers:
    x = layer(x, dropout_rate) if isinstance(layer, RateDropout) else layer(x)
  return x


def _init_bottom(linear: nn.Linear) -> nn.Linear:
  """Glorot-uniform weights, N(0, 1/fan_out) biases."""
  limit = math.sqrt(6.0 / (linear.in_features + linear.out_features))
  nn.init.uniform_(linear.weight, -limit, limit)
  nn.init.normal_(linear.bias, 0.0, math.sqrt(1.0 / linear.out_features))
  return linear


def _init_top(linear: nn.Linear) -> nn.Linear:
  """N(0, 2/(fan_in+fan_out)) weights, N(0, 1/fan_out) biases."""
  nn.init.normal_(linear.weight, 0.0, math.sqrt(2.0 / (linear.in_features + linear.out_features)))
  nn.init.normal_(linear.bias, 0.0, math.sqrt(1.0 / linear.out_features))
  return linear


class ChunkedEmbedding(nn.Module):
  """One table of vocab_size rows, stored in NUM_CHUNKS chunks; ids wrap modulo vocab_size."""

  def __init__(self, vocab_size: int, embed_dim: int, init_multiplier: Optional[float]):
    super().__init__()
    if vocab_size % NUM_CHUNKS:
      raise ValueError(f'vocab_size {vocab_size} must be a multiple of {NUM_CHUNKS}.')
    self.vocab_size = vocab_size
    scale = 1.0 / math.sqrt(vocab_size) if init_multiplier is None else init_multiplier
    for i in range(NUM_CHUNKS):
      chunk = nn.Parameter(torch.empty(vocab_size // NUM_CHUNKS, embed_dim))
      nn.init.uniform_(chunk, 0.0, 1.0)
      with torch.no_grad():
        chunk.mul_(scale)
      self.register_parameter(f'embedding_chunk_{i}', chunk)

  def chunks(self) -> List[nn.Parameter]:
    return [getattr(self, f'embedding_chunk_{i}') for i in range(NUM_CHUNKS)]

  def forward(self, ids: torch.Tensor) -> torch.Tensor:
    table = torch.cat(self.chunks(), dim=0)
    return table[ids.to(torch.int64) % self.vocab_size]


def dot_interact(features: torch.Tensor) -> torch.Tensor:
  """(B, F, D) -> the upper triangle, diagonal included, of each Gram matrix, row-major: (B, F(F+1)/2)."""
  gram = torch.bmm(features, features.transpose(1, 2))
  rows, cols = torch.triu_indices(features.shape[1], features.shape[1], device=features.device)
  return gram[:, rows, cols]


class DlrmSmall(nn.Module):
  """Bottom MLP (ReLU after every layer) -> dot interaction with the 26 embeddings -> top MLP -> 1 logit."""

  def __init__(self, vocab_size: int, num_dense_features: int = 13, mlp_bottom_dims: Sequence[int] = (512, 256, 128),
               mlp_top_dims: Sequence[int] = (1024, 1024, 512, 256, 1), embed_dim: int = 128,
               use_layer_norm: bool = False, embedding_init_multiplier: Optional[float] = None,
               num_sparse_features: int = 26):
    super().__init__()
    if mlp_bottom_dims[-1] != embed_dim:
      raise ValueError(f'The bottom MLP must end at embed_dim ({embed_dim}), not {mlp_bottom_dims[-1]}.')
    self.num_dense_features = num_dense_features
    self.embedding = ChunkedEmbedding(vocab_size, embed_dim, embedding_init_multiplier)
    layers, fan_in = [], num_dense_features
    for width in mlp_bottom_dims:
      layers += [_init_bottom(nn.Linear(fan_in, width)), nn.ReLU()]
      if use_layer_norm:
        layers.append(nn.LayerNorm(width, eps=1e-6))
      fan_in = width
    self.bot_mlp = nn.Sequential(*layers)
    self.embed_ln = nn.LayerNorm(embed_dim, eps=1e-6) if use_layer_norm else None
    num_features = num_sparse_features + 1
    fan_in = embed_dim + num_features * (num_features + 1) // 2  # 128 + 378 = 506 at full scale.
    layers = []
    for i, width in enumerate(mlp_top_dims):
      layers.append(_init_top(nn.Linear(fan_in, width)))
      if i < len(mlp_top_dims) - 1:
        layers.append(nn.ReLU())
        if use_layer_norm:
          layers.append(nn.LayerNorm(width, eps=1e-6))
      if i == len(mlp_top_dims) - 2:
        layers.append(RateDropout())
      fan_in = width
    self.top_mlp = nn.Sequential(*layers)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    dense = self.bot_mlp(x[:, :self.num_dense_features])
    embedded = self.embedding(x[:, self.num_dense_features:])
    if self.embed_ln is not None:
      embedded = self.embed_ln(embedded)
    interactions = dot_interact(torch.cat([dense.unsqueeze(1), embedded], dim=1))
    return run_layers(self.top_mlp, torch.cat([dense, interactions], dim=1), dropout_rate)


class Residual(nn.Module):
  """x + ReLU(Linear(x)), with dropout on the branch where asked."""

  def __init__(self, linear: nn.Linear, dropout: bool = False):
    super().__init__()
    self.linear = linear
    self.dropout = RateDropout() if dropout else None

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    branch = F.relu(self.linear(x))
    if self.dropout is not None:
      branch = self.dropout(branch, dropout_rate)
    return x + branch


class DLRMResNet(nn.Module):
  """Residual bottom and top MLPs on [dense; flattened embeddings]; no dot interaction.

  `use_layer_norm` is accepted and ignored, as upstream.
  """

  def __init__(self, vocab_size: int, num_dense_features: int = 13, mlp_bottom_dims: Sequence[int] = (256, 256, 256),
               mlp_top_dims: Sequence[int] = (256, 256, 256, 256, 1), embed_dim: int = 128,
               use_layer_norm: bool = False, embedding_init_multiplier: Optional[float] = None,
               num_sparse_features: int = 26):
    super().__init__()
    del use_layer_norm
    self.num_dense_features = num_dense_features
    self.embedding = ChunkedEmbedding(vocab_size, embed_dim, embedding_init_multiplier)
    self.bot_in = _init_bottom(nn.Linear(num_dense_features, mlp_bottom_dims[0]))
    self.bot_mlp = nn.ModuleList(
        Residual(_init_bottom(nn.Linear(a, b))) for a, b in zip(mlp_bottom_dims[:-1], mlp_bottom_dims[1:]))
    self.top_in = _init_top(nn.Linear(mlp_bottom_dims[-1] + num_sparse_features * embed_dim, mlp_top_dims[0]))
    hidden = mlp_top_dims[:-1]
    self.top_mlp = nn.ModuleList(
        Residual(_init_top(nn.Linear(a, b)), dropout=(i == len(hidden) - 2))
        for i, (a, b) in enumerate(zip(hidden[:-1], hidden[1:])))
    self.top_out = _init_top(nn.Linear(mlp_top_dims[-2], mlp_top_dims[-1]))

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    h = F.relu(self.bot_in(x[:, :self.num_dense_features]))
    for block in self.bot_mlp:
      h = block(h)
    embedded = self.embedding(x[:, self.num_dense_features:])
    t = F.relu(self.top_in(torch.cat([h, embedded.flatten(1)], dim=1)))
    for block in self.top_mlp:
      t = block(t, dropout_rate)
    return self.top_out(t)
