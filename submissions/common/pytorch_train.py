"""The training step the PyTorch submissions share (the optimizer step is left to the caller)."""
from typing import Dict, Optional

import torch
import torch.distributed as dist

from algoperf import spec


def train_step(workload: spec.Workload, model: torch.nn.Module, model_state, batch: Dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer, rng, label_smoothing: float, dropout_rate: Optional[float],
               grad_clip: Optional[float]):
  """Forward, mean loss over the valid examples of the global batch, backward, optional clipping.

  Returns (loss, grad_norm, new_model_state).
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


def update(workload: spec.Workload, model: torch.nn.Module, model_state, batch, optimizer_state: dict,
           global_step: int, rng, label_smoothing: float = 0.0, dropout_rate: Optional[float] = None,
           grad_clip: Optional[float] = None):
  """train_step, then optimizer_state['optimizer'].step() and ['scheduler'].step() (if any).

  Returns the API's (optimizer_state, model, model_state)."""
  loss, grad_norm, new_model_state = train_step(workload, model, model_state, batch, optimizer_state['optimizer'],
                                                rng, label_smoothing, dropout_rate, grad_clip)
  optimizer_state['optimizer'].step()
  if optimizer_state.get('scheduler') is not None:
    optimizer_state['scheduler'].step()
  log_every(workload, global_step, loss, grad_norm)
  return optimizer_state, model, new_model_state
