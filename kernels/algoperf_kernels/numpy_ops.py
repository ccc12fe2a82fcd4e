"""In-place ops on numpy arrays (CPU): float32 arrays, bf16 as ml_dtypes.bfloat16."""
import functools

import numpy as np

from algoperf_kernels import core
from algoperf_kernels import functional


class NumpyAdapter(functional.Adapter):

  def describe(self, arrays) -> core.ListInfo:
    for i, t in enumerate(arrays):
      if not isinstance(t, np.ndarray):
        raise core.BadItem(i, f'expected a numpy array, got {type(t).__name__}')
    return core.ListInfo([t.shape for t in arrays], [t.dtype.name for t in arrays], ['cpu'] * len(arrays),
                         [t.flags.c_contiguous for t in arrays], [t.ctypes.data for t in arrays],
                         [t.size for t in arrays], [t.flags.writeable for t in arrays])

  def is_bf16(self, t) -> bool:
    return t.dtype.name == 'bfloat16'

  def placement(self, t) -> dict:
    return dict(device='cpu')

  def float64_buffer(self, n, like):
    out = np.zeros(n, np.float64)
    return out, out.ctypes.data


_AD = NumpyAdapter()


def _bind(fn):
  @functools.wraps(fn)
  def bound(*args, **kwargs):
    return fn(_AD, *args, **kwargs)
  return bound


adamw = _bind(functional.adamw)
sf_adamw_step = _bind(functional.sf_adamw_step)
sf_swap = _bind(functional.sf_swap)
ema = _bind(functional.ema)
lawa_push = _bind(functional.lawa_push)
scale_copy = _bind(functional.scale_copy)
sgd = _bind(functional.sgd)
adam_graft = _bind(functional.adam_graft)
triad = _bind(functional.triad)
sinv6 = _bind(functional.sinv6)
adamg = _bind(functional.adamg)
adam_update = _bind(functional.adam_update)
amos_sums = _bind(functional.amos_sums)
amos_step = _bind(functional.amos_step)
prodigy_sums = _bind(functional.prodigy_sums)
prodigy_step = _bind(functional.prodigy_step)
