"""The mean training loss over the valid examples of a batch and its gradient (JAX), for submissions that
write their own jitted step (schedule-free, Prodigy, LAWA): the same loss as jax_nadamw.make_train_step."""
from typing import Optional

import jax
import jax.numpy as jnp

from algoperf import spec


def loss_and_grads(workload: spec.Workload, params, model_state, batch, rng, label_smoothing: float,
                   dropout_rate: Optional[float]):
  """(mean loss, grads, new model_state), with batch-norm statistics updated at `params`."""

  def loss_fn(p):
    logits, new_model_state = workload.model_fn(p, batch, model_state, spec.ForwardPassMode.TRAIN, rng,
                                                update_batch_norm=True, dropout_rate=dropout_rate)
    loss = workload.loss_fn(batch['targets'], logits, batch.get('weights'), label_smoothing)
    return loss['summed'] / jnp.maximum(loss['n_valid_examples'], 1), new_model_state

  (loss, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  return loss, grads, new_model_state


def log_loss_every(workload: spec.Workload, global_step: int, loss, period: int = 100) -> None:
  """Logs the training loss every `period` steps (only then is it fetched from the device)."""
  if workload.metrics_logger is not None and global_step % period == 0:
    workload.metrics_logger.append_scalar_metrics({'loss': float(loss)}, global_step)
