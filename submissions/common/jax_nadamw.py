"""Kept for submissions written against the first layout; new code imports jax_train and jax_optimizers.

`make_train_step` here takes an optax-style `update_fn` (returns updates), as before.
"""
from submissions.common import jax_optimizers
from submissions.common import jax_train

nadamw = jax_optimizers.nadamw
log_every = jax_train.log_every


def make_train_step(workload, update_fn, label_smoothing, dropout_rate, grad_clip):
  return jax_train.make_train_step(workload, jax_train.from_optax(update_fn), label_smoothing, dropout_rate,
                                   grad_clip)
