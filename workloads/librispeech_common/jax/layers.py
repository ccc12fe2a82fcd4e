"""Flax pieces both LibriSpeech models share: log-mel front end, SpecAugment, the (1+scale) LayerNorm,
the padding-aware BatchNorm, the stride-2 conv subsampling and the CTC loss.

Shapes: audio (B, samples); features (B, frames, 80); activations (B, time, dim); paddings are 0/1 floats
with 1 on padding.
"""
from typing import Callable, Dict, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from workloads.librispeech_common import frontend
from workloads.librispeech_common.specaug import SpecAugConfig

ACTIVATIONS: Dict[str, Callable] = {
    'relu': nn.relu,
    'tanh': jnp.tanh,
    'swish': nn.swish,
    'gelu': lambda x: nn.gelu(x, approximate=True),
}


def log_mel(audio: jnp.ndarray, paddings: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """frontend.log_mel in JAX (float32)."""
  audio = audio.astype(jnp.float32) * (1.0 - paddings) * frontend.INPUT_SCALE
  index = frontend.frame_indices(audio.shape[1])
  frames = audio[:, index]  # (B, frames, 401)
  emphasised = frontend.preemphasise(frames, jnp.concatenate)
  spectrum = jnp.abs(jnp.fft.rfft(emphasised * jnp.asarray(frontend.window()), frontend.FFT_SIZE, axis=-1))**2
  mel = jnp.einsum('btf,fm->btm', spectrum, jnp.asarray(frontend.mel_matrix()), precision=jax.lax.Precision.HIGHEST)
  features = jnp.log(jnp.maximum(mel, frontend.LOG_FLOOR))
  features = (features - jnp.asarray(frontend.FEATURE_MEAN, jnp.float32)) / jnp.asarray(
      frontend.FEATURE_STDDEV, jnp.float32)
  return features, paddings[:, index].min(axis=-1)


def spec_augment_masks(u_time: jnp.ndarray, u_freq: jnp.ndarray, paddings: jnp.ndarray, num_bins: int,
                       config: SpecAugConfig) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """(B, frames) and (B, bins) keep-masks from uniform draws u_time (B, count, 2) and u_freq (B, count, 2)."""

  def keep(u, choose_range, max_size, max_ratio, size):
    length = (max_size[:, None] * u[..., 0]).astype(jnp.int32)
    bound = jnp.maximum((max_ratio * choose_range).astype(jnp.int32), 1)[:, None]
    length = jnp.minimum(length, bound)
    start = (u[..., 1] * (choose_range[:, None] - length + 1).astype(jnp.float32)).astype(jnp.int32)
    position = jnp.arange(size)[None, None, :]
    inside = (position >= start[..., None]) & (position < (start + length)[..., None])
    return 1.0 - jnp.any(inside, axis=1).astype(jnp.float32)

  lengths = jnp.sum(1.0 - paddings, axis=-1)
  ratio = config.time_mask_max_ratio
  time_keep = keep(u_time, lengths, ratio * lengths, ratio, paddings.shape[1])
  bins = jnp.full(paddings.shape[:1], float(num_bins))
  freq_keep = keep(u_freq, bins, jnp.full_like(bins, float(config.freq_mask_max_bins)), 1.0, num_bins)
  return time_keep, freq_keep


def spec_augment(rng: jnp.ndarray, features: jnp.ndarray, paddings: jnp.ndarray,
                 config: SpecAugConfig) -> jnp.ndarray:
  batch, _, num_bins = features.shape
  time_rng, freq_rng = jax.random.split(rng)
  u_time = jax.random.uniform(time_rng, (batch, config.time_mask_count, 2))
  u_freq = jax.random.uniform(freq_rng, (batch, config.freq_mask_count, 2))
  time_keep, freq_keep = spec_augment_masks(u_time, u_freq, paddings, num_bins, config)
  return features * time_keep[:, :, None] * freq_keep[:, None, :]


class LayerNorm(nn.Module):
  """LayerNorm with (1 + scale), scale initialised to 0 (as the published models)."""
  epsilon: float = 1e-6

  @nn.compact
  def __call__(self, x):
    dim = x.shape[-1]
    scale = self.param('scale', nn.initializers.zeros, (dim,))
    bias = self.param('bias', nn.initializers.zeros, (dim,))
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * (1.0 + scale) + bias


class BatchNorm(nn.Module):
  """BatchNorm over the valid (unpadded) positions, with (1 + scale); padded outputs are 0.

  Running averages live in 'batch_stats' and move only when `update_stats` (momentum 0.999).
  """
  momentum: float = 0.999
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x, paddings, use_running_average: bool, update_stats: bool):
    dim = x.shape[-1]
    scale = self.param('scale', nn.initializers.zeros, (dim,))
    bias = self.param('bias', nn.initializers.zeros, (dim,))
    ra_mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros((dim,), jnp.float32))
    ra_var = self.variable('batch_stats', 'var', lambda: jnp.ones((dim,), jnp.float32))
    mask = (1.0 - paddings)[..., None]
    if use_running_average:
      mean, var = ra_mean.value, ra_var.value
    else:
      count = jnp.maximum(jnp.sum(mask), 1.0)
      mean = jnp.sum(x * mask, axis=(0, 1)) / count
      var = jnp.sum(jnp.square(x - mean) * mask, axis=(0, 1)) / count
      if update_stats and not self.is_initializing():
        ra_mean.value = self.momentum * ra_mean.value + (1.0 - self.momentum) * mean
        ra_var.value = self.momentum * ra_var.value + (1.0 - self.momentum) * var
    return ((x - mean) * (1.0 + scale) * jax.lax.rsqrt(var + self.epsilon) + bias) * mask


def subsample_paddings(paddings: jnp.ndarray) -> jnp.ndarray:
  """The paddings after a stride-2 'SAME' conv: every other frame."""
  return paddings[:, ::2]


class Conv2dSubsampling(nn.Module):
  """3x3 stride-2 conv with TF 'SAME' padding, bias and activation; padded time steps are zeroed."""
  features: int
  activation: str = 'relu'

  @nn.compact
  def __call__(self, x, paddings):
    kernel = self.param('kernel', nn.initializers.xavier_uniform(), (3, 3, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    y = jax.lax.conv_general_dilated(x, kernel, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                     precision=jax.lax.Precision.HIGHEST)
    y = ACTIVATIONS[self.activation](y + bias)
    paddings = subsample_paddings(paddings)
    return y * (1.0 - paddings)[:, :, None, None], paddings


class Subsample(nn.Module):
  """Two Conv2dSubsampling (x4 in time and frequency), flatten frequency x channels, Dense to `dim`."""
  dim: int
  activation: str = 'relu'

  @nn.compact
  def __call__(self, features, paddings):
    x, paddings = Conv2dSubsampling(self.dim, self.activation)(features[..., None], paddings)
    x, paddings = Conv2dSubsampling(self.dim, self.activation)(x, paddings)
    batch, time, bins, channels = x.shape
    x = nn.Dense(self.dim, kernel_init=nn.initializers.xavier_uniform())(x.reshape(batch, time, bins * channels))
    return x, paddings


def ctc_loss(logits: jnp.ndarray, logit_paddings: jnp.ndarray, targets: jnp.ndarray,
             target_paddings: jnp.ndarray, weights: Optional[jnp.ndarray] = None) -> Dict[str, jnp.ndarray]:
  """Per-utterance CTC (blank 0), summed over the real utterances and normalised by their target tokens."""
  per_example = optax.ctc_loss(logits, logit_paddings, targets.astype(jnp.int32), target_paddings, blank_id=0)
  if weights is None:
    weights = jnp.ones(per_example.shape, per_example.dtype)
  per_example = per_example * weights
  n_valid = jnp.maximum(jnp.sum(weights[:, None] * (1.0 - target_paddings)), 1.0)
  return {'summed': per_example.sum(), 'n_valid_examples': n_valid, 'per_example': per_example}

