"""Plain numpy reference formulas for every kernel, in float32, step by step.

`fma=True` follows the kernels' rounding exactly: the operations update_math.h marks vfma are
one rounding (emulated as a float64 product-plus-sum rounded to float32; the product of two
float32 is exact in float64, the sum rounds twice, which differs from a true FMA only in rare
halfway cases: at most 1 ulp, in practice never seen). `fma=False` is the textbook reference:
every multiply and add rounds on its own, the way numpy, torch's eager ops and XLA compute.
The kernels equal fma=True bit for bit and fma=False to ~1e-7 relative (a few ulp). The FMAs
sit where torch's CPU kernels put them (lerp, addcmul, add with alpha).

Per-step coefficients are computed in float64 and rounded to float32 once, as the kernels do.
"""
import math

import numpy as np

F32 = np.float32


class Arith:
  """float32 arithmetic with or without fused multiply-add."""

  def __init__(self, fma: bool):
    self.use_fma = fma

  def fma(self, a, b, c):
    if self.use_fma:
      return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(F32)
    return (np.asarray(a, F32) * np.asarray(b, F32) + np.asarray(c, F32)).astype(F32)

  def lerp(self, a, b, w):
    """torch.lerp's two branches: a + w(b-a) for |w| < 0.5, else b - (b-a)(1-w)."""
    w = F32(w)
    d = (b - a).astype(F32)
    if abs(w) < 0.5:
      return self.fma(w, d, a)
    return self.fma(-d, F32(F32(1) - w), b)

  def second_moment(self, v, g, b2, omb2):
    return self.fma((F32(omb2) * g).astype(F32), g, (F32(b2) * v).astype(F32))


def bf16_round(x):
  """float32 -> bf16 bits (uint16), round to nearest even, NaN -> quiet NaN (kernel rule)."""
  u = np.asarray(x, F32).view(np.uint32).astype(np.uint64)
  nan = (u & 0x7fffffff) > 0x7f800000
  r = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0xffff
  q = ((u >> 16) | 0x40) & 0xffff
  return np.where(nan, q, r).astype(np.uint16)


def bf16_to_f32(bits):
  return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(F32)


def adam_coeffs(lr, step, beta1, beta2, eps, weight_decay, power=2.0):
  lr, step, beta1, beta2, weight_decay = float(lr), float(step), float(beta1), float(beta2), float(weight_decay)
  bc1 = 1.0 - beta1 ** step
  bc2 = 1.0 - beta2 ** step
  return dict(w=F32(1.0 - beta1), b2=F32(beta2), omb2=F32(1.0 - beta2), decay=F32(1.0 - lr * weight_decay),
              neg_step=F32(-lr / bc1), sqrt_bc2=F32(math.sqrt(bc2)), bc2=F32(bc2),
              inv_power=F32(1.0 / power), eps=F32(eps))


def adamw(p, g, m, v, *, lr, step, beta1, beta2, eps, weight_decay, nesterov=False, power=2.0, fma=True):
  """One AdamW / AlgoPerf-NAdamW / NadamP step; returns new (p, m, v)."""
  a = Arith(fma)
  k = adam_coeffs(lr, step, beta1, beta2, eps, weight_decay, power)
  p = (p * k['decay']).astype(F32)
  m = a.lerp(m, g, k['w'])
  v = a.second_moment(v, g, k['b2'], k['omb2'])
  num = a.lerp(m, g, k['w']) if nesterov else m
  if float(power) == 2.0:
    den = ((np.sqrt(v) / k['sqrt_bc2']).astype(F32) + k['eps']).astype(F32)
  else:
    den = (np.power((v / k['bc2']).astype(F32), k['inv_power']) + k['eps']).astype(F32)
  p = (p + ((k['neg_step'] * num).astype(F32) / den).astype(F32)).astype(F32)
  return p, m, v


def sf_adamw_step(y, g, z, v, *, lr, step, c, beta1, beta2, eps, weight_decay, fma=True):
  """Schedule-free AdamW step on y (the params during training); returns new (y, z, v)."""
  a = Arith(fma)
  lr, step, c, beta1, beta2 = float(lr), float(step), float(c), float(beta1), float(beta2)
  bc2 = F32(1.0 - beta2 ** step)
  v = a.second_moment(v, g, F32(beta2), F32(1.0 - beta2))
  den = (np.sqrt((v / bc2).astype(F32)) + F32(eps)).astype(F32)
  gh = a.fma(F32(weight_decay), y, (g / den).astype(F32))
  y = a.lerp(y, z, F32(c))
  y = a.fma(F32(lr * (beta1 * (1.0 - c) - 1.0)), gh, y)
  z = a.fma(F32(-lr), gh, z)
  return y, z, v


def lerp(x, y, weight, fma=True):
  """sf_swap (weight 1-1/beta1 or 1-beta1) and EMA (weight 1-decay)."""
  return Arith(fma).lerp(x, y, F32(weight))


def lawa_push(s, slot, p):
  """Returns new (sum, slot)."""
  return (s + (p - slot).astype(F32)).astype(F32), p.astype(F32)


def sgd(p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, first_step,
        decoupled_weight_decay=0.0, dir_grad=1.0, dir_buf=None, fma=True):
  """Returns new (p, buf); torch.optim.SGD semantics for the defaults."""
  a = Arith(fma)
  lr, momentum, dampening = float(lr), float(momentum), float(dampening)
  dir_buf = momentum if dir_buf is None else dir_buf
  mom = F32(0.0) if first_step else F32(momentum)
  damp = F32(1.0) if first_step else F32(1.0 - dampening)
  d = a.fma(F32(weight_decay), p, g)
  buf = a.fma(damp, d, (mom * buf).astype(F32))
  direction = a.fma(F32(dir_buf), buf, (F32(dir_grad) * d).astype(F32)) if nesterov else buf
  p = a.fma(F32(-lr), a.fma(F32(decoupled_weight_decay), p, direction), p)
  return p, buf


def adam_graft(g, m, sq, *, step, beta1, beta2, eps, nesterov=False, fma=True):
  """Returns (m, sq, direction, filtered, sum of direction^2 in float64)."""
  a = Arith(fma)
  step, beta1, beta2 = float(step), float(beta1), float(beta2)
  if beta1 != 0.0:
    w = F32(1.0 - beta1)
    m = a.lerp(m, g, w)
    num = a.lerp(m, g, w) if nesterov else m
    mt = (num / F32(1.0 - beta1 ** step)).astype(F32)
  else:
    mt = g
  sq = a.second_moment(sq, g, F32(beta2), F32(1.0 - beta2))
  den = (np.sqrt((sq / F32(1.0 - beta2 ** step)).astype(F32)) + F32(eps)).astype(F32)
  d = (mt / den).astype(F32)
  return m, sq, d, mt, float(np.sum(d.astype(np.float64) ** 2))


def schedule_free_weights(step, lr, lr_max, weight_sum, *, r=0.0, weight_lr_power=2.0):
  """The host side of schedule-free: returns (c, lr_max, weight_sum) for 1-based `step`."""
  lr_max = max(lr_max, lr)
  weight = (step ** r) * (lr_max ** weight_lr_power)
  weight_sum = weight_sum + weight
  c = weight / weight_sum if weight_sum > 0 else 0.0
  return c, lr_max, weight_sum


def sinv6(p, g, m, rms, *, scale, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=1e-10, clip=1000.0, fma=True):
  """Returns new (p, m, rms) for Sinv6's step (submissions.md §3.4); NaN gradients stay NaN."""
  a = Arith(fma)
  g = np.where(g < F32(-clip), F32(-clip), np.where(g > F32(clip), F32(clip), g)).astype(F32)
  m = a.fma(F32(1.0 - beta1), g, (F32(beta1) * m).astype(F32))
  rms = a.second_moment(rms, g, F32(beta2), F32(1.0 - beta2))
  den = (np.sqrt((rms + F32(eps_root)).astype(F32)) + F32(eps)).astype(F32)
  p = a.fma(F32(-float(scale)), (m / den).astype(F32), p)
  return p, m, rms


# ---------------------------------------------------------------------------------------------------------
# AdamG and Amos (submissions.md §3.6, §2.7): textbook float64 formulas, one step each.

def adamg(p, g, m, v, n, *, lr, step, beta1, beta2, beta3, eps, p_num=0.2, q_num=0.24):
  """One AdamG step; returns new (p, m, v, n). The step size is min(1/sqrt(step), lr)."""
  p, g, m, v, n = (np.asarray(x, np.float64) for x in (p, g, m, v, n))
  v = beta2 * v + (1 - beta2) * g * g
  n = beta3 * n + (1 - beta3) * p_num * v**q_num
  m = beta1 * m + (1 - beta1) * g * n
  size = min(1.0 / math.sqrt(step), lr)
  p = p - size * (m / (1 - beta1**step)) / (np.sqrt(v) / math.sqrt(1 - beta2**step) + eps)
  return p, m, v, n


_TINY32 = float(np.finfo(np.float32).tiny)


def _amos_scalars(b, g2_ratio, xi_t, eta, k, tau, l2, adaptive):
  s = np.sqrt(1 + b)
  a = xi_t**2 / (np.maximum(g2_ratio, s) if adaptive else s)
  b_new = b + a * ((g2_ratio if adaptive else 1.0) / math.sqrt(k) + b)
  l2p = 1 + l2 * ((1 + tau / 2)**2 - 1)**2
  l2q = 1 + l2 * b * b
  wd = -0.5 * a * (g2_ratio * l2p / l2q + l2)
  b_v = (2 * s / (1 + np.sqrt(1 + 2 * s / (2 + tau))))**2 - 1
  l2r = (1 + l2 * b * b_v) / (1 + l2 * l2q / l2p)
  return s, b_new, wd, b_v, l2r


def _amos_clip(g, nu, count, beta2):
  if count == 0:
    return g, g * g
  v_prev = (1 - beta2) / (1 - beta2**count) * nu
  cap = v_prev / (1 - beta2)
  rho = np.where(v_prev > 0, np.maximum(g * g / np.where(v_prev > 0, cap, 1.0), 1.0), 1.0)
  return g / np.sqrt(rho), g * g / rho


def amos_adam(p, g, mu, nu, b, *, count, xi_t, eta, k, tau, axes, beta1, beta2, l2):
  """Amos style "adam" on one variable (count = updates already applied); returns new (p, mu, nu, b)."""
  p, g, mu, nu, b = (np.asarray(x, np.float64) for x in (p, g, mu, nu, b))
  g, g2 = _amos_clip(g, nu, count, beta2)
  mu = (1 - beta1) * g + beta1 * mu
  nu = beta2 * nu + g2
  v_hat = (1 - beta2) / (1 - beta2**(count + 1)) * nu
  u = mu / np.sqrt(np.maximum(v_hat, _TINY32))
  g2_ratio = ((1 + beta1) / (1 - beta1)) * np.mean(mu * mu, axis=axes, keepdims=True) / np.maximum(
      np.mean(v_hat, axis=axes, keepdims=True), _TINY32)
  s, b_new, wd, b_v, l2r = _amos_scalars(b, g2_ratio, xi_t, eta, k, tau, l2, adaptive=True)
  p = p + (wd * p - eta * xi_t * u) / (1 + eta * s * l2r * b_v)
  return p, mu, nu, b_new


def amos_reduced(p, g, mu, nu, b, *, count, xi_t, eta, k, tau, axes, beta1, beta2, l2):
  """Amos style "reduced" (nu reduced over `axes`, scalar b, momentum last); returns new (p, mu, nu, b)."""
  p, g, mu, nu, b = (np.asarray(x, np.float64) for x in (p, g, mu, nu, b))
  g, g2 = _amos_clip(g, nu, count, beta2)
  g2_reduced = np.mean(g2, axis=axes, keepdims=True)
  nu = beta2 * nu + g2_reduced
  v_hat = np.maximum((1 - beta2) / (1 - beta2**(count + 1)) * nu, _TINY32)
  u = g / np.sqrt(v_hat)
  s, b_new, wd, b_v, l2r = _amos_scalars(b, g2_reduced / v_hat, xi_t, eta, k, tau, l2, adaptive=False)
  update = (1 - beta1) * (wd * p - eta * xi_t * u) / (1 + eta * s * l2r * b_v) + beta1 * mu
  return p + update, update, nu, b_new
def adam_update(p, g, m, v, *, lr, step, beta1, beta2, eps, eps_root, weight_decay, nesterov=False, power=2.0,
                fma=True):
  """The optax-form AdamW update (the `adam_update` kernel); returns (u, m, v), p unchanged.
  Coefficients as the kernel derives them: in float64 from float32 scalars, rounded once."""
  a = Arith(fma)
  f = lambda x: float(F32(x))
  lr, step, beta1, beta2 = f(lr), float(step), f(beta1), f(beta2)
  m = a.lerp(m, g, F32(1.0 - beta1))
  v = a.second_moment(v, g, F32(beta2), F32(1.0 - beta2))
  num = a.lerp(m, g, F32(1.0 - beta1)) if nesterov else m
  vh = ((v / F32(1.0 - beta2 ** step)).astype(F32) + F32(eps_root)).astype(F32)
  root = np.sqrt(vh) if f(power) == 2.0 else np.power(vh, F32(1.0 / f(power)))
  den = (root.astype(F32) + F32(eps)).astype(F32)
  r = ((F32(-lr / (1.0 - beta1 ** step)) * num).astype(F32) / den).astype(F32)
  u = a.fma(F32(-lr * f(weight_decay)), p, r)
  return u, m, v


# ---------------------------------------------------------------------------------------------------------
# The two-pass ops (amos_sums/amos_step, prodigy_sums/prodigy_step) in float32, one rounding per operation
# in the kernels' order (they use no FMA), so the kernels match these bit for bit; sums in float64.

_TINY_F32 = np.finfo(np.float32).tiny


def _amos_rho(g2, v_prev, omb2):
  with np.errstate(divide='ignore', invalid='ignore'):
    q = (g2 / (v_prev / F32(omb2)).astype(F32)).astype(F32)
  return np.where(v_prev > 0, np.where(F32(1) > q, F32(1), q), F32(1)).astype(F32)


def amos_sums(g, mu, nu, *, scale, v_prev, c_now, beta1, beta2, reduced=False):
  """Amos pass 1 on one tensor; returns (mu, nu, sums) (reduced: (sum of clipped g^2,))."""
  g = (g * F32(scale)).astype(F32)
  gg = (g * g).astype(F32)
  if reduced:
    return mu, nu, (float(np.sum((gg / _amos_rho(gg, F32(v_prev), 1.0 - beta2)).astype(F32), dtype=np.float64)),)
  rho = _amos_rho(gg, (F32(v_prev) * nu).astype(F32), 1.0 - beta2)
  gc = (g / np.sqrt(rho)).astype(F32)
  mu = ((F32(1.0 - beta1) * gc).astype(F32) + (F32(beta1) * mu).astype(F32)).astype(F32)
  nu = ((F32(beta2) * nu).astype(F32) + (gg / rho).astype(F32)).astype(F32)
  v_hat = (F32(c_now) * nu).astype(F32)
  return mu, nu, (float(np.sum(mu.astype(np.float64)**2)), float(np.sum(v_hat, dtype=np.float64)))


def amos_step(p, g, mu, nu, *, weight_decay, e, d, beta1, beta2, scale=1.0, v_prev=0.0, v_hat=0.0, c_now=0.0,
              reduced=False):
  """Amos pass 2 on one tensor; returns (p, mu)."""
  if reduced:
    g = (g * F32(scale)).astype(F32)
    gc = (g / np.sqrt(_amos_rho((g * g).astype(F32), F32(v_prev), 1.0 - beta2))).astype(F32)
    u = (gc / np.sqrt(F32(v_hat))).astype(F32)
  else:
    u = (mu / np.sqrt(np.maximum((F32(c_now) * nu).astype(F32), _TINY_F32))).astype(F32)
  delta = (((F32(weight_decay) * p).astype(F32) - (F32(e) * u).astype(F32)).astype(F32) / F32(d)).astype(F32)
  if not reduced:
    return (p + delta).astype(F32), mu
  mu = ((F32(1.0 - beta1) * delta).astype(F32) + (F32(beta1) * mu).astype(F32)).astype(F32)
  return (p + mu).astype(F32), mu


def prodigy_sums(g, x0, z, v, s, *, vc, ddl, beta2):
  """Prodigy pass 1 on one tensor; returns (v, s, (sum g (x0 - z), sum |s|))."""
  v = ((F32(beta2) * v).astype(F32) + ((F32(vc) * g).astype(F32) * g).astype(F32)).astype(F32)
  s = ((F32(beta2**0.5) * s).astype(F32) + (F32(ddl) * g).astype(F32)).astype(F32)
  dot = float(np.sum(g.astype(np.float64) * (x0 - z).astype(F32).astype(np.float64)))
  return v, s, (dot, float(np.sum(np.abs(s), dtype=np.float64)))


def prodigy_step(x, g, z, v, *, wd_dl, step, eps_d, c, moved=True):
  """Prodigy pass 2 on one tensor; returns (x, z)."""
  if not moved:
    return x, z
  den = (np.sqrt(v) + F32(eps_d)).astype(F32)
  z = ((z - (F32(wd_dl) * x).astype(F32)).astype(F32) - ((F32(step) * g).astype(F32) / den).astype(F32)).astype(F32)
  c = F32(c)
  x = ((F32(1) - c) * x).astype(F32) + (c * z).astype(F32)
  return x.astype(F32), z
