"""Sinv6 in PyTorch: the LSTM scheduler as a torch module and the optimizer that applies its step.

The twin of jax_sinv6.py; the math and its quirks are described once in features.py.
"""
from typing import Optional

import numpy as np
import torch
from torch import nn

from submissions.common import kernel_switch
from submissions.common.sinv6 import features as F

_MODULE_NAMES = {'linear': 'linear', 'linear_1': 'linear_1', 'linear_2': 'linear_2', 'rnn/linear': 'rnn_linear',
                 'step_size': 'step_size'}


class Sinv6Network(nn.Module):
  """x [rows, 18], LSTM (hidden, cell) [rows, 64] -> lr_mult [rows] (unclipped), new (hidden, cell)."""

  def __init__(self):
    super().__init__()
    self.linear = nn.Linear(F.NUM_FEATURES, F.HIDDEN)
    self.linear_1 = nn.Linear(F.NUM_FEATURES, F.HIDDEN)
    self.linear_2 = nn.Linear(F.NUM_FEATURES, F.HIDDEN)
    self.rnn_linear = nn.Linear(2 * F.HIDDEN, 4 * F.HIDDEN)
    self.step_size = nn.Linear(F.HIDDEN, 1)
    self.register_buffer('init_hidden', torch.zeros(1, F.HIDDEN))
    self.register_buffer('init_cell', torch.zeros(1, F.HIDDEN))

  @torch.no_grad()
  def load_published(self, tree: dict) -> 'Sinv6Network':
    """Copies the published tree in (haiku's w is [in, out]; torch's weight is [out, in])."""
    for key, name in _MODULE_NAMES.items():
      layer = getattr(self, name)
      layer.weight.copy_(torch.as_tensor(np.asarray(tree['rnn_params'][key]['w'])).T)
      layer.bias.copy_(torch.as_tensor(np.asarray(tree['rnn_params'][key]['b'])))
    self.init_hidden.copy_(torch.as_tensor(np.asarray(tree['lstm_init_state']['hidden'])))
    self.init_cell.copy_(torch.as_tensor(np.asarray(tree['lstm_init_state']['cell'])))
    return self

  def forward(self, x, hidden, cell):
    torch.relu(self.linear(x))  # computed and discarded, as published
    mix = torch.relu(self.linear_1(x))
    v = torch.amax(mix, dim=0, keepdim=True)
    x = self.linear_2(x) + v
    i, g, f, o = torch.chunk(self.rnn_linear(torch.cat([x, hidden], dim=-1)), 4, dim=-1)
    cell = torch.sigmoid(f + F.FORGET_BIAS) * cell + torch.sigmoid(i) * torch.tanh(g)
    hidden = torch.sigmoid(o) * torch.tanh(cell)
    return self.step_size(hidden)[..., 0], hidden, cell


class Scheduler:
  """The scheduler's state (loss buffer, LSTM state, iteration) and its step: loss -> lr_mult (a 0-d tensor).

  Stays on the device of its network; nothing is fetched to the host.
  """

  def __init__(self, tree: dict, num_steps: int, device=None):
    self.network = Sinv6Network().load_published(tree).to(device)
    device = self.network.init_hidden.device
    self.iteration = 0  # a host int: it only feeds f and the k <= 2 test
    self.num_steps = float(num_steps)
    self.decays = torch.as_tensor(F.loss_decays(num_steps), device=device)
    self.means = torch.zeros(F.NUM_LOSS_EMAS, device=device)
    self.running_min = torch.full((F.NUM_LOSS_EMAS,), F.RUNNING_MIN_INIT, device=device)
    self.hidden = self.network.init_hidden.clone()
    self.cell = self.network.init_cell.clone()
    self.timescales = torch.as_tensor(F.TIMESCALES, device=device)

  def _update_loss_buffer(self, loss):
    correction = 1.0 - self.decays**float(self.iteration + 1)
    cap = loss if self.iteration == 0 else torch.amax(self.means / correction)
    loss = torch.minimum(torch.abs(cap) * 2.0, loss)
    self.means = self.means * self.decays + loss * (1.0 - self.decays)
    self.running_min = torch.minimum(self.running_min, self.means / correction)

  def features(self) -> torch.Tensor:
    fraction = torch.tensor(float(self.iteration)) / torch.tensor(self.num_steps)  # float32, as in JAX
    frac = torch.tanh((fraction.to(self.timescales.device) - self.timescales) * 10.0)
    seen = self.iteration + 1
    corrected = self.means / (1.0 - self.decays**float(seen))
    den = torch.clamp(corrected[1:] - self.running_min[:-1], min=1e-8)
    loss_feat = torch.clamp((corrected[:-1] - self.running_min[:-1]) / den - 1.0, -1.0, 1.0)
    if seen <= 2:
      loss_feat = torch.zeros_like(loss_feat)
    return torch.cat([frac, loss_feat])

  @torch.no_grad()
  def step(self, loss) -> torch.Tensor:
    loss = torch.as_tensor(loss, dtype=torch.float32, device=self.means.device).detach().reshape(())
    self._update_loss_buffer(loss)
    raw, self.hidden, self.cell = self.network(self.features()[None, :], self.hidden, self.cell)
    self.iteration += 1
    return torch.clamp(raw[0], F.LR_MULT_MIN, F.LR_MULT_MAX)


def lr_mult_sequence(tree: dict, losses, num_steps: int) -> np.ndarray:
  scheduler = Scheduler(tree, num_steps)
  return np.asarray([scheduler.step(float(loss)).item() for loss in losses], np.float32)


def apply_moments_(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, rms: torch.Tensor, scale) -> None:
  """In place: the moments, then p -= scale * m / (eps + sqrt(rms + eps_root)); `scale` per tensor."""
  m.mul_(F.MOMENTUM_DECAY).add_(g, alpha=1.0 - F.MOMENTUM_DECAY)
  rms.mul_(F.RMS_DECAY).addcmul_(g, g, value=1.0 - F.RMS_DECAY)
  denom = rms.add(F.UPDATE_EPS_ROOT).sqrt_().add_(F.UPDATE_EPS)
  p.sub_(scale * (m / denom))


def param_rms(p: torch.Tensor) -> torch.Tensor:
  return torch.sqrt(torch.mean(torch.square(p)) + F.PARAM_RMS_EPS)


def _kernel_step_(p, g, m, rms, scale: torch.Tensor) -> None:
  """The element-wise part on the fused kernels (op `sinv6`, which also clamps g), in place. On CUDA the
  per-tensor scale stays on the device (read by the kernel); on the CPU it is a host number."""
  from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
  hyper = dict(beta1=F.MOMENTUM_DECAY, beta2=F.RMS_DECAY, eps=F.UPDATE_EPS, eps_root=F.UPDATE_EPS_ROOT,
               clip=F.GRAD_CLIP)
  if p.is_cuda:
    torch_ops.sinv6([p], [g], [m], [rms], scale=0.0, dyn_device=scale.reshape(1).float().contiguous(), **hyper)
  else:
    torch_ops.sinv6([p], [g], [m], [rms], scale=float(scale), **hyper)


class Sinv6(torch.optim.Optimizer):
  """The Sinv6 optimizer: `step(loss)` takes the batch's mean training loss (the scheduler's input)."""

  def __init__(self, params, tree: dict, num_steps: int, use_kernels: Optional[bool] = None):
    super().__init__(params, {})
    self.use_kernels = kernel_switch.kernels_enabled() if use_kernels is None else use_kernels
    device = next(p.device for group in self.param_groups for p in group['params'])
    self.scheduler = Scheduler(tree, num_steps, device)
    self.last_lr_mult: Optional[torch.Tensor] = None

  @torch.no_grad()
  def step(self, loss) -> torch.Tensor:  # pylint: disable=arguments-renamed
    params = [p for group in self.param_groups for p in group['params'] if p.grad is not None]
    if not self.use_kernels:  # the kernel clamps as it reads
      for p in params:
        p.grad.clamp_(-F.GRAD_CLIP, F.GRAD_CLIP)
    lr_mult = self.scheduler.step(loss)
    for p in params:
      state = self.state[p]
      if not state:
        state['m'] = torch.zeros_like(p)
        state['rms'] = torch.zeros_like(p)
      scale = F.STEP_MULT * lr_mult * param_rms(p)
      if self.use_kernels:
        _kernel_step_(p, p.grad, state['m'], state['rms'], scale)
      else:
        apply_moments_(p, p.grad, state['m'], state['rms'], scale)
    self.last_lr_mult = lr_mult
    return lr_mult
