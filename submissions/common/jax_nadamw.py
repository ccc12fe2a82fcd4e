"""NAdamW for JAX, in optax style, and the jitted training step the JAX submissions share.

NAdamW (submissions.md §0): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
m_bar = (b1 m + (1-b1) g) / (1-b1^t); v_hat = v / (1-b2^t);
p -= lr * (m_bar / (sqrt(v_hat + eps_root) + eps) + wd * p).
"""
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from algoperf import spec


class ScaleByNadamState(NamedTuple):
  count: jnp.ndarray
  mu: Any
  nu: Any


def scale_by_nadam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
                   debias: bool = True, power: float = 2.0) -> optax.GradientTransformation:
  """The NAdam direction; `power` = 2 is NAdam, other values give NadamP's p-th root denominator."""

  def init_fn(params):
    zeros = lambda p: jnp.zeros_like(p)
    return ScaleByNadamState(jnp.zeros([], jnp.int32), jax.tree.map(zeros, params), jax.tree.map(zeros, params))

  def update_fn(updates, state, params=None):
    del params
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * jnp.abs(g)**power, state.nu, updates)
    count = state.count + 1
    mu_nesterov = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, mu, updates)
    if debias:
      mu_hat = jax.tree.map(lambda m: m / (1 - b1**count), mu_nesterov)
      nu_hat = jax.tree.map(lambda v: v / (1 - b2**count), nu)
    else:
      mu_hat, nu_hat = mu_nesterov, nu
    root = (lambda x: jnp.sqrt(x)) if power == 2.0 else (lambda x: jnp.power(x, 1.0 / power))
    updates = jax.tree.map(lambda m, v: m / (root(v + eps_root) + eps), mu_hat, nu_hat)
    return updates, ScaleByNadamState(count, mu, nu)

  return optax.GradientTransformation(init_fn, update_fn)


def nadamw(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
           debias: bool = True, weight_decay: float = 0.0, weight_decay_mask=None,
           power: float = 2.0) -> optax.GradientTransformation:
  return optax.chain(
      scale_by_nadam(b1, b2, eps, eps_root, debias, power),
      optax.add_decayed_weights(weight_decay, weight_decay_mask),
      optax.scale_by_learning_rate(learning_rate))


def make_train_step(workload: spec.Workload, update_fn: Callable, label_smoothing: float,
                    dropout_rate: Optional[float], grad_clip: Optional[float]) -> Callable:
  """A jitted (opt_state, params, model_state, batch, rng) -> (..., loss, grad_norm) step.

  The loss is the mean over the valid examples of the (global) batch; params and the optimizer state are
  donated, so XLA updates them in place.
  """

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
    updates, new_optimizer_state = update_fn(grads, optimizer_state, params)
    new_params = optax.apply_updates(params, updates)
    return new_optimizer_state, new_params, new_model_state, loss, grad_norm

  return jax.jit(step, donate_argnums=(0, 1))


def log_every(workload: spec.Workload, global_step: int, loss, grad_norm, period: int = 100) -> None:
  """Logs loss and grad_norm every `period` steps (only then are the values fetched from the device)."""
  if workload.metrics_logger is not None and global_step % period == 0:
    workload.metrics_logger.append_scalar_metrics(
        {'loss': float(loss), 'grad_norm': float(grad_norm)}, global_step)
