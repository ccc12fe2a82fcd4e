"""Amos's per-variable rules (submissions.md §2.7), framework-neutral: type from the parameter's path, the
expected scale eta, the reduced shape S_r (as axes to average over), k = numel/numel(S_r), tau and the
global rate xi. Tian & Parikh 2022, arXiv 2210.11693.

Shapes are taken in the Flax layout (Dense kernels (in, out), convs (kh, kw, in, out)); `flax_shape`
converts a PyTorch weight. Type tests are the published substring tests on the lower-cased path, so
"bn"/"ln" in a module name can misfire exactly as upstream.
"""
import math
from typing import NamedTuple, Sequence, Tuple


class Meta(NamedTuple):
  """What the Amos step needs to know about one variable."""
  kind: str
  eta: float
  axes: Tuple[int, ...]  # axes averaged over (keepdims) to reach S_r, in the variable's own layout
  k: float               # numel / numel(S_r)
  tau: float             # tau(sqrt(k))


def classify(path: Sequence[str]) -> str:
  name = str(path[-1]).lower()
  parents = [str(p).lower() for p in path[:-1]]
  parent = '/'.join(parents)
  last = parents[-1] if parents else ''
  if 'batchnorm' in parent or 'bn' in parent:
    return 'bn_scale' if 'scale' in name or 'weight' in name else 'bn_bias'
  if 'layernorm' in parent or 'ln' in parent:
    return 'ln_scale' if 'scale' in name or 'weight' in name else 'ln_bias'
  if 'conv' in parent:
    return 'bias' if 'bias' in name else 'conv_weight'
  if 'embedding' in name or ('embedding' in parent and name == 'kernel'):
    return 'embedding'
  if 'attention' in parent:
    if name == 'in_proj_weight':
      return 'attention_qkv'
    if 'bias' in name:
      return 'attention_bias'
    if 'scale' in name:
      return 'weight'
    for part in ('query', 'key', 'value', 'out'):
      if part in last:
        return 'attention_' + part
  return 'bias' if 'bias' in name else 'weight'


def eta(kind: str, shape: Sequence[int], eta_override: float = -1.0) -> float:
  """The expected scale of the variable's entries (Flax-layout shape)."""
  if eta_override != -1 and kind in ('weight', 'bias', 'embedding'):
    return float(eta_override)
  fan_in_all_but_last = math.prod(shape[:-1]) if len(shape) > 1 else 1
  table = {
      'weight': lambda: math.sqrt(2.0 / shape[0]) if shape else 1.0,
      'bias': lambda: 0.5,
      'conv_weight': lambda: math.sqrt(1.0 / fan_in_all_but_last),
      'bn_scale': lambda: 1.0, 'bn_bias': lambda: 0.5,
      'ln_scale': lambda: 1.0, 'ln_bias': lambda: 0.5,
      'embedding': lambda: 1.0,
      'attention_query': lambda: math.sqrt(1.0 / shape[0]),
      'attention_key': lambda: math.sqrt(1.0 / shape[0]),
      'attention_value': lambda: math.sqrt(1.0 / shape[0]),
      'attention_qkv': lambda: math.sqrt(1.0 / shape[0]),
      'attention_out': lambda: math.sqrt(1.0 / fan_in_all_but_last),
      'attention_bias': lambda: 0.5,
  }
  return float(table[kind]())


def reduced_axes(kind: str, ndim: int, torch_layout: bool) -> Tuple[int, ...]:
  """Axes averaged over: all of them (one scalar per variable), except embeddings (per row, (S0, 1)) and,
  in the Flax layout, the q/k/v kernels (in, heads, head_dim) -> per head (1, S1, 1). PyTorch attention
  weights have no head axis of their own, so there they get one scalar per variable (a departure)."""
  if kind == 'embedding' and ndim == 2:
    return (1,)
  if kind in ('attention_query', 'attention_key', 'attention_value', 'attention_qkv') and ndim == 3 and (
      not torch_layout):
    return (0, 2)
  return tuple(range(ndim))


def flax_shape(torch_shape: Sequence[int], kind: str) -> Tuple[int, ...]:
  """A PyTorch weight's shape in the Flax layout: Linear (out, in) -> (in, out); Conv (out, in, kh, kw) ->
  (kh, kw, in, out); embeddings and 1-D tensors are the same in both."""
  shape = tuple(torch_shape)
  if kind == 'embedding' or len(shape) < 2:
    return shape
  if len(shape) == 2:
    return shape[::-1]
  return tuple(shape[2:]) + (shape[1], shape[0])


def tau(k: float) -> float:
  """tau(sqrt(k)) = q ln(sqrt(k) (1+q)^2), q = sqrt(1 - 1/sqrt(k))."""
  x = math.sqrt(k)
  q = math.sqrt(max(1.0 - 1.0 / x, 0.0))
  return q * math.log(x * (1.0 + q)**2)


def meta(path: Sequence[str], shape: Sequence[int], eta_override: float = -1.0, torch_layout: bool = False) -> Meta:
  kind = classify(path)
  shape = tuple(int(s) for s in shape)
  layout_shape = flax_shape(shape, kind) if torch_layout else shape
  axes = reduced_axes(kind, len(shape), torch_layout)
  reduced = math.prod(1 if i in axes else s for i, s in enumerate(shape))
  k = max(math.prod(shape), 1) / max(reduced, 1)
  return Meta(kind, eta(kind, layout_shape, eta_override), axes, float(k), tau(k))


def xi(k_max: float, converge: float, step_hint: int, warmup: float) -> float:
  """The global rate: sqrt(2 (tau(sqrt(k_max)) + sqrt(2) - 1) / (converge (step_hint - 2/3 warmup step_hint)))."""
  return math.sqrt(2.0 * (tau(k_max) + math.sqrt(2.0) - 1.0) /
                   (converge * (step_hint - 2.0 / 3.0 * warmup * step_hint)))


def xi_at(count, xi_value: float, warmup_steps: int, xp=None):
  """xi_t: linear warmup from 0 over `warmup_steps` updates (count = updates already applied), then xi."""
  if warmup_steps <= 0:
    return xi_value
  if xp is None:
    return xi_value * min(float(count) / warmup_steps, 1.0)
  return xi_value * xp.minimum(count / warmup_steps, 1.0)


# ---------------------------------------------------------------------------------------------------------
# The update of one variable, written once for JAX and PyTorch: `ops` supplies sqrt, maximum, where and a
# keepdims mean over axes (see jax_optimizers / pytorch_optimizers). All arrays are float32.
TINY = 1.1754943508222875e-38  # float32's smallest normal number (upstream's jnp.finfo(float32).tiny)


def _nu_clip(ops, g, nu, c_prev, b2):
  """Caps each g^2 at v_hat_prev / (1-b2) (v_hat_prev = c_prev nu; no cap where it is 0, e.g. step 1).
  Returns (clipped g, clipped g^2)."""
  v_prev = c_prev * nu
  ok = v_prev > 0
  rho = ops.where(ok, ops.maximum(g * g / ops.where(ok, v_prev / (1 - b2), 1.0), 1.0), 1.0)
  return g / ops.sqrt(rho), g * g / rho


def amos_coeffs(ops, g2_ratio, b, xi_t, m: Meta, l2: float, adaptive: bool):
  """The reduced-shape scalars of the Amos step: (wd, E, D, new b) with delta p = (wd p - E u) / D,
  E = eta xi_t, D = 1 + eta s l2r b_v. The fused kernels (op amos_step) take them per tensor."""
  s = ops.sqrt(1.0 + b)
  if adaptive:
    a = xi_t * xi_t / ops.maximum(g2_ratio, s)
    b_new = b + a * (g2_ratio / math.sqrt(m.k) + b)
  else:
    a = xi_t * xi_t / s
    b_new = b + a * (1.0 / math.sqrt(m.k) + b)
  l2p = 1.0 + l2 * ((1.0 + m.tau / 2.0)**2 - 1.0)**2
  l2q = 1.0 + l2 * b * b
  wd = -0.5 * a * (g2_ratio * l2p / l2q + l2)
  b_v = (2.0 * s / (1.0 + ops.sqrt(1.0 + 2.0 * s / (2.0 + m.tau))))**2 - 1.0
  l2r = (1.0 + l2 * b * b_v) / (1.0 + l2 * l2q / l2p)
  return wd, m.eta * xi_t, 1.0 + m.eta * s * l2r * b_v, b_new


def _amos_core(ops, p, u, g2_ratio, b, xi_t, m: Meta, l2: float, adaptive: bool):
  """Delta p and the new b (b has the reduced shape)."""
  wd, e, d, b_new = amos_coeffs(ops, g2_ratio, b, xi_t, m, l2, adaptive)
  return (wd * p - e * u) / d, b_new


def adam_leaf(ops, p, g, mu, nu, b, c_prev, c_now, xi_t, m: Meta, b1: float, b2: float, l2: float):
  """Style "adam": returns new (p, mu, nu, b). c_prev/c_now = (1-b2)/(1-b2^t) before/after the increment
  (c_prev = 0 at the first step)."""
  g, g2 = _nu_clip(ops, g, nu, c_prev, b2)
  mu = (1 - b1) * g + b1 * mu
  nu = b2 * nu + g2
  v_hat = c_now * nu
  u = mu / ops.sqrt(ops.maximum(v_hat, TINY))
  g2_ratio = g2_ratio_adam(ops.mean(mu * mu, m.axes), ops.mean(v_hat, m.axes), b1, ops)
  delta, b = _amos_core(ops, p, u, g2_ratio, b, xi_t, m, l2, adaptive=True)
  return p + delta, mu, nu, b


def reduced_leaf(ops, p, g, mu, nu, b, c_prev, c_now, xi_t, m: Meta, b1: float, b2: float, l2: float):
  """Style "reduced": nu has the reduced shape, b is one scalar, momentum is applied last."""
  g, g2 = _nu_clip(ops, g, nu, c_prev, b2)
  g2_reduced = ops.mean(g2, m.axes)
  nu = b2 * nu + g2_reduced
  v_hat = ops.maximum(c_now * nu, TINY)
  u = g / ops.sqrt(v_hat)
  delta, b = _amos_core(ops, p, u, g2_reduced / v_hat, b, xi_t, m, l2, adaptive=False)
  update = (1 - b1) * delta + b1 * mu
  return p + update, update, nu, b


def reduces_whole_tensor(shape: Sequence[int], m: Meta) -> bool:
  """Whether the variable's reduced shape is one value (the fused kernels' per-tensor sums cover it; per-row
  embeddings and per-head attention kernels take the plain path)."""
  return set(m.axes) == set(range(len(shape)))


def g2_ratio_adam(mu2_mean, v_hat_mean, b1: float, ops):
  """Style adam's G2 from the means of mu^2 and v_hat (as adam_leaf)."""
  return ((1 + b1) / (1 - b1)) * mu2_mean / ops.maximum(v_hat_mean, TINY)


def state_shapes(shape: Sequence[int], m: Meta, style: str):
  """(nu shape, b shape): nu full (adam) or reduced; b reduced (adam) or one scalar (reduced)."""
  reduced = tuple(1 if i in m.axes else s for i, s in enumerate(shape))
  if style == 'adam':
    return tuple(shape), reduced
  return reduced, tuple(1 for _ in shape)


def kernel_step(ops, kern, style: str, ps, gs, mus, nus, bs, metas, scale, c_prev, c_now, xi_t, b1: float, b2: float,
                l2: float):
  """The Amos step of whole-tensor variables on the fused kernels, in two passes over memory: pass 1
  (kern.sums: op amos_sums) clips, updates the moments and returns per-tensor sums; the reduced-shape scalars
  come from them here with the plain leaves' formulas (amos_coeffs); pass 2 (kern.step: op amos_step) applies
  the step. gs are the unclipped gradients (pass 1 and 2 multiply by `scale`). Returns new (ps, mus, nus, bs)."""
  numels = [math.prod(p.shape) for p in ps]
  if style == 'adam':
    mus, nus, sums = kern.sums(False, gs, mus, nus, scale=scale, v_prev=c_prev, c_now=c_now)
    wds, es, ds, new_bs = [], [], [], []
    for row, n, b, m in zip(sums, numels, bs, metas):
      g2_ratio = g2_ratio_adam(row[0] / n, row[1] / n, b1, ops)
      wd, e, d, b_new = amos_coeffs(ops, g2_ratio, b, xi_t, m, l2, adaptive=True)
      wds.append(wd), es.append(e), ds.append(d), new_bs.append(b_new)
    ps, mus = kern.step(False, ps, None, mus, nus, scale=1.0, v_prev=0.0, v_hat=c_now, weight_decay=wds, e=es, d=ds)
    return ps, mus, nus, new_bs
  v_prev = [c_prev * nu for nu in nus]
  _, _, sums = kern.sums(True, gs, None, None, scale=scale, v_prev=v_prev, c_now=0.0)
  new_nus, v_hats, wds, es, ds, new_bs = [], [], [], [], [], []
  for row, n, nu, b, m in zip(sums, numels, nus, bs, metas):
    g2_reduced = row[0] / n
    nu = b2 * nu + g2_reduced
    v_hat = ops.maximum(c_now * nu, TINY)
    wd, e, d, b_new = amos_coeffs(ops, g2_reduced / v_hat, b, xi_t, m, l2, adaptive=False)
    for out, x in zip((new_nus, v_hats, wds, es, ds, new_bs), (nu, v_hat, wd, e, d, b_new)):
      out.append(x)
  ps, mus = kern.step(True, ps, gs, mus, None, scale=scale, v_prev=v_prev, v_hat=v_hats, weight_decay=wds, e=es,
                      d=ds)
  return ps, mus, new_nus, new_bs
