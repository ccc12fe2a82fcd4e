"""In-place fused ops on lists of torch tensors, without linking libtorch.

The extension gets data_ptr()s, and for CUDA tensors the current stream of their device, so
the kernels queue behind the caller's work with no synchronisation. Writes go straight to
memory: autograd's version counters are not bumped (as with any optimizer step under no_grad,
do not update tensors that a pending backward still needs).
"""
import functools

import torch

from algoperf_kernels import core
from algoperf_kernels import functional

_DTYPES = {torch.float32: 'float32', torch.bfloat16: 'bfloat16'}


def _name(dtype):
  return str(dtype).replace('torch.', '')


def is_dense(t) -> bool:
  """Contiguous, or a permutation of a contiguous layout (channels_last, a transpose): no gaps,
  no overlap, so the kernels can walk numel() elements from data_ptr()."""
  if t.is_contiguous():
    return True
  expect = 1
  for stride, size in sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz > 1):
    if stride != expect:
      return False
    expect *= size
  return True


def layout(t):
  """'contiguous', or the strides of the dims of size > 1 (equal layouts pair the same elements)."""
  return 'contiguous' if t.is_contiguous() else tuple(st for st, sz in zip(t.stride(), t.shape) if sz > 1)


class TorchAdapter(functional.Adapter):

  def describe(self, tensors) -> core.ListInfo:
    try:
      contiguous = [t.is_contiguous() for t in tensors]
      strides = None
      if not all(contiguous):
        strides = [layout(t) for t in tensors]
        contiguous = [c or is_dense(t) for c, t in zip(contiguous, tensors)]
      return core.ListInfo([t.shape for t in tensors], [_DTYPES.get(t.dtype) or _name(t.dtype) for t in tensors],
                           [t.device for t in tensors], contiguous,
                           [t.data_ptr() for t in tensors], [t.numel() for t in tensors], strides=strides)
    except AttributeError:
      bad = next(i for i, t in enumerate(tensors) if not isinstance(t, torch.Tensor))
      raise core.BadItem(bad, f'expected a torch.Tensor, got {type(tensors[bad]).__name__}') from None

  def is_bf16(self, t) -> bool:
    return t.dtype == torch.bfloat16

  def placement(self, t) -> dict:
    if t.device.type == 'cpu':
      return dict(device='cpu')
    if t.device.type == 'cuda':
      index = t.device.index if t.device.index is not None else torch.cuda.current_device()
      return dict(device='cuda', device_index=index, stream=torch.cuda.current_stream(index).cuda_stream)
    raise ValueError(f'unsupported device {t.device}; expected cpu or cuda')

  def float64_buffer(self, n, like):
    out = torch.zeros(n, dtype=torch.float64, device=like.device)
    return out, out.data_ptr()

  def float32_device_buffer(self, values, like):
    out = torch.tensor(values, dtype=torch.float32).to(like.device, non_blocking=True)
    return out, out.data_ptr()

  def scalar_address(self, t) -> int:
    if not (isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.is_cuda and t.is_contiguous()):
      raise ValueError('dyn_device must be a contiguous float32 CUDA tensor')
    return t.data_ptr()


_AD = TorchAdapter()


def _bind(fn):
  @functools.wraps(fn)
  def bound(*args, **kwargs):
    with torch.no_grad():
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
