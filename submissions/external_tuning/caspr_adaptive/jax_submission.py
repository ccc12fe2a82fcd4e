"""CASPR Adaptive (JAX; the v0.5 leaderboard submission; submissions.md §2.8).

The optimizer is submissions/common/jax_caspr.py (NAdam moments, left/right statistics with CASPR's
adaptive R update, coupled-Newton inverse square roots every 20 steps, L^-1/2 M R^-1/2 grafted layer-wise to
NAdam's norm after step 101, NAdam for 1-D parameters); the schedule is the published nested warmup-cosine
((S-optax) count; submissions/common/precond_schedules.py). The search space is the baseline's 5 points.
"""
import functools
from typing import Any, Dict, Iterator, List, Optional, Tuple

import jax.numpy as jnp

from algoperf import spec
from submissions.common import jax_caspr
from submissions.common import jax_precond_step
from submissions.common import kernel_switch
from submissions.common import precond_config
from submissions.common import precond_schedules
from submissions.common import shampoo_blocks
from submissions.common.jax_nadamw import log_every


def get_batch_size(workload_name: str) -> int:
  return precond_config.caspr_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  config = precond_config.caspr_config(hyperparameters)
  lr_fn = lambda count: precond_schedules.caspr_lr(count, config.learning_rate, config.warmup_factor,
                                                   workload.step_hint, np=jnp)
  optimizer = jax_caspr.Caspr(model_params, config, use_kernels=kernel_switch.kernels_enabled(),
                              rules_shape_fn=functools.partial(shampoo_blocks.full_scale_shape, workload))
  train_step = jax_precond_step.make_train_step(
      workload, optimizer, lr_fn, label_smoothing=getattr(hyperparameters, 'label_smoothing', 0.0),
      dropout_rate=getattr(hyperparameters, 'dropout_rate', None))
  phase = lambda t: (('precondition_now', t > config.start_preconditioning_step), ('roots_now', config.root_due(t)),
                     ('fresh', config.fresh(t)))
  host_step = jax_precond_step.make_host_step(optimizer, train_step, phase, 'CASPR')
  return {'state': optimizer.init(model_params), 'step': host_step, 't': 0}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state, hyperparameters
  t = int(optimizer_state['t']) + 1
  new_state, new_params, new_model_state, loss, grad_norm = optimizer_state['step'](
      optimizer_state['state'], current_param_container, model_state, batch, rng, t)
  log_every(workload, global_step, loss, grad_norm)
  return dict(optimizer_state, state=new_state, t=t), new_params, new_model_state


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step, rng
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
