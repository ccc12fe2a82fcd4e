"""The WMT encoder-decoder Transformer in PyTorch, the twin of jax/models.py.

Self-attention projects queries, keys and values with one fused `in_proj` (3*qkv x d) and cross-attention
fuses keys and values into `kv_proj`, as upstream's PyTorch model; that is 30 fewer tensors than the Flax
twin for the same parameters. Initialised like the Flax twin: Xavier-uniform per projection matrix,
biases N(0, 1e-6), the shared embedding N(0, 1).
"""
import math
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from workloads.wmt import model_config
from workloads.wmt.model_config import TransformerConfig


def shift_right(x: torch.Tensor, segmentation: Optional[torch.Tensor] = None) -> torch.Tensor:
  """Decoder inputs: targets moved one step right with 0 in front (of every packed example)."""
  shifted = F.pad(x, (1, 0))[:, :-1]
  if segmentation is not None:
    shifted = shifted * (segmentation == F.pad(segmentation, (1, 0))[:, :-1])
  return shifted


def attention_mask(query_valid: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
  """(B, Lq) x (B, Lk) -> (B, 1, Lq, Lk) booleans: True where a query may look at a key."""
  return query_valid[:, None, :, None] & key_valid[:, None, None, :]


def _xavier_uniform_blocks_(weight: torch.Tensor, blocks: int) -> None:
  """Xavier-uniform on each of `blocks` stacked projection matrices, as for separate Flax kernels."""
  with torch.no_grad():
    for chunk in weight.chunk(blocks, dim=0):
      nn.init.xavier_uniform_(chunk)


# Decoding caches hold keys as (N, heads, depth, length) and values as (N, heads, length, depth): the layouts
# in which the attention einsums' batched matmuls read them, so that a decoding step reads the cache in place
# rather than copying all of it into those layouts (the same matmuls on the same numbers).


def _key_layout(k: torch.Tensor) -> torch.Tensor:
  """(N, L, H, D) keys -> contiguous (N, H, D, L)."""
  return k.permute(0, 2, 3, 1).contiguous()


def _value_layout(v: torch.Tensor) -> torch.Tensor:
  """(N, L, H, D) values -> contiguous (N, H, L, D)."""
  return v.permute(0, 2, 1, 3).contiguous()


def _cached_keys(keys: torch.Tensor) -> torch.Tensor:
  """(N, H, D, L) -> an (N, L, H, D) view."""
  return keys.permute(0, 3, 1, 2)


def _cached_values(values: torch.Tensor) -> torch.Tensor:
  """(N, H, L, D) -> an (N, L, H, D) view."""
  return values.permute(0, 2, 1, 3)


def _linear(d_in: int, d_out: int) -> nn.Linear:
  layer = nn.Linear(d_in, d_out)
  nn.init.xavier_uniform_(layer.weight)
  nn.init.normal_(layer.bias, std=1e-6)
  return layer


class MultiheadAttention(nn.Module):
  """Bias-free multi-head attention; masked logits are set to the float minimum, as Flax does."""

  def __init__(self, config: TransformerConfig, self_attention: bool):
    super().__init__()
    d, qkv = config.emb_dim, config.qkv_dim
    self.num_heads, self.qkv_dim, self.temperature = config.num_heads, qkv, config.attention_temp
    self.self_attention = self_attention
    if self_attention:
      self.in_proj = nn.Linear(d, 3 * qkv, bias=False)
      _xavier_uniform_blocks_(self.in_proj.weight, 3)
    else:
      self.q_proj = nn.Linear(d, qkv, bias=False)
      self.kv_proj = nn.Linear(d, 2 * qkv, bias=False)
      nn.init.xavier_uniform_(self.q_proj.weight)
      _xavier_uniform_blocks_(self.kv_proj.weight, 2)
    self.out_proj = nn.Linear(qkv, d, bias=False)
    nn.init.xavier_uniform_(self.out_proj.weight)

  def _heads(self, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.qkv_dim // self.num_heads)

  def memory_keys_values(self, memory: torch.Tensor):
    """Cross-attention keys and values (N, L, H, D) of the encoder output."""
    k, v = self.kv_proj(memory).split(self.qkv_dim, dim=-1)
    return self._heads(k), self._heads(v)

  def forward(self, x: torch.Tensor, memory: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
              dropout_rate: float = 0.0, cache: Optional[Dict[str, Any]] = None) -> torch.Tensor:
    if self.self_attention:
      q, k, v = self.in_proj(x).split(self.qkv_dim, dim=-1)
      k, v = self._heads(k), self._heads(v)
      if cache is not None:  # One decoding step: write this position, read all.
        index = cache['index']
        cache['key'][:, :, :, index] = k[:, 0]
        cache['value'][:, :, index] = v[:, 0]
        k, v = _cached_keys(cache['key']), _cached_values(cache['value'])
        mask = (torch.arange(k.shape[1], device=k.device) <= index)[None, None, None, :]
    else:
      q = self.q_proj(x)
      k, v = self.memory_keys_values(memory) if cache is None else (_cached_keys(cache['memory_key']),
                                                                     _cached_values(cache['memory_value']))
    # The temperature scales the queries (the Flax twin scales their input: the same without biases).
    q = self._heads(q * self.temperature)
    q = q / math.sqrt(q.shape[-1])
    # Decoding keeps one memory per example for its K beams (rows b*K..b*K+K-1): the beams' queries
    # attend to it together as one example's K*T queries (cross-attention has no causal mask).
    q = q.reshape((k.shape[0], -1) + q.shape[2:])
    logits = torch.einsum('bqhd,bkhd->bhqk', q, k)
    if mask is not None:
      logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    weights = torch.softmax(logits, dim=-1)
    weights = F.dropout(weights, dropout_rate, training=self.training and dropout_rate > 0)
    out = torch.einsum('bhqk,bkhd->bqhd', weights, v)
    return self.out_proj(out.reshape(x.shape[0], x.shape[1], self.qkv_dim))


class _Block(nn.Module):
  """What encoder and decoder layers share: the MLP (with the GLU gate in that variant)."""

  def _init_mlp(self, config: TransformerConfig) -> None:
    self.linear1 = _linear(config.emb_dim, config.mlp_dim)
    # The gate reads the block input (d_model wide); upstream's decoder declares it mlp x mlp, which
    # only works because both are 1024. We declare what is computed.
    self.linear_glu = _linear(config.emb_dim, config.mlp_dim) if config.glu else None
    self.linear2 = _linear(config.mlp_dim, config.emb_dim)
    self.activation = {'relu': F.relu, 'tanh': torch.tanh}[config.activation]

  def _mlp(self, x: torch.Tensor, dropout_rate: float) -> torch.Tensor:
    h = self.activation(self.linear1(x))
    if self.linear_glu is not None:
      h = h * self.linear_glu(x)
    h = self._drop(h, dropout_rate)
    return self._drop(self.linear2(h), dropout_rate)

  def _drop(self, x: torch.Tensor, rate: float) -> torch.Tensor:
    return F.dropout(x, rate, training=self.training and rate > 0)


def _layer_norm(dim: int) -> nn.LayerNorm:
  return nn.LayerNorm(dim, eps=model_config.LAYER_NORM_EPSILON)


class EncoderLayer(_Block):

  def __init__(self, config: TransformerConfig):
    super().__init__()
    self.pre_ln = config.pre_ln
    self.self_attn = MultiheadAttention(config, self_attention=True)
    self.norm1, self.norm2 = _layer_norm(config.emb_dim), _layer_norm(config.emb_dim)
    self._init_mlp(config)

  def forward(self, x: torch.Tensor, mask: torch.Tensor, dropout_rate: float) -> torch.Tensor:
    if self.pre_ln:
      x = x + self._drop(self.self_attn(self.norm1(x), mask=mask, dropout_rate=dropout_rate), dropout_rate)
      return x + self._mlp(self.norm2(x), dropout_rate)
    x = self.norm1(x + self._drop(self.self_attn(x, mask=mask, dropout_rate=dropout_rate), dropout_rate))
    return self.norm2(x + self._mlp(x, dropout_rate))


class DecoderLayer(_Block):

  def __init__(self, config: TransformerConfig):
    super().__init__()
    self.pre_ln = config.pre_ln
    self.self_attn = MultiheadAttention(config, self_attention=True)
    self.multihead_attn = MultiheadAttention(config, self_attention=False)
    self.norm1, self.norm2, self.norm3 = (_layer_norm(config.emb_dim) for _ in range(3))
    self._init_mlp(config)

  def forward(self, y: torch.Tensor, memory: torch.Tensor, self_mask: Optional[torch.Tensor],
              cross_mask: torch.Tensor, dropout_rate: float, cache: Optional[Dict[str, Any]] = None) -> torch.Tensor:

    def self_attention(z):
      return self._drop(self.self_attn(z, mask=self_mask, dropout_rate=dropout_rate, cache=cache), dropout_rate)

    def cross_attention(z):
      return self._drop(self.multihead_attn(z, memory, mask=cross_mask, dropout_rate=dropout_rate, cache=cache),
                        dropout_rate)

    if self.pre_ln:
      y = y + self_attention(self.norm1(y))
      y = y + cross_attention(self.norm2(y))
      return y + self._mlp(self.norm3(y), dropout_rate)
    y = self.norm1(y + self_attention(y))
    y = self.norm2(y + cross_attention(y))
    return self.norm3(y + self._mlp(y, dropout_rate))


class Encoder(nn.Module):

  def __init__(self, config: TransformerConfig):
    super().__init__()
    self.layers = nn.ModuleList([EncoderLayer(config) for _ in range(config.num_layers)])
    self.norm = _layer_norm(config.emb_dim) if config.pre_ln else None

  def forward(self, x: torch.Tensor, mask: torch.Tensor, dropout_rate: float) -> torch.Tensor:
    for layer in self.layers:
      x = layer(x, mask, dropout_rate)
    return self.norm(x) if self.norm is not None else x


class Decoder(nn.Module):

  def __init__(self, config: TransformerConfig):
    super().__init__()
    self.layers = nn.ModuleList([DecoderLayer(config) for _ in range(config.num_layers)])
    self.norm = _layer_norm(config.emb_dim) if config.pre_ln else None

  def forward(self, y: torch.Tensor, memory: torch.Tensor, self_mask: Optional[torch.Tensor],
              cross_mask: torch.Tensor, dropout_rate: float, caches: Optional[List[Dict[str, Any]]] = None):
    for i, layer in enumerate(self.layers):
      y = layer(y, memory, self_mask, cross_mask, dropout_rate, None if caches is None else caches[i])
    return self.norm(y) if self.norm is not None else y


class Transformer(nn.Module):
  """Encoder-decoder with one embedding for source, target and logits (y.E^T / sqrt(d))."""

  def __init__(self, config: TransformerConfig):
    super().__init__()
    self.config = config
    self.shared_embedding = nn.Embedding(config.vocab_size, config.emb_dim)
    nn.init.normal_(self.shared_embedding.weight, std=1.0)
    self.encoder = Encoder(config)
    self.decoder = Decoder(config)
    table = torch.from_numpy(model_config.sinusoid_table(config.max_len, config.emb_dim))
    self.register_buffer('position_table', table, persistent=False)

  def _embed(self, ids: torch.Tensor, positions: Optional[torch.Tensor]) -> torch.Tensor:
    x = self.shared_embedding(ids.long())
    if positions is None:
      return x + self.position_table[:ids.shape[1]][None]
    return x + self.position_table[positions.long()]

  def encode(self, inputs: torch.Tensor, inputs_positions=None, inputs_segmentation=None,
             dropout_rate: float = 0.0) -> torch.Tensor:
    valid = inputs > 0
    mask = attention_mask(valid, valid)
    if inputs_segmentation is not None:
      mask = mask & (inputs_segmentation[:, None, :, None] == inputs_segmentation[:, None, None, :])
    x = F.dropout(self._embed(inputs, inputs_positions), dropout_rate, training=self.training and dropout_rate > 0)
    return self.encoder(x, mask, dropout_rate)

  def logits(self, y: torch.Tensor) -> torch.Tensor:
    return y @ self.shared_embedding.weight.T / math.sqrt(y.shape[-1])

  def decode(self, encoded: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor, targets_positions=None,
             inputs_segmentation=None, targets_segmentation=None, dropout_rate: float = 0.0) -> torch.Tensor:
    valid = targets > 0
    length = targets.shape[1]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=targets.device))
    self_mask = attention_mask(valid, valid) & causal[None, None]
    cross_mask = attention_mask(valid, inputs > 0)
    if inputs_segmentation is not None:
      self_mask = self_mask & (targets_segmentation[:, None, :, None] == targets_segmentation[:, None, None, :])
      cross_mask = cross_mask & (targets_segmentation[:, None, :, None] == inputs_segmentation[:, None, None, :])
    y = self._embed(shift_right(targets, targets_segmentation), targets_positions)
    y = F.dropout(y, dropout_rate, training=self.training and dropout_rate > 0)
    return self.logits(self.decoder(y, encoded, self_mask, cross_mask, dropout_rate))

  def forward(self, inputs: torch.Tensor, targets: torch.Tensor, inputs_positions=None, targets_positions=None,
              inputs_segmentation=None, targets_segmentation=None, dropout_rate: float = 0.0) -> torch.Tensor:
    encoded = self.encode(inputs, inputs_positions, inputs_segmentation, dropout_rate)
    return self.decode(encoded, inputs, targets, targets_positions, inputs_segmentation, targets_segmentation,
                       dropout_rate)

  # Incremental decoding (beam search) ---------------------------------------------------------

  def init_cache(self, encoded: torch.Tensor, inputs: torch.Tensor, max_decode_len: int,
                 beams: int = 1) -> Dict[str, Any]:
    """Per-layer key/value buffers of `max_decode_len` positions and the encoder's keys/values.

    `encoded` (B, L, d) and `inputs` (B, L) hold each example once; the buffers have a row per beam,
    n = b*beams + k, which beam search reorders. The encoder's keys/values are projected once here.
    """
    n, heads, depth = encoded.shape[0] * beams, self.config.num_heads, self.config.qkv_dim // self.config.num_heads
    layers = []
    for layer in self.decoder.layers:
      memory_key, memory_value = layer.multihead_attn.memory_keys_values(encoded)
      layers.append({'key': encoded.new_zeros((n, heads, depth, max_decode_len)),
                     'value': encoded.new_zeros((n, heads, max_decode_len, depth)), 'index': 0,
                     'memory_key': _key_layout(memory_key), 'memory_value': _value_layout(memory_value)})
    return {'index': 0, 'layers': layers, 'encoded': encoded, 'cross_mask': (inputs > 0)[:, None, None, :]}

  def decode_step(self, ids: torch.Tensor, cache: Dict[str, Any]) -> torch.Tensor:
    """Logits (N, V) of the next token after `ids` (N, 1), the token at position cache['index']."""
    index = cache['index']
    y = self.shared_embedding(ids.long()) + self.position_table[index][None, None]
    for layer in cache['layers']:
      layer['index'] = index
    y = self.decoder(y, cache['encoded'], None, cache['cross_mask'], 0.0, cache['layers'])
    cache['index'] = index + 1
    return self.logits(y)[:, 0]
