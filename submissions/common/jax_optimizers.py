"""The element-wise update rules for JAX submissions: one kernel path and one plain path per rule.

Each factory returns an object with `init(params) -> state` and
`step(grads, state, params) -> (new_params, new_state)` (algoperf_kernels.optax_ops' fast form), to be
called inside the submission's jitted train step with params and state donated (jax_train.make_train_step).
By default the step runs on the fused kernels (`algoperf_kernels.optax_ops`); with ALGOPERF_KERNELS=off it
is the plain jax.numpy formula below, the same math (submissions.md §0), kept once for every submission.
`learning_rate` is a float or a function of the update count (the number of updates already applied).
"""
from typing import Any, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp

from submissions.common import kernel_switch

Schedule = Union[float, Callable[[jax.Array], jax.Array]]


class Optimizer(NamedTuple):
  init: Callable
  step: Callable


def _lr(learning_rate: Schedule, count):
  return learning_rate(count) if callable(learning_rate) else learning_rate


def _zeros(params):
  return jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)


class NadamState(NamedTuple):
  count: jax.Array
  mu: Any
  nu: Any


def plain_nadamw(learning_rate: Schedule, b1: float, b2: float, eps: float = 1e-8, weight_decay: float = 0.0,
                 power: float = 2.0, nesterov: bool = True) -> Optimizer:
  """NAdamW (NadamP for power != 2): v accumulates g^2 for every p; only the root of v_hat changes.

  m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; m_bar = (b1 m + (1-b1) g)/(1-b1^t); v_hat = v/(1-b2^t);
  p <- p - lr (m_bar / (v_hat^(1/power) + eps) + wd p). nesterov=False is AdamW: m_bar = m/(1-b1^t).
  """

  def init(params):
    return NadamState(jnp.zeros([], jnp.int32), _zeros(params), _zeros(params))

  def step(grads, state, params):
    # In torch's AdamW order (decay, then the step of size lr/(1-b1^t)), as the kernel and the PyTorch
    # plain path compute it, so the paths agree to rounding.
    lr = _lr(learning_rate, state.count)
    count = state.count + 1
    t = count.astype(jnp.float32)
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    mu = jax.tree.map(lambda m, g: m + (1 - b1) * (g - m), state.mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)

    def update(p, g, m, v):
      numerator = m + (1 - b1) * (g - m) if nesterov else m
      denom = jnp.sqrt(v) / jnp.sqrt(bc2) + eps if power == 2.0 else jnp.power(v / bc2, 1.0 / power) + eps
      return p * (1 - lr * weight_decay) + (-lr / bc1) * numerator / denom

    return jax.tree.map(update, params, grads, mu, nu), NadamState(count, mu, nu)

  return Optimizer(init, step)


def nadamw(learning_rate: Schedule, b1: float, b2: float, eps: float = 1e-8, weight_decay: float = 0.0,
           power: float = 2.0) -> Optimizer:
  """The AlgoPerf NAdamW / NadamP on the kernels (op `adam`, nesterov) or the plain path."""
  if not kernel_switch.kernels_enabled():
    return plain_nadamw(learning_rate, b1, b2, eps, weight_decay, power)
  from algoperf_kernels import optax_ops  # pylint: disable=import-outside-toplevel
  fused = optax_ops.nadamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, power=power)
  return Optimizer(fused.init, fused.step)


class TraceState(NamedTuple):
  count: jax.Array
  trace: Any


def plain_nesterov_sgd(learning_rate: Schedule, momentum: float, weight_decay: float = 0.0,
                       nesterov: bool = True) -> Optimizer:
  """optax.trace(momentum, nesterov=True), add_decayed_weights(wd), -lr: heavy ball without dampening.

  b = g + momentum b; d = g + momentum b; p <- p - lr (d + wd p). nesterov=False is heavy ball: d = b.
  """

  def init(params):
    return TraceState(jnp.zeros([], jnp.int32), _zeros(params))

  def step(grads, state, params):
    lr = _lr(learning_rate, state.count)
    trace = jax.tree.map(lambda b, g: g + momentum * b, state.trace, grads)
    new_params = jax.tree.map(lambda p, g, b: p - lr * (((g + momentum * b) if nesterov else b) + weight_decay * p),
                              params, grads, trace)
    return new_params, TraceState(state.count + 1, trace)

  return Optimizer(init, step)


def nesterov_sgd(learning_rate: Schedule, momentum: float, weight_decay: float = 0.0) -> Optimizer:
  """Generalized Adam's SGD branch on the kernels (op `sgd`, nesterov) or the plain path."""
  if not kernel_switch.kernels_enabled():
    return plain_nesterov_sgd(learning_rate, momentum, weight_decay)
  from algoperf_kernels import optax_ops  # pylint: disable=import-outside-toplevel
  fused = optax_ops.sgd(learning_rate, momentum, nesterov=True, weight_decay=weight_decay)
  return Optimizer(fused.init, fused.step)


class AdamGState(NamedTuple):
  count: jax.Array
  mu: Any
  nu: Any
  num: Any


def plain_adamg(learning_rate: Schedule, b1: float = 0.95, b2: float = 0.999, b3: float = 0.95,
                eps: float = 1e-8, p_num: float = 0.2, q_num: float = 0.24) -> Optimizer:
  """AdamG (submissions.md §3.6; weight decay is 0 in the published point and not offered).

  v = b2 v + (1-b2) g^2; n = b3 n + (1-b3) p_num v^q_num; m = b1 m + (1-b1) g n;
  p <- p - min(1/sqrt(t), lr_t) (m/(1-b1^t)) / (sqrt(v)/sqrt(1-b2^t) + eps).
  """

  def init(params):
    return AdamGState(jnp.zeros([], jnp.int32), _zeros(params), _zeros(params), _zeros(params))

  def step(grads, state, params):
    count = state.count + 1
    t = count.astype(jnp.float32)
    lr = jnp.minimum(1.0 / jnp.sqrt(t), _lr(learning_rate, state.count))
    bc1, sqrt_bc2 = 1 - b1**t, jnp.sqrt(1 - b2**t)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
    num = jax.tree.map(lambda n, v: b3 * n + (1 - b3) * p_num * jnp.power(v, q_num), state.num, nu)
    mu = jax.tree.map(lambda m, g, n: b1 * m + (1 - b1) * g * n, state.mu, grads, num)
    new_params = jax.tree.map(lambda p, m, v: p - lr * (m / bc1) / (jnp.sqrt(v) / sqrt_bc2 + eps), params, mu, nu)
    return new_params, AdamGState(count, mu, nu, num)

  return Optimizer(init, step)


def adamg(learning_rate: Schedule, b1: float = 0.95, b2: float = 0.999, b3: float = 0.95, eps: float = 1e-8,
          p_num: float = 0.2, q_num: float = 0.24) -> Optimizer:
  """AdamG on the kernels (op `adamg`) or the plain path."""
  if not kernel_switch.kernels_enabled():
    return plain_adamg(learning_rate, b1, b2, b3, eps, p_num, q_num)
  from algoperf_kernels import optax_ops  # pylint: disable=import-outside-toplevel
  fused = optax_ops.adamg(learning_rate, b1=b1, b2=b2, b3=b3, eps=eps, p_num=p_num, q_num=q_num)
  return Optimizer(fused.init, fused.step)


class AmosState(NamedTuple):
  count: jax.Array
  mu: Any
  nu: Any
  b: Any


class _JnpOps:
  sqrt = staticmethod(jnp.sqrt)
  maximum = staticmethod(jnp.maximum)
  where = staticmethod(jnp.where)

  @staticmethod
  def mean(x, axes):
    return jnp.mean(x, axis=axes, keepdims=True)


def _path_names(path):
  return [str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k)))) for k in path]


class _AmosKernels:
  """amos_rules.kernel_step's two passes through XLA FFI (algoperf_kernels.jax_ops; in place when donated)."""

  def __init__(self, b1: float, b2: float):
    self.hyper = dict(beta1=b1, beta2=b2)

  def sums(self, reduced, gs, mus, nus, **dyn):
    from algoperf_kernels import core, jax_ops  # pylint: disable=import-outside-toplevel
    new, sums = jax_ops.apply('amos_sums', [gs, mus, nus], self.hyper, dyn, flags=core.flags_for(reduced=reduced))
    return new[1], new[2], [sums[i] for i in range(len(gs))]

  def step(self, reduced, ps, gs, mus, nus, **dyn):
    from algoperf_kernels import core, jax_ops  # pylint: disable=import-outside-toplevel
    new = jax_ops.apply('amos_step', [ps, gs, mus, nus], self.hyper, dyn, flags=core.flags_for(reduced=reduced))
    return new[0], (new[2] if reduced else mus)


def amos(params, style: str, b1: float, b2: float, l2: float, converge: float, warmup: float, step_hint: int,
         eta_override: float = -1.0, clip_norm: float = 1.0) -> Optimizer:
  """Amos (submissions.md §2.7) after optax.clip_by_global_norm(clip_norm); the rules are amos_rules'.

  By default the variables whose reduced shape is one value (all but per-row embeddings and per-head
  attention kernels) step on the fused kernels, two passes (amos_rules.kernel_step); the others, and every
  variable with ALGOPERF_KERNELS=off, run amos_rules' leaf functions in jax.numpy (the same math).
  """
  from submissions.common import amos_rules  # pylint: disable=import-outside-toplevel
  paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  metas = [amos_rules.meta(_path_names(path), leaf.shape, eta_override) for path, leaf in paths_leaves]
  xi = amos_rules.xi(max(m.k for m in metas), converge, step_hint, warmup)
  warmup_steps = int(warmup * step_hint)
  leaf_fn = amos_rules.adam_leaf if style == 'adam' else amos_rules.reduced_leaf
  use_kernels = kernel_switch.kernels_enabled()
  kernel_leaves = [use_kernels and leaf.dtype == jnp.float32 and amos_rules.reduces_whole_tensor(leaf.shape, m)
                   for (_, leaf), m in zip(paths_leaves, metas)]
  kernels = _AmosKernels(b1, b2)

  def init(params):
    leaves = treedef.flatten_up_to(params)
    shapes = [amos_rules.state_shapes(leaf.shape, m, style) for leaf, m in zip(leaves, metas)]
    zeros = lambda shape: jnp.zeros(shape, jnp.float32)
    unflat = lambda xs: jax.tree.unflatten(treedef, xs)
    return AmosState(jnp.zeros([], jnp.int32), unflat([zeros(l.shape) for l in leaves]),
                     unflat([zeros(s[0]) for s in shapes]), unflat([zeros(s[1]) for s in shapes]))

  def step(grads, state, params):
    g_leaves = treedef.flatten_up_to(grads)
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in g_leaves))
    scale = jnp.where(norm < clip_norm, 1.0, clip_norm / norm)
    t = state.count.astype(jnp.float32)
    c_prev = jnp.where(t > 0, (1 - b2) / jnp.where(t > 0, 1 - b2**t, 1.0), 0.0)
    c_now = (1 - b2) / (1 - b2**(t + 1))
    xi_t = amos_rules.xi_at(t, xi, warmup_steps, xp=jnp)
    columns = (treedef.flatten_up_to(params), g_leaves, treedef.flatten_up_to(state.mu),
               treedef.flatten_up_to(state.nu), treedef.flatten_up_to(state.b), metas)
    out = [None] * len(metas)
    fused = [i for i in range(len(metas)) if kernel_leaves[i]]
    if fused:
      new = amos_rules.kernel_step(_JnpOps, kernels, style, *([col[i] for i in fused] for col in columns), scale,
                                   c_prev, c_now, xi_t, b1, b2, l2)
      for j, i in enumerate(fused):
        out[i] = tuple(x[j] for x in new)
    for i in range(len(metas)):
      if out[i] is None:
        p, g, mu, nu, b, m = (col[i] for col in columns)
        out[i] = leaf_fn(_JnpOps, p, g * scale, mu, nu, b, c_prev, c_now, xi_t, m, b1, b2, l2)
    unflat = lambda i: jax.tree.unflatten(treedef, [o[i] for o in out])
    return unflat(0), AmosState(state.count + 1, unflat(1), unflat(2), unflat(3))

  return Optimizer(init, step)


# Target-setting algorithms (tools/target_setting): AdamW and heavy-ball momentum ----------------------------


def adamw(learning_rate: Schedule, b1: float, b2: float, eps: float = 1e-8, weight_decay: float = 0.0) -> Optimizer:
  """AdamW with the decay multiplied by lr (torch's form) on the kernels (op `adam`) or the plain path."""
  if not kernel_switch.kernels_enabled():
    return plain_nadamw(learning_rate, b1, b2, eps, weight_decay, nesterov=False)
  from algoperf_kernels import optax_ops  # pylint: disable=import-outside-toplevel
  fused = optax_ops.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  return Optimizer(fused.init, fused.step)


def heavy_ball_sgd(learning_rate: Schedule, momentum: float, weight_decay: float = 0.0) -> Optimizer:
  """Heavy-ball momentum b = g + momentum b; p <- p - lr (b + wd p), on the kernels (op `sgd`) or plain."""
  if not kernel_switch.kernels_enabled():
    return plain_nesterov_sgd(learning_rate, momentum, weight_decay, nesterov=False)
  from algoperf_kernels import optax_ops  # pylint: disable=import-outside-toplevel
  fused = optax_ops.sgd(learning_rate, momentum, nesterov=False, weight_decay=weight_decay)
  return Optimizer(fused.init, fused.step)
