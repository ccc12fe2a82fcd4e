"""PyTorch GNN weights -> Flax params, for twin-parity checks and for moving checkpoints between frameworks.

Linear weights are transposed Dense kernels; LayerNorm weight is Flax's scale. Flax numbers its Dense and
LayerNorm layers in creation order: per step the edge, node, then global MLP, the decoder last.
"""
from typing import Any, Dict, Mapping, Sequence

import numpy as np


def torch_to_flax(state_dict: Mapping[str, Any], hidden_dims: Sequence[int],
                  num_message_passing_steps: int) -> Dict[str, Dict[str, np.ndarray]]:
  weights = {k[len('module.'):] if k.startswith('module.') else k: np.asarray(v.detach().cpu().numpy()
                                                                              if hasattr(v, 'detach') else v)
             for k, v in state_dict.items()}

  def dense(prefix):
    return {'kernel': weights[prefix + '.weight'].T.copy(), 'bias': weights[prefix + '.bias']}

  params = {'node_embedding': dense('node_embedding'), 'edge_embedding': dense('edge_embedding')}
  count = 0
  for step in range(num_message_passing_steps):
    for mlp in ('edge_mlp', 'node_mlp', 'global_mlp'):
      for i in range(len(hidden_dims)):
        prefix = f'steps.{step}.{mlp}.layers.'
        params[f'Dense_{count}'] = dense(prefix + f'dense_{i}')
        params[f'LayerNorm_{count}'] = {'scale': weights[prefix + f'norm_{i}.weight'],
                                        'bias': weights[prefix + f'norm_{i}.bias']}
        count += 1
  params[f'Dense_{count}'] = dense('decoder')
  return params
