"""The training step the PyTorch submissions share (the optimizer step is left to the caller)."""
from typing import Dict, Optional

import torch
import torch.distributed as dist

from algoperf import spec


def _zero_grads(optimizer: torch.optim.Optimizer) -> None:
  """optimizer.zero_grad(set_to_none=True), without its profiler record_function where it is torch's own
  (a few us per call, most of a small model's zero_grad)."""
  if type(optimizer).zero_grad is not torch.optim.Optimizer.zero_grad:
    optimizer.zero_grad(set_to_none=True)
    return
  for group in optimizer.param_groups:
    for p in group['params']:
      if p.grad is not None:
        p.grad = None


def _train_mode(model: torch.nn.Module) -> None:
  """model.train(), skipped where it would change nothing: every module already in training mode (as the
  previous step left it) with torch's own train(). The walk through nn.Module.__setattr__ costs more than
  the check."""
  for module in model.modules():
    if not module.training or type(module).train is not torch.nn.Module.train:
      model.train()
      return


def train_step(workload: spec.Workload, model: torch.nn.Module, model_state, batch: Dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer, rng, label_smoothing: float, dropout_rate: Optional[float],
               grad_clip: Optional[float], compute_grad_norm: bool = True):
  """Forward, mean loss over the valid examples of the global batch, backward, optional clipping.

  Returns (loss, grad_norm, new_model_state); grad_norm (before clipping) is None with
  compute_grad_norm=False (for steps that do not log it).
  """
  _train_mode(model)
  _zero_grads(optimizer)
  logits, new_model_state = workload.model_fn(model, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
                                              update_batch_norm=True, dropout_rate=dropout_rate)
  loss_dict = workload.loss_fn(batch['targets'], logits, batch.get('weights'), label_smoothing)
  summed, n_valid = loss_dict['summed'], loss_dict['n_valid_examples']
  if dist.is_available() and dist.is_initialized():
    summed = torch.distributed.nn.all_reduce(summed)
    n_valid = torch.distributed.nn.all_reduce(n_valid)
  loss = summed / torch.clamp(torch.as_tensor(n_valid, dtype=summed.dtype), min=1)
  loss.backward()
  grad_norm = None
  if compute_grad_norm:
    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
  if grad_clip is not None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
  return loss.detach(), grad_norm, new_model_state


def logs_at(workload: spec.Workload, global_step: int) -> bool:
  """Whether log_every logs at this step: the first 100 steps and every 500 after."""
  return workload.metrics_logger is not None and (global_step <= 100 or global_step % 500 == 0)


def log_every(workload: spec.Workload, global_step: int, loss, grad_norm) -> None:
  """Logs loss and grad_norm for the first 100 steps and every 500 after, as upstream's PyTorch baseline."""
  if logs_at(workload, global_step):
    workload.metrics_logger.append_scalar_metrics(
        {'loss': loss.item(), 'grad_norm': grad_norm.item()}, global_step)


def update(workload: spec.Workload, model: torch.nn.Module, model_state, batch, optimizer_state: dict,
           global_step: int, rng, label_smoothing: float = 0.0, dropout_rate: Optional[float] = None,
           grad_clip: Optional[float] = None):
  """train_step, then optimizer_state['optimizer'].step() and ['scheduler'].step() (if any).

  Returns the API's (optimizer_state, model, model_state)."""
  log = logs_at(workload, global_step)
  # The gradient norm is only logged: steps that do not log skip its per-tensor reductions.
  loss, grad_norm, new_model_state = train_step(workload, model, model_state, batch, optimizer_state['optimizer'],
                                                rng, label_smoothing, dropout_rate, grad_clip, compute_grad_norm=log)
  optimizer_state['optimizer'].step()
  if optimizer_state.get('scheduler') is not None:
    optimizer_state['scheduler'].step()
  log_every(workload, global_step, loss, grad_norm)
  return optimizer_state, model, new_model_state
