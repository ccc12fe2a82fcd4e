"""The masked sigmoid BCE over the 128 tasks, in PyTorch (metrics.sigmoid_binary_cross_entropy is its reference)."""
from typing import Dict, Optional

import torch


def sigmoid_binary_cross_entropy(labels: torch.Tensor, logits: torch.Tensor, mask: Optional[torch.Tensor] = None,
                                 label_smoothing: float = 0.0) -> Dict[str, torch.Tensor]:
  """{'summed', 'n_valid_examples' (labelled entries), 'per_example' (graphs x tasks, 0 where masked)}."""
  if mask is None:
    mask = torch.ones_like(logits)
  if not logits.shape == labels.shape == mask.shape:
    raise ValueError(f'logits {tuple(logits.shape)}, labels {tuple(labels.shape)} and mask {tuple(mask.shape)} '
                     'must match.')
  valid = mask > 0
  labels = torch.where(valid, labels, torch.zeros_like(labels))
  targets = (1.0 - label_smoothing) * labels + label_smoothing / labels.shape[-1]
  losses = torch.clamp(logits, min=0.0) - logits * targets + torch.log1p(torch.exp(-logits.abs()))
  per_example = torch.where(valid, losses, torch.zeros_like(losses))
  return {'summed': per_example.sum(), 'n_valid_examples': valid.sum(), 'per_example': per_example}
