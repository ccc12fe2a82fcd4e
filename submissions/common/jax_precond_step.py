"""The jitted JAX training step of the preconditioned submissions (Shampoo, CASPR).

Like jax_nadamw.make_train_step (same loss: mean over the valid examples of the global batch), but the
optimizer returns the new parameters itself (so the fused kernels can write them in place, params and state
donated) and the step takes static phase flags (whether to precondition, whether to recompute roots), so
each phase compiles once and the root computation costs nothing on the other steps.
"""
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from algoperf import spec


def make_train_step(workload: spec.Workload, optimizer, lr_fn: Callable, label_smoothing: float,
                    dropout_rate: Optional[float]) -> Callable:
  """(opt_state, params, model_state, batch, rng, phase) -> (opt_state, params, model_state, loss, grad_norm).

  phase: a hashable tuple of (name, bool) pairs, passed to optimizer.update as static keywords."""

  def step(opt_state, params, model_state, batch, rng, phase):

    def loss_fn(p):
      logits, new_model_state = workload.model_fn(
          p, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True,
          dropout_rate=dropout_rate)
      loss = workload.loss_fn(batch['targets'], logits, batch.get('weights'), label_smoothing)
      n_valid = jnp.maximum(loss['n_valid_examples'], 1)
      return loss['summed'] / n_valid, new_model_state

    (loss, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    grad_norm = optax.tree.norm(grads)
    lr = lr_fn(opt_state['count'])
    new_params, new_opt_state = optimizer.update(grads, opt_state, params, lr, **dict(phase))
    return new_opt_state, new_params, new_model_state, loss, grad_norm

  return jax.jit(step, donate_argnums=(0, 1), static_argnames=('phase',))
