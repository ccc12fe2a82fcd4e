"""The learning-rate schedules of Shampoo and CASPR, as functions of c = updates already applied.

Each is written once over a math module (`math` for PyTorch's host-side LambdaLR, `jax.numpy` inside a
jitted JAX step), so the twins compute the same numbers.

shampoo_lr (submissions.md §0 (S-torch), §2.1): LinearLR(start 1e-10, W) then CosineAnnealingLR(T_max=T-W),
which is periodic: after T the rate rises again (config 2 relies on that with T = 0.6 step_hint).
caspr_lr (§2.8): the nested warmup-cosine: three cosine segments, each restarting from the plain
warmup-cosine curve over T at its start.
"""
import math

CASPR_FIRST_BREAK = 0.53571619898
CASPR_SECOND_BREAK = 0.75


def shampoo_lr(count, peak: float, warmup_steps: int, total_steps: int, np=math):
  """(S-torch). count = scheduler steps taken = updates applied."""
  w = max(int(warmup_steps), 1)
  decay = max(total_steps - warmup_steps, 1)
  warm = peak * (1e-10 + (1.0 - 1e-10) * count / w)
  cosine = peak * 0.5 * (1.0 + np.cos(math.pi * (count - warmup_steps) / decay))
  return _where(np, count < warmup_steps, warm, cosine)


def _warmup_cosine(count, peak, warmup_steps, total_steps, np):
  """(S-optax) warmup from 0 and cosine to 0 at total_steps, 0 after."""
  warm = peak * count / max(warmup_steps, 1)
  decay = max(total_steps - warmup_steps, 1)
  progress = np.minimum(np.maximum(count - warmup_steps, 0), decay) / decay
  cosine = peak * 0.5 * (1.0 + np.cos(math.pi * progress))
  return _where(np, count < warmup_steps, warm, cosine)


def _where(np, cond, a, b):
  if np is math or np is _MathMinMax:
    return a if cond else b
  return np.where(cond, a, b)


class _MathMinMax:
  """math with minimum/maximum, so one formula serves floats and jax arrays."""
  cos = staticmethod(math.cos)
  minimum = staticmethod(min)
  maximum = staticmethod(max)


def caspr_lr(count, peak: float, warmup_factor: float, step_hint: int, np=math):
  """(S-optax) count; breakpoints int(0.5357 T) and int(0.75 T) with T = step_hint."""
  mm = _MathMinMax if np is math else np
  t = step_hint
  b1 = int(CASPR_FIRST_BREAK * t)
  b2 = int(CASPR_SECOND_BREAK * t)
  w0 = int(warmup_factor * t)
  w1 = int(warmup_factor * CASPR_FIRST_BREAK * t)
  phase1 = _warmup_cosine(count, peak, w1, b1, mm)
  start2 = _warmup_cosine(b1, peak, w0, t, _MathMinMax)
  start3 = _warmup_cosine(b2, peak, w0, t, _MathMinMax)
  phase2 = _warmup_cosine(count - b1, start2, 0, b2 - b1, mm)
  phase3 = _warmup_cosine(count - b2, start3, 0, t - b2, mm)
  return _where(np, count < b1, phase1, _where(np, count < b2, phase2, phase3))
