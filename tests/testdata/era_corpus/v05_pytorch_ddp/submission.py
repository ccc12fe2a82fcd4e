"""A PyTorch submission written the way files for upstream's v0.5 runner were, for the corpus test.

Era traits on purpose: `algorithmic_efficiency` imports, `pytorch_setup()` at import time, the summed
loss and the count of valid examples all-reduced over the DDP ranks with `torch.distributed.nn`
(differentiable), no `train_state` and no `prepare_for_eval`. torch's AdamW with linear warmup + cosine
decay (a LambdaLR that holds 0 after the decay).
"""
import math
from typing import Dict, Iterator, List, Tuple

import torch
import torch.distributed.nn as dist_nn

from algorithmic_efficiency import spec
from algorithmic_efficiency.pytorch_utils import pytorch_setup

USE_PYTORCH_DDP = pytorch_setup()[0]


def get_batch_size(workload_name):
  batch_sizes = {'mnist': 64}
  return batch_sizes[workload_name]


def _warmup_cosine(warmup_steps: int, decay_steps: int):

  def factor(step):
    if step < warmup_steps:
      return step / max(warmup_steps, 1)
    progress = min(1.0, (step - warmup_steps) / max(decay_steps - warmup_steps, 1))
    return 0.5 * (1.0 + math.cos(math.pi * progress))

  return factor


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  optimizer = torch.optim.AdamW(
      model_params.parameters(), lr=hyperparameters.learning_rate,
      betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2), eps=1e-8,
      weight_decay=hyperparameters.weight_decay)
  warmup_steps = int(hyperparameters.warmup_factor * workload.step_hint)
  scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup_steps, workload.step_hint))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, hyperparameters
  current_model = current_param_container
  current_model.train()
  optimizer_state['optimizer'].zero_grad()
  logits_batch, new_model_state = workload.model_fn(
      params=current_model, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
      mode=spec.ForwardPassMode.TRAIN, rng=rng, update_batch_norm=True)
  loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits_batch,
                               mask_batch=batch.get('weights'))
  summed_loss = loss_dict['summed']
  n_valid_examples = loss_dict['n_valid_examples']
  if USE_PYTORCH_DDP:
    # Each rank holds a slice of the batch: the mean is over every rank's examples.
    summed_loss = dist_nn.all_reduce(summed_loss)
    n_valid_examples = dist_nn.all_reduce(n_valid_examples)
  loss = summed_loss / n_valid_examples
  loss.backward()
  optimizer_state['optimizer'].step()
  optimizer_state['scheduler'].step()
  if global_step % 100 == 0 and workload.metrics_logger is not None:
    with torch.no_grad():
      grad_norm = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in current_model.parameters()
                                          if p.grad is not None]), 2)
    workload.metrics_logger.append_scalar_metrics({'loss': loss.item(), 'grad_norm': grad_norm.item()},
                                                  global_step)
  return (optimizer_state, current_param_container, new_model_state)


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
