"""The Sinv6 submission's functions in JAX; sinv6/ and sinv6_75/ differ only in num_steps_fraction.

The train step is jitted with the parameters and the optimizer state donated (updated in place). It is not
jax_nadamw.make_train_step because Sinv6's update also takes the batch's loss. No label smoothing, no
gradient-norm clipping, dropout at the workload's default (spec §3.4). The element-wise part runs on the
fused kernels unless ALGOPERF_KERNELS=off (read here, at init).
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from algoperf import spec
from submissions.common import kernel_switch
from submissions.common.sinv6 import api
from submissions.common.sinv6 import jax_sinv6

get_batch_size = api.get_batch_size


def make_train_step(workload: spec.Workload, use_kernels: bool):
  """(opt_state, params, model_state, batch, rng, weights) -> (opt_state, params, model_state, loss, lr_mult)."""

  def step(optimizer_state, params, model_state, batch, rng, weights):

    def loss_fn(p):
      logits, new_model_state = workload.model_fn(
          p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True, dropout_rate=None)
      loss = workload.loss_fn(batch['targets'], logits, batch.get('weights'), 0.0)
      return loss['summed'] / jnp.maximum(loss['n_valid_examples'], 1), new_model_state

    (loss, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    new_params, new_state, lr_mult = jax_sinv6.update(weights, grads, optimizer_state, params, loss,
                                                        use_kernels=use_kernels)
    return new_state, new_params, new_model_state, loss, lr_mult

  return jax.jit(step, donate_argnums=(0, 1))


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         num_steps_fraction: float) -> spec.OptimizerState:
  weights = jax_sinv6.to_weights(api.load_weights())
  state = jax_sinv6.init(weights, model_params, api.horizon(workload, num_steps_fraction))
  return {'state': jax_sharding_utils.replicate(state), 'weights': jax_sharding_utils.replicate(weights),
          'train_step': make_train_step(workload, kernel_switch.kernels_enabled())}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  model_state: spec.ModelAuxiliaryState, batch: Dict[str, spec.Tensor],
                  optimizer_state: spec.OptimizerState, global_step: int,
                  rng: spec.RandomState) -> spec.UpdateReturn:
  new_state, new_params, new_model_state, loss, lr_mult = optimizer_state['train_step'](
      optimizer_state['state'], current_param_container, model_state, batch, rng, optimizer_state['weights'])
  api.log_every(workload, global_step, loss, lr_mult)
  return dict(optimizer_state, state=new_state), new_params, new_model_state


def data_selection(input_queue: Iterator[Dict[str, spec.Tensor]]) -> Dict[str, spec.Tensor]:
  return next(input_queue)
