"""A submission written the way files for upstream's v0.5 runner were (the pmap era), for the corpus test.

Era traits on purpose: `algorithmic_efficiency` imports, `jax.tree_map`/`jax.tree_leaves` (removed from
current jax), a chex dataclass optimizer state, the optimizer state replicated with
`flax.jax_utils.replicate`, and the update under `jax.pmap(..., axis_name='batch')` with gradients summed
over the devices by `lax.psum`. Batches arrive as (devices, per-device batch, ...). Adam with decoupled
weight decay and linear warmup + cosine decay.
"""
import functools
from typing import Dict, Iterator, List, Tuple

import chex
from flax import jax_utils
import jax
from jax import lax
import jax.numpy as jnp
import optax

from algorithmic_efficiency import spec


@chex.dataclass
class AdamState:
  count: chex.Array
  mu: chex.ArrayTree
  nu: chex.ArrayTree


def scale_by_adam(b1: float, b2: float, eps: float = 1e-8) -> optax.GradientTransformation:

  def init_fn(params):
    zeros = jax.tree_map(jnp.zeros_like, params)
    return AdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=jax.tree_map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    del params
    count = state.count + 1
    mu = jax.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates)
    nu = jax.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates)
    mu_hat_scale = 1 / (1 - b1**count)
    nu_hat_scale = 1 / (1 - b2**count)
    updates = jax.tree_map(lambda m, v: m * mu_hat_scale / (jnp.sqrt(v * nu_hat_scale) + eps), mu, nu)
    return updates, AdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def warmup_cosine(base_lr: float, warmup_steps: int, decay_steps: int):
  warmup = optax.linear_schedule(init_value=0.0, end_value=base_lr, transition_steps=warmup_steps)
  cosine = optax.cosine_decay_schedule(init_value=base_lr, decay_steps=max(decay_steps - warmup_steps, 1))
  return optax.join_schedules(schedules=[warmup, cosine], boundaries=[warmup_steps])


def get_batch_size(workload_name):
  batch_sizes = {'mnist': 64}
  return batch_sizes[workload_name]


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_params, model_state, rng
  schedule = warmup_cosine(hyperparameters.learning_rate,
                           int(hyperparameters.warmup_factor * workload.step_hint), workload.step_hint)
  opt_init_fn, opt_update_fn = optax.chain(
      scale_by_adam(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2),
      optax.add_decayed_weights(hyperparameters.weight_decay),
      optax.scale_by_schedule(lambda count: -schedule(count)))
  params_zeros_like = jax.tree_map(lambda s: jnp.zeros(s.shape_tuple), workload.param_shapes)
  optimizer_state = opt_init_fn(params_zeros_like)
  return jax_utils.replicate(optimizer_state), opt_update_fn


@functools.partial(
    jax.pmap,
    axis_name='batch',
    in_axes=(None, None, 0, 0, 0, 0, 0),
    static_broadcasted_argnums=(0, 1),
    donate_argnums=(2, 3, 4))
def pmapped_train_step(workload, opt_update_fn, model_state, optimizer_state, current_param_container, batch,
                       rng):

  def _loss_fn(params):
    logits, new_model_state = workload.model_fn(
        params, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True)
    loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits,
                                 mask_batch=batch.get('weights'))
    return loss_dict['summed'], (loss_dict['n_valid_examples'], new_model_state)

  grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
  (summed_loss, (n_valid_examples, new_model_state)), grad = grad_fn(current_param_container)
  # Every device holds a slice of the batch: sum the sums and the counts over the devices.
  summed_loss, n_valid_examples, grad = lax.psum((summed_loss, n_valid_examples, grad), axis_name='batch')
  loss = summed_loss / n_valid_examples
  grad = jax.tree_map(lambda g: g / n_valid_examples, grad)
  grad_norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_leaves(grad)))
  updates, new_optimizer_state = opt_update_fn(grad, optimizer_state, current_param_container)
  updated_params = optax.apply_updates(current_param_container, updates)
  return new_optimizer_state, updated_params, new_model_state, loss, grad_norm


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, hyperparameters
  optimizer_state, opt_update_fn = optimizer_state
  per_device_rngs = jax.random.split(rng, jax.local_device_count())
  new_optimizer_state, new_params, new_model_state, loss, grad_norm = pmapped_train_step(
      workload, opt_update_fn, model_state, optimizer_state, current_param_container, batch, per_device_rngs)
  if global_step % 100 == 0 and workload.metrics_logger is not None:
    workload.metrics_logger.append_scalar_metrics({'loss': float(loss[0]), 'grad_norm': float(grad_norm[0])},
                                                  global_step)
  return (new_optimizer_state, opt_update_fn), new_params, new_model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
