"""Schedule-free AdamW for JAX in its two published forms, on the fused sf_step kernel by default.

The forms are those of schedule_free_torch.py ('v0.6': the published optimizer, parameters hold y;
'v0.5': the closure form of the v0.5 submission, parameters hold x). The optimizer state holds the training
point ('params': y or x) with z and v; update_params trains from it, so whatever the runner passes back
(the evaluated x after prepare_for_eval) never leaks into training, and training resumes bit for bit.
The v0.5 form computes y = lerp(x, z, 1 - b1) as a separate array (the PyTorch form moves the parameters to
y and back in place, which rounds; the two agree to rounding). ALGOPERF_KERNELS=off runs the kernel's
formula in jax.numpy. Float32 parameters only.
"""
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from algoperf import jax_sharding_utils
from algoperf import spec
from submissions.common import jax_grads
from submissions.common import kernel_switch
from submissions.common import sf_math


def lerp_traced(a, b, w):
  """torch.lerp's two-branch form for a traced weight."""
  d = b - a
  return jnp.where(jnp.abs(w) < 0.5, a + w * d, b - d * (1.0 - w))


def init_state(params) -> Dict[str, Any]:
  copy = lambda tree: jax.tree.map(lambda p: jnp.array(p, dtype=jnp.float32, copy=True), tree)
  state = {'params': copy(params), 'z': copy(params),
           'v': jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)}
  return jax_sharding_utils.replicate(state)


def sf_update(params, grads, zs, vs, *, lr, step, c, beta1, beta2, eps, weight_decay, use_kernels):
  """The sf_step kernel over trees: returns (params, zs, vs)."""
  leaves, treedef = jax.tree.flatten(params)
  g, z, v = (treedef.flatten_up_to(t) for t in (grads, zs, vs))
  if use_kernels:
    from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
    out = jax_ops.apply('sf_step', [leaves, g, z, v],
                        dict(beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay),
                        dict(lr=lr, step=step, c=c))
    new_p, new_z, new_v = out[0], out[2], out[3]
  else:
    bc2 = 1.0 - jnp.float32(beta2)**jnp.asarray(step, jnp.float32)
    new_p, new_z, new_v = [], [], []
    for p_i, g_i, z_i, v_i in zip(leaves, g, z, v):
      v_i = beta2 * v_i + (1.0 - beta2) * g_i * g_i
      g_hat = g_i / (jnp.sqrt(v_i / bc2) + eps) + weight_decay * p_i
      new_p.append(lerp_traced(p_i, z_i, c) + lr * (beta1 * (1.0 - c) - 1.0) * g_hat)
      new_z.append(z_i - lr * g_hat)
      new_v.append(v_i)
  unflat = lambda xs: jax.tree.unflatten(treedef, xs)
  return unflat(new_p), unflat(new_z), unflat(new_v)


def swap(params, zs, weight: float, use_kernels: bool):
  """lerp(params, z, weight) as a new tree (params untouched)."""
  if use_kernels:
    from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
    leaves, treedef = jax.tree.flatten(params)
    out = jax_ops.apply('sf_swap', [leaves, treedef.flatten_up_to(zs)], {}, dict(weight=weight))
    return jax.tree.unflatten(treedef, out[0])
  from submissions.common import averaging_jax  # pylint: disable=import-outside-toplevel
  return jax.tree.map(lambda p, z: averaging_jax.lerp(p, z, weight), params, zs)


class ScheduleFreeSteps:
  """The jitted train step and eval-point function of one trial; built lazily for the form in force.

  Callable (it returns itself), so the runner's checkpoints treat it as code and keep the fresh one.
  """

  def __init__(self, workload: spec.Workload, lr: float, beta1: float, beta2: float, weight_decay: float,
               warmup_steps: int, label_smoothing: float, dropout_rate: Optional[float], r_by_form: Dict[str, float],
               eps: float = 1e-8, weight_lr_power: float = 2.0):
    self.workload, self.lr, self.beta1, self.beta2, self.eps = workload, lr, beta1, beta2, eps
    self.weight_decay, self.warmup_steps = weight_decay, int(warmup_steps)
    self.label_smoothing, self.dropout_rate = label_smoothing, dropout_rate
    self.r_by_form, self.weight_lr_power = dict(r_by_form), weight_lr_power
    self.use_kernels = kernel_switch.kernels_enabled()
    self._steps, self._coefficients = {}, {}
    self._to_x = jax.jit(lambda y, z: swap(y, z, 1.0 - 1.0 / self.beta1, self.use_kernels))

  def __call__(self):
    return self

  def train_step(self, form: str, k: int):
    """The jitted step of form `form` at step k (0-based), with its scalars bound."""
    if form not in self._steps:
      self._steps[form] = jax.jit(lambda state, model_state, batch, rng, scalars: self._step(
          form, state, model_state, batch, rng, scalars), donate_argnums=(0,))
    scalars = jnp.asarray(self._scalars(form, k), jnp.float32)
    return lambda state, model_state, batch, rng: self._steps[form](state, model_state, batch, rng, scalars)

  def _scalars(self, form: str, k: int):
    """(lr, step, c) of the kernel at step k, in float64 on the host: the averaging weights are a running
    sum over all steps, which float32 arithmetic inside jit would let drift. Derived from k alone (cached),
    so nothing but k (the runner's global_step) needs to be checkpointed."""
    k_next, lr_max, weight_sum, last = self._coefficients.get(form, (0, 0.0, 0.0, None))
    if k == k_next - 1:
      return last
    if k < k_next:  # An earlier step (a new trial state): start the sums again.
      k_next, lr_max, weight_sum = 0, 0.0, 0.0
    while k_next <= k:
      lr_k, lr_max, weight_sum, c = sf_math.sf_coefficients(
          np, k_next, self.lr, self.warmup_steps, lr_max, weight_sum, self.r_by_form[form], self.weight_lr_power,
          lr_floor=1e-8 if form == 'v0.5' else 0.0)
      if form == 'v0.5':
        last = (float(sf_math.closure_form_lr(np, lr_k, self.beta2, k_next)), sf_math.NO_BIAS_CORRECTION_STEP,
                float(c))
      else:
        last = (float(lr_k), float(k_next + 1), float(c))
      k_next += 1
    self._coefficients[form] = (k_next, lr_max, weight_sum, last)
    return last

  def eval_point(self, state):
    """x = lerp(y, z, 1 - 1/b1) from the v0.6 form's training point, as a new tree."""
    return self._to_x(state['params'], state['z'])

  def _step(self, form, state, model_state, batch, rng, scalars):
    point, z = state['params'], state['z']
    at = jax.tree.map(lambda x, zz: lerp_traced(x, zz, 1.0 - self.beta1), point, z) if form == 'v0.5' else point
    loss, grads, new_model_state = jax_grads.loss_and_grads(self.workload, at, model_state, batch, rng,
                                                            self.label_smoothing, self.dropout_rate)
    new_point, new_z, new_v = sf_update(point, grads, z, state['v'], lr=scalars[0], step=scalars[1], c=scalars[2],
                                        beta1=1.0 if form == 'v0.5' else self.beta1, beta2=self.beta2,
                                        eps=self.eps, weight_decay=self.weight_decay, use_kernels=self.use_kernels)
    return {'params': new_point, 'z': new_z, 'v': new_v}, new_model_state, loss
