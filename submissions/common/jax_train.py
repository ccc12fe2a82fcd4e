"""The jitted training step the JAX submissions share.

`make_train_step(workload, optimizer_step, ...)` takes `optimizer_step(grads, state, params) ->
(new_params, new_state)` (jax_optimizers' form) and returns a jitted
(opt_state, params, model_state, batch, rng) -> (opt_state, params, model_state, loss, grad_norm).
The optimizer state and params are donated and come back in the same order, so XLA pairs each donated
buffer with its own result and the fused kernels update them in place.
"""
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from algoperf import spec


def make_train_step(workload: spec.Workload, optimizer_step: Callable, label_smoothing: float,
                    dropout_rate: Optional[float], grad_clip: Optional[float]) -> Callable:
  """The loss is the mean over the valid examples of the (global) batch; grad_clip clips the global norm
  as the baseline does: g * min(1, c / (|g| + 1e-6))."""

  def step(optimizer_state, params, model_state, batch, rng):

    def loss_fn(p):
      logits, new_model_state = workload.model_fn(
          p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True,
          dropout_rate=dropout_rate)
      loss = workload.loss_fn(batch['targets'], logits, batch.get('weights'), label_smoothing)
      n_valid = jnp.maximum(loss['n_valid_examples'], 1)
      return loss['summed'] / n_valid, new_model_state

    (loss, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    grad_norm = optax.tree.norm(grads)
    if grad_clip is not None:
      scale = jnp.minimum(1.0, grad_clip / (grad_norm + 1e-6))
      grads = jax.tree.map(lambda g: g * scale, grads)
    new_params, new_optimizer_state = optimizer_step(grads, optimizer_state, params)
    return new_optimizer_state, new_params, new_model_state, loss, grad_norm

  return jax.jit(step, donate_argnums=(0, 1))


def from_optax(update_fn: Callable) -> Callable:
  """An optax `update(grads, state, params) -> (updates, state)` in the step form."""

  def optimizer_step(grads, state, params):
    updates, new_state = update_fn(grads, state, params)
    return optax.apply_updates(params, updates), new_state

  return optimizer_step


def log_every(workload: spec.Workload, global_step: int, loss, grad_norm, period: int = 100) -> None:
  """Logs loss and grad_norm every `period` steps (only then are the values fetched from the device)."""
  if workload.metrics_logger is not None and global_step % period == 0:
    workload.metrics_logger.append_scalar_metrics(
        {'loss': float(loss), 'grad_norm': float(grad_norm)}, global_step)


def init_state(workload: spec.Workload, params, optimizer, label_smoothing: float = 0.0,
               dropout_rate: Optional[float] = None, grad_clip: Optional[float] = None) -> dict:
  """The optimizer state of a submission built on one `optimizer` (jax_optimizers' form)."""
  # Replicated like the params, so the jitted step sees the same shardings at step 1 and after (no recompile).
  from algoperf import jax_sharding_utils  # pylint: disable=import-outside-toplevel
  train_step = make_train_step(workload, optimizer.step, label_smoothing, dropout_rate, grad_clip)
  return {'state': jax_sharding_utils.replicate(optimizer.init(params)), 'train_step': train_step}


def update(workload: spec.Workload, params, model_state, batch, optimizer_state: dict, global_step: int, rng):
  """One training step on the state init_state made; returns the API's (optimizer_state, params, model_state)."""
  new_state, new_params, new_model_state, loss, grad_norm = optimizer_state['train_step'](
      optimizer_state['state'], params, model_state, batch, rng)
  log_every(workload, global_step, loss, grad_norm)
  return {'state': new_state, 'train_step': optimizer_state['train_step']}, new_params, new_model_state
