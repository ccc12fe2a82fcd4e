"""A PyTorch submission written the way files for upstream's v0.6 runner are, for the corpus test.

Era traits on purpose: `algoperf` imports, `train_state` in `update_params`, an identity
`prepare_for_eval`, DDP reduction of the loss with `torch.distributed.nn`. torch's NAdam with decoupled
weight decay and linear warmup + cosine decay.
"""
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
import torch.distributed.nn as dist_nn

from algoperf import spec
from algoperf.pytorch_utils import pytorch_setup

USE_PYTORCH_DDP, RANK, DEVICE, N_GPUS = pytorch_setup()


def get_batch_size(workload_name):
  batch_sizes = {'mnist': 64}
  return batch_sizes[workload_name]


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  optimizer = torch.optim.NAdam(
      model_params.parameters(), lr=hyperparameters.learning_rate,
      betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2), eps=1e-8,
      weight_decay=hyperparameters.weight_decay, decoupled_weight_decay=True)
  warmup_steps = int(hyperparameters.warmup_factor * workload.step_hint)
  decay_steps = max(workload.step_hint - warmup_steps, 1)

  def lr_factor(step):
    if step < warmup_steps:
      return step / max(warmup_steps, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / decay_steps)))

  return {'optimizer': optimizer, 'scheduler': torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState,
                  train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, hyperparameters, train_state
  current_param_container.train()
  optimizer_state['optimizer'].zero_grad()
  logits_batch, new_model_state = workload.model_fn(
      params=current_param_container, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
      mode=spec.ForwardPassMode.TRAIN, rng=rng, update_batch_norm=True)
  loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits_batch,
                               mask_batch=batch.get('weights'))
  summed_loss, n_valid_examples = loss_dict['summed'], loss_dict['n_valid_examples']
  if USE_PYTORCH_DDP:
    summed_loss = dist_nn.all_reduce(summed_loss)
    n_valid_examples = dist_nn.all_reduce(n_valid_examples)
  loss = summed_loss / n_valid_examples
  loss.backward()
  optimizer_state['optimizer'].step()
  optimizer_state['scheduler'].step()
  if global_step % 100 == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics({'loss': loss.item()}, global_step)
  return (optimizer_state, current_param_container, new_model_state)


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, hyperparameters, current_params_types, loss_type, eval_results, global_step, rng
  return (optimizer_state, current_param_container, model_state)


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
