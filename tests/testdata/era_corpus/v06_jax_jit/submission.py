"""A submission written the way files for upstream's v0.6 runner are (the jit era), for the corpus test.

Era traits on purpose: `algoperf` imports, parameters and batches as global arrays, the update under
`jax.jit` with explicit shardings from `algoperf.jax_sharding_utils` (batch split over the mesh, the rest
replicated), `train_state` in `update_params` and an identity `prepare_for_eval`. optax's AdamW with
linear warmup + cosine decay.
"""
import functools
from typing import Any, Dict, Iterator, List, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from algoperf import jax_sharding_utils
from algoperf import spec


def get_batch_size(workload_name):
  batch_sizes = {'mnist': 64}
  return batch_sizes[workload_name]


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  warmup_steps = int(hyperparameters.warmup_factor * workload.step_hint)
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=hyperparameters.learning_rate, warmup_steps=warmup_steps,
      decay_steps=workload.step_hint)
  opt_init_fn, opt_update_fn = optax.adamw(
      learning_rate=schedule, b1=1.0 - hyperparameters.one_minus_beta1, b2=hyperparameters.beta2,
      weight_decay=hyperparameters.weight_decay)
  optimizer_state = opt_init_fn(model_params)
  return jax_sharding_utils.replicate(optimizer_state), opt_update_fn


def train_step(workload, opt_update_fn, model_state, optimizer_state, current_param_container, batch, rng):

  def _loss_fn(params):
    logits, new_model_state = workload.model_fn(
        params, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True)
    loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits,
                                 mask_batch=batch.get('weights'))
    return loss_dict['summed'] / loss_dict['n_valid_examples'], new_model_state

  (loss, new_model_state), grad = jax.value_and_grad(_loss_fn, has_aux=True)(current_param_container)
  grad_norm = optax.global_norm(grad)
  updates, new_optimizer_state = opt_update_fn(grad, optimizer_state, current_param_container)
  updated_params = optax.apply_updates(current_param_container, updates)
  return new_optimizer_state, updated_params, new_model_state, loss, grad_norm


@functools.lru_cache(maxsize=None)
def _jitted_train_step(workload, opt_update_fn):
  replicated = jax_sharding_utils.get_replicate_sharding()
  sharded = jax_sharding_utils.get_batch_dim_sharding()
  return jax.jit(
      functools.partial(train_step, workload, opt_update_fn),
      in_shardings=(replicated, replicated, replicated, sharded, replicated),
      out_shardings=(replicated, replicated, replicated, replicated, replicated),
      donate_argnums=(0, 1, 2))


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState,
                  train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, hyperparameters, train_state
  optimizer_state, opt_update_fn = optimizer_state
  new_optimizer_state, new_params, new_model_state, loss, grad_norm = _jitted_train_step(
      workload, opt_update_fn)(model_state, optimizer_state, current_param_container, batch, rng)
  if global_step % 100 == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics({'loss': float(loss), 'grad_norm': float(grad_norm)},
                                                  global_step)
  return (new_optimizer_state, opt_update_fn), new_params, new_model_state


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
