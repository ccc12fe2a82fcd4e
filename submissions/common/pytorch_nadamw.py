"""NAdamW for PyTorch and the training step the PyTorch submissions share.

Same update as jax_nadamw (submissions.md §0), written the way torch's AdamW is: p *= 1 - lr*wd, then
p -= lr/(1-b1^t) * m_bar / (sqrt(v)/sqrt(1-b2^t) + eps).
"""
import math
from typing import Dict, Optional

import torch
import torch.distributed as dist

from algoperf import spec
from submissions.common import schedules


class NAdamW(torch.optim.Optimizer):
  """AlgoPerf's NAdamW (not torch.optim.NAdam, whose momentum schedule is a different algorithm)."""

  def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
               weight_decay: float = 1e-2, power: float = 2.0):
    for name, value in (('lr', lr), ('eps', eps), ('weight_decay', weight_decay)):
      if value < 0:
        raise ValueError(f'NAdamW: {name} must be >= 0, got {value}.')
    if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
      raise ValueError(f'NAdamW: betas must be in [0, 1), got {betas}.')
    super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, power=power))

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      b1, b2 = group['betas']
      lr, eps, wd, power = group['lr'], group['eps'], group['weight_decay'], group['power']
      for p in group['params']:
        if p.grad is None:
          continue
        g = p.grad
        state = self.state[p]
        if not state:
          state['step'] = torch.tensor(0.0)
          state['exp_avg'] = torch.zeros_like(p)
          state['exp_avg_sq'] = torch.zeros_like(p)
        state['step'] += 1
        t = state['step'].item()
        m, v = state['exp_avg'], state['exp_avg_sq']
        p.mul_(1 - lr * wd)
        m.lerp_(g, 1 - b1)
        if power == 2.0:
          v.mul_(b2).addcmul_(g, g, value=1 - b2)
        else:
          v.mul_(b2).add_(g.abs().pow(power), alpha=1 - b2)
        bias_correction1 = 1 - b1**t
        bias_correction2 = 1 - b2**t
        m_bar = m.mul(b1).add_(g, alpha=1 - b1)
        if power == 2.0:
          denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)
        else:
          denom = (v / bias_correction2).pow(1.0 / power).add_(eps)
        p.addcdiv_(m_bar, denom, value=-lr / bias_correction1)
    return loss


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
  """The schedules.warmup_cosine shape as a LambdaLR factor of the optimizer's peak lr."""
  return torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda count: schedules.warmup_cosine(count, 1.0, warmup_steps, total_steps))


def train_step(workload: spec.Workload, model: torch.nn.Module, model_state, batch: Dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer, rng, label_smoothing: float, dropout_rate: Optional[float],
               grad_clip: Optional[float]):
  """Forward, mean loss over the valid examples of the global batch, backward, optional clipping.

  Returns (loss, grad_norm, new_model_state); the optimizer step is left to the caller.
  """
  model.train()
  optimizer.zero_grad(set_to_none=True)
  logits, new_model_state = workload.model_fn(model, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
                                              update_batch_norm=True, dropout_rate=dropout_rate)
  loss_dict = workload.loss_fn(batch['targets'], logits, batch.get('weights'), label_smoothing)
  summed, n_valid = loss_dict['summed'], loss_dict['n_valid_examples']
  if dist.is_available() and dist.is_initialized():
    summed = torch.distributed.nn.all_reduce(summed)
    n_valid = torch.distributed.nn.all_reduce(n_valid)
  loss = summed / torch.clamp(torch.as_tensor(n_valid, dtype=summed.dtype), min=1)
  loss.backward()
  grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
  grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
  if grad_clip is not None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
  return loss.detach(), grad_norm, new_model_state


def log_every(workload: spec.Workload, global_step: int, loss, grad_norm) -> None:
  """Logs loss and grad_norm for the first 100 steps and every 500 after, as upstream's PyTorch baseline."""
  if workload.metrics_logger is not None and (global_step <= 100 or global_step % 500 == 0):
    workload.metrics_logger.append_scalar_metrics(
        {'loss': loss.item(), 'grad_norm': grad_norm.item()}, global_step)
