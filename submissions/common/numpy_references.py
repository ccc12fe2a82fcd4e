"""Float64 numpy references of the published formulas (submissions.md §0, §2.2, §2.9-2.11), written from the
spec independently of the submissions' code, driven on the quadratic of quadratic_testing.py."""
import math

import numpy as np

from submissions.common import quadratic_testing as qt


def _warmup(k, w):
  return (k + 1) / w if k < w else 1.0


def schedule_free_v05(h, steps, warmup_steps, r=0.75, q=2.0, eps=1e-8):
  """§2.2 closure form; returns x after each step (the evaluated point)."""
  b1, b2 = 1 - h['one_minus_beta1'], h['beta2']
  x = qt.initial_flat()
  z, v = x.copy(), np.zeros_like(x)
  lr_max = weight_sum = 0.0
  out = []
  for k, batch in enumerate(qt.batches(steps * 8)[:steps]):
    y = b1 * x + (1 - b1) * z
    g = qt.grad(y, batch)
    lr = max(h['learning_rate'] * _warmup(k, warmup_steps), 1e-8)
    lr_max = max(lr_max, lr)
    w = (k + 1)**r * lr_max**q
    weight_sum += w
    c = w / weight_sum
    gamma = lr * math.sqrt(1 - b2**(k + 1))
    v = b2 * v + (1 - b2) * g * g
    z = z - gamma * g / (np.sqrt(v) + eps) - gamma * h['weight_decay'] * x
    x = (1 - c) * x + c * z
    out.append(x.copy())
  return out


def schedule_free_v06(h, steps, warmup_steps, r=0.0, q=2.0, eps=1e-8):
  """The published optimizer in x/z form (decay at y, sqrt(v/bc2) + eps); returns (x, y) after each step."""
  b1, b2 = 1 - h['one_minus_beta1'], h['beta2']
  x = qt.initial_flat()
  z, v = x.copy(), np.zeros_like(x)
  lr_max = weight_sum = 0.0
  xs, ys = [], []
  for k, batch in enumerate(qt.batches(steps * 8)[:steps]):
    y = b1 * x + (1 - b1) * z
    g = qt.grad(y, batch)
    lr = h['learning_rate'] * _warmup(k, warmup_steps)
    lr_max = max(lr_max, lr)
    w = (k + 1)**r * lr_max**q
    weight_sum += w
    c = w / weight_sum
    v = b2 * v + (1 - b2) * g * g
    z = z - lr * (g / (np.sqrt(v / (1 - b2**(k + 1))) + eps) + h['weight_decay'] * y)
    x = (1 - c) * x + c * z
    xs.append(x.copy())
    ys.append(b1 * x + (1 - b1) * z)
  return xs, ys


def prodigy_step(st, batch, global_step, weight_decay, warmup_steps):
  """§2.11, one step from state st = dict(x, z, x0, v, s, d, d_num, weight_sum, k); returns the new state.

  Prodigy's D_num sums <g, x0 - z> while z - x0 is of the order of d (1e-6 at first) against weights of order
  1: in float32 state that difference keeps few significant bits, so runs of many steps amplify each ulp;
  the tests therefore compare one step at a time, from the submission's own state.
  """
  b1, b2, r, eps, d_coef = 0.9, 0.9955, 0.75, 1e-8, 1.0
  st = {k: np.array(v, np.float64) for k, v in st.items()}
  x, z, x0, d = st['x'], st['z'], st['x0'], float(st['d'])
  ell = (global_step + 1) / warmup_steps if global_step < warmup_steps else 1.0
  dl = d * ell
  g = qt.grad(b1 * x + (1 - b1) * z, batch)
  st['d_num'] = math.sqrt(b2) * st['d_num'] + d * dl * np.dot(g, x0 - z)
  st['v'] = b2 * st['v'] + (1 - b2) * d * d * g * g
  st['s'] = math.sqrt(b2) * st['s'] + d * dl * g
  d_den = np.abs(st['s']).sum()
  if d_den > 0:
    d_new = max(d, d_coef * float(st['d_num']) / d_den)
    w = (float(st['k']) + 1)**r
    st['weight_sum'] = st['weight_sum'] + w
    c = w / st['weight_sum']
    st['k'] = st['k'] + 1
    st['z'] = z - weight_decay * dl * x - d_new * dl * g / (np.sqrt(st['v']) + d_new * eps)
    st['x'] = (1 - c) * x + c * st['z']
    st['d'] = d_new
  return st


def warm_cosine(t, lr, warmup, total, lr_min=1e-10):
  """§0 (S-WarmCosine): the rate of update t+1 (t updates applied)."""
  if t == 0:
    return lr
  if t <= warmup:
    return lr_min + (lr - lr_min) * t / warmup
  if t <= total:
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))
  return lr_min


def lawa(h, total_steps, step_hint, averaging, ema_decay=None):
  """§0 NAdamW + §2.9/§2.10 averaging; returns (theta, average or None) after each optimizer step."""
  b1, b2, eps, wd = 1 - h['one_minus_beta1'], h['beta2'], 1e-8, h['weight_decay']
  start = math.ceil(h['lawa_start_factor'] * step_hint)
  interval = math.ceil(h['lawa_interval_scaling'] * step_hint)
  warmup = int(h['warmup_factor'] * step_hint)
  theta = qt.initial_flat()
  m, v = np.zeros_like(theta), np.zeros_like(theta)
  queue, ema = [], None
  out = []
  for t, batch in enumerate(qt.batches(total_steps * 8)[:total_steps]):
    g = qt.grad(theta, batch)
    lr = warm_cosine(t, h['learning_rate'], warmup, step_hint)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_bar = (b1 * m + (1 - b1) * g) / (1 - b1**(t + 1))
    v_hat = v / (1 - b2**(t + 1))
    theta = theta - lr * (m_bar / (np.sqrt(v_hat) + eps) + wd * theta)
    if t >= start and (t - start) % interval == 0:
      if averaging == 'queue':
        queue = (queue + [theta.copy()])[-int(h['k']):]
      else:
        ema = theta.copy() if ema is None else ema_decay * ema + (1 - ema_decay) * theta
    if averaging == 'queue':
      avg = np.mean(queue, axis=0) if len(queue) == int(h['k']) else None
    else:
      avg = ema
    out.append((theta.copy(), avg))
  return out
