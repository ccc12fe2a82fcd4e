"""What the JAX and PyTorch Transformers share: the configuration, the position table and decoding constants.

The published model (spec/variants.md §6): shared 32,000 x 1024 embedding (inputs, targets and the
logits y.E^T/sqrt(d)), 16 heads, qkv 1024, MLP 1024, 6 + 6 layers, fixed sinusoidal positions, pre-LN,
ReLU, attention without biases, dropout 0.1 on the residual branches and the attention weights.
Variants switch `pre_ln`, `attention_temp`, `activation` and `glu`.
"""
import dataclasses

import numpy as np

PAD_ID = 0
EOS_ID = 1
# Beam search (upstream's eval): 4 beams, length penalty ((5 + len) / 6) ** 0.6.
BEAM_SIZE = 4
LENGTH_PENALTY_ALPHA = 0.6
NEG_INF = -1.0e7  # Finite, so that sums of "impossible" scores stay ordered and never become NaN.
LAYER_NORM_EPSILON = 1e-6
ACTIVATIONS = ('relu', 'tanh')


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  vocab_size: int = 32_000
  emb_dim: int = 1024
  num_heads: int = 16
  qkv_dim: int = 1024
  mlp_dim: int = 1024
  num_layers: int = 6  # Encoder layers; the decoder has as many.
  max_len: int = 256
  pre_ln: bool = True
  attention_temp: float = 1.0
  activation: str = 'relu'
  glu: bool = False

  def __post_init__(self):
    if self.activation not in ACTIVATIONS:
      raise ValueError(f'Unknown activation {self.activation!r}; use one of {", ".join(ACTIVATIONS)}.')
    if self.qkv_dim % self.num_heads:
      raise ValueError(f'qkv_dim {self.qkv_dim} is not divisible by num_heads {self.num_heads}.')


DEFAULT_DROPOUT_RATE = 0.1  # Both the residual dropout and the attention-weight dropout.


def sinusoid_table(max_len: int, dim: int, min_scale: float = 1.0, max_scale: float = 10_000.0) -> np.ndarray:
  """Fixed positions (max_len, dim): sines in the first half of the features, cosines in the second.

  Frequencies are geometric from 1/min_scale down to 1/max_scale over the dim/2 features.
  """
  half = dim // 2
  position = np.arange(max_len, dtype=np.float64)[:, None]
  rates = min_scale * np.exp(np.arange(half, dtype=np.float64) * -np.log(max_scale / min_scale) / max(half - 1, 1))
  table = np.zeros((max_len, dim), dtype=np.float32)
  table[:, :half] = np.sin(position * rates)
  table[:, half:2 * half] = np.cos(position * rates)
  return table


def brevity_penalty(length, alpha: float = LENGTH_PENALTY_ALPHA):
  """GNMT's length normalisation ((5 + length) / 6) ** alpha; works on Python, numpy, JAX and torch numbers."""
  return ((5.0 + length) / 6.0)**alpha
