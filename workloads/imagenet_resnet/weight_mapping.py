"""PyTorch ResNet weights -> the Flax twin's params and batch_stats (for the parity tests and conversions).

Conv kernels go from (out, in, kh, kw) to (kh, kw, in, out), Linear weights are transposed, and BatchNorm's
weight/bias/running_mean/running_var become scale/bias/mean/var. Flax numbers the blocks in order over
all stages: layer{i}.{j} -> BottleneckBlock_k.
"""
from typing import Dict, Tuple

import numpy as np


def _state(model) -> Dict[str, np.ndarray]:
  model = getattr(model, 'module', model)  # DDP
  return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def torch_to_flax(model) -> Tuple[Dict, Dict]:
  """(params, model_state) for workloads.imagenet_resnet.jax.models.ResNet."""
  state = _state(model)
  params, stats = {}, {}

  def conv(name):
    return {'kernel': state[name + '.weight'].transpose(2, 3, 1, 0)}

  def bn(torch_name, flax_name, p, s):
    p[flax_name] = {'scale': state[torch_name + '.weight'], 'bias': state[torch_name + '.bias']}
    s[flax_name] = {'mean': state[torch_name + '.running_mean'], 'var': state[torch_name + '.running_var']}

  params['conv_init'] = conv('conv1')
  bn('bn1', 'bn_init', params, stats)
  module = getattr(model, 'module', model)
  k = 0
  for i in range(module.num_stages):
    for j in range(len(getattr(module, f'layer{i + 1}'))):
      prefix, name = f'layer{i + 1}.{j}', f'BottleneckBlock_{k}'
      block_params, block_stats = {}, {}
      for n in range(3):
        block_params[f'Conv_{n}'] = conv(f'{prefix}.conv{n + 1}')
        bn(f'{prefix}.bn{n + 1}', f'BatchNorm_{n}', block_params, block_stats)
      if f'{prefix}.downsample.conv.weight' in state:
        block_params['conv_proj'] = conv(f'{prefix}.downsample.conv')
        bn(f'{prefix}.downsample.bn', 'bn_proj', block_params, block_stats)
      params[name], stats[name] = block_params, block_stats
      k += 1
  params['Dense_0'] = {'kernel': state['fc.weight'].T, 'bias': state['fc.bias']}
  return params, {'batch_stats': stats}
