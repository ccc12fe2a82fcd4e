"""DeepSpeech in Flax (spec/variants.md §11), with the two-bias LSTM layout of v0.5 in both frameworks.

log-mel -> SpecAugment (training) -> two stride-2 convs + Dense -> dropout -> 6 x [x += BiLSTM(Norm(x))]
-> 3 x [x += dropout(mask(act(Dense(Norm(x)))))] -> LN -> Dense(vocab). Norm is the padding-aware
BatchNorm (LayerNorm with layernorm_everywhere); residual adds are dropped with
enable_residual_connections=False.

Each LSTM direction holds PyTorch's parameters: input_kernel (in, 4H), recurrent_kernel (H, 4H),
input_bias and recurrent_bias (4H), gates in the order i, f, g, o (project decision, spec/variants.md:
equal counts in both frameworks; upstream HEAD's JAX cell has one bias per gate).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from workloads.librispeech_common.jax import layers
from workloads.librispeech_deepspeech.config import DeepspeechConfig

XAVIER = nn.initializers.xavier_uniform()


def _uniform(scale: float):
  """PyTorch's LSTM init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias."""
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale)


def reverse_within_lengths(x: jnp.ndarray, lengths: jnp.ndarray) -> jnp.ndarray:
  """Flips each sequence's first `length` steps in place (padding stays at the end); its own inverse."""
  time = jnp.arange(x.shape[1])[None, :]
  index = jnp.where(time < lengths[:, None], lengths[:, None] - 1 - time, time)
  return jnp.take_along_axis(x, index[..., None], axis=1)


class LSTMDirection(nn.Module):
  """One direction of a one-layer LSTM over the valid steps; padded steps output 0."""
  hidden: int

  @nn.compact
  def __call__(self, x, mask):
    init = _uniform(self.hidden**-0.5)
    w_ih = self.param('input_kernel', init, (x.shape[-1], 4 * self.hidden))
    w_hh = self.param('recurrent_kernel', init, (self.hidden, 4 * self.hidden))
    b_ih = self.param('input_bias', init, (4 * self.hidden,))
    b_hh = self.param('recurrent_bias', init, (4 * self.hidden,))
    projected = jnp.einsum('bti,ig->btg', x, w_ih) + b_ih + b_hh

    def step(carry, inputs):
      h, c = carry
      gates_x, m = inputs
      i, f, g, o = jnp.split(gates_x + h @ w_hh, 4, axis=-1)
      c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
      h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
      return (m * h_new + (1 - m) * h, m * c_new + (1 - m) * c), m * h_new

    zeros = jnp.zeros((x.shape[0], self.hidden), x.dtype)
    _, outputs = jax.lax.scan(step, (zeros, zeros), (projected.swapaxes(0, 1), mask.swapaxes(0, 1)[..., None]))
    return outputs.swapaxes(0, 1)


class BiLSTM(nn.Module):
  """Forward and reversed-within-length directions, concatenated (2H features)."""
  hidden: int

  @nn.compact
  def __call__(self, x, paddings):
    mask = 1.0 - paddings
    lengths = jnp.sum(mask, axis=-1).astype(jnp.int32)
    forward = LSTMDirection(self.hidden, name='forward')(x, mask)
    backward = reverse_within_lengths(
        LSTMDirection(self.hidden, name='backward')(reverse_within_lengths(x, lengths), mask), lengths)
    return jnp.concatenate([forward, backward], axis=-1)


class Norm(nn.Module):
  """The padding-aware (1+scale) BatchNorm, or the (1+scale) LayerNorm with layernorm_everywhere."""
  config: DeepspeechConfig

  @nn.compact
  def __call__(self, x, paddings, use_running_average_bn: bool, update_batch_norm: bool):
    c = self.config
    if c.layernorm_everywhere:
      return layers.LayerNorm(name='LayerNorm_0')(x)
    return layers.BatchNorm(c.batch_norm_momentum, c.batch_norm_epsilon, name='BatchNorm_0')(
        x, paddings, use_running_average_bn, update_batch_norm)


class BatchRNN(nn.Module):
  config: DeepspeechConfig

  @nn.compact
  def __call__(self, x, paddings, use_running_average_bn: bool, update_batch_norm: bool):
    x = Norm(self.config, name='norm')(x, paddings, use_running_average_bn, update_batch_norm)
    return BiLSTM(self.config.encoder_dim // 2)(x, paddings)


class FeedForwardModule(nn.Module):
  config: DeepspeechConfig

  @nn.compact
  def __call__(self, x, paddings, train: bool, use_running_average_bn: bool, update_batch_norm: bool,
               dropout_rate: float):
    c = self.config
    x = Norm(c, name='norm')(x, paddings, use_running_average_bn, update_batch_norm)
    x = nn.Dense(c.encoder_dim, kernel_init=XAVIER)(x)
    x = layers.ACTIVATIONS['tanh' if c.use_tanh else 'relu'](x) * (1.0 - paddings)[..., None]
    return nn.Dropout(dropout_rate)(x, deterministic=not train)


class Deepspeech(nn.Module):
  """(audio, paddings) -> (logits (B, frames/4, vocab), logit paddings)."""
  config: DeepspeechConfig

  @nn.compact
  def __call__(self, inputs, input_paddings, train: bool, use_running_average_bn: bool = True,
               update_batch_norm: bool = False, dropout_rate: float = 0.1):
    c = self.config
    features, paddings = layers.log_mel(inputs, input_paddings)
    if train and c.use_specaug:
      features = layers.spec_augment(self.make_rng('dropout'), features, paddings, c.spec_aug)
    x, paddings = layers.Subsample(c.encoder_dim, 'tanh' if c.use_tanh else 'relu')(features, paddings)
    x = nn.Dropout(dropout_rate)(x, deterministic=not train)
    for _ in range(c.num_lstm_layers):
      y = BatchRNN(c)(x, paddings, use_running_average_bn, update_batch_norm)
      x = x + y if c.enable_residual_connections else y
    for _ in range(c.num_ffn_layers):
      # Upstream's JAX residual branch ignores dropout_rate (always 0.1); both twins pass it here.
      y = FeedForwardModule(c)(x, paddings, train, use_running_average_bn, update_batch_norm, dropout_rate)
      x = x + y if c.enable_residual_connections else y
    if c.enable_decoder_layer_norm:
      x = layers.LayerNorm()(x)
    return nn.Dense(c.vocab_size, kernel_init=XAVIER)(x), paddings
