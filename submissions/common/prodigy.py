"""Schedule-Free Prodigy's update (submissions.md §2.11) for both frameworks, written once over an array module.

Constants: lr = 1, b1 = 0.9, b2 = 0.9955, r = 0.75, eps = 1e-8, d0 = 1e-6, d_coef = 1. Per step, with the old d
and the warmup multiplier l = min(1, (global_step+1)/W), W = int(0.075 step_hint):
  dl = d l;  D_num <- sqrt(b2) D_num + sum d dl <g, x0 - z>   (z before this step)
  v <- b2 v + (1-b2) d^2 g^2;  s <- sqrt(b2) s + d dl g;  D_den = sum |s|
  if D_den = 0 nothing else changes; else d_new = max(d, d_coef D_num / D_den),
  w = (k+1)^r, c = w / sum w, z <- z - wd dl x - d_new dl g / (sqrt(v) + d_new eps), x <- (1-c) x + c z.
g is the gradient at y = lerp(x, z, 1-b1); the parameters hold x between steps, the evaluated point under
both rules versions, so v0.5 and v0.6 behave the same (prepare_for_eval is the identity).
Departures: v, s and x0 are fp32 (published: bf16). The functions below are the plain path
(ALGOPERF_KERNELS=off); by default prodigy_jax / prodigy_torch run the same formulas as two fused kernel
passes: prodigy_sums (v, s and the two sums per tensor, in float64) before d is updated, prodigy_step (z, x)
after.
"""
B1, B2, R, EPS, D0, D_COEF, WARMUP_FRACTION, LABEL_SMOOTHING = 0.9, 0.9955, 0.75, 1e-8, 1e-6, 1.0, 0.075, 0.2


def warmup_multiplier(global_step, warmup_steps: int, xp):
  if warmup_steps <= 0:
    return 1.0
  return xp.minimum(1.0, (global_step + 1.0) / warmup_steps)


def reductions(xp, grads, x0s, zs, ss, vs, d, dl, d_num):
  """Moment updates and the two global sums; returns (new vs, new ss, new d_num, d_den)."""
  sqrt_b2 = B2**0.5
  dot = sum(xp.sum(g * (x0 - z)) for g, x0, z in zip(grads, x0s, zs))
  d_num = sqrt_b2 * d_num + d * dl * dot
  new_vs = [B2 * v + (1.0 - B2) * (d * d) * g * g for v, g in zip(vs, grads)]
  new_ss = [sqrt_b2 * s + (d * dl) * g for s, g in zip(ss, grads)]
  d_den = sum(xp.sum(xp.abs(s)) for s in new_ss)
  return new_vs, new_ss, d_num, d_den


def z_and_x(xp, xs, grads, zs, vs, d_new, dl, c, weight_decay):
  """The z step and the x average; returns (new xs, new zs)."""
  new_zs = [z - weight_decay * dl * x - d_new * dl * g / (xp.sqrt(v) + d_new * EPS)
            for x, g, z, v in zip(xs, grads, zs, vs)]
  new_xs = [(1.0 - c) * x + c * z for x, z in zip(xs, new_zs)]
  return new_xs, new_zs
