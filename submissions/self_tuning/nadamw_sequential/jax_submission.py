"""NadamW Sequential (JAX, self-tuning), submissions.md §3.3: three fixed NAdamW points, one after another.

Point i trains for H_i = ceil(horizon_i * step_hint) steps with its own (S-optax) schedule over H_i
(W = int(warmup_factor * H_i)); switches at 1.0, 2.0 and 2.75 step_hint. At a switch the parameters go back
to the initial ones and the optimizer state to zeros (count 0); model_state (batch-norm statistics) is kept.
After the third point update_params raises TrainingCompleteError. Label smoothing 0, default dropout
(upstream's quirks, see points.py). Departures: the initial parameters are kept in memory rather than in a
/tmp checkpoint, and the state stays on the device (upstream copies the whole optimizer state host <-> device
every step, a slowdown of 2.5-3x that we do not reproduce). The update runs on the fused kernels
(ALGOPERF_KERNELS=off: plain jax.numpy).
"""
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from algoperf import spec
from submissions.common import api
from submissions.common import baseline_batch_sizes
from submissions.common import jax_optimizers
from submissions.common import jax_train
from submissions.common import schedules
from submissions.self_tuning.nadamw_sequential import points

prepare_for_eval = api.prepare_for_eval
data_selection = api.data_selection


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def _copy(params):
  return jax.tree.map(jnp.copy, params)


def _start_point(workload: spec.Workload, params, index: int) -> dict:
  peak, warmup, total = points.schedule_args(index, workload.step_hint)
  b1, b2 = points.betas(index)
  optimizer = jax_optimizers.nadamw(schedules.warmup_cosine_jax(peak, warmup, total), b1=b1, b2=b2, eps=1e-8,
                                    weight_decay=points.POINTS[index]['weight_decay'])
  return jax_train.init_state(workload, params, optimizer, label_smoothing=points.LABEL_SMOOTHING)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, hyperparameters, rng
  state = _start_point(workload, model_params, 0)
  state.update(point=0, steps_in_point=0, initial=_copy(model_params))
  return state


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results, global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  params = current_param_container
  if optimizer_state['steps_in_point'] >= points.horizons(workload.step_hint)[optimizer_state['point']]:
    index = optimizer_state['point'] + 1
    if index == len(points.POINTS):
      raise spec.TrainingCompleteError(f'NadamW Sequential ran all {index} points.')
    params = _copy(optimizer_state['initial'])
    optimizer_state = dict(_start_point(workload, params, index), point=index, steps_in_point=0,
                           initial=optimizer_state['initial'])
  inner, params, model_state = jax_train.update(workload, params, model_state, batch, optimizer_state,
                                                global_step, rng)
  return dict(optimizer_state, **inner, steps_in_point=optimizer_state['steps_in_point'] + 1), params, model_state
