"""Dense numpy references of the Shampoo and CASPR updates (float64), for tests.

Written from the formulas of submissions.md §2.1 and §2.8, independently of the framework code: Shampoo's
preconditioner is applied as the explicit Kronecker product kron(Q_L, Q_R) on the row-major vector of a 2-D
block (Q on a 1-D block), roots come from numpy's eigh, CASPR's inverse square roots from eigh of the
normalised, ridged statistic (the exact value the coupled Newton iteration approximates).
"""
from typing import List, Sequence, Tuple

import numpy as np

Range = Tuple[int, int]


def _inv_root_eigh(f: np.ndarray, exponent: float, eps: float) -> np.ndarray:
  if np.array_equal(f, np.diag(np.diag(f))):
    return np.diag((np.diag(f) + eps)**(-exponent))
  lam, u = np.linalg.eigh(f)
  lam = lam - min(lam.min(), 0.0)
  return (u * (lam + eps)**(-exponent)) @ u.T


def shampoo(w0: np.ndarray, grads: Sequence[np.ndarray], lrs: Sequence[float], blocks: List[Tuple[Range, ...]],
            *, beta1, beta2, epsilon, momentum, weight_decay, precondition_frequency, start, exponent,
            grafting='ADAM', grafting_epsilon=1e-8, use_nadam=True) -> List[np.ndarray]:
  """Parameters after each step, for one parameter in its merged (canonical) shape (any order).

  exponent: e/r of Q = F^(-e/r) (1/4 for a 2-D block, 1/2 for 1-D, with no override).
  """
  w = w0.astype(np.float64).copy()
  sl = lambda b: tuple(slice(a, c) for a, c in b)
  facs = [[np.zeros((c - a, c - a)) for a, c in b] for b in blocks]
  roots = [None] * len(blocks)
  m = np.zeros_like(w)
  a = np.zeros_like(w)
  u = np.zeros_like(w)
  out = []
  for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
    g = g.astype(np.float64)
    for j, b in enumerate(blocks):
      gb = g[sl(b)]
      for k in range(gb.ndim):
        unfolded = np.moveaxis(gb, k, 0).reshape(gb.shape[k], -1)  # G_(k): mode-k unfolding
        facs[j][k] = beta2 * facs[j][k] + (1 - beta2) * unfolded @ unfolded.T
    if t == start or (t > start and t % precondition_frequency == 0):
      roots = [[_inv_root_eigh(f / (1 - beta2**t), exponent, epsilon) for f in fs] for fs in facs]
    if beta1 != 0.0:
      m = beta1 * m + (1 - beta1) * g
      mt = (beta1 * m + (1 - beta1) * g if use_nadam else m) / (1 - beta1**t)
    else:
      mt = g
    if grafting == 'ADAM':
      a = beta2 * a + (1 - beta2) * g * g
      gd = mt / (np.sqrt(a / (1 - beta2**t)) + grafting_epsilon)
    else:
      gd = mt
    d = gd.copy()
    if t >= start:
      for j, b in enumerate(blocks):
        p = roots[j][0]
        for q in roots[j][1:]:
          p = np.kron(p, q)  # row-major vec(m x_1 Q_1 ... x_o Q_o) = (Q_1 kron ... kron Q_o) vec(m)
        dsh = (p @ mt[sl(b)].ravel()).reshape(mt[sl(b)].shape)
        d[sl(b)] = dsh * np.linalg.norm(gd[sl(b)]) / (np.linalg.norm(dsh) + 1e-16)
    d = d + weight_decay * w
    if momentum != 0.0:
      u = momentum * u + (1 - momentum) * d
      d = (1 - momentum) * d + momentum * u
    w = w - lr * d
    out.append(w.copy())
  return out


def _caspr_root(s: np.ndarray) -> np.ndarray:
  n = s.shape[0]
  scale = np.trace(s) / n + 1e-30
  sn = s / scale
  sn = sn + 1e-6 * np.linalg.eigvalsh(sn).max() * np.eye(n)
  lam, u = np.linalg.eigh(sn)
  return (u * lam**-0.5) @ u.T * scale**-0.5


def caspr(w0: np.ndarray, grads: Sequence[np.ndarray], lrs: Sequence[float], *, beta1, beta2, weight_decay,
          precondition_frequency=20, start=101, epsilon=1e-8, matrix_epsilon=1e-6) -> List[np.ndarray]:
  """Parameters after each step, for one 2-D parameter (<= 1024 x 1024: one block), or 1-D (NAdam)."""
  w = w0.astype(np.float64).copy()
  mu = np.zeros_like(w)
  nu = np.zeros_like(w)
  two_d = w.ndim == 2
  if two_d:
    rows, cols = w.shape
    big_l = matrix_epsilon * np.eye(rows)
    prev_l = matrix_epsilon * np.eye(rows)
    big_r = np.eye(cols)
    p_l, p_r = np.eye(rows), np.eye(cols)
  out = []
  for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
    g = g.astype(np.float64)
    mu = beta1 * mu + (1 - beta1) * g
    nu = beta2 * nu + (1 - beta2) * g * g
    mbar = (beta1 * mu + (1 - beta1) * g) / (1 - beta1**t)
    adam = mbar / (np.sqrt(nu / (1 - beta2**t)) + epsilon)
    direction = adam
    if two_d:
      coeff = 1.0
      if max(t - 1, 1) % precondition_frequency == 0:
        reg = prev_l + 1e-6 * np.linalg.eigvalsh(prev_l).max() * np.eye(rows)
        coeff = max(np.trace(p_l @ reg @ p_l), 0.0) / rows
        prev_l = big_l
      big_l = beta2 * big_l + (1 - beta2) * g @ g.T
      pg = p_l @ g
      big_r = beta2 * coeff * big_r + (1 - beta2) * pg.T @ pg / rows
      if t % precondition_frequency == 0:
        p_l, p_r = _caspr_root(big_l), _caspr_root(big_r)
      if t > start:
        direction = p_l @ mbar @ p_r
        direction = direction / np.linalg.norm(direction) * np.linalg.norm(adam)
    w = w - lr * (direction + weight_decay * w)
    out.append(w.copy())
  return out
