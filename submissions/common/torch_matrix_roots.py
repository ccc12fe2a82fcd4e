"""Inverse matrix roots for the PyTorch preconditioners (Shampoo: eigendecomposition; CASPR: coupled Newton).

Both return None when the root cannot be trusted (non-finite input, a solver failure, no convergence), so
the caller can fall back to its grafting update instead of writing a NaN. jax_matrix_roots.py is the twin.
"""
from typing import Optional

import torch

from submissions.common.precond_config import (NEWTON_ACCEPT_ERROR, NEWTON_MAX_ITERS, NEWTON_RETRIES,
                                               NEWTON_RETRY_ERROR, NEWTON_RIDGE, NEWTON_TOLERANCE, POWER_ITERS)


def eigh_inverse_root(f_hat: torch.Tensor, exponent: float, epsilon: float) -> Optional[torch.Tensor]:
  """Q = F^(-exponent) for a symmetric PSD factor F (submissions.md §2.1 step 3).

  Exactly diagonal F: diag((F_ii + eps)^-exponent). Otherwise eigh in fp32, retried in fp64 on failure;
  eigenvalues shifted up by -min(lambda_min, 0), then U diag((lambda + eps)^-exponent) U^T.
  """
  if not bool(torch.isfinite(f_hat).all()):
    return None
  diag = torch.diagonal(f_hat)
  if bool((f_hat == torch.diag(diag)).all()):
    return torch.diag((diag + epsilon).pow(-exponent))
  for dtype in (torch.float32, torch.float64):
    try:
      lam, u = torch.linalg.eigh(f_hat.to(dtype))
    except RuntimeError:  # torch.linalg.LinAlgError is a RuntimeError
      continue
    lam = lam - torch.clamp(lam.min(), max=0.0)
    q = (u * (lam + epsilon).pow(-exponent)) @ u.T
    q = q.to(f_hat.dtype)
    if bool(torch.isfinite(q).all()):
      return q
  return None


def power_iteration(a: torch.Tensor, iters: int = POWER_ITERS) -> torch.Tensor:
  """Largest eigenvalue of a symmetric PSD matrix, from a fixed start (all ones) and `iters` products."""
  v = torch.ones(a.shape[0], dtype=a.dtype, device=a.device) / a.shape[0]**0.5
  for _ in range(iters):
    w = a @ v
    norm = torch.linalg.vector_norm(w)
    if float(norm) == 0.0:
      return norm
    v = w / norm
  return v @ (a @ v)


def coupled_newton_inverse_root(a: torch.Tensor, p: int, max_iters: int = NEWTON_MAX_ITERS,
                                tolerance: float = NEWTON_TOLERANCE):
  """X ~ A^(-1/p) by the coupled Newton iteration (Higham, Functions of Matrices, eq. 7.18).

  z = (1+p)/(2 ||A||), X = z^(1/p) I, M = z A; repeat T = (1 + 1/p) I - M/p, X <- X T, M <- T^p M until
  max|M - I| < tolerance, stopping early if the error grows. Returns (X, max|X^p A - I|).
  """
  n = a.shape[0]
  eye = torch.eye(n, dtype=a.dtype, device=a.device)
  norm = power_iteration(a)
  z = (1 + p) / (2 * norm)
  x = eye * z**(1.0 / p)
  m = a * z
  err = torch.max(torch.abs(m - eye))
  for _ in range(max_iters):
    if not float(err) > tolerance:
      break
    t = eye * (1 + 1.0 / p) - m / p
    new_x = x @ t
    new_m = torch.linalg.matrix_power(t, p) @ m
    new_err = torch.max(torch.abs(new_m - eye))
    if not float(new_err) < 1.2 * float(err):  # diverging (or NaN): keep the last good iterate
      break
    x, m, err = new_x, new_m, new_err
  final = torch.max(torch.abs(torch.linalg.matrix_power(x, p) @ a - eye))
  return x, final


def caspr_inverse_root(stat: torch.Tensor, p: int = 2) -> Optional[torch.Tensor]:
  """CASPR's preconditioner S^(-1/p) (submissions.md §2.8 step 3): normalise by the mean eigenvalue, add a
  ridge of 1e-6 lambda_max (times 10 on each of up to 6 retries while the error exceeds 0.05), coupled
  Newton, rescale. None if the error still exceeds 0.1 (or is NaN): the caller keeps the old P."""
  n = stat.shape[0]
  if not bool(torch.isfinite(stat).all()):
    return None
  scale = torch.trace(stat) / n + 1e-30
  s = stat / scale
  lam_max = power_iteration(s)
  eye = torch.eye(n, dtype=stat.dtype, device=stat.device)
  ridge = NEWTON_RIDGE * lam_max
  x = err = None
  for _ in range(NEWTON_RETRIES + 1):
    x, err = coupled_newton_inverse_root(s + ridge * eye, p)
    if float(err) <= NEWTON_RETRY_ERROR:
      break
    ridge = ridge * 10
  if not float(err) <= NEWTON_ACCEPT_ERROR:
    return None
  return x * scale**(-1.0 / p)
