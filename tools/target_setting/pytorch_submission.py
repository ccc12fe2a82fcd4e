"""The target-setting algorithms in PyTorch (harness.md §5.2): AdamW, NadamW, Nesterov and heavy-ball momentum.

The twin of jax_submission.py: the same schedules (search_spaces.lr_schedule with numpy) and update rules
(submissions/common's torch optimizers, fused kernels by default), the shared torch train step.
"""
from typing import Any, Dict, Optional

import numpy as np

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
from tools.target_setting import search_spaces

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def make_optimizer(params, hyperparameters, step_hint: int):
  """(optimizer, scheduler): the optimizer at the peak lr, a LambdaLR with the schedule's factor."""
  b1, wd = 1.0 - hyperparameters.one_minus_beta1, hyperparameters.weight_decay
  lr, algorithm = hyperparameters.learning_rate, hyperparameters.algorithm
  search_spaces.check_algorithm(algorithm)
  if algorithm in search_spaces.ADAM_PAIR:
    make = pytorch_optimizers.adamw if algorithm == 'adamw' else pytorch_optimizers.nadamw
    optimizer = make(params, lr=lr, betas=(b1, 1.0 - hyperparameters.one_minus_beta2), eps=1e-8, weight_decay=wd)
  else:
    make = pytorch_optimizers.nesterov_sgd if algorithm == 'nesterov' else pytorch_optimizers.heavy_ball_sgd
    optimizer = make(params, lr=lr, momentum=b1, weight_decay=wd)
  schedule = search_spaces.lr_schedule(hyperparameters, step_hint, np)
  return optimizer, pytorch_optimizers.lambda_scheduler(optimizer, lambda count: schedule(count) / lr)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  optimizer, scheduler = make_optimizer(model_params.parameters(), hyperparameters, workload.step_hint)
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  return pytorch_train.update(workload, current_param_container, model_state, batch, optimizer_state,
                              global_step, rng, dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))
