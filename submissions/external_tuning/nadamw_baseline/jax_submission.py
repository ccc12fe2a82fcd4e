"""The NAdamW baseline (JAX): NAdamW with linear warmup and cosine decay to 0 at step_hint.

spec/harness.md §5.1. Hyperparameters: learning_rate, one_minus_beta1, beta2, weight_decay,
warmup_factor, label_smoothing, dropout_rate (and grad_clip if present).
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import jax_sharding_utils
from algoperf import spec
from submissions.common import baseline_batch_sizes
from submissions.common import jax_nadamw
from submissions.common import schedules


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def _hparam(hyperparameters, name: str, default=None):
  return getattr(hyperparameters, name, default)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  warmup_steps = int(hyperparameters.warmup_factor * workload.step_hint)
  schedule = schedules.warmup_cosine_jax(hyperparameters.learning_rate, warmup_steps, workload.step_hint)
  optimizer = jax_nadamw.nadamw(learning_rate=schedule, b1=1.0 - hyperparameters.one_minus_beta1,
                                b2=hyperparameters.beta2, eps=1e-8, weight_decay=hyperparameters.weight_decay)
  train_step = jax_nadamw.make_train_step(
      workload, optimizer.update, label_smoothing=_hparam(hyperparameters, 'label_smoothing', 0.0),
      dropout_rate=_hparam(hyperparameters, 'dropout_rate', None),
      grad_clip=_hparam(hyperparameters, 'grad_clip', None))
  # Replicated like the params, so the jitted step sees the same shardings at step 1 and after (no recompile).
  state = jax_sharding_utils.replicate(optimizer.init(model_params))
  return {'state': state, 'train_step': train_step}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state, hyperparameters
  new_state, new_params, new_model_state, loss, grad_norm = optimizer_state['train_step'](
      optimizer_state['state'], current_param_container, model_state, batch, rng)
  jax_nadamw.log_every(workload, global_step, loss, grad_norm)
  return {'state': new_state, 'train_step': optimizer_state['train_step']}, new_params, new_model_state


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
