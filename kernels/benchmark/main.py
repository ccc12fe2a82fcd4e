"""Optimizer-step benchmark: our fused kernels against torch.optim (fused, foreach) and optax.

  bazel run //kernels:bench -- --out=/tmp/bench.json [--quick] [--sizes=1e6,resnet50] [--kernels=adamw]
  (or python -m benchmark.main from kernels/ with the package importable)

Every number comes from this run: a STREAM triad (a = b + s c, through the same kernel
machinery, 12 bytes counted per element as STREAM does) gives the bandwidth ceiling, and each
row's GB/s counts the bytes the update must move at least (AdamW fp32: 28 B/param). ms is the
median step time (ms_min the fastest); GB/s and ratios use the median. Ratios are baseline
time / our time, so above 1 means ours is faster. ratio_vs_optax compares with
jax.jit(optax.adamw step) as usually written (no donation); ratio_vs_optax_donated with the
same jit donating params and state. Framework jax-dropin is the optax form of ours
(tx.update then optax.apply_updates, jitted with params, state and the dead gradient donated, as
in a train step): its ratio to the jax row of ours (ratio_vs_jit_step: in-place time / its time) is
what the optax API costs (the apply pass).
jax-dropin-apply is the same with optax_ops.apply_updates (the apply pass on the triad kernel, in
place over the donated params) instead of optax.apply_updates, whose XLA:CPU add is slow on
leaves with a small minor dimension (3x3 convolutions). The triad is re-measured before each size (triad_gbps in
every row) because a shared machine's load drifts during a run. peak_extra_mb is the resident-memory peak over a few steps
after the timed ones above what was resident before them (all tensors and state allocated): temporaries.
"""
import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import algoperf_kernels as ak
from benchmark import resnet50

SIZES = {'1e5': 100_000, '1e6': 1_000_000, '1.6e7': 16_000_000, '1e8': 100_000_000, 'resnet50': None}
KERNELS = ('adamw', 'nadamw', 'adamw_bf16', 'sf_adamw', 'sgd_nesterov', 'ema', 'lawa_push', 'adamg', 'amos',
           'sf_prodigy')
# amos (style adam) and sf_prodigy need a reduction before the step, so two passes: amos_sums 20 + amos_step 16,
# prodigy_sums 28 + prodigy_step 24.
BYTES = {'adamw': 28, 'nadamw': 28, 'adamw_bf16': 28, 'sf_adamw': 28, 'sgd_nesterov': 20, 'ema': 12,
         'lawa_push': 20, 'adamg': 36, 'amos': 36, 'sf_prodigy': 52}


# ----------------------------------------------------------------------------------------------
# Measurement helpers.

def _read_status(key):
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith(key + ':'):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return None


def _reset_peak():
  gc.collect()
  try:
    ctypes.CDLL('libc.so.6').malloc_trim(0)
  except OSError:
    pass
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')  # resets VmHWM to the current RSS
    return True
  except OSError:
    return False


PEAK_STEPS = 3  # steps run after the timed ones to read the memory peak


def timed(fn, reps, warmup, sync=lambda out: None, cuda=False):
  """Median wall time in ms, the memory peak above the starting point in MB (host RSS, or the torch
  CUDA allocator's peak for CUDA rows), and the fastest time in ms.

  The peak is read over PEAK_STEPS further steps, after the timed ones: resetting it returns freed
  heap memory to the OS (malloc_trim), and steps right after that pay page faults a training loop
  never pays (the optax drop-in at 1e6 parameters: 0.58 ms against 0.35 ms)."""
  for _ in range(warmup):
    sync(fn())
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    sync(fn())
    times.append(time.perf_counter() - t0)
  if cuda:
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
  else:
    can_peak = _reset_peak()
    rss0 = _read_status('VmRSS')
  for _ in range(PEAK_STEPS):
    sync(fn())
  if cuda:
    extra = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
  else:
    peak = _read_status('VmHWM') if can_peak else None
    extra = None if peak is None or rss0 is None else max(0.0, peak - rss0)
  return statistics.median(times) * 1e3, extra, min(times) * 1e3


def shapes_for(size_name, layout='torch'):
  """The parameter shapes of a size; for resnet50 as the framework lays them out (torch or flax)."""
  if size_name == 'resnet50':
    return resnet50.param_shapes(layout)
  return [(SIZES[size_name],)]


# ----------------------------------------------------------------------------------------------
# torch cases: each returns a step function (tensors allocated up front).

def torch_case(kernel, variant, shapes, device='cpu'):
  import torch
  from algoperf_kernels import torch_ops, torch_optim
  dtype = torch.bfloat16 if kernel == 'adamw_bf16' else torch.float32
  params = [torch.nn.Parameter(torch.randn(s, device=device).to(dtype)) for s in shapes]
  for p in params:
    p.grad = torch.randn(p.shape, device=device).to(dtype)
  hp = dict(lr=1e-3, weight_decay=0.01)
  if kernel in ('adamw', 'adamw_bf16'):
    opt = {'ours': lambda: torch_optim.AdamW(params, **hp),
           'fused': lambda: torch.optim.AdamW(params, fused=True, **hp),
           'foreach': lambda: torch.optim.AdamW(params, foreach=True, **hp)}[variant]()
  elif kernel == 'nadamw':
    opt = {'ours': lambda: torch_optim.NAdamW(params, **hp),
           'foreach': lambda: torch.optim.NAdam(params, foreach=True, decoupled_weight_decay=True, **hp)}[variant]()
  elif kernel == 'sf_adamw':
    opt = torch_optim.ScheduleFreeAdamW(params, lr=1e-3, weight_decay=0.01, warmup_steps=10)
  elif kernel == 'sgd_nesterov':
    kw = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    opt = {'ours': lambda: torch_optim.SGD(params, **kw),
           'fused': lambda: torch.optim.SGD(params, fused=True, **kw),
           'foreach': lambda: torch.optim.SGD(params, foreach=True, **kw)}[variant]()
  elif kernel == 'ema':
    shadow = [p.detach().clone() for p in params]
    if variant == 'ours':
      return lambda: torch_ops.ema(shadow, params, decay=0.999)
    return lambda: torch._foreach_lerp_(shadow, [p.detach() for p in params], 0.001)
  elif kernel == 'lawa_push':
    sums = [torch.zeros_like(p) for p in params]
    slots = [torch.zeros_like(p) for p in params]
    if variant == 'ours':
      return lambda: torch_ops.lawa_push(sums, slots, params)
    detached = [p.detach() for p in params]

    def foreach():
      torch._foreach_sub_(sums, slots)
      torch._foreach_add_(sums, detached)
      torch._foreach_copy_(slots, detached)
    return foreach
  elif kernel == 'adamg':
    if variant == 'ours':
      opt = torch_optim.AdamG(params, lr=1e-3)
    else:
      return _torch_foreach_adamg(params)
  elif kernel in ('amos', 'sf_prodigy'):
    return _two_pass_case(kernel, variant == 'ours', TorchArrays(torch), [p.detach() for p in params],
                          [p.grad for p in params])
  else:
    raise KeyError(kernel)
  return opt.step


def _torch_foreach_adamg(params, lr=1e-3, b1=0.95, b2=0.999, b3=0.95, eps=1e-8, p_num=0.2, q_num=0.24):
  """AdamG with torch's foreach ops: the fastest plain-torch form to compare the fused op with."""
  import math
  import torch
  ps = [p.detach() for p in params]
  gs = [p.grad for p in params]
  ms, vs, ns = ([torch.zeros_like(p) for p in ps] for _ in range(3))
  box = {'t': 0}

  def step():
    box['t'] += 1
    t = box['t']
    torch._foreach_mul_(vs, b2)
    torch._foreach_addcmul_(vs, gs, gs, value=1 - b2)
    torch._foreach_mul_(ns, b3)
    torch._foreach_add_(ns, torch._foreach_pow(vs, q_num), alpha=(1 - b3) * p_num)
    torch._foreach_mul_(ms, b1)
    torch._foreach_add_(ms, torch._foreach_mul(gs, ns), alpha=1 - b1)
    den = torch._foreach_div(torch._foreach_sqrt(vs), math.sqrt(1 - b2**t))
    torch._foreach_add_(den, eps)
    torch._foreach_addcdiv_(ps, ms, den, value=-min(1 / math.sqrt(t), lr) / (1 - b1**t))
  return step


def _optax_adamg(lr=1e-3, b1=0.95, b2=0.999, b3=0.95, eps=1e-8, p_num=0.2, q_num=0.24):
  """AdamG as a plain jax.numpy optax transformation (what XLA fuses on its own)."""
  import jax
  import jax.numpy as jnp
  import optax

  def init(params):
    zeros = lambda: jax.tree.map(jnp.zeros_like, params)
    return (jnp.zeros([], jnp.int32), zeros(), zeros(), zeros())

  def update(g, state, params=None):
    count, m, v, n = state
    count = count + 1
    t = count.astype(jnp.float32)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
    n = jax.tree.map(lambda n, v: b3 * n + (1 - b3) * p_num * v**q_num, n, v)
    m = jax.tree.map(lambda m, g, n: b1 * m + (1 - b1) * g * n, m, g, n)
    size = jnp.minimum(1 / jnp.sqrt(t), lr) / (1 - b1**t)
    u = jax.tree.map(lambda m, v: -size * m / (jnp.sqrt(v) / jnp.sqrt(1 - b2**t) + eps), m, v)
    return u, (count, m, v, n)
  return optax.GradientTransformation(init, update)


TORCH_VARIANTS = {'adamw': ('ours', 'fused', 'foreach'), 'adamw_bf16': ('ours', 'fused', 'foreach'),
                  'nadamw': ('ours', 'foreach'), 'sf_adamw': ('ours',), 'sgd_nesterov': ('ours', 'fused', 'foreach'),
                  'ema': ('ours', 'foreach'), 'lawa_push': ('ours', 'foreach'), 'adamg': ('ours', 'foreach'),
                  'amos': ('ours', 'foreach'), 'sf_prodigy': ('ours', 'foreach')}


# ----------------------------------------------------------------------------------------------
# Two-pass steps (Amos style adam, Schedule-Free Prodigy): ours = pass 1 kernel (moments + per-tensor
# sums), the scalars, pass 2 kernel; the baseline ('foreach' in torch, 'optax' in JAX) is the same
# step written in the framework's tensor ops (per tensor, as the submissions' plain paths). The
# per-tensor scalar formulas are stand-ins of the right shape (the memory passes are what is timed;
# the exact formulas live in submissions/common).

B1, B2, TINY = 0.9, 0.999, 1.1754943508222875e-38


class TorchArrays:
  def __init__(self, torch):
    self.t = torch
    self.sqrt, self.abs, self.where = torch.sqrt, torch.abs, torch.where
    self.maximum = lambda x, y: torch.clamp(x, min=y)
    self.zeros = torch.zeros_like
    self.copy = lambda x: x.clone()
    self.sums = lambda op, lists, hyper, dyn: None


def _amos_plain(xp, p, g, mu, nu, c_prev=0.5, c_now=0.6):
  """Style adam on one tensor in framework ops; returns new (p, mu, nu)."""
  gg = g * g
  vp = c_prev * nu
  rho = xp.where(vp > 0, xp.maximum(gg / xp.where(vp > 0, vp / (1 - B2), 1.0), 1.0), 1.0)
  mu = (1 - B1) * (g / xp.sqrt(rho)) + B1 * mu
  nu = B2 * nu + gg / rho
  v_hat = c_now * nu
  g2 = (mu * mu).mean() / xp.maximum(v_hat.mean(), TINY)
  wd, e, d = -1e-4 * g2, 1e-3, 1.0 + 1e-3 * g2
  return p + (wd * p - e * (mu / xp.sqrt(xp.maximum(v_hat, TINY)))) / d, mu, nu


def _prodigy_plain(xp, x, g, x0, z, v, s, d=1e-3, dl=1e-3):
  """Both Prodigy passes in framework ops over lists; returns new (xs, zs, vs, ss)."""
  dot = sum((gi * (a - b)).sum() for gi, a, b in zip(g, x0, z))
  v = [B2 * vi + (1 - B2) * (d * d) * gi * gi for vi, gi in zip(v, g)]
  s = [B2**0.5 * si + (d * dl) * gi for si, gi in zip(s, g)]
  d_new = xp.maximum(d * dl * dot / sum(xp.abs(si).sum() for si in s), d)
  z = [zi - 1e-4 * xi - d_new * dl * gi / (xp.sqrt(vi) + d_new * 1e-8) for xi, gi, zi, vi in zip(x, g, z, v)]
  x = [0.99 * xi + 0.01 * zi for xi, zi in zip(x, z)]
  return x, z, v, s


def _two_pass_case(kernel, ours, xp, params, grads):
  """torch step function for amos / sf_prodigy (ours: the kernels in place; else framework ops)."""
  from algoperf_kernels import torch_ops
  mus, nus = [xp.zeros(p) for p in params], [xp.zeros(p) for p in params]
  if kernel == 'amos':
    if ours:
      def step():
        sums = torch_ops.amos_sums(grads, mus, nus, scale=1.0, v_prev=0.5, c_now=0.6, beta1=B1, beta2=B2).tolist()
        g2 = [a / max(b, TINY) for a, b in sums]
        torch_ops.amos_step(params, None, mus, nus, weight_decay=[-1e-4 * x for x in g2], e=1e-3,
                            d=[1.0 + 1e-3 * x for x in g2], beta1=B1, beta2=B2, c_now=0.6)
      return step

    def plain():
      for i, (p, g) in enumerate(zip(params, grads)):
        new_p, mus[i], nus[i] = _amos_plain(xp, p, g, mus[i], nus[i])
        p.copy_(new_p)
    return plain
  x0s, zs, ss = [xp.copy(p) for p in params], [xp.copy(p) for p in params], [xp.zeros(p) for p in params]
  if ours:
    def step():
      dot, den = torch_ops.prodigy_sums(grads, x0s, zs, nus, ss, vc=(1 - B2) * 1e-6, ddl=1e-6,
                                        beta2=B2).sum(0).tolist()
      d_new = max(1e-6 * dot / den, 1e-3) if den else 1e-3
      torch_ops.prodigy_step(params, grads, zs, nus, wd_dl=1e-7, step=d_new * 1e-3, eps_d=d_new * 1e-8, c=0.01)
    return step

  def plain():
    xs, new_zs, new_vs, new_ss = _prodigy_plain(xp, params, grads, x0s, zs, nus, ss)
    for dst, src in ((params, xs), (zs, new_zs), (nus, new_vs), (ss, new_ss)):
      for a, b in zip(dst, src):
        a.copy_(b)
  return plain


def _jax_two_pass(kernel, ours, params, grads):
  """(step, sync) for amos / sf_prodigy in JAX: ours through XLA FFI with state donated; the baseline the
  same step in jax.numpy (jitted, params and state donated too)."""
  import jax
  import jax.numpy as jnp
  from algoperf_kernels import jax_ops
  xp = jnp
  box = {'p': params}
  zeros = lambda: [jnp.zeros_like(p) for p in params]
  if kernel == 'amos':
    box['s'] = (zeros(), zeros())
    hyper = dict(beta1=B1, beta2=B2)

    def f(p, st, g):
      mu, nu = st
      if ours:
        (_, mu, nu), sums = jax_ops.apply('amos_sums', [g, mu, nu], hyper, dict(scale=1.0, v_prev=0.5, c_now=0.6))
        g2 = sums[:, 0] / jnp.maximum(sums[:, 1], TINY)
        new = jax_ops.apply('amos_step', [p, None, mu, nu], hyper,
                            dict(scale=1.0, v_prev=0.0, v_hat=0.6, weight_decay=list(-1e-4 * g2), e=1e-3,
                                 d=list(1.0 + 1e-3 * g2)))
        return new[0], (mu, nu)
      out = [_amos_plain(xp, *a) for a in zip(p, g, mu, nu)]
      return [o[0] for o in out], ([o[1] for o in out], [o[2] for o in out])
  else:
    box['s'] = ([jnp.copy(p) for p in params], [jnp.copy(p) for p in params], zeros(), zeros())

    def f(p, st, g):
      x0, z, v, s = st
      if ours:
        new, sums = jax_ops.apply('prodigy_sums', [g, x0, z, v, s], dict(beta2=B2, sqrt_beta2=B2**0.5),
                                  dict(vc=(1 - B2) * 1e-6, ddl=1e-6))
        v, s = new[3], new[4]
        tot = jnp.sum(sums, axis=0)
        d_new = jnp.maximum(1e-6 * tot[0] / tot[1], 1e-3)
        new = jax_ops.apply('prodigy_step', [p, g, z, v], {},
                            dict(wd_dl=1e-7, step=d_new * 1e-3, eps_d=d_new * 1e-8, c=0.01, moved=1.0))
        return new[0], (x0, new[2], v, s)
      xs, zs, vs, ss = _prodigy_plain(xp, p, g, x0, z, v, s)
      return xs, (x0, zs, vs, ss)
  inner = jax.jit(f, donate_argnums=(0, 1))

  def step():
    box['p'], box['s'] = inner(box['p'], box['s'], grads)
    return box['p']
  return step, lambda out: jax.block_until_ready(out)


# ----------------------------------------------------------------------------------------------
# JAX cases: each returns (step, sync).

def jax_case(kernel, variant, shapes, device='cpu'):
  import jax
  import jax.numpy as jnp
  import optax
  from algoperf_kernels import optax_ops
  rng = np.random.default_rng(0)
  dtype = jnp.bfloat16 if kernel == 'adamw_bf16' else jnp.float32
  dev = jax.devices('gpu' if device == 'cuda' else 'cpu')[0]
  put = lambda x: jax.device_put(jnp.asarray(x).astype(dtype), dev)
  params = [jnp.copy(put(rng.standard_normal(s, dtype=np.float32))) for s in shapes]  # owned: donatable
  grads = [put(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
  sync = lambda out: jax.block_until_ready(out)
  box = {}
  if kernel in ('amos', 'sf_prodigy'):
    return _jax_two_pass(kernel, variant == 'ours', params, grads)

  if kernel == 'ema':
    emas = [jnp.copy(p).astype(jnp.float32) for p in params]
    box['e'] = emas
    if variant == 'ours':
      f = jax.jit(lambda e, p: optax_ops.ema(e, p, 0.999), donate_argnums=(0,))
    else:
      f = jax.jit(lambda e, p: optax.incremental_update(p, e, 0.001), donate_argnums=(0,))

    def step():
      box['e'] = f(box['e'], params)
      return box['e']
    return step, sync

  fused_make = {'adamw': lambda: optax_ops.adamw(1e-3, weight_decay=0.01),
                'adamw_bf16': lambda: optax_ops.adamw(1e-3, weight_decay=0.01),
                'nadamw': lambda: optax_ops.nadamw(1e-3, weight_decay=0.01),
                'sgd_nesterov': lambda: optax_ops.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
                'adamg': lambda: optax_ops.adamg(1e-3)}
  optax_make = {'adamw': lambda: optax.adamw(1e-3, weight_decay=0.01),
                'adamw_bf16': lambda: optax.adamw(1e-3, weight_decay=0.01),
                'nadamw': lambda: optax.adamw(1e-3, weight_decay=0.01, nesterov=True),
                'sgd_nesterov': lambda: optax.chain(optax.trace(0.9, nesterov=True), optax.add_decayed_weights(1e-4),
                                                    optax.scale(-0.1)),
                'sf_adamw': lambda: optax.contrib.schedule_free_adamw(1e-3, weight_decay=0.01),
                'adamg': _optax_adamg}
  if variant in ('ours', 'ours_dropin', 'ours_dropin_apply'):
    opt = fused_make[kernel]()
    state = opt.init(params)
    box['p'], box['s'] = params, state
    if variant == 'ours':
      f = opt.jit_step()
    else:
      # The optax drop-in as in a train step: tx.update then optax.apply_updates, jitted with params
      # and state donated (as the optax_donated baseline) and the gradient too, which is dead after
      # the update inside a real train step (the kernel writes the update over it). The buffer
      # comes back as the next step's gradient (its values do not change the timing).
      apply = optax_ops.apply_updates if variant == 'ours_dropin_apply' else optax.apply_updates

      def dropin(p, s, g):
        u, s = opt.update(g, s, p)
        return apply(p, u), s, u
      inner_dropin = jax.jit(dropin, donate_argnums=(0, 1, 2))
      box['g'] = [jnp.copy(g) for g in grads]

      def dropin_step():
        box['p'], box['s'], box['g'] = inner_dropin(box['p'], box['s'], box['g'])
        return box['p']
      return dropin_step, sync
  else:
    tx = optax_make[kernel]()
    state = tx.init(params)
    box['p'], box['s'] = params, state

    def plain(g, s, p):
      u, s = tx.update(g, s, p)
      return optax.apply_updates(p, u), s
    donate = variant == 'optax_donated'
    inner = jax.jit(lambda p, s, g: plain(g, s, p), donate_argnums=(0, 1) if donate else ())
    f = lambda g, s, p: inner(p, s, g)

  def step():
    box['p'], box['s'] = f(grads, box['s'], box['p'])
    return box['p']
  return step, sync


SUFFIX = {'ours_dropin': '-dropin', 'ours_dropin_apply': '-dropin-apply'}  # framework column of the optax forms
JAX_VARIANTS = {'adamw': ('ours', 'ours_dropin', 'ours_dropin_apply', 'optax', 'optax_donated'),
                'adamw_bf16': ('ours', 'ours_dropin', 'optax', 'optax_donated'),
                'nadamw': ('ours', 'ours_dropin', 'ours_dropin_apply', 'optax', 'optax_donated'),
                'sgd_nesterov': ('ours', 'optax', 'optax_donated'),
                'sf_adamw': ('optax', 'optax_donated'),
                'ema': ('ours', 'optax'), 'lawa_push': (), 'adamg': ('ours', 'optax', 'optax_donated'),
                'amos': ('ours', 'optax_donated'), 'sf_prodigy': ('ours', 'optax_donated')}


# ----------------------------------------------------------------------------------------------

def triad_ceiling(n, reps, device='cpu'):
  """STREAM triad through our kernel machinery on arrays far larger than the caches; on CUDA
  also a device-to-device copy (read + write counted)."""
  import torch
  from algoperf_kernels import torch_ops
  a = torch.zeros(n, device=device)
  b = torch.ones(n, device=device)
  c = torch.ones(n, device=device)
  sync = (lambda out: torch.cuda.synchronize()) if device == 'cuda' else (lambda out: None)
  ms = timed(lambda: torch_ops.triad([a], [b], [c], scalar=3.0), reps, 2, sync)[0]
  copy = None
  if device == 'cuda':
    copy_ms = timed(lambda: a.copy_(b), reps, 2, sync)[0]
    copy = 8 * n / copy_ms / 1e6
  return 12 * n / ms / 1e6, copy


def run(args):
  import torch
  torch.set_num_threads(ak.num_threads())
  sizes = args.sizes.split(',')
  kernels = args.kernels.split(',')
  for s in sizes:
    if s not in SIZES:
      raise SystemExit(f'unknown size {s}; choose from {",".join(SIZES)}')
  for k in kernels:
    if k not in KERNELS:
      raise SystemExit(f'unknown kernel {k}; choose from {",".join(KERNELS)}')
  cuda = args.device == 'cuda'
  if cuda and not (ak.cuda_available() and torch.cuda.is_available()):
    raise SystemExit('--device=cuda needs a CUDA build of algoperf_kernels and a GPU')
  triad, copy = triad_ceiling(args.triad_elems, max(3, args.reps), args.device)
  meta = dict(machine=platform.machine(), processor=platform.processor(), cpus=os.cpu_count(),
              load_average=os.getloadavg(), device=args.device,
              gpu=torch.cuda.get_device_name() if cuda else None, copy_gbps=copy,
              omp_threads=ak.num_threads(), torch_threads=torch.get_num_threads(), cpu_isa=ak.cpu_isa(),
              python=sys.version.split()[0], torch=torch.__version__, triad_gbps=triad,
              triad_elems=args.triad_elems, reps=args.reps)
  try:
    import jax
    import optax
    meta.update(jax=jax.__version__, optax=optax.__version__)
    have_jax = True
  except ImportError:
    have_jax = False
  where = meta['gpu'] if cuda else f'{ak.num_threads()} threads, isa {ak.cpu_isa()}'
  print(f'# STREAM triad ceiling: {triad:.1f} GB/s ({args.triad_elems:.0e} floats, {where})'
        + (f'; D2D copy {copy:.1f} GB/s' if copy else '') + f'; load average {meta["load_average"]}', flush=True)
  sync_torch = (lambda out: torch.cuda.synchronize()) if cuda else (lambda out: None)
  rows = []
  for i, size_name in enumerate(sizes):
    if i:  # re-measure the ceiling before each size: on a shared machine the load drifts
      triad = triad_ceiling(args.triad_elems, max(3, args.reps), args.device)[0]
      print(f'# STREAM triad ceiling before {size_name}: {triad:.1f} GB/s; load average {os.getloadavg()}',
            flush=True)
    shapes = shapes_for(size_name)
    n_params = int(sum(np.prod(s) for s in shapes))
    big = n_params >= 50_000_000
    reps = min(args.reps, 3) if big and not args.exact_reps else args.reps
    warmup = args.warmup if args.warmup is not None else (1 if big else 2)
    for kernel in kernels:
      measured = {}
      for variant in TORCH_VARIANTS[kernel]:
        step = torch_case(kernel, variant, shapes, args.device)
        measured[('torch', variant)] = timed(step, reps, warmup, sync_torch, cuda)
        del step
        gc.collect()
      if have_jax and not args.no_jax:
        for variant in JAX_VARIANTS[kernel]:
          step, sync = jax_case(kernel, variant, shapes_for(size_name, 'flax'), args.device)
          measured[('jax', variant)] = timed(step, reps, warmup, sync)
          del step
          gc.collect()
      base = lambda key: measured.get(key, (None,))[0]
      fused, foreach = base(('torch', 'fused')), base(('torch', 'foreach'))
      optax_plain, optax_donated = base(('jax', 'optax')), base(('jax', 'optax_donated'))
      jit_step = base(('jax', 'ours'))
      for (framework, variant), (ms, extra, ms_min) in measured.items():
        ours = variant.startswith('ours')
        gbps = BYTES[kernel] * n_params / ms / 1e6
        ratio = lambda b: None if (b is None or not ours) else round(b / ms, 3)
        row = dict(kernel=kernel, backend=args.device if ours else variant,
                   framework=framework + SUFFIX.get(variant, ''),
                   n_params=n_params, n_tensors=len(shapes), ms=round(ms, 4), ms_min=round(ms_min, 4),
                   gbps=round(gbps, 2), pct_of_triad=round(100 * gbps / triad, 1), triad_gbps=round(triad, 2),
                   ratio_vs_torch_fused=ratio(fused), ratio_vs_torch_foreach=ratio(foreach),
                   ratio_vs_optax=ratio(optax_plain), ratio_vs_optax_donated=ratio(optax_donated),
                   ratio_vs_jit_step=ratio(jit_step) if framework == 'jax' and variant != 'ours' else None,
                   peak_extra_mb=None if extra is None else round(extra, 1), size=size_name)
        rows.append(row)
        print_row(row)
  out = dict(meta=meta, rows=rows)
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(out, f, indent=1)
    print(f'# wrote {len(rows)} rows to {args.out}')
  return out


HEADER = (f'{"kernel":<13}{"backend":<15}{"framework":<17}{"size":<9}{"tensors":>8}{"ms":>10}{"GB/s":>8}'
          f'{"%triad":>8}{"vs_fused":>9}{"vs_forea":>9}{"vs_optax":>9}{"vs_optD":>8}{"vs_jit":>7}{"extraMB":>9}')
_printed = []


def print_row(r):
  if not _printed:
    print(HEADER)
    _printed.append(True)
  f = lambda x: '-' if x is None else f'{x:.2f}'
  print(f'{r["kernel"]:<13}{r["backend"]:<15}{r["framework"]:<17}{r["size"]:<9}{r["n_tensors"]:>8}{r["ms"]:>10.3f}'
        f'{r["gbps"]:>8.1f}{r["pct_of_triad"]:>8.1f}{f(r["ratio_vs_torch_fused"]):>9}'
        f'{f(r["ratio_vs_torch_foreach"]):>9}{f(r["ratio_vs_optax"]):>9}{f(r["ratio_vs_optax_donated"]):>8}'
        f'{f(r["ratio_vs_jit_step"]):>7}'
        f'{f(r["peak_extra_mb"]):>9}', flush=True)


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', default='', help='JSON file for the rows')
  p.add_argument('--sizes', default=','.join(SIZES), help=f'comma list of {",".join(SIZES)}')
  p.add_argument('--kernels', default=','.join(KERNELS), help=f'comma list of {",".join(KERNELS)}')
  p.add_argument('--reps', type=int, default=5, help='timed steps per row (median reported)')
  p.add_argument('--warmup', type=int, default=None, help='untimed steps per row (default 2; 1 at 1e8)')
  p.add_argument('--exact-reps', action='store_true', help='use --reps at 1e8 too (default: at most 3)')
  p.add_argument('--triad-elems', type=int, default=1 << 25, help='floats per triad array')
  p.add_argument('--quick', action='store_true', help='small sizes, AdamW only, 3 reps')
  p.add_argument('--no-jax', action='store_true', help='skip the JAX rows')
  p.add_argument('--device', default='cpu', choices=('cpu', 'cuda'), help='where tensors live')
  args = p.parse_args(argv)
  if args.quick:
    if args.sizes == ','.join(SIZES):
      args.sizes = '1e5,1e6,resnet50'
    if args.kernels == ','.join(KERNELS):
      args.kernels = 'adamw'
    args.reps = min(args.reps, 3)
    args.triad_elems = min(args.triad_elems, 1 << 23)
  return args


def main(argv=None):
  return run(parse(argv))


if __name__ == '__main__':
  main()
