"""Loss pieces shared by the JAX workloads."""
from typing import Dict, Optional

import jax
import jax.numpy as jnp


def smooth_labels(one_hot: jnp.ndarray, label_smoothing: float) -> jnp.ndarray:
  num_classes = one_hot.shape[-1]
  return one_hot * (1.0 - label_smoothing) + label_smoothing / num_classes


def softmax_cross_entropy(label_batch: jnp.ndarray, logits_batch: jnp.ndarray,
                          mask_batch: Optional[jnp.ndarray] = None,
                          label_smoothing: float = 0.0) -> Dict[str, jnp.ndarray]:
  """Per-example CE against smoothed one-hot labels; summed and counted over the mask."""
  one_hot = jax.nn.one_hot(label_batch, logits_batch.shape[-1])
  targets = smooth_labels(one_hot, label_smoothing)
  per_example = -jnp.sum(targets * jax.nn.log_softmax(logits_batch, axis=-1), axis=-1)
  if mask_batch is None:
    mask_batch = jnp.ones_like(per_example)
  per_example = per_example * mask_batch
  return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}
