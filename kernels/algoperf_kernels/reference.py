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
