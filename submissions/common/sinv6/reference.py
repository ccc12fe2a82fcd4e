"""Sinv6 in plain numpy, written from spec/submissions.md §3.4 independently of the JAX and torch twins.

For tests only: a loop over scalars and small arrays in float32, one formula per line of the spec.
"""
import numpy as np


f32 = np.float32


def _sigmoid(x):
  return f32(1) / (f32(1) + np.exp(-x))


def _linear(tree, name, x):
  layer = tree['rnn_params'][name]
  return x @ np.asarray(layer['w'], f32) + np.asarray(layer['b'], f32)


def lr_mult_sequence(tree, losses, num_steps):
  half_lives = np.logspace(1.0, np.log10(float(num_steps)), 10)
  d = np.exp(-1.0 / half_lives).astype(f32)
  means = np.zeros(10, f32)
  running_min = np.full(10, f32(999999999999.0), f32)
  h = np.asarray(tree['lstm_init_state']['hidden'], f32)
  c = np.asarray(tree['lstm_init_state']['cell'], f32)
  tau = np.asarray([0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1], f32)
  out = []
  for k, loss in enumerate(losses):
    loss = f32(loss)
    # Loss buffer (k losses seen before this one).
    corr = (f32(1) - d**f32(k + 1)).astype(f32)
    approx_max = loss if k == 0 else np.max(means / corr)
    loss = min(abs(approx_max) * f32(2), loss)
    means = (means * d + loss * (f32(1) - d)).astype(f32)
    running_min = np.minimum(running_min, means / corr)
    # Features: fraction of training, then the loss-curve shape.
    fraction = f32(k) / f32(num_steps)
    frac = np.tanh((fraction - tau) * f32(10))
    cor = means / (f32(1) - d**f32(k + 1))
    feat = np.clip((cor[:-1] - running_min[:-1]) / np.maximum(f32(1e-8), cor[1:] - running_min[:-1]) - f32(1),
                   -1, 1)
    if k + 1 <= 2:
      feat = np.zeros(9, f32)
    x = np.concatenate([frac, feat]).astype(f32)[None, :]
    # Network.
    mix = np.maximum(_linear(tree, 'linear_1', x), 0)
    x = _linear(tree, 'linear_2', x) + mix.max(axis=0, keepdims=True)
    gates = _linear(tree, 'rnn/linear', np.concatenate([x, h], axis=1))
    gi, gg, gf, go = gates[:, :64], gates[:, 64:128], gates[:, 128:192], gates[:, 192:]
    c = _sigmoid(gf + f32(1)) * c + _sigmoid(gi) * np.tanh(gg)
    h = _sigmoid(go) * np.tanh(c)
    out.append(np.clip(_linear(tree, 'step_size', h)[0, 0], 1e-5, 1e3))
  return np.asarray(out, f32)


def sinv6_updates(params, grads, lr_mults):
  """Params after len(grads) steps with the given lr multipliers; params/grads: lists of arrays (float64)."""
  params = [np.asarray(p, np.float64).copy() for p in params]
  m = [np.zeros_like(p) for p in params]
  v = [np.zeros_like(p) for p in params]
  for step_grads, lr_mult in zip(grads, lr_mults):
    for i, g in enumerate(step_grads):
      g = np.clip(np.asarray(g, np.float64), -1000.0, 1000.0)
      rms_p = np.sqrt(np.mean(params[i]**2) + 1e-9)
      m[i] = 0.9 * m[i] + 0.1 * g
      v[i] = 0.999 * v[i] + 0.001 * g * g
      params[i] = params[i] - 0.001 * lr_mult * rms_p * m[i] / (1e-8 + np.sqrt(v[i] + 1e-10))
  return params
