"""ViT-S/16 in PyTorch (spec/variants.md §5): the Flax twin's layers and initialisers.

The MAP head's attention projects key and value with one fused Linear (as upstream's PyTorch model does),
so that variant has two tensors fewer than its Flax twin: 213 against 215, the same parameters.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from workloads.common import pytorch_losses
from workloads.imagenet_vit import posemb

LN_EPSILON = 1e-6


def _xavier_linear(module: nn.Linear, bias_std: float = 0.0) -> nn.Linear:
  nn.init.xavier_uniform_(module.weight)
  if bias_std:
    nn.init.normal_(module.bias, std=bias_std)
  else:
    nn.init.zeros_(module.bias)
  return module


class MlpBlock(nn.Module):
  """Linear -> GELU [-> x * Linear(x) for GLU] -> dropout -> Linear."""

  def __init__(self, width: int, mlp_dim: int, use_glu: bool = False):
    super().__init__()
    self.linear1 = _xavier_linear(nn.Linear(width, mlp_dim), bias_std=1e-6)
    self.glu_linear = _xavier_linear(nn.Linear(mlp_dim, mlp_dim), bias_std=1e-6) if use_glu else None
    self.linear2 = _xavier_linear(nn.Linear(mlp_dim, width), bias_std=1e-6)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    x = F.gelu(self.linear1(x), approximate='tanh')
    if self.glu_linear is not None:
      x = x * self.glu_linear(x)
    x = F.dropout(x, p=dropout_rate, training=self.training)
    return self.linear2(x)


class MultiHeadAttention(nn.Module):
  """Scaled dot-product attention over `num_heads` heads, with biased q/k/v/out projections."""

  def __init__(self, width: int, num_heads: int, fused_kv: bool = False):
    super().__init__()
    self.num_heads = num_heads
    self.query = _xavier_linear(nn.Linear(width, width))
    if fused_kv:
      self.kv = nn.Linear(width, 2 * width)
      with torch.no_grad():  # Each half initialised as its own width x width matrix, as in Flax.
        nn.init.xavier_uniform_(self.kv.weight[:width])
        nn.init.xavier_uniform_(self.kv.weight[width:])
      nn.init.zeros_(self.kv.bias)
    else:
      self.key = _xavier_linear(nn.Linear(width, width))
      self.value = _xavier_linear(nn.Linear(width, width))
    self.out = _xavier_linear(nn.Linear(width, width))

  def _heads(self, x: torch.Tensor) -> torch.Tensor:
    b, length, width = x.shape
    return x.reshape(b, length, self.num_heads, width // self.num_heads).transpose(1, 2)

  def forward(self, inputs_q: torch.Tensor, inputs_kv: Optional[torch.Tensor] = None) -> torch.Tensor:
    inputs_kv = inputs_q if inputs_kv is None else inputs_kv
    if hasattr(self, 'kv'):
      key, value = self.kv(inputs_kv).chunk(2, dim=-1)
    else:
      key, value = self.key(inputs_kv), self.value(inputs_kv)
    attended = F.scaled_dot_product_attention(self._heads(self.query(inputs_q)), self._heads(key),
                                              self._heads(value))
    b, _, length, _ = attended.shape
    return self.out(attended.transpose(1, 2).reshape(b, length, -1))


class EncoderBlock(nn.Module):

  def __init__(self, width: int, mlp_dim: int, num_heads: int, use_glu: bool = False,
               use_post_layer_norm: bool = False):
    super().__init__()
    self.use_post_layer_norm = use_post_layer_norm
    self.layer_norm0 = nn.LayerNorm(width, eps=LN_EPSILON)
    self.self_attention = MultiHeadAttention(width, num_heads)
    self.layer_norm2 = nn.LayerNorm(width, eps=LN_EPSILON)
    self.mlp3 = MlpBlock(width, mlp_dim, use_glu)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    dropout = lambda y: F.dropout(y, p=dropout_rate, training=self.training)
    if self.use_post_layer_norm:
      x = self.layer_norm0(x + dropout(self.self_attention(x)))
      return self.layer_norm2(x + dropout(self.mlp3(x, dropout_rate)))
    x = x + dropout(self.self_attention(self.layer_norm0(x)))
    return x + dropout(self.mlp3(self.layer_norm2(x), dropout_rate))


class Encoder(nn.Module):

  def __init__(self, width: int, depth: int, mlp_dim: int, num_heads: int, use_glu: bool = False,
               use_post_layer_norm: bool = False):
    super().__init__()
    self.blocks = nn.ModuleList([EncoderBlock(width, mlp_dim, num_heads, use_glu, use_post_layer_norm)
                                 for _ in range(depth)])
    self.encoder_layernorm = None if use_post_layer_norm else nn.LayerNorm(width, eps=LN_EPSILON)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    for block in self.blocks:
      x = block(x, dropout_rate)
    return x if self.encoder_layernorm is None else self.encoder_layernorm(x)


class MAPHead(nn.Module):
  """Multihead attention pooling: a learned probe attends to the tokens, then a residual MLP."""

  def __init__(self, width: int, mlp_dim: int, num_heads: int):
    super().__init__()
    self.probe = nn.Parameter(torch.empty(1, 1, width))
    bound = math.sqrt(6.0 / (1 + width))  # Xavier-uniform with Flax's fans for a (1, 1, width) tensor.
    nn.init.uniform_(self.probe, -bound, bound)
    self.attention = MultiHeadAttention(width, num_heads, fused_kv=True)
    self.layer_norm = nn.LayerNorm(width, eps=LN_EPSILON)
    self.mlp = MlpBlock(width, mlp_dim)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    x = self.attention(self.probe.expand(x.shape[0], -1, -1), x)
    x = x + self.mlp(self.layer_norm(x), dropout_rate)
    return x[:, 0]


class ViT(nn.Module):

  def __init__(self, num_classes: int = 1000, patch_size: int = 16, width: int = 384, depth: int = 12,
               mlp_dim: int = 1536, num_heads: int = 6, use_glu: bool = False, use_post_layer_norm: bool = False,
               use_map: bool = False):
    super().__init__()
    self.conv_patch_extract = nn.Conv2d(3, width, patch_size, stride=patch_size)
    pytorch_losses.lecun_normal_(self.conv_patch_extract.weight)
    nn.init.zeros_(self.conv_patch_extract.bias)
    self.encoder = Encoder(width, depth, mlp_dim, num_heads, use_glu, use_post_layer_norm)
    self.map_head = MAPHead(width, mlp_dim, num_heads) if use_map else None
    self.pre_logits = nn.Linear(width, width)
    pytorch_losses.lecun_normal_(self.pre_logits.weight)
    nn.init.zeros_(self.pre_logits.bias)
    self.head = nn.Linear(width, num_classes)
    nn.init.zeros_(self.head.weight)
    nn.init.zeros_(self.head.bias)

  def forward(self, x: torch.Tensor, dropout_rate: float = 0.0) -> torch.Tensor:
    x = self.conv_patch_extract(x)
    n, c, h, w = x.shape
    embedding = torch.as_tensor(posemb.sincos_2d(h, w, c), device=x.device, dtype=x.dtype)
    x = x.flatten(2).transpose(1, 2) + embedding[None]
    x = F.dropout(x, p=dropout_rate, training=self.training)
    x = self.encoder(x, dropout_rate)
    x = x.mean(dim=1) if self.map_head is None else self.map_head(x, dropout_rate)
    return self.head(torch.tanh(self.pre_logits(x)))
