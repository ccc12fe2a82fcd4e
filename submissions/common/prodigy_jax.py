"""Schedule-Free Prodigy for JAX (the math is in prodigy.py): one jitted step with the state donated.

The state holds x ('params'), z, v, s, x0 and the scalars d, D_num, sum w and k. The published step calls
its closure twice, at x (result discarded) and at y; here the pass at x updates the batch-norm statistics as
it did, and XLA drops its unused backward pass. The update runs on the fused kernels by default (XLA FFI, in place under the donated
state; see prodigy.py), on prodigy.py's jax.numpy formulas with ALGOPERF_KERNELS=off.
"""
from typing import Optional

import jax
import jax.numpy as jnp

from algoperf import jax_sharding_utils
from submissions.common import jax_grads
from submissions.common import kernel_switch
from submissions.common import prodigy


def init_state(params):
  copy = lambda: jax.tree.map(lambda p: jnp.array(p, jnp.float32, copy=True), params)
  zeros = lambda: jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
  scalar = lambda v: jnp.asarray(v, jnp.float32)
  state = {'params': copy(), 'z': copy(), 'x0': copy(), 'v': zeros(), 's': zeros(), 'd': scalar(prodigy.D0),
           'd_num': scalar(0.0), 'weight_sum': scalar(0.0), 'k': scalar(0.0)}
  return jax_sharding_utils.replicate(state)


def _kernel_reductions(grads, x0s, zs, ss, vs, d, dl, d_num):
  """prodigy.reductions on the fused kernels (op prodigy_sums: one pass, v and s in place, the two sums per
  tensor in float64); the same scalar formulas."""
  from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
  new, sums = jax_ops.apply('prodigy_sums', [grads, x0s, zs, vs, ss],
                            dict(beta2=prodigy.B2, sqrt_beta2=prodigy.B2**0.5),
                            dict(vc=(1.0 - prodigy.B2) * (d * d), ddl=d * dl))
  d_num = prodigy.B2**0.5 * d_num + d * dl * jnp.sum(sums[:, 0])
  return new[3], new[4], d_num, jnp.sum(sums[:, 1])


def _kernel_z_and_x(xs, grads, zs, vs, d_new, dl, c, weight_decay, moved):
  """prodigy.z_and_x on the fused kernels (op prodigy_step, x and z in place; a no-op unless `moved`)."""
  from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
  new = jax_ops.apply('prodigy_step', [xs, grads, zs, vs], {},
                      dict(wd_dl=weight_decay * dl, step=d_new * dl, eps_d=d_new * prodigy.EPS, c=c,
                           moved=moved.astype(jnp.float32)))
  return new[0], new[2]


class ProdigySteps:
  """The trial's jitted step. Callable (returns itself): checkpoints keep the fresh one."""

  def __init__(self, workload, weight_decay: float, dropout_rate: Optional[float] = None):
    warmup_steps = int(prodigy.WARMUP_FRACTION * workload.step_hint)
    use_kernels = kernel_switch.kernels_enabled()

    def step(state, model_state, batch, rng, global_step):
      rng_x, rng_y = jax.random.split(rng)
      x, z = state['params'], state['z']
      _, _, model_state = jax_grads.loss_and_grads(workload, x, model_state, batch, rng_x,
                                                   prodigy.LABEL_SMOOTHING, dropout_rate)
      y = jax.tree.map(lambda a, b: a + (1.0 - prodigy.B1) * (b - a), x, z)
      loss, grads, model_state = jax_grads.loss_and_grads(workload, y, model_state, batch, rng_y,
                                                          prodigy.LABEL_SMOOTHING, dropout_rate)
      leaves, treedef = jax.tree.flatten(x)
      g, zs, x0s, vs, ss = (treedef.flatten_up_to(state[k]) if k != 'g' else treedef.flatten_up_to(grads)
                            for k in ('g', 'z', 'x0', 'v', 's'))
      d = state['d']
      dl = d * prodigy.warmup_multiplier(jnp.asarray(global_step, jnp.float32), warmup_steps, jnp)
      if use_kernels:
        vs, ss, d_num, d_den = _kernel_reductions(g, x0s, zs, ss, vs, d, dl, state['d_num'])
      else:
        vs, ss, d_num, d_den = prodigy.reductions(jnp, g, x0s, zs, ss, vs, d, dl, state['d_num'])
      moved = d_den != 0.0
      d_new = jnp.maximum(d, prodigy.D_COEF * d_num / jnp.where(moved, d_den, 1.0))
      weight = (state['k'] + 1.0)**prodigy.R
      weight_sum = state['weight_sum'] + weight
      if use_kernels:
        new_xs, new_zs = _kernel_z_and_x(leaves, g, zs, vs, d_new, dl, weight / weight_sum, weight_decay, moved)
      else:
        new_xs, new_zs = prodigy.z_and_x(jnp, leaves, g, zs, vs, d_new, dl, weight / weight_sum, weight_decay)
      keep = lambda new, old: [jnp.where(moved, a, b) for a, b in zip(new, old)]
      unflat = lambda xs: jax.tree.unflatten(treedef, xs)
      new_state = {'params': unflat(keep(new_xs, leaves)), 'z': unflat(keep(new_zs, zs)), 'x0': state['x0'],
                   'v': unflat(vs), 's': unflat(ss), 'd': jnp.where(moved, d_new, d), 'd_num': d_num,
                   'weight_sum': jnp.where(moved, weight_sum, state['weight_sum']),
                   'k': jnp.where(moved, state['k'] + 1.0, state['k'])}
      return new_state, model_state, loss

    self.step = jax.jit(step, donate_argnums=(0,))

  def __call__(self):
    return self
