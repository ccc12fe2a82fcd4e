"""The Conformer in Flax (spec/variants.md §10).

log-mel -> SpecAugment (training) -> two stride-2 convs + Dense + sinusoidal positions -> N blocks of
x += FF/2; x += MHSA; x += ConvModule; x += FF/2; x = LN(x) (the last LN only with use_post_layer_norm)
-> LN -> Dense(vocab). Every LN and BN scales by (1 + scale).
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from workloads.librispeech_common.jax import layers
from workloads.librispeech_conformer.config import R_SOFTPLUS_0, ConformerConfig
from workloads.librispeech_conformer.positions import sinusoidal_positions

XAVIER = nn.initializers.xavier_uniform()


class FeedForwardModule(nn.Module):
  config: ConformerConfig

  @nn.compact
  def __call__(self, x, padding_mask, train: bool, dropout_rate: float):
    c = self.config
    x = layers.LayerNorm()(x)
    x = nn.Dense(c.encoder_dim * c.feed_forward_expansion_factor, kernel_init=XAVIER)(x)
    x = layers.ACTIVATIONS[c.activation](x)
    x = nn.Dropout(c.feed_forward_dropout_rate)(x, deterministic=not train)
    x = nn.Dense(c.encoder_dim, kernel_init=XAVIER)(x * padding_mask) * padding_mask
    return nn.Dropout(dropout_rate)(x, deterministic=not train)


class QueryScaler(nn.Module):
  """A learned per-dimension query scale, shared by all heads: q * 1.4427 * softplus(scale)."""

  @nn.compact
  def __call__(self, q):
    scale = self.param('scale', nn.initializers.zeros, (q.shape[-1],))
    return q * R_SOFTPLUS_0 * jax.nn.softplus(scale)


class MultiHeadedSelfAttention(nn.Module):
  """LN -> q, k, v (Dense with bias) -> query scaler -> softmax(q k^T / sqrt(d)) over valid keys -> v
  -> x attention_temperature -> out Dense -> dropout."""
  config: ConformerConfig

  @nn.compact
  def __call__(self, x, paddings, train: bool, dropout_rate: float):
    c = self.config
    batch, time, dim = x.shape
    heads = c.num_attention_heads
    x = layers.LayerNorm()(x)
    split = lambda y: y.reshape(batch, time, heads, dim // heads)
    q = QueryScaler()(split(nn.Dense(dim, kernel_init=XAVIER, name='query')(x)))
    k = split(nn.Dense(dim, kernel_init=XAVIER, name='key')(x))
    v = split(nn.Dense(dim, kernel_init=XAVIER, name='value')(x))
    logits = jnp.einsum('bqhd,bkhd->bhqk', q, k) / math.sqrt(dim // heads)
    valid_keys = (paddings < 0.5)[:, None, None, :]
    logits = jnp.where(valid_keys, logits, jnp.finfo(logits.dtype).min)
    attention = jnp.einsum('bhqk,bkhd->bqhd', jax.nn.softmax(logits, axis=-1), v).reshape(batch, time, dim)
    out = nn.Dense(dim, kernel_init=XAVIER, name='out')(attention * c.attention_temperature)
    return nn.Dropout(dropout_rate)(out, deterministic=not train)


class ConvolutionBlock(nn.Module):
  """LN -> Dense value * sigmoid(Dense gate) -> mask -> depthwise conv (no bias) -> masked BN -> act ->
  Dense -> dropout."""
  config: ConformerConfig

  @nn.compact
  def __call__(self, x, paddings, train: bool, use_running_average_bn: bool, update_batch_norm: bool,
               dropout_rate: float):
    c = self.config
    x = layers.LayerNorm()(x)
    x = nn.Dense(c.encoder_dim, kernel_init=XAVIER)(x) * jax.nn.sigmoid(
        nn.Dense(c.encoder_dim, kernel_init=XAVIER)(x))
    x = x * (1.0 - paddings)[..., None]
    x = nn.Conv(c.encoder_dim, (c.convolution_kernel_size,), padding='SAME', feature_group_count=c.encoder_dim,
                use_bias=False, kernel_init=XAVIER, name='depthwise_conv')(x)
    x = layers.BatchNorm(c.batch_norm_momentum, c.batch_norm_epsilon)(x, paddings, use_running_average_bn,
                                                                        update_batch_norm)
    x = nn.Dense(c.encoder_dim, kernel_init=XAVIER)(layers.ACTIVATIONS[c.activation](x))
    return nn.Dropout(dropout_rate)(x, deterministic=not train)


class ConformerBlock(nn.Module):
  config: ConformerConfig

  @nn.compact
  def __call__(self, x, paddings, train: bool, use_running_average_bn: bool, update_batch_norm: bool,
               dropout_rate: float):
    padding_mask = (1.0 - paddings)[..., None]
    x = x + 0.5 * FeedForwardModule(self.config)(x, padding_mask, train, dropout_rate)
    x = x + MultiHeadedSelfAttention(self.config)(x, paddings, train, dropout_rate)
    x = x + ConvolutionBlock(self.config)(x, paddings, train, use_running_average_bn, update_batch_norm,
                                          dropout_rate)
    x = x + 0.5 * FeedForwardModule(self.config)(x, padding_mask, train, dropout_rate)
    if self.config.use_post_layer_norm:
      x = layers.LayerNorm()(x)
    return x


class Conformer(nn.Module):
  """(audio, paddings) -> (logits (B, frames/4, vocab), logit paddings)."""
  config: ConformerConfig

  @nn.compact
  def __call__(self, inputs, input_paddings, train: bool, use_running_average_bn: bool = True,
               update_batch_norm: bool = False, dropout_rate: float = 0.1):
    c = self.config
    features, paddings = layers.log_mel(inputs, input_paddings)
    if train and c.use_specaug:
      features = layers.spec_augment(self.make_rng('dropout'), features, paddings, c.spec_aug)
    x, paddings = layers.Subsample(c.encoder_dim)(features, paddings)
    x = x + sinusoidal_positions(x.shape[1], c.encoder_dim)
    x = nn.Dropout(dropout_rate)(x, deterministic=not train)
    for _ in range(c.num_encoder_layers):
      x = ConformerBlock(c)(x, paddings, train, use_running_average_bn, update_batch_norm, dropout_rate)
    x = layers.LayerNorm()(x)
    return nn.Dense(c.vocab_size, kernel_init=XAVIER)(x), paddings
