"""PyTorch -> Flax weight mapping pieces (numpy), for the twin-parity tests of both LibriSpeech models.

`state` is a PyTorch state_dict as numpy arrays (parameters and batch-norm buffers).
"""
from typing import Dict

import numpy as np

State = Dict[str, np.ndarray]


def state_of(model) -> State:
  return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def dense(state: State, prefix: str) -> Dict[str, np.ndarray]:
  """nn.Linear (out, in) -> Dense kernel (in, out)."""
  return {'kernel': state[prefix + '.weight'].T, 'bias': state[prefix + '.bias']}


def norm(state: State, prefix: str) -> Dict[str, np.ndarray]:
  return {'scale': state[prefix + '.scale'], 'bias': state[prefix + '.bias']}


def batch_stats(state: State, prefix: str) -> Dict[str, np.ndarray]:
  return {'mean': state[prefix + '.running_mean'], 'var': state[prefix + '.running_var']}


def subsample(state: State, prefix: str) -> Dict[str, Dict]:
  """Conv kernels (out, in, kh, kw) -> HWIO; the flatten orders already agree (frequency, channel)."""
  conv = lambda name: {'kernel': state[f'{prefix}.{name}.kernel'].transpose(2, 3, 1, 0),
                       'bias': state[f'{prefix}.{name}.bias']}
  return {'Conv2dSubsampling_0': conv('conv1'), 'Conv2dSubsampling_1': conv('conv2'),
          'Dense_0': dense(state, prefix + '.linear')}
