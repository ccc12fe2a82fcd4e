"""The target-setting algorithms in JAX (harness.md §5.2): AdamW, NadamW, Nesterov and heavy-ball momentum.

Not a valid submission (it lives outside submissions/ so that the main job does not run it): the hyperparameter
'algorithm' picks the update rule, and search_spaces.py holds the ranges and the schedules. The update rules
are submissions/common's (fused kernels by default), the train step the shared jitted one.
"""
from typing import Any, Dict, Optional

import jax.numpy as jnp

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import jax_train
from tools.target_setting import search_spaces

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def make_optimizer(hyperparameters, step_hint: int) -> jax_optimizers.Optimizer:
  schedule = search_spaces.lr_schedule(hyperparameters, step_hint, jnp)
  b1, wd = 1.0 - hyperparameters.one_minus_beta1, hyperparameters.weight_decay
  algorithm = hyperparameters.algorithm
  if algorithm in search_spaces.ADAM_PAIR:
    make = jax_optimizers.adamw if algorithm == 'adamw' else jax_optimizers.nadamw
    return make(schedule, b1=b1, b2=1.0 - hyperparameters.one_minus_beta2, eps=1e-8, weight_decay=wd)
  make = jax_optimizers.nesterov_sgd if algorithm == 'nesterov' else jax_optimizers.heavy_ball_sgd
  return make(schedule, momentum=b1, weight_decay=wd)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  optimizer = make_optimizer(hyperparameters, workload.step_hint)
  return jax_train.init_state(workload, model_params, optimizer, dropout_rate=api.hparam(hyperparameters, 'dropout_rate'))


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  return jax_train.update(workload, current_param_container, model_state, batch, optimizer_state, global_step,
                          rng)
