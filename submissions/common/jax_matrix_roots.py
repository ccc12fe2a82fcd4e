"""Batched inverse matrix roots for the JAX preconditioners; torch_matrix_roots.py is the twin.

Every function maps a stack (n, d, d) of symmetric PSD matrices and returns, with each root, a flag saying
whether it can be trusted, so that a failed root never reaches the update as a NaN. Departure from the
PyTorch twin: JAX computes in fp32 only (no fp64 retry of eigh without jax_enable_x64); a failed eigh
(NaN output) is reported like any failure.
"""
import jax
import jax.numpy as jnp

from submissions.common import precond_config as _c


def eigh_inverse_roots(f_hat, exponents, epsilon, old):
  """Q_i = F_i^(-exponents_i) (see torch_matrix_roots.eigh_inverse_root); old_i where that fails.

  Returns (Q, ok) with ok (n,) bool.
  """
  n, d, _ = f_hat.shape
  finite = jnp.all(jnp.isfinite(f_hat), axis=(1, 2))
  eye = jnp.broadcast_to(jnp.eye(d, dtype=f_hat.dtype), f_hat.shape)
  safe = jnp.where(finite[:, None, None], f_hat, eye)
  diag = jnp.diagonal(safe, axis1=1, axis2=2)
  is_diag = jnp.all(safe == eye * diag[:, :, None], axis=(1, 2))
  e = exponents[:, None]
  q_diag = eye * jnp.power(diag + epsilon, -e)[:, :, None]
  # One matrix per eigh call (a loop over the stack), not one batched call: jaxlib 0.10's CPU eigh fans a
  # batch out into XLA's intra-op pool and blocks its pool thread until the batch is done, so independent
  # batched eighs (one per factor size), run at once by XLA, can hold every pool thread waiting on work
  # queued behind them, forever (seen on 2 cores: Shampoo JAX on ogbg hung at its first root step).
  lam, u = jax.lax.map(jnp.linalg.eigh, safe)
  lam = lam - jnp.minimum(jnp.min(lam, axis=1, keepdims=True), 0.0)
  q_eig = jnp.einsum('nij,nj,nkj->nik', u, jnp.power(lam + epsilon, -e), u)
  q = jnp.where(is_diag[:, None, None], q_diag, q_eig)
  ok = finite & jnp.all(jnp.isfinite(q), axis=(1, 2))
  del n
  return jnp.where(ok[:, None, None], q, old), ok


def power_iteration(a, iters=_c.POWER_ITERS):
  """Largest eigenvalue of one symmetric PSD matrix (fixed start, fixed number of products)."""
  d = a.shape[0]
  v0 = jnp.ones((d,), a.dtype) / jnp.sqrt(jnp.asarray(d, a.dtype))

  def body(_, v):
    w = a @ v
    norm = jnp.linalg.norm(w)
    return jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1.0), v)

  v = jax.lax.fori_loop(0, iters, body, v0)
  return v @ (a @ v)


def _mat_pow(x, p):
  out = x
  for _ in range(p - 1):
    out = out @ x
  return out


def coupled_newton_inverse_root(a, p, max_iters=_c.NEWTON_MAX_ITERS, tolerance=_c.NEWTON_TOLERANCE):
  """One matrix: X ~ A^(-1/p) and max|X^p A - I| (see torch_matrix_roots.coupled_newton_inverse_root)."""
  d = a.shape[0]
  eye = jnp.eye(d, dtype=a.dtype)
  z = (1 + p) / (2 * power_iteration(a))
  x0 = eye * jnp.power(z, 1.0 / p)
  m0 = a * z
  err0 = jnp.max(jnp.abs(m0 - eye))

  def cond(carry):
    i, _, _, err, going = carry
    return (i < max_iters) & (err > tolerance) & going

  def body(carry):
    i, x, m, err, _ = carry
    t = eye * (1 + 1.0 / p) - m / p
    new_x = x @ t
    new_m = _mat_pow(t, p) @ m
    new_err = jnp.max(jnp.abs(new_m - eye))
    better = new_err < 1.2 * err
    return (i + 1, jnp.where(better, new_x, x), jnp.where(better, new_m, m), jnp.where(better, new_err, err),
            better)

  _, x, _, _, _ = jax.lax.while_loop(cond, body, (0, x0, m0, err0, jnp.asarray(True)))
  final = jnp.max(jnp.abs(_mat_pow(x, p) @ a - eye))
  return x, final


def caspr_inverse_root(stat, old, p=2):
  """One matrix: CASPR's S^(-1/p) with ridge retries (torch_matrix_roots.caspr_inverse_root); returns
  (P, ok), P = old when the root is not accepted."""
  d = stat.shape[0]
  finite = jnp.all(jnp.isfinite(stat))
  stat = jnp.where(finite, stat, jnp.eye(d, dtype=stat.dtype))
  scale = jnp.trace(stat) / d + 1e-30
  s = stat / scale
  eye = jnp.eye(d, dtype=stat.dtype)
  ridge0 = _c.NEWTON_RIDGE * power_iteration(s)

  def cond(carry):
    k, _, _, err = carry
    return (k <= _c.NEWTON_RETRIES) & ~(err <= _c.NEWTON_RETRY_ERROR)

  def body(carry):
    k, ridge, _, _ = carry
    x, err = coupled_newton_inverse_root(s + ridge * eye, p)
    return k + 1, ridge * 10, x, err

  _, _, x, err = jax.lax.while_loop(cond, body, (0, ridge0, eye, jnp.asarray(jnp.inf, stat.dtype)))
  ok = finite & (err <= _c.NEWTON_ACCEPT_ERROR)
  return jnp.where(ok, x * jnp.power(scale, -1.0 / p), old), ok
