"""The masked sigmoid BCE over the 128 tasks, in JAX (metrics.sigmoid_binary_cross_entropy is its reference)."""
from typing import Dict, Optional

import jax.numpy as jnp


def sigmoid_binary_cross_entropy(labels: jnp.ndarray, logits: jnp.ndarray, mask: Optional[jnp.ndarray] = None,
                                 label_smoothing: float = 0.0) -> Dict[str, jnp.ndarray]:
  """{'summed', 'n_valid_examples' (labelled entries), 'per_example' (graphs x tasks, 0 where masked)}."""
  if mask is None:
    mask = jnp.ones_like(logits)
  if not logits.shape == labels.shape == mask.shape:
    raise ValueError(f'logits {logits.shape}, labels {labels.shape} and mask {mask.shape} must match.')
  valid = mask > 0
  labels = jnp.where(valid, labels, 0.0)  # Keeps NaN-free gradients where labels were missing.
  targets = (1.0 - label_smoothing) * labels + label_smoothing / labels.shape[-1]
  losses = jnp.maximum(logits, 0.0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))
  per_example = jnp.where(valid, losses, 0.0)
  return {'summed': per_example.sum(), 'n_valid_examples': valid.sum(), 'per_example': per_example}
