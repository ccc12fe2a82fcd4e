"""PyTorch -> Flax weights for the CIFAR ResNet: the twins' names side by side, for the parity tests.

Conv weights (O, I, kh, kw) become kernels (kh, kw, I, O); Linear weights are transposed; BN weight/bias
become scale/bias and the running statistics go to `batch_stats`.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

_BLOCK = (('conv1', 'Conv_0'), ('bn1', 'BatchNorm_0'), ('conv2', 'Conv_1'), ('bn2', 'BatchNorm_1'),
          ('shortcut.conv', 'conv_proj'), ('shortcut.bn', 'BatchNorm_proj'))


def module_pairs(stage_sizes: Sequence[int]) -> Dict[str, Tuple[str, ...]]:
  """PyTorch module name -> Flax module path."""
  pairs = {'conv1': ('Conv_init',), 'bn1': ('BatchNorm_init',), 'fc': ('Dense_0',)}
  block = 0
  for i, num_blocks in enumerate(stage_sizes):
    for j in range(num_blocks):
      for torch_name, flax_name in _BLOCK:
        pairs[f'layer{i + 1}.{j}.{torch_name}'] = (f'ResNetBlock_{block}', flax_name)
      block += 1
  return pairs


def _put(tree: Dict, path: Tuple[str, ...], value: np.ndarray) -> None:
  for name in path[:-1]:
    tree = tree.setdefault(name, {})
  tree[path[-1]] = value


def torch_to_flax(state_dict: Dict[str, np.ndarray], stage_sizes: Sequence[int]) -> Tuple[Dict, Dict]:
  """(params, batch_stats) for the Flax model from a PyTorch state dict (numpy values)."""
  params, stats = {}, {}
  pairs = module_pairs(stage_sizes)
  used = set()
  for torch_name, flax_path in pairs.items():
    weight = state_dict.get(torch_name + '.weight')
    if weight is None:
      continue  # A block without a projection.
    used.add(torch_name + '.weight')
    if weight.ndim == 4:
      _put(params, flax_path + ('kernel',), np.transpose(weight, (2, 3, 1, 0)))
    elif torch_name == 'fc':
      _put(params, flax_path + ('kernel',), weight.T)
      _put(params, flax_path + ('bias',), state_dict['fc.bias'])
      used.add('fc.bias')
    else:
      _put(params, flax_path + ('scale',), weight)
      _put(params, flax_path + ('bias',), state_dict[torch_name + '.bias'])
      _put(stats, flax_path + ('mean',), state_dict[torch_name + '.running_mean'])
      _put(stats, flax_path + ('var',), state_dict[torch_name + '.running_var'])
      used.update(torch_name + suffix for suffix in ('.bias', '.running_mean', '.running_var', '.num_batches_tracked'))
  unused = sorted(set(state_dict) - used)
  if unused:
    raise ValueError(f'PyTorch weights with no Flax counterpart: {unused}')
  return params, stats
