"""The WMT encoder-decoder Transformer in Flax (spec/variants.md §6), with a cache for beam search.

Parameter names follow upstream's Flax model: `shared_embedding`, `encoder/encoderblock_<i>`,
`decoder/encoderdecoderblock_<i>`, `encoder/encoder_layernorm`, `decoder/encoderdecoder_layernorm`;
attention is Flax's MultiHeadDotProductAttention without biases (query/key/value/out kernels).
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from workloads.wmt import model_config
from workloads.wmt.model_config import TransformerConfig

_KERNEL_INIT = nn.initializers.xavier_uniform()
_BIAS_INIT = nn.initializers.normal(stddev=1e-6)


def shift_right(x: jnp.ndarray, segmentation: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Decoder inputs: targets moved one step right with 0 in front (of every packed example)."""
  shifted = jnp.pad(x, ((0, 0), (1, 0)))[:, :-1]
  if segmentation is not None:
    same_example = segmentation == jnp.pad(segmentation, ((0, 0), (1, 0)))[:, :-1]
    shifted = shifted * same_example
  return shifted


def _layer_norm(name: Optional[str] = None) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=model_config.LAYER_NORM_EPSILON, name=name)


class AddPositionEmbs(nn.Module):
  """Adds the fixed sinusoids; with `decode`, one position per call, counted in the cache."""
  config: TransformerConfig
  decode: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, positions: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    table = jnp.asarray(model_config.sinusoid_table(self.config.max_len, x.shape[-1]))
    if self.decode:
      is_initialized = self.has_variable('cache', 'cache_index')
      index = self.variable('cache', 'cache_index', lambda: jnp.array(0, dtype=jnp.int32))
      if is_initialized:
        step = index.value
        index.value = step + 1
        return x + jax.lax.dynamic_slice_in_dim(table, step, 1)[None]
    if positions is None:
      return x + table[None, :x.shape[1]]
    return x + table[positions]


class MlpBlock(nn.Module):
  """Dense -> act (x gate, in the GLU variant) -> dropout -> Dense -> dropout."""
  config: TransformerConfig
  dropout_rate: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
    cfg = self.config
    act = {'relu': nn.relu, 'tanh': jnp.tanh}[cfg.activation]
    h = act(nn.Dense(cfg.mlp_dim, kernel_init=_KERNEL_INIT, bias_init=_BIAS_INIT)(x))
    if cfg.glu:  # The gate reads the block input, not the hidden activation, and has no activation.
      h = h * nn.Dense(cfg.mlp_dim, kernel_init=_KERNEL_INIT, bias_init=_BIAS_INIT)(x)
    h = nn.Dropout(rate=self.dropout_rate)(h, deterministic=deterministic)
    out = nn.Dense(x.shape[-1], kernel_init=_KERNEL_INIT, bias_init=_BIAS_INIT)(h)
    return nn.Dropout(rate=self.dropout_rate)(out, deterministic=deterministic)


def _one_query_attention(query, key, value, mask=None, dropout_rate: float = 0.0, deterministic: bool = True,
                         **kwargs):
  """nn.dot_product_attention for a decoding step (one query position) as broadcast multiply-and-sum.

  XLA on CPU runs the einsum form as N*heads tiny (1 x depth) matmuls, ~5x slower for the lite cache; the
  same sums (up to float rounding). Anything else goes to nn.dot_product_attention.
  """
  if query.shape[-3] != 1 or (dropout_rate > 0 and not deterministic):
    return nn.dot_product_attention(query, key, value, mask=mask, dropout_rate=dropout_rate,
                                    deterministic=deterministic, **kwargs)
  query = query / jnp.sqrt(query.shape[-1]).astype(query.dtype)
  logits = jnp.sum(query * key, axis=-1)  # (N, L, heads)
  if mask is not None:  # (N, 1 or heads, 1, L) -> (N, L, 1 or heads)
    logits = jnp.where(jnp.swapaxes(mask[..., 0, :], -1, -2), logits, jnp.finfo(logits.dtype).min)
  weights = jax.nn.softmax(logits, axis=-2)
  return jnp.sum(weights[..., None] * value, axis=-3, keepdims=True)  # (N, 1, heads, depth)


def _attention(cfg: TransformerConfig, dropout_rate: float, deterministic: bool, decode: bool = False):
  return nn.MultiHeadDotProductAttention(
      num_heads=cfg.num_heads, qkv_features=cfg.qkv_dim, use_bias=False, kernel_init=_KERNEL_INIT,
      broadcast_dropout=False, dropout_rate=dropout_rate, deterministic=deterministic, decode=decode,
      attention_fn=_one_query_attention if decode else nn.dot_product_attention)


def _head_projection(cfg: TransformerConfig, name: Optional[str] = None) -> nn.DenseGeneral:
  """d -> (heads, head_dim), as MultiHeadDotProductAttention projects queries, keys and values."""
  return nn.DenseGeneral(features=(cfg.num_heads, cfg.qkv_dim // cfg.num_heads), axis=-1, use_bias=False,
                         kernel_init=_KERNEL_INIT, name=name)


def cross_attention_memory(params, encoded: jnp.ndarray, cfg: TransformerConfig):
  """Per decoder layer, the cross-attention (keys, values) (B, L, heads, head_dim) of the encoder output.

  Beam search projects them once per batch, for the un-repeated examples, instead of at every step for
  every beam; `DecodeCrossAttention` reads them.
  """
  memory = []
  for i in range(cfg.num_layers):
    attention = params['decoder'][f'encoderdecoderblock_{i}']['MultiHeadDotProductAttention_1']
    memory.append(tuple(_head_projection(cfg).apply({'params': attention[name]}, encoded)
                        for name in ('key', 'value')))
  return tuple(memory)


class DecodeCrossAttention(nn.Module):
  """Cross-attention while decoding, on the parameters of the MultiHeadDotProductAttention it stands in for.

  Keys and values come projected (`cross_attention_memory`) for B examples; the N = B*K query rows are the
  K beams of each example in turn, so each example's K*T queries attend to its memory as one batch entry
  (no causal mask here: every query is independent of the others, the same numbers as per row).
  """
  config: TransformerConfig

  @nn.compact
  def __call__(self, inputs_q: jnp.ndarray, memory, mask: jnp.ndarray) -> jnp.ndarray:
    key, value = memory
    query = _head_projection(self.config, 'query')(inputs_q)  # (N, T, H, D)
    x = nn.dot_product_attention(query.reshape((key.shape[0], -1) + query.shape[2:]), key, value, mask=mask,
                                 deterministic=True)
    x = x.reshape(query.shape)
    return nn.DenseGeneral(features=inputs_q.shape[-1], axis=(-2, -1), use_bias=False, kernel_init=_KERNEL_INIT,
                           name='out')(x)


class Encoder1DBlock(nn.Module):
  config: TransformerConfig
  dropout_rate: float

  @nn.compact
  def __call__(self, x: jnp.ndarray, mask: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
    cfg = self.config
    drop = nn.Dropout(rate=self.dropout_rate)
    attention = _attention(cfg, self.dropout_rate, deterministic)
    mlp = MlpBlock(cfg, self.dropout_rate)
    if cfg.pre_ln:
      y = _layer_norm()(x)
      # The attention temperature scales the query input (no biases: the same as scaling the queries).
      x = x + drop(attention(cfg.attention_temp * y, y, mask=mask), deterministic=deterministic)
      return x + mlp(_layer_norm()(x), deterministic=deterministic)
    x = _layer_norm()(x + drop(attention(cfg.attention_temp * x, x, mask=mask), deterministic=deterministic))
    return _layer_norm()(x + mlp(x, deterministic=deterministic))


class EncoderDecoder1DBlock(nn.Module):
  config: TransformerConfig
  dropout_rate: float
  decode: bool = False

  @nn.compact
  def __call__(self, y: jnp.ndarray, encoded: jnp.ndarray, decoder_mask: Optional[jnp.ndarray],
               encdec_mask: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
    cfg = self.config
    drop = nn.Dropout(rate=self.dropout_rate)
    self_attention = _attention(cfg, self.dropout_rate, deterministic, decode=self.decode)
    if self.decode:  # `encoded` is this layer's projected (keys, values); the same parameter names.
      cross_attention = DecodeCrossAttention(cfg, name='MultiHeadDotProductAttention_1')
    else:
      cross_attention = _attention(cfg, self.dropout_rate, deterministic)
    mlp = MlpBlock(cfg, self.dropout_rate)
    t = cfg.attention_temp
    if cfg.pre_ln:
      z = _layer_norm()(y)
      y = y + drop(self_attention(t * z, z, mask=decoder_mask), deterministic=deterministic)
      z = _layer_norm()(y)
      y = y + drop(cross_attention(t * z, encoded, mask=encdec_mask), deterministic=deterministic)
      return y + mlp(_layer_norm()(y), deterministic=deterministic)
    y = _layer_norm()(y + drop(self_attention(t * y, y, mask=decoder_mask), deterministic=deterministic))
    y = _layer_norm()(y + drop(cross_attention(t * y, encoded, mask=encdec_mask), deterministic=deterministic))
    return _layer_norm()(y + mlp(y, deterministic=deterministic))


class Encoder(nn.Module):
  config: TransformerConfig
  shared_embedding: nn.Module
  dropout_rate: float

  @nn.compact
  def __call__(self, inputs: jnp.ndarray, positions: Optional[jnp.ndarray], mask: jnp.ndarray,
               deterministic: bool) -> jnp.ndarray:
    cfg = self.config
    x = self.shared_embedding(inputs.astype(jnp.int32))
    x = AddPositionEmbs(cfg)(x, positions)
    x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
    for i in range(cfg.num_layers):
      x = Encoder1DBlock(cfg, self.dropout_rate, name=f'encoderblock_{i}')(x, mask, deterministic)
    return _layer_norm('encoder_layernorm')(x) if cfg.pre_ln else x


class Decoder(nn.Module):
  config: TransformerConfig
  shared_embedding: nn.Module
  dropout_rate: float
  decode: bool = False

  @nn.compact
  def __call__(self, encoded: jnp.ndarray, targets: jnp.ndarray, positions: Optional[jnp.ndarray],
               segmentation: Optional[jnp.ndarray], decoder_mask: Optional[jnp.ndarray],
               encdec_mask: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
    cfg = self.config
    y = targets.astype(jnp.int32)
    if not self.decode:  # While decoding, the caller feeds the previous token itself.
      y = shift_right(y, segmentation)
    y = self.shared_embedding(y)
    y = AddPositionEmbs(cfg, decode=self.decode)(y, positions)
    y = nn.Dropout(rate=self.dropout_rate)(y, deterministic=deterministic)
    for i in range(cfg.num_layers):
      y = EncoderDecoder1DBlock(cfg, self.dropout_rate, self.decode, name=f'encoderdecoderblock_{i}')(
          y, encoded[i] if self.decode else encoded, decoder_mask, encdec_mask, deterministic)
    if cfg.pre_ln:
      y = _layer_norm('encoderdecoder_layernorm')(y)
    # Logits through the shared embedding, scaled by 1/sqrt(d); no output projection or bias.
    return self.shared_embedding.attend(y) / np.sqrt(y.shape[-1])


class Transformer(nn.Module):
  """Encoder-decoder with one embedding for source, target and logits."""
  config: TransformerConfig
  dropout_rate: float = model_config.DEFAULT_DROPOUT_RATE
  decode: bool = False

  def setup(self):
    cfg = self.config
    self.shared_embedding = nn.Embed(cfg.vocab_size, cfg.emb_dim,
                                     embedding_init=nn.initializers.normal(stddev=1.0))
    self.encoder = Encoder(cfg, self.shared_embedding, self.dropout_rate)
    self.decoder = Decoder(cfg, self.shared_embedding, self.dropout_rate, decode=self.decode)

  def encode(self, inputs, inputs_positions=None, inputs_segmentation=None, train: bool = False):
    mask = nn.make_attention_mask(inputs > 0, inputs > 0)
    if inputs_segmentation is not None:
      mask = nn.combine_masks(mask, nn.make_attention_mask(inputs_segmentation, inputs_segmentation, jnp.equal))
    return self.encoder(inputs, inputs_positions, mask, deterministic=not train)

  def decode_targets(self, encoded, inputs, targets, targets_positions=None, inputs_segmentation=None,
                     targets_segmentation=None, train: bool = False):
    """With `decode`: `encoded` is `cross_attention_memory` of B examples, `inputs` their (B, L) source ids,
    and `targets` (B*K, 1) holds the next token of each of their K beams (B*K, max_len to initialise)."""
    if self.decode:
      decoder_mask = None  # The cache masks the future positions.
      encdec_mask = nn.make_attention_mask(jnp.ones((inputs.shape[0], 1), jnp.bool_), inputs > 0)
    else:
      decoder_mask = nn.combine_masks(nn.make_attention_mask(targets > 0, targets > 0),
                                      nn.make_causal_mask(targets))
      encdec_mask = nn.make_attention_mask(targets > 0, inputs > 0)
      if inputs_segmentation is not None:
        decoder_mask = nn.combine_masks(
            decoder_mask, nn.make_attention_mask(targets_segmentation, targets_segmentation, jnp.equal))
        encdec_mask = nn.combine_masks(
            encdec_mask, nn.make_attention_mask(targets_segmentation, inputs_segmentation, jnp.equal))
    return self.decoder(encoded, targets, targets_positions, targets_segmentation, decoder_mask, encdec_mask,
                        deterministic=not train)

  def __call__(self, inputs, targets, inputs_positions=None, targets_positions=None, inputs_segmentation=None,
               targets_segmentation=None, train: bool = False):
    encoded = self.encode(inputs, inputs_positions, inputs_segmentation, train=train)
    return self.decode_targets(encoded, inputs, targets, targets_positions, inputs_segmentation,
                               targets_segmentation, train=train)
