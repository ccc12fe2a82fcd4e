"""optax optimizers over the fused XLA FFI kernels.

Every factory returns a `FusedOptimizer`, which is an `optax.GradientTransformation` (so it goes
wherever optax's own does: `optax.chain`, `optax.inject_hyperparams`, `optax.MultiSteps`, flax's
`TrainState`) and also has the in-place form:

* `opt.update(grads, state, params) -> (updates, new_state)`: optax's convention. For AdamW the
  `adam_update` kernel reads params, grads and moments and writes the moments and the update
  over the gradient's buffer (params are only read, so XLA copies nothing before the kernel;
  inside a jitted train step the gradient is dead after the update, so XLA reuses its buffer
  and allocates nothing; a gradient that is still live is copied first): one pass of 28 bytes
  per fp32 parameter, then `optax.apply_updates` is a second pass of 12 (`apply_updates` here:
  the same result on the `triad` kernel, in place over donated params; XLA's own add is slow on
  the CPU for leaves with a small minor dimension, such as 3x3 convolution kernels).
* `opt.step(grads, state, params) -> (new_params, new_state)`: the in-place form, one pass of 28
  bytes and no allocation when jitted with params and state donated: use `opt.jit_step()`, which
  donates them in the order the results come back (jax pairs donated buffers with results of the
  same shape first come first served, so a plain `jax.jit(opt.step, donate_argnums=(1, 2))`
  pairs state buffers with param results and XLA inserts copies).

State: count (int32, updates applied), mu/nu (float32; float64 for float64 params) and, for bf16
params, an fp32 master copy that only `step` uses (call `sync_master` after editing params
outside the optimizer). learning_rate (and weight_decay) may be a float or an optax schedule of
count; every hyper-parameter reaches the kernel as data, so a schedule or `inject_hyperparams`
never recompiles.

Leaves of other dtypes (float16, float64) take a jnp fallback with the same formula; the
kernels run float32 and bfloat16.
"""
from typing import Any, Callable, NamedTuple, Optional, Union

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
  master: Any  # fp32 copies of bf16 leaves (used by `step` only), None for other leaves


class SgdState(NamedTuple):
  count: jax.Array
  trace: Any
  master: Any


def _lr(learning_rate: Schedule, count):
  return learning_rate(count) if callable(learning_rate) else learning_rate


def _is_bf16(x):
  return jnp.dtype(x.dtype) == jnp.bfloat16


def _kind(x):
  """'f32' and 'bf16' run on the kernels; anything else takes the jnp fallback."""
  dt = jnp.dtype(x.dtype)
  return 'bf16' if dt == jnp.bfloat16 else 'f32' if dt == jnp.float32 else 'other'


def _state_dtype(p):
  return jnp.float64 if jnp.dtype(p.dtype) == jnp.float64 else jnp.float32


def _masters(params):
  return jax.tree.map(lambda p: p.astype(jnp.float32) if _is_bf16(p) else None, params)


def _zeros(params):
  # zeros_like keeps the params' sharding (and device); under jit the partitioner propagates it.
  return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=_state_dtype(p)), params)


def sync_master(state, params):
  """Returns `state` with its fp32 master copies refreshed from (edited) bf16 `params`.

  `step` updates the fp32 master and rewrites the bf16 params from it, so an edit made to the
  bf16 params alone would be undone at the next step: call this after such an edit."""
  if getattr(state, 'master', None) is None:
    return state
  return state._replace(master=_masters(params))


def _concrete(value):
  """A Python float for a concrete number, None for a tracer or a schedule (not checkable)."""
  if callable(value):
    return None
  try:
    return float(value)
  except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
    return None


def _check(fn, name, value, lo, hi=None, hi_open=True):
  v = _concrete(value)
  if v is None:
    return
  bad = v < lo or (hi is not None and (v >= hi if hi_open else v > hi)) or v != v
  if bad:
    rng = f'in [{lo}, {hi})' if hi is not None and hi_open else f'in [{lo}, {hi}]' if hi is not None else f'>= {lo}'
    raise ValueError(f'{fn}: {name}={value} is invalid; it must be {rng}')


def _decay_flags(mask, params, treedef):
  """optax's mask: a pytree (or prefix) of bools, or a callable of params returning one."""
  n = treedef.num_leaves
  if mask is None:
    return [True] * n
  tree = mask(params) if callable(mask) else mask
  full = jax.tree.map(lambda m, sub: jax.tree.map(lambda _: m, sub), tree, params)
  return [bool(m) for m in treedef.flatten_up_to(full)]


def _fused_update(op, params, grads, states, masters, hyper, dyn, nesterov=False, root=False, decay=None):
  """Runs the in-place `op` over a pytree, one FFI call per (dtype, decay) group; returns
  (params, states, masters). decay: per-leaf bools, False zeroes hyper['weight_decay']."""
  leaves, treedef = jax.tree.flatten(params)
  g = treedef.flatten_up_to(grads)
  st = [treedef.flatten_up_to(s) for s in states]
  ms = treedef.flatten_up_to(masters)
  decay = [True] * len(leaves) if decay is None else decay
  new_p, new_st, new_m = list(leaves), [list(s) for s in st], list(ms)
  for i, x in enumerate(leaves):
    if _kind(x) == 'other':
      raise ValueError(f'{op}: the in-place step takes float32 and bfloat16 leaves; leaf {i} is {x.dtype} '
                       '(use update(), the optax form, which falls back to jnp for other dtypes)')
  for bf16 in (False, True):
    for on in (True, False):
      idx = [i for i, x in enumerate(leaves) if _is_bf16(x) == bf16 and decay[i] == on]
      if not idx:
        continue
      flags = core.flags_for(bf16=bf16, nesterov=nesterov, root=root)
      lists = [[leaves[i] for i in idx], [g[i].astype(leaves[i].dtype) for i in idx]]
      lists += [[s[i] for i in idx] for s in st]
      if bf16:
        lists.append([ms[i] for i in idx])
      h = hyper if on else dict(hyper, weight_decay=0.0)
      out = jax_ops.apply(op, lists, h, dyn, flags=flags)
      for j, i in enumerate(idx):
        new_p[i] = out[0][j]
        for k in range(len(st)):
          new_st[k][i] = out[2 + k][j]
        if bf16:
          new_m[i] = out[2 + len(st)][j]
  unflat = lambda xs: jax.tree.unflatten(treedef, xs)
  return unflat(new_p), [unflat(s) for s in new_st], unflat(new_m)


class FusedOptimizer(optax.GradientTransformation):
  """An optax.GradientTransformation (init, update) with the in-place `step` and `jit_step`.

  FusedOptimizer(init, step) alone derives `update` from `step` (updates = new - old: params
  are copied before the in-place kernel and the subtraction is another pass); the factories in
  this module pass a real `update`."""

  def __new__(cls, init, step, update=None):
    if update is None:
      def update(updates, state, params=None):
        if params is None:
          raise ValueError('this transformation needs params: call update(grads, state, params)')
        new_params, new_state = step(updates, state, params)
        return jax.tree.map(lambda n, p: n - p, new_params, params), new_state
    self = super().__new__(cls, init, update)
    self.step = step
    return self

  def jit_step(self):
    """jit(step) with params and state donated in result order: the in-place form."""
    inner = jax.jit(lambda params, state, grads: self.step(grads, state, params), donate_argnums=(0, 1))
    return lambda grads, state, params: inner(params, state, grads)

  def transformation(self) -> optax.GradientTransformation:
    """The optax form (kept for old callers): the optimizer itself is one."""
    return self


def _adam_update_jnp(p, g, m, v, *, lr, count, b1, b2, eps, eps_root, wd, power, nesterov):
  """The adam_update formula in jnp, for leaves the kernels do not take (float16, float64)."""
  dt = m.dtype
  g, p = g.astype(dt), p.astype(dt)
  t = count.astype(dt)
  m = b1 * m + (1 - b1) * g
  v = b2 * v + (1 - b2) * g * g
  num = b1 * m + (1 - b1) * g if nesterov else m
  vh = v / (1 - b2 ** t) + eps_root
  den = (jnp.sqrt(vh) if _concrete(power) == 2.0 else vh ** (1.0 / power)) + eps
  return -lr * (num / (1 - b1 ** t) / den + wd * p), m, v


def adamw(learning_rate: Schedule, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, weight_decay=1e-4,
          mask=None, *, nesterov=False, power=2.0) -> FusedOptimizer:
  """Fused AdamW with optax.adamw's signature and defaults.

  update: u = -lr (m^ / (sqrt(v^ + eps_root) + eps) + wd p) with m^ = m/(1-b1^t), v^ = v/(1-b2^t),
  and weight decay only where `mask` is True (optax's mask: a pytree or a callable of params).
  Names whose meaning differs from optax.adamw's:
    nesterov: True is the AlgoPerf NAdamW numerator (b1 m_t + (1-b1) g)/(1-b1^t); optax's
      nesterov=True uses b1 m_t/(1-b1^(t+1)) + (1-b1) g/(1-b1^t).
    mu_dtype: None keeps float32 moments (optax: the params' dtype); float32 is the only other
      value the kernels take.
    power (ours only): != 2 is NadamP's (v^ + eps_root)^(1/power) denominator.
  step (in place) follows torch.optim.AdamW's rounding order: p (1 - lr wd) - lr m^/(sqrt(v)/sqrt(bc2)
  + eps); it has no eps_root.
  """
  for name, value, lo, hi in (('learning_rate', learning_rate, 0.0, None), ('b1', b1, 0.0, 1.0),
                              ('b2', b2, 0.0, 1.0), ('eps', eps, 0.0, None), ('eps_root', eps_root, 0.0, None),
                              ('weight_decay', weight_decay, 0.0, None)):
    _check('adamw', name, value, lo, hi)
  if _concrete(power) is not None and _concrete(power) <= 0:
    raise ValueError(f'adamw: power={power} must be positive')
  if mu_dtype is not None and jnp.dtype(mu_dtype) != jnp.float32:
    raise ValueError(f'adamw: mu_dtype={jnp.dtype(mu_dtype).name} is not supported (the kernels keep float32 '
                     'moments); pass mu_dtype=None or jnp.float32, or use optax.adamw')

  def init(params):
    return AdamState(jnp.zeros([], jnp.int32), _zeros(params), _zeros(params), _masters(params))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError('adamw: update() needs params (the kernel reads them for weight decay); '
                       'call update(grads, state, params)')
    count = optax.safe_increment(state.count)
    lr = _lr(learning_rate, state.count)
    wd = _lr(weight_decay, state.count)
    leaves, treedef = jax.tree.flatten(params)
    g = treedef.flatten_up_to(updates)
    mu, nu = treedef.flatten_up_to(state.mu), treedef.flatten_up_to(state.nu)
    decay = _decay_flags(mask, params, treedef)
    new_u, new_m, new_v = [None] * len(leaves), list(mu), list(nu)
    groups = {}
    for i, x in enumerate(leaves):
      groups.setdefault((_kind(x), decay[i]), []).append(i)
    for (kind, on), idx in sorted(groups.items()):
      wd_i = wd if on else 0.0
      if kind == 'other':
        for i in idx:
          u, new_m[i], new_v[i] = _adam_update_jnp(leaves[i], g[i], mu[i], nu[i], lr=lr, count=count, b1=b1, b2=b2,
                                                   eps=eps, eps_root=eps_root, wd=wd_i, power=power,
                                                   nesterov=nesterov)
          new_u[i] = u.astype(leaves[i].dtype)
        continue
      ps = [leaves[i] for i in idx]
      lists = [ps, [g[i].astype(leaves[i].dtype) for i in idx], [mu[i] for i in idx], [nu[i] for i in idx]]
      dyn = dict(lr=lr, step=count, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root, weight_decay=wd_i, power=power)
      out = jax_ops.apply('adam_update', lists, {}, dyn, flags=core.flags_for(bf16=kind == 'bf16',
                                                                              nesterov=nesterov))
      for j, i in enumerate(idx):
        new_u[i], new_m[i], new_v[i] = out[1][j], out[2][j], out[3][j]
    unflat = lambda xs: jax.tree.unflatten(treedef, xs)
    return unflat(new_u), AdamState(count, unflat(new_m), unflat(new_v), state.master)

  def step(grads, state, params):
    if _concrete(eps_root) != 0.0:
      raise ValueError('adamw: the in-place step() has no eps_root; use update() (the optax form) or eps_root=0')
    count = optax.safe_increment(state.count)
    dyn = dict(lr=_lr(learning_rate, state.count), step=count)
    hyper = dict(beta1=b1, beta2=b2, eps=eps, weight_decay=_concrete(weight_decay), power=power)
    if hyper['weight_decay'] is None:
      raise ValueError('adamw: the in-place step() takes a constant weight_decay; use update() for a schedule')
    leaves, treedef = jax.tree.flatten(params)
    new_params, (mu, nu), master = _fused_update('adam', params, grads, [state.mu, state.nu], state.master,
                                                 hyper, dyn, nesterov=nesterov, root=float(power) != 2.0,
                                                 decay=_decay_flags(mask, params, treedef))
    return new_params, AdamState(count, mu, nu, master)

  return FusedOptimizer(init, step, update)


def nadamw(learning_rate: Schedule, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, weight_decay=1e-4,
           mask=None, *, power=2.0) -> FusedOptimizer:
  """The AlgoPerf NAdamW (NadamP with power != 2): adamw(..., nesterov=True).

  Not optax.nadamw: the numerator here is (b1 m_t + (1-b1) g)/(1-b1^t), as in the AlgoPerf
  baseline; optax.nadamw uses b1 m_t/(1-b1^(t+1)) + (1-b1) g/(1-b1^t). Same signature as
  optax.nadamw otherwise."""
  return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=True, power=power)


def sgd(learning_rate: Schedule, momentum=0.9, *, nesterov=False, weight_decay=0.0) -> FusedOptimizer:
  """optax.trace(momentum, nesterov) then add_decayed_weights(weight_decay) then -lr: the SGD
  branch of AlgoPerf's Generalized Adam. (optax.sgd has no weight decay; its momentum default is
  None.) step runs the fused kernel; update is the same formula in jnp, which XLA fuses into one
  pass (20 bytes per parameter, as the kernel)."""
  _check('sgd', 'learning_rate', learning_rate, 0.0)
  _check('sgd', 'momentum', momentum, 0.0, 1.0, hi_open=False)
  _check('sgd', 'weight_decay', weight_decay, 0.0)
  hyper = dict(momentum=momentum, dampening=0.0, weight_decay=0.0, decoupled_weight_decay=weight_decay,
               dir_grad=1.0, dir_buf=momentum)

  def init(params):
    return SgdState(jnp.zeros([], jnp.int32), _zeros(params), _masters(params))

  def update(updates, state, params=None):
    if params is None and weight_decay:
      raise ValueError('sgd: update() needs params for weight decay; call update(grads, state, params)')
    lr = _lr(learning_rate, state.count)

    def one(g, buf, p):
      g32 = g.astype(buf.dtype)
      buf = g32 + momentum * buf
      d = g32 + momentum * buf if nesterov else buf
      if weight_decay:
        d = d + weight_decay * p.astype(buf.dtype)
      return (-lr * d).astype(g.dtype), buf
    p_tree = params if params is not None else updates
    pairs = jax.tree.map(one, updates, state.trace, p_tree)
    is_pair = lambda x: isinstance(x, tuple)
    u = jax.tree.map(lambda t: t[0], pairs, is_leaf=is_pair)
    trace = jax.tree.map(lambda t: t[1], pairs, is_leaf=is_pair)
    return u, SgdState(optax.safe_increment(state.count), trace, state.master)

  def step(grads, state, params):
    dyn = dict(lr=_lr(learning_rate, state.count), first=0.0)
    new_params, (trace,), master = _fused_update('sgd', params, grads, [state.trace], state.master, hyper, dyn,
                                                 nesterov=nesterov)
    return new_params, SgdState(state.count + 1, trace, master)

  return FusedOptimizer(init, step, update)


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


def apply_updates(params, updates):
  """optax.apply_updates with the same signature and result, bit for bit (p + u, cast to p's dtype).

  float32 leaves whose update is float32 of the same shape are added by the `triad` kernel
  (p + 1 * u: exact, the same rounding as p + u) in one call over all of them, written over the
  params' buffers: jit with params donated, as a train step does, and it is one pass of 12 bytes
  per parameter with nothing allocated (without donation XLA copies the params first). Other
  leaves take optax's own formula. Why: on the CPU, XLA's loop emitter runs `p + u` on leaves
  whose minor dimension is small (3x3 and 7x7 convolution kernels) far below memory speed (about
  25x slower than the same add on a flat array), so optax.apply_updates costs more than the
  update itself on a ResNet-50 parameter list. On GPUs XLA's add is already fast.
  """
  is_none = lambda x: x is None
  leaves, treedef = jax.tree.flatten(params, is_leaf=is_none)
  us = treedef.flatten_up_to(updates)
  idx = [i for i, (p, u) in enumerate(zip(leaves, us)) if _triad_ok(p, u)]
  on_kernel = set(idx)
  out = [None if p is None or i in on_kernel else jnp.asarray(p + u).astype(jnp.asarray(p).dtype)
         for i, (p, u) in enumerate(zip(leaves, us))]
  if idx:
    new = jax_ops.apply('triad', [None, [leaves[i] for i in idx], [us[i] for i in idx]], {}, dict(scalar=1.0),
                        write_over={0: 1})[0]
    for j, i in enumerate(idx):
      out[i] = new[j]
  return jax.tree.unflatten(treedef, out)


def _triad_ok(p, u):
  """Whether p + u can run on the kernel: two float32 arrays of one non-empty shape."""
  f32 = lambda x: isinstance(x, jax.Array) and jnp.dtype(x.dtype) == jnp.float32
  return f32(p) and f32(u) and p.shape == u.shape and p.size > 0


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


__all__ = ['adamw', 'nadamw', 'sgd', 'ema', 'adamg', 'sync_master', 'apply_updates', 'AdamState', 'SgdState',
           'AdamGState', 'FusedOptimizer']
