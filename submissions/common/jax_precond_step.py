"""The jitted JAX training step of the preconditioned submissions (Shampoo, CASPR).

Like jax_nadamw.make_train_step (same loss: mean over the valid examples of the global batch), but the
optimizer returns the new parameters itself (so the fused kernels can write them in place, params and state
donated) and the step takes phase flags (whether to precondition, whether to recompute roots). Two
executables, both compiled inside the timed budget:
- the warm-up one, for the steps before preconditioning starts: WARMUP_OFF flags are Python False, so the
  preconditioner's roots and directions are not in the program at all (the optimizer branches in Python);
- the main one, from the first preconditioning step on: every flag traced, the optimizer branches with
  lax.cond, so one executable serves every later step and the root computation runs only on its steps.
Why two: compiling the roots (CASPR's coupled Newton loops, Shampoo's eigh) took longer than a lite trial's
whole budget (CASPR JAX on lite OGBG: 7.6 s for its first step against a 5 s budget, so it never reached an
eval), for a computation that no step before the start step runs.
"""
import logging
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf import spec

log = logging.getLogger(__name__)


# Flags that are all False before preconditioning starts; the warm-up executable compiles them out. CASPR's
# 'fresh' (the step after a root refresh) is one: False until the first roots, and its per-block rescaling of
# R (a power iteration each) was 0.8 of the 4 s that compiling CASPR's warm-up step took on lite OGBG.
WARMUP_OFF = ('precondition_now', 'roots_now', 'fresh')


def make_train_step(workload: spec.Workload, optimizer, lr_fn: Callable, label_smoothing: float,
                    dropout_rate: Optional[float]) -> Callable:
  """(opt_state, params, model_state, batch, rng, phase) -> (opt_state, params, model_state, loss, grad_norm).

  phase: a dict of host booleans (precondition_now, roots_now, ...) for optimizer.update: compiled out while
  every WARMUP_OFF flag is False (the warm-up executable), traced from then on (the main one)."""

  def step(opt_state, params, model_state, batch, rng, traced_phase, static_phase):
    phase = {**traced_phase, **dict(static_phase)}

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
    new_params, new_opt_state = optimizer.update(grads, opt_state, params, lr, **phase)
    return new_opt_state, new_params, new_model_state, loss, grad_norm

  jitted = jax.jit(step, donate_argnums=(0, 1), static_argnums=(6,))

  def train_step(opt_state, params, model_state, batch, rng, phase):
    warmup = not any(phase.get(k) for k in WARMUP_OFF)
    static = tuple((k, False) for k in WARMUP_OFF if k in phase) if warmup else ()
    traced = {k: np.asarray(v) for k, v in phase.items() if not (warmup and k in WARMUP_OFF)}
    return jitted(opt_state, params, model_state, batch, rng, traced, static)

  return train_step


def make_host_step(optimizer, train_step: Callable, phase_fn: Callable, label: str) -> Callable:
  """The per-call driver kept in the optimizer state: picks the static phase for update t (1-based), runs the
  jitted step, and after a root computation warns once per block whose root failed (fetching only then).

  A function, not an object, so the runner's checkpoints keep it as code and restore a fresh one.
  """
  warned = set()

  def host_step(opt_state, params, model_state, batch, rng, t: int):
    phase = dict(phase_fn(t))
    out = train_step(opt_state, params, model_state, batch, rng, phase)
    if phase.get('roots_now'):
      for name in optimizer.failed_blocks(out[0]):
        if name not in warned:
          warned.add(name)
          log.warning('%s: the inverse root of %s failed at step %d; %s', label, name, t,
                      'the block takes the grafting update until a root succeeds.' if label == 'Shampoo' else
                      'the block keeps its previous preconditioner.')
    return out

  return host_step
