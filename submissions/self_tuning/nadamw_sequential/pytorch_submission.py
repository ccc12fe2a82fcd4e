"""NadamW Sequential (PyTorch twin of the JAX submission; upstream has JAX only), submissions.md §3.3.

Same three points, budgets, resets and quirks as jax_submission.py (see there): at a switch the model's
parameters are overwritten with the initial ones and a fresh optimizer (zero state) takes over; batch-norm
buffers are kept. The update runs on the fused kernels (ALGOPERF_KERNELS=off: plain torch).
"""
from typing import Any, Dict, Optional

import torch

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
from submissions.common import schedules
from submissions.self_tuning.nadamw_sequential import points

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def _start_point(workload: spec.Workload, model: torch.nn.Module, index: int) -> dict:
  peak, warmup, total = points.schedule_args(index, workload.step_hint)
  optimizer = pytorch_optimizers.nadamw(model.parameters(), lr=peak, betas=points.betas(index), eps=1e-8,
                                        weight_decay=points.POINTS[index]['weight_decay'])
  scheduler = pytorch_optimizers.lambda_scheduler(
      optimizer, lambda count: schedules.warmup_cosine(count, 1.0, warmup, total))
  return {'optimizer': optimizer, 'scheduler': scheduler}


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, hyperparameters, rng
  state = _start_point(workload, model_params, 0)
  state.update(point=0, steps_in_point=0, initial=[p.detach().clone() for p in model_params.parameters()])
  return state


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  model = current_param_container
  if optimizer_state['steps_in_point'] >= points.horizons(workload.step_hint)[optimizer_state['point']]:
    index = optimizer_state['point'] + 1
    if index == len(points.POINTS):
      raise spec.TrainingCompleteError(f'NadamW Sequential ran all {index} points.')
    with torch.no_grad():
      for p, p0 in zip(model.parameters(), optimizer_state['initial']):
        p.copy_(p0)
    optimizer_state = dict(_start_point(workload, model, index), point=index, steps_in_point=0,
                           initial=optimizer_state['initial'])
  optimizer_state, model, model_state = pytorch_train.update(
      workload, model, model_state, batch, optimizer_state, global_step, rng,
      label_smoothing=points.LABEL_SMOOTHING)
  optimizer_state['steps_in_point'] += 1
  return optimizer_state, model, model_state
