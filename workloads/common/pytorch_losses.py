"""Loss pieces shared by the PyTorch workloads."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F


def softmax_cross_entropy(label_batch: torch.Tensor, logits_batch: torch.Tensor,
                          mask_batch: Optional[torch.Tensor] = None,
                          label_smoothing: float = 0.0) -> Dict[str, torch.Tensor]:
  """Per-example CE against smoothed one-hot labels; summed and counted over the mask."""
  per_example = F.cross_entropy(logits_batch, label_batch.long(), reduction='none',
                                label_smoothing=label_smoothing)
  if mask_batch is None:
    mask_batch = torch.ones_like(per_example)
  per_example = per_example * mask_batch
  return {'summed': per_example.sum(), 'n_valid_examples': mask_batch.sum(), 'per_example': per_example}


def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
  """Flax's default kernel init (truncated normal, variance 1/fan_in), so both twins start alike."""
  fan_in = weight.shape[1] * (weight[0][0].numel() if weight.dim() > 2 else 1)
  # 0.8796... is the std of a standard normal truncated to [-2, 2].
  std = (1.0 / fan_in) ** 0.5 / 0.87962566103423978
  return torch.nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
