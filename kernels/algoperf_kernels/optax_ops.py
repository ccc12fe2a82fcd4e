"""optax-style optimizers over the fused XLA FFI kernels.

Two forms, because an in-place kernel and optax's update convention pull in different ways:

* `opt.step(grads, state, params) -> (new_params, new_state)`: the fast form, in place when
  jitted with params and state donated: use `opt.jit_step()`, which donates them in the order
  the results come back (params, then state). jax pairs donated buffers with results of the
  same shape first-come first-served, so a plain `jax.jit(opt.step, donate_argnums=(1, 2))`
  pairs state buffers with param results and XLA inserts copies. One pass over memory
  (28 bytes per fp32 parameter for AdamW) and no allocation.
* `opt.transformation()`: an `optax.GradientTransformation` for drop-in use with
  `optax.apply_updates`. It must return updates and leave params intact, so XLA copies params
  before the kernel, and the updates (new - old) and `apply_updates` are two more passes:
  about 2x the memory traffic of `step`, and `old + (new - old)` may differ from `new` in the
  last bit.

State: count (int32, updates applied), mu/nu (fp32), and for bf16 params an fp32 master copy.
learning_rate may be a float or an optax schedule of count (evaluated inside jit; its value
reaches the kernel as data, so a changing lr never recompiles).
"""
from typing import Any, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp
import optax

from algoperf_kernels import core
from algoperf_kernels import jax_ops

Schedule = Union[float, Callable[[jax.Array], jax.Array]]


class AdamState(NamedTuple):
  count: jax.Array
  mu: Any
  nu: Any
  master: Any  # fp32 copies of bf16 leaves, None for fp32 leaves


class SgdState(NamedTuple):
  count: jax.Array
  trace: Any
  master: Any


def _lr(learning_rate: Schedule, count):
  return learning_rate(count) if callable(learning_rate) else learning_rate


def _is_bf16(x):
  return jnp.dtype(x.dtype) == jnp.bfloat16


def _masters(params):
  return jax.tree.map(lambda p: p.astype(jnp.float32) if _is_bf16(p) else None, params)


def _zeros(params):
  return jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)


def _fused_update(op, params, grads, states, masters, hyper, dyn, nesterov=False, root=False):
  """Runs `op` over a pytree, one FFI call per dtype group; returns (params, states, masters)."""
  leaves, treedef = jax.tree.flatten(params)
  g = treedef.flatten_up_to(grads)
  st = [treedef.flatten_up_to(s) for s in states]
  ms = treedef.flatten_up_to(masters)
  new_p, new_st, new_m = list(leaves), [list(s) for s in st], list(ms)
  for bf16 in (False, True):
    idx = [i for i, x in enumerate(leaves) if _is_bf16(x) == bf16]
    if not idx:
      continue
    flags = core.flags_for(bf16=bf16, nesterov=nesterov, root=root)
    lists = [[leaves[i] for i in idx], [g[i] for i in idx]] + [[s[i] for i in idx] for s in st]
    if bf16:
      lists.append([ms[i] for i in idx])
    out = jax_ops.apply(op, lists, hyper, dyn, flags=flags)
    for j, i in enumerate(idx):
      new_p[i] = out[0][j]
      for k in range(len(st)):
        new_st[k][i] = out[2 + k][j]
      if bf16:
        new_m[i] = out[2 + len(st)][j]
  unflat = lambda xs: jax.tree.unflatten(treedef, xs)
  return unflat(new_p), [unflat(s) for s in new_st], unflat(new_m)


class FusedOptimizer:
  """init(params) -> state; step(grads, state, params) -> (new_params, new_state)."""

  def __init__(self, init, step):
    self.init = init
    self.step = step

  def jit_step(self):
    """jit(step) with params and state donated in result order: the in-place form."""
    inner = jax.jit(lambda params, state, grads: self.step(grads, state, params), donate_argnums=(0, 1))
    return lambda grads, state, params: inner(params, state, grads)

  def transformation(self) -> optax.GradientTransformation:
    """Drop-in optax form: returns updates = new_params - params (see the module docstring)."""
    def update(updates, state, params=None):
      if params is None:
        raise ValueError('this transformation needs params')
      new_params, new_state = self.step(updates, state, params)
      return jax.tree.map(lambda n, p: n - p, new_params, params), new_state
    return optax.GradientTransformation(self.init, update)


def adamw(learning_rate: Schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, nesterov=False,
          power=2.0) -> FusedOptimizer:
  """Fused AdamW (optax.adamw's math: u = -lr (m^/(sqrt(v^) + eps) + wd p), with torch's rounding
  order); nesterov=True is the AlgoPerf NAdamW, power != 2 NadamP."""
  hyper = dict(beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay, power=power)

  def init(params):
    return AdamState(jnp.zeros([], jnp.int32), _zeros(params), _zeros(params), _masters(params))

  def step(grads, state, params):
    count = optax.safe_increment(state.count) if hasattr(optax, 'safe_increment') else state.count + 1
    dyn = dict(lr=_lr(learning_rate, state.count), step=count)
    new_params, (mu, nu), master = _fused_update('adam', params, grads, [state.mu, state.nu], state.master,
                                                 hyper, dyn, nesterov=nesterov, root=float(power) != 2.0)
    return new_params, AdamState(count, mu, nu, master)

  return FusedOptimizer(init, step)


def nadamw(learning_rate: Schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, power=2.0):
  """The AlgoPerf NAdamW (and NadamP with power != 2)."""
  return adamw(learning_rate, b1, b2, eps, weight_decay, nesterov=True, power=power)


def sgd(learning_rate: Schedule, momentum=0.9, *, nesterov=False, weight_decay=0.0) -> FusedOptimizer:
  """optax.trace(momentum, nesterov) then add_decayed_weights(weight_decay) then -lr: the SGD
  branch of AlgoPerf's Generalized Adam."""
  hyper = dict(momentum=momentum, dampening=0.0, weight_decay=0.0, decoupled_weight_decay=weight_decay,
               dir_grad=1.0, dir_buf=momentum)

  def init(params):
    return SgdState(jnp.zeros([], jnp.int32), _zeros(params), _masters(params))

  def step(grads, state, params):
    dyn = dict(lr=_lr(learning_rate, state.count), first=0.0)
    new_params, (trace,), master = _fused_update('sgd', params, grads, [state.trace], state.master, hyper, dyn,
                                                 nesterov=nesterov)
    return new_params, SgdState(state.count + 1, trace, master)

  return FusedOptimizer(init, step)


def ema(emas, params, decay):
  """emas <- decay emas + (1-decay) params (fp32 emas; params fp32 or bf16). Donate emas."""
  leaves, treedef = jax.tree.flatten(params)
  e = treedef.flatten_up_to(emas)
  out = list(e)
  for bf16 in (False, True):
    idx = [i for i, x in enumerate(leaves) if _is_bf16(x) == bf16]
    if idx:
      new = jax_ops.apply('ema', [[e[i] for i in idx], [leaves[i] for i in idx]], {}, dict(weight=1.0 - decay),
                          flags=core.flags_for(bf16=bf16))
      for j, i in enumerate(idx):
        out[i] = new[0][j]
  return jax.tree.unflatten(treedef, out)




class AdamGState(NamedTuple):
  count: jax.Array
  mu: Any
  nu: Any
  num: Any     # AdamG's numerator average n
  master: Any


def adamg(learning_rate: Schedule, b1=0.95, b2=0.999, b3=0.95, eps=1e-8, *, p_num=0.2, q_num=0.24
          ) -> FusedOptimizer:
  """Fused AdamG (op `adamg`); the step size is min(1/sqrt(t), learning_rate(count))."""
  hyper = dict(beta1=b1, beta2=b2, beta3=b3, eps=eps, p_num=p_num, q_num=q_num)

  def init(params):
    return AdamGState(jnp.zeros([], jnp.int32), _zeros(params), _zeros(params), _zeros(params), _masters(params))

  def step(grads, state, params):
    count = state.count + 1
    dyn = dict(lr=_lr(learning_rate, state.count), step=count)
    new_params, (mu, nu, num), master = _fused_update('adamg', params, grads, [state.mu, state.nu, state.num],
                                                      state.master, hyper, dyn)
    return new_params, AdamGState(count, mu, nu, num, master)

  return FusedOptimizer(init, step)


__all__ = ['adamw', 'nadamw', 'sgd', 'ema', 'adamg', 'AdamState', 'SgdState', 'AdamGState', 'FusedOptimizer']
