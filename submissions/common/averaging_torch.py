"""Evaluated-weights bookkeeping for PyTorch submissions that evaluate a point other than the one they train.

* ParamStash: a copy of the training weights while the model holds the evaluated ones, so training resumes
  on them bit for bit.
* LawaQueue: the last k snapshots and their running sum (the LAWA average is sum / k).
* ParamEMA: an exponential moving average of snapshots; the first snapshot initialises it.

Each has state_dict()/load_state_dict(), so keeping one in the submission's optimizer_state dict puts it in
the runner's checkpoints (algoperf/checkpoint_utils.py saves every value that has a state_dict). The pushes
and averages run on the fused kernels (lawa_push, ema, scale_copy) unless ALGOPERF_KERNELS=off, which runs
the same formulas as torch ops. State is fp32 on the parameters' device (the v0.5 code kept it in host RAM:
a memory placement, not a change of the numbers).
"""
from typing import Iterable, List

import torch

from submissions.common import kernel_switch


def _params(module_or_params) -> List[torch.Tensor]:
  if isinstance(module_or_params, torch.nn.Module):
    return [p for p in module_or_params.parameters()]
  return list(module_or_params)


def _zeros_like_fp32(params):
  return [torch.zeros(p.shape, dtype=torch.float32, device=p.device) for p in params]


class ParamStash:
  """Training weights kept aside while the model holds the evaluated weights."""

  def __init__(self, params: Iterable[torch.Tensor]):
    self.buffers = _zeros_like_fp32(_params(params))
    self.holds_eval = False  # True while the model holds evaluated weights and the buffers the training ones.

  @torch.no_grad()
  def stash(self, params) -> None:
    for b, p in zip(self.buffers, _params(params)):
      b.copy_(p)
    self.holds_eval = True

  @torch.no_grad()
  def restore(self, params) -> bool:
    """Puts the training weights back if the model holds evaluated ones; returns whether it did."""
    if not self.holds_eval:
      return False
    for b, p in zip(self.buffers, _params(params)):
      p.detach().copy_(b)
    self.holds_eval = False
    return True

  def state_dict(self):
    return {'buffers': self.buffers, 'holds_eval': self.holds_eval}

  def load_state_dict(self, state):
    for b, s in zip(self.buffers, state['buffers']):
      b.copy_(s)
    self.holds_eval = bool(state['holds_eval'])


class LawaQueue:
  """The last k snapshots as k fp32 slots plus their running sum; push() replaces the oldest."""

  def __init__(self, params: Iterable[torch.Tensor], k: int, use_kernels=None):
    params = _params(params)
    self.k = int(k)
    self.slots = [_zeros_like_fp32(params) for _ in range(self.k)]
    self.sums = _zeros_like_fp32(params)
    self.count = 0  # Snapshots pushed so far (the queue is full once count >= k).
    self.use_kernels = kernel_switch.kernels_enabled() if use_kernels is None else use_kernels

  def full(self) -> bool:
    return self.count >= self.k

  @torch.no_grad()
  def push(self, params) -> None:
    params = [p.detach() for p in _params(params)]
    slot = self.slots[self.count % self.k]
    if self.use_kernels:
      from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
      torch_ops.lawa_push(self.sums, slot, params)
    else:
      for s, old, p in zip(self.sums, slot, params):
        s.add_(p - old)
        old.copy_(p)
    self.count += 1

  @torch.no_grad()
  def average_into(self, params) -> None:
    """params <- sum / k (the mean of the k queued snapshots; call only when full)."""
    params = [p.detach() for p in _params(params)]
    if self.use_kernels:
      from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
      torch_ops.scale_copy(params, self.sums, scale=1.0 / self.k)
    else:
      for p, s in zip(params, self.sums):
        torch.mul(s, torch.tensor(1.0 / self.k, dtype=torch.float32), out=p)

  def state_dict(self):
    return {'slots': self.slots, 'sums': self.sums, 'count': self.count}

  def load_state_dict(self, state):
    for mine, saved in zip(self.slots + [self.sums], list(state['slots']) + [state['sums']]):
      for a, b in zip(mine, saved):
        a.copy_(b)
    self.count = int(state['count'])


class ParamEMA:
  """ema <- decay ema + (1 - decay) snapshot; the first snapshot is copied (lerp with weight 1 is exact)."""

  def __init__(self, params: Iterable[torch.Tensor], decay: float, use_kernels=None):
    self.shadow = _zeros_like_fp32(_params(params))
    self.decay = float(decay)
    self.count = 0
    self.use_kernels = kernel_switch.kernels_enabled() if use_kernels is None else use_kernels

  @torch.no_grad()
  def push(self, params) -> None:
    params = [p.detach() for p in _params(params)]
    decay = 0.0 if self.count == 0 else self.decay
    if self.use_kernels:
      from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
      torch_ops.ema(self.shadow, params, decay=decay)
    else:
      for e, p in zip(self.shadow, params):
        e.lerp_(p, 1.0 - decay)
    self.count += 1

  @torch.no_grad()
  def copy_into(self, params) -> None:
    for p, e in zip(_params(params), self.shadow):
      p.detach().copy_(e)

  def state_dict(self):
    return {'shadow': self.shadow, 'count': self.count}

  def load_state_dict(self, state):
    for a, b in zip(self.shadow, state['shadow']):
      a.copy_(b)
    self.count = int(state['count'])
