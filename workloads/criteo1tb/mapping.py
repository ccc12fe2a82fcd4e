"""PyTorch -> Flax weights for the DLRM twins, so parity tests run both on the same numbers.

The PyTorch models register their layers in the order of the Flax auto-names: the i-th nn.Linear is
`Dense_i` (kernel = weight transposed), the i-th nn.LayerNorm is `LayerNorm_i`, and the chunks stacked
in order are `embedding_table`.
"""
from typing import Dict

import numpy as np
from torch import nn

from workloads.criteo1tb.pytorch import models


def torch_to_flax(model: nn.Module) -> Dict[str, Dict[str, np.ndarray]]:
  """A Flax `params` dict (numpy leaves) holding the weights of a PyTorch DlrmSmall or DLRMResNet."""
  model = model.module if hasattr(model, 'module') and isinstance(model.module, nn.Module) else model

  def array(tensor):
    return tensor.detach().cpu().numpy().copy()

  params = {}
  linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
  for i, linear in enumerate(linears):
    params[f'Dense_{i}'] = {'kernel': array(linear.weight).T, 'bias': array(linear.bias)}
  norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
  for i, norm in enumerate(norms):
    params[f'LayerNorm_{i}'] = {'scale': array(norm.weight), 'bias': array(norm.bias)}
  embedding = next(m for m in model.modules() if isinstance(m, models.ChunkedEmbedding))
  params['embedding_table'] = np.concatenate([array(c) for c in embedding.chunks()])
  return params
